"""One :class:`DatasetSpec` per dataset: its loader, its check, whether it has writers.

A dataset's options and their defaults are its loader's keyword arguments; the
command line's schema (``dataset.<option>``) is derived from them. Add a dataset by
writing a loader and a check that reads no data (same keywords), then one
:class:`DatasetSpec` in :data:`DATASETS` (or :func:`register`), and
``conf/dataset/<name>.yaml`` if Hydra should list it as a file.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from fedbench.data.base import FederatedDataset
from fedbench.data.digits import load_digits
from fedbench.data.emnist import emnist_file, load_emnist
from fedbench.data.emnist_idx import emnist_idx_files, load_emnist_idx
from fedbench.data.idx import fmnist_files, load_fmnist, load_mnist, mnist_files
from fedbench.data.leaf import leaf_files, load_femnist_leaf
from fedbench.data.synthetic import check_synthetic, load_synthetic
from fedbench.errors import ConfigError, invalid
from fedbench.rules import NON_NEGATIVE_INT, OPEN_FRACTION


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset.

    Attributes
    ----------
    name
        The ``dataset=`` value.
    load
        Returns the :class:`FederatedDataset`; its keyword arguments (each with a
        default) are the dataset's options.
    check
        Same keywords as ``load``: validates the values and locates the files
        without parsing them (cheap enough for every job of a sweep).
    has_writers
        Whether the data carries writer ids (``partition=natural`` needs them).
    summary
        One line for ``--help`` and the docs.
    options
        Each option's signature parameter (name, default, annotation), from ``load``.

    """

    name: str
    load: Callable[..., FederatedDataset]
    check: Callable[..., Any]
    has_writers: bool
    summary: str
    options: Mapping[str, inspect.Parameter] = field(init=False)

    def __post_init__(self) -> None:
        options = inspect.signature(self.load, eval_str=True).parameters
        no_default = [n for n, p in options.items() if p.default is inspect.Parameter.empty]
        if no_default:
            raise TypeError(f"dataset {self.name!r}: options without a default: {no_default}")
        object.__setattr__(self, "options", MappingProxyType(dict(options)))

    @property
    def defaults(self) -> dict[str, Any]:
        """Each option's default value."""
        return {name: p.default for name, p in self.options.items()}

    def checked_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """Return ``options`` (less ``name``) after refusing unknown keys and running :attr:`check`.

        Raises
        ------
        ConfigError
            An unknown key or a value out of range.
        DataError
            A required file or folder is missing (the message says what to place where).

        """
        opts = {k: v for k, v in dict(options or {}).items() if k != "name"}
        for key in opts:
            if key not in self.options:
                raise ConfigError(
                    invalid(
                        f"dataset.{key}",
                        opts[key],
                        f"a key of dataset={self.name}: {sorted(self.options)}",
                        f"remove dataset.{key}",
                    )
                )
        self.check(**opts)
        return opts


def _check_digits(test_fraction: float = 0.2, split_seed: int = 0) -> None:
    OPEN_FRACTION.check("dataset.test_fraction", test_fraction)
    NON_NEGATIVE_INT.check("dataset.split_seed", split_seed)


#: Dataset name -> its spec.
DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("digits", load_digits, _check_digits, False, "scikit-learn's 1,797 8x8 digits"),
        DatasetSpec("emnist", load_emnist, emnist_file, True, "TFF's federated EMNIST (by writer)"),
        DatasetSpec(
            "femnist_leaf", load_femnist_leaf, leaf_files, True, "LEAF's FEMNIST JSON (by writer)"
        ),
        DatasetSpec("fmnist", load_fmnist, fmnist_files, False, "Fashion-MNIST (IDX files)"),
        DatasetSpec("mnist", load_mnist, mnist_files, False, "MNIST-style IDX folder"),
        DatasetSpec(
            "emnist_idx", load_emnist_idx, emnist_idx_files, False, "NIST's EMNIST IDX, pooled"
        ),
        DatasetSpec(
            "synthetic", load_synthetic, check_synthetic, True, "Synthetic(alpha, beta), FedProx"
        ),
    )
}


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` to :data:`DATASETS`; return it.

    Raises
    ------
    ValueError
        The name is taken.

    """
    if spec.name in DATASETS:
        raise ValueError(f"a dataset named {spec.name!r} is already registered")
    DATASETS[spec.name] = spec
    return spec


def get_dataset(name: Any) -> DatasetSpec:
    """Return the spec of dataset ``name``.

    Raises
    ------
    ConfigError
        No dataset has that name.

    """
    if not isinstance(name, str) or name not in DATASETS:
        raise ConfigError(invalid("dataset", name, f"one of {sorted(DATASETS)}"))
    return DATASETS[name]


def load_dataset(name: str, options: Mapping[str, Any] | None = None) -> FederatedDataset:
    """Load the dataset registered as ``name`` (cached: see :mod:`fedbench.data.cache`).

    Parameters
    ----------
    name
        A key of :data:`DATASETS` (the ``dataset=`` config value).
    options
        Keyword arguments for the loader (the rest of the ``dataset`` config group;
        ``name`` is ignored).

    Returns
    -------
    FederatedDataset

    """
    spec = get_dataset(name)
    return spec.load(**spec.checked_options(options))
