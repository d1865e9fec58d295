"""Schemas of the ``dataset`` group: one dataclass per dataset.

Each dataclass's fields (less ``name``) are the keyword arguments of the loader
registered under the same name in :data:`fedbench.data.registry.LOADERS`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DigitsDataset:
    """``dataset=digits``: scikit-learn's bundled 8x8 digits (offline, embedded)."""

    name: str = "digits"
    test_fraction: float = 0.2
    split_seed: int = 0


@dataclass
class EmnistDataset:
    """``dataset=emnist``: TFF's federated EMNIST, read from ``<cache_dir>/emnist_all.sqlite``.

    Attributes
    ----------
    cache_dir
        TFF's cache folder holding ``emnist_all.sqlite`` (TFF's default ``~/.tff``).
    only_digits
        ``true``: 10 classes, 3,383 writers; ``false``: 62 classes, 3,400 writers.
    download
        ``true``: when the file is missing, TFF's ``emnist.load_data`` fetches it
        into ``cache_dir`` (needs the internet).

    """

    name: str = "emnist"
    cache_dir: str = "~/.tff"
    only_digits: bool = True
    download: bool = False


@dataclass
class FemnistLeafDataset:
    """``dataset=femnist_leaf``: FEMNIST in LEAF's JSON layout, with writer ids.

    Attributes
    ----------
    path
        The LEAF ``data`` folder holding ``train/`` and ``test/`` (or the folder
        containing ``data/``). Required.

    """

    name: str = "femnist_leaf"
    path: str | None = None


@dataclass
class FmnistDataset:
    """``dataset=fmnist``: Fashion-MNIST from its four gzip'd IDX files.

    Attributes
    ----------
    path
        Folder of the IDX files; null searches ``/usr/share/datasets/fashion-mnist``
        (Debian's ``dataset-fashion-mnist``), then ``~/.keras/datasets/fashion-mnist``.

    """

    name: str = "fmnist"
    path: str | None = None


@dataclass
class MnistDataset:
    """``dataset=mnist``: MNIST (or any 10-class MNIST-style folder) from its four IDX files.

    Attributes
    ----------
    path
        Folder holding ``train-images-idx3-ubyte.gz`` and the other three files. Required.

    """

    name: str = "mnist"
    path: str | None = None


@dataclass
class EmnistIdxDataset:
    """``dataset=emnist_idx``: NIST's EMNIST gzip'd IDX files, pooled (no writers).

    Attributes
    ----------
    path
        Folder holding ``emnist-<split>-*-ubyte.gz`` (or NIST's ``gzip/`` folder). Required.
    split
        ``balanced`` (47 classes), ``byclass`` (62), ``bymerge`` (47), ``digits`` (10),
        ``letters`` (26) or ``mnist`` (10).

    """

    name: str = "emnist_idx"
    path: str | None = None
    split: str = "balanced"


@dataclass
class SyntheticDataset:
    """``dataset=synthetic``: Synthetic(alpha, beta) of Li et al. 2020 (FedProx), writers = clients.

    Attributes
    ----------
    alpha, beta
        Spread of the per-writer models and of the per-writer feature means.
    num_writers, dim, num_classes
        Writers (natural clients), feature dimension, classes.
    test_fraction
        Share of each writer's examples held out as its test data.
    data_seed
        Generator seed: a property of the dataset, separate from the run's ``seed``.

    """

    name: str = "synthetic"
    alpha: float = 1.0
    beta: float = 1.0
    num_writers: int = 30
    dim: int = 60
    num_classes: int = 10
    test_fraction: float = 0.2
    data_seed: int = 0


DATASET_SCHEMAS = {
    "digits": DigitsDataset,
    "emnist": EmnistDataset,
    "femnist_leaf": FemnistLeafDataset,
    "fmnist": FmnistDataset,
    "mnist": MnistDataset,
    "emnist_idx": EmnistIdxDataset,
    "synthetic": SyntheticDataset,
}
