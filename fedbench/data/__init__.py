"""Dataset loaders: one module per source format, all returning :class:`FederatedDataset`."""

from fedbench.data.base import FederatedDataset, Split
from fedbench.data.registry import LOADERS, load_dataset

__all__ = ["LOADERS", "FederatedDataset", "Split", "load_dataset"]
