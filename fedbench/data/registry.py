"""Dataset name -> loader. Add a dataset by writing a loader and registering it here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fedbench.data.base import FederatedDataset
from fedbench.data.digits import load_digits
from fedbench.errors import ConfigError, invalid

#: Each loader takes the dataset config's keys (less ``name``) as keyword arguments.
LOADERS: dict[str, Callable[..., FederatedDataset]] = {
    "digits": load_digits,
}


def load_dataset(name: str, options: Mapping[str, Any] | None = None) -> FederatedDataset:
    """Load the dataset registered as ``name``.

    Parameters
    ----------
    name
        A key of :data:`LOADERS` (the ``dataset=`` config value).
    options
        Keyword arguments for the loader (the rest of the ``dataset`` config group).

    Returns
    -------
    FederatedDataset
    """
    if name not in LOADERS:
        raise ConfigError(invalid("dataset", name, f"one of {sorted(LOADERS)}"))
    return LOADERS[name](**dict(options or {}))
