"""``python -m fedbench.partition`` is the ``fedbench-partition`` command.

Import the partitioning API as ``fedbench.partition`` (the function) or from
:mod:`fedbench.partitioning`; this module only exists to be run with ``-m``.
"""

if __name__ == "__main__":
    from fedbench.cli import partition_main

    partition_main()
