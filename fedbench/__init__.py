"""fedbench: compare federated-learning data-partitioning strategies with TensorFlow Federated.

The Python API of ``shared/interface.md``:

- :func:`partition` (``fedbench.partition(strategy, labels, num_clients, *, seed, **params)``)
- :func:`heterogeneity` (``fedbench.heterogeneity(labels, parts, features=...)``)
- :func:`calibrate` (``fedbench.calibrate(strategy, labels, target_parts, *, seed, metric=...)``)

Importing the package loads numpy only; TensorFlow is imported by the modules that
train (``fedbench.training``).
"""

__version__ = "0.3.3"

from fedbench import _starting

# Before numpy loads: a Ctrl-C while a fedbench command starts ends it in one line.
_starting.stop_at_once_while_starting()

from fedbench.calibration import calibrate  # noqa: E402
from fedbench.heterogeneity import heterogeneity  # noqa: E402
from fedbench.partitioning import partition  # noqa: E402

__all__ = ["__version__", "calibrate", "heterogeneity", "partition"]
