"""Dataset loaders: one module per source format, all returning :class:`FederatedDataset`.

Also the preflight check (:func:`check_dataset`), the cache (:mod:`fedbench.data.cache`)
and the exporters (:data:`fedbench.data.export.EXPORTERS`).
"""

from fedbench.data.base import FederatedDataset, Split
from fedbench.data.export import EXPORTERS
from fedbench.data.registry import LOADERS, check_dataset, dataset_has_writers, load_dataset

__all__ = [
    "EXPORTERS",
    "LOADERS",
    "FederatedDataset",
    "Split",
    "check_dataset",
    "dataset_has_writers",
    "load_dataset",
]
