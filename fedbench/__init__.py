"""fedbench: compare federated-learning data-partitioning strategies with TensorFlow Federated.

The Python API of ``shared/interface.md``:

- :func:`partition` (``fedbench.partition(strategy, labels, num_clients, *, seed, **params)``)
- :func:`heterogeneity` (``fedbench.heterogeneity(labels, parts, features=...)``)
- :func:`calibrate` (``fedbench.calibrate(strategy, labels, target_parts, *, seed, metric=...)``)

Importing the package loads numpy only; TensorFlow is imported by the modules that
train (``fedbench.training``).
"""

__version__ = "0.1.0"

from fedbench.calibration import calibrate
from fedbench.heterogeneity import heterogeneity
from fedbench.partitioning import partition

__all__ = ["__version__", "calibrate", "heterogeneity", "partition"]
