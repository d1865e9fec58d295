"""The strategy registry and the public ``partition`` entry point."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from fedbench import seeding
from fedbench.errors import PartitionError, invalid
from fedbench.partitioning import _validation
from fedbench.partitioning.dirichlet import dirichlet
from fedbench.partitioning.dirichlet_quantity import dirichlet_quantity
from fedbench.partitioning.feature_noise import feature_noise
from fedbench.partitioning.iid import iid
from fedbench.partitioning.natural import natural
from fedbench.partitioning.pathological import pathological
from fedbench.partitioning.quantity import quantity
from fedbench.partitioning.shards import shards

#: Strategy name -> ``fn(labels, num_clients, rng, **params) -> list[np.ndarray]``.
STRATEGIES: dict[str, Callable[..., list[np.ndarray]]] = {
    "iid": iid,
    "dirichlet": dirichlet,
    "pathological": pathological,
    "shards": shards,
    "quantity": quantity,
    "feature_noise": feature_noise,
    "natural": natural,
    "dirichlet_quantity": dirichlet_quantity,
}

#: Keyword arguments that come from the data, not from the config.
DATA_ARGUMENTS: dict[str, tuple[str, ...]] = {"natural": ("writer_ids",)}


def validate_params(strategy: str, num_clients: int, **params: Any) -> None:
    """Check a strategy's config parameters without any data.

    The checks that need no data: the strategy exists, ``num_clients >= 1``,
    every parameter is known, present and in range (``alpha > 0``,
    ``classes_per_client >= 1``, ``shards_per_client >= 1``, ``sigma >= 0``,
    ``min_client_size >= 0``, ``writer_mode`` in sample/merge, ...). Checks
    against the data (``classes_per_client`` above the number of classes, more
    clients than examples or writers, missing writer ids, ...) run in
    :func:`partition`.

    Parameters
    ----------
    strategy
        A key of :data:`STRATEGIES`.
    num_clients
        ``fl.num_clients``.
    **params
        The strategy's config parameters (not ``writer_ids``).

    Raises
    ------
    PartitionError
        With one line naming the key, the value, what is allowed and how to fix it.

    """
    _validation.check_params(strategy, num_clients, params)


def partition(
    strategy: str,
    labels: np.ndarray,
    num_clients: int,
    *,
    seed: int,
    **params: Any,
) -> list[np.ndarray]:
    """Partition examples into ``num_clients`` clients with a named strategy.

    Parameters
    ----------
    strategy
        A key of :data:`STRATEGIES`: iid, dirichlet, pathological, shards,
        quantity, feature_noise, natural, dirichlet_quantity.
    labels
        Class id of every example, shape ``(n,)``, integers >= 0.
    num_clients
        Number of clients ``K``.
    seed
        The run's seed; the partition draws from the stream
        ``fedbench.seeding.rng(seed, fedbench.seeding.PARTITION)``.
    **params
        The strategy's parameters (the keys of its config defaults in
        :mod:`fedbench.config.partition`), plus ``writer_ids=`` for ``natural``.

    Returns
    -------
    list of numpy.ndarray
        ``K`` int64 arrays of indices into ``labels``, each sorted ascending; no
        index appears twice. Indices in no array are unassigned (only
        ``pathological`` and ``natural`` with ``writer_mode=sample`` leave any,
        and they warn).

    Raises
    ------
    PartitionError
        Bad parameters (checked before the data is touched), then parameters
        that do not fit the data.

    Examples
    --------
    >>> parts = partition("iid", np.arange(10) % 2, 3, seed=0)
    >>> [len(p) for p in parts]
    [4, 3, 3]

    """
    _validation.check_strategy(strategy)
    data = {name: params.pop(name) for name in DATA_ARGUMENTS.get(strategy, ()) if name in params}
    validate_params(strategy, num_clients, **params)
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise PartitionError(invalid("seed", seed, "an integer >= 0", "e.g. seed=0"))
    generator = seeding.rng(int(seed), seeding.PARTITION)
    return STRATEGIES[strategy](labels, num_clients, generator, **params, **data)
