"""Dataset name -> loader, preflight check and writer flag.

Add a dataset by writing a loader (and a check that reads no data), then
registering both here, with its schema in :mod:`fedbench.config.dataset` and
``conf/dataset/<name>.yaml``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from fedbench.data._common import check_fraction, check_int
from fedbench.data.base import FederatedDataset
from fedbench.data.digits import load_digits
from fedbench.data.emnist import emnist_file, load_emnist
from fedbench.data.emnist_idx import emnist_idx_files, load_emnist_idx
from fedbench.data.idx import fmnist_files, load_fmnist, load_mnist, mnist_files
from fedbench.data.leaf import leaf_files, load_femnist_leaf
from fedbench.data.synthetic import check_synthetic, load_synthetic
from fedbench.errors import ConfigError, invalid


def _check_digits(test_fraction: float = 0.2, split_seed: int = 0) -> None:
    check_fraction("dataset.test_fraction", test_fraction)
    check_int("dataset.split_seed", split_seed, 0)


#: Each loader takes the dataset config's keys (less ``name``) as keyword arguments.
LOADERS: dict[str, Callable[..., FederatedDataset]] = {
    "digits": load_digits,
    "emnist": load_emnist,
    "femnist_leaf": load_femnist_leaf,
    "fmnist": load_fmnist,
    "mnist": load_mnist,
    "emnist_idx": load_emnist_idx,
    "synthetic": load_synthetic,
}

#: Same keyword arguments as the loader; validate values and locate files without parsing them.
CHECKS: dict[str, Callable[..., Any]] = {
    "digits": _check_digits,
    "emnist": emnist_file,
    "femnist_leaf": leaf_files,
    "fmnist": fmnist_files,
    "mnist": mnist_files,
    "emnist_idx": emnist_idx_files,
    "synthetic": check_synthetic,
}

#: Whether the dataset carries writer ids (``partition=natural`` needs them).
HAS_WRITERS: dict[str, bool] = {
    "digits": False,
    "emnist": True,
    "femnist_leaf": True,
    "fmnist": False,
    "mnist": False,
    "emnist_idx": False,
    "synthetic": True,
}


def _options(name: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``options`` as a dict (less ``name``) after checking the dataset and keys exist."""
    if name not in LOADERS:
        raise ConfigError(invalid("dataset", name, f"one of {sorted(LOADERS)}"))
    opts = {k: v for k, v in dict(options or {}).items() if k != "name"}
    accepted = inspect.signature(LOADERS[name]).parameters
    for key in opts:
        if key not in accepted:
            raise ConfigError(
                invalid(
                    f"dataset.{key}",
                    opts[key],
                    f"a key of dataset={name}: {sorted(accepted)}",
                    f"remove dataset.{key}",
                )
            )
    return opts


def check_dataset(name: str, options: Mapping[str, Any] | None = None) -> None:
    """Validate a dataset's options and that its files exist, without parsing anything.

    Cheap enough to run for every job of a sweep before any training starts.

    Parameters
    ----------
    name
        A key of :data:`LOADERS` (the ``dataset=`` config value).
    options
        The rest of the ``dataset`` config group (``name`` is ignored).

    Raises
    ------
    ConfigError
        Unknown dataset or key, or a value out of range.
    DataError
        A required file or folder is missing (the message says what to place where).

    """
    opts = _options(name, options)
    CHECKS[name](**opts)


def dataset_has_writers(name: str, options: Mapping[str, Any] | None = None) -> bool:
    """Whether dataset ``name`` carries writer ids, known without loading it.

    Parameters
    ----------
    name
        A key of :data:`LOADERS`.
    options
        The dataset's options (checked for unknown keys; no dataset depends on them today).

    Returns
    -------
    bool
        ``True`` for ``femnist_leaf``, ``emnist`` and ``synthetic``.

    """
    _options(name, options)
    return HAS_WRITERS[name]


def load_dataset(name: str, options: Mapping[str, Any] | None = None) -> FederatedDataset:
    """Load the dataset registered as ``name`` (cached: see :mod:`fedbench.data.cache`).

    Parameters
    ----------
    name
        A key of :data:`LOADERS` (the ``dataset=`` config value).
    options
        Keyword arguments for the loader (the rest of the ``dataset`` config group;
        ``name`` is ignored).

    Returns
    -------
    FederatedDataset

    """
    opts = _options(name, options)
    CHECKS[name](**opts)
    return LOADERS[name](**opts)
