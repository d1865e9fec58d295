"""``python -m fedbench.partition`` is the ``fedbench-partition`` command.

Import the partitioning API as ``fedbench.partition`` (the function) or from
:mod:`fedbench.partitioning`. Imported rather than run, this module puts the
function in its own place in ``sys.modules``, so that ``import fedbench.partition``
(which binds the submodule as an attribute of the package) leaves
``fedbench.partition`` the function.
"""

import sys

if __name__ == "__main__":
    from fedbench.app.entry import partition_main

    partition_main()
else:
    from fedbench.partitioning import partition

    sys.modules[__name__] = partition  # type: ignore[assignment]
