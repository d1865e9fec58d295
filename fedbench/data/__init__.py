"""Dataset loaders: one module per source format, all returning :class:`FederatedDataset`.

Each dataset is one :class:`DatasetSpec` in :data:`DATASETS`; also the cache
(:mod:`fedbench.data.cache`) and the exporters (:data:`fedbench.data.export.EXPORTERS`).
"""

from fedbench.data.base import FederatedDataset, Split
from fedbench.data.registry import DATASETS, DatasetSpec, get_dataset, load_dataset, register

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "FederatedDataset",
    "Split",
    "get_dataset",
    "load_dataset",
    "register",
]
