"""The strategy registry and the public ``partition`` entry point."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from fedbench import seeding
from fedbench.errors import param_invalid
from fedbench.partitioning import (
    concept_shift,
    dirichlet,
    dirichlet_quantity,
    feature_noise,
    iid,
    natural,
    pathological,
    quantity,
    rotation,
    shards,
)
from fedbench.partitioning._validation import check_params
from fedbench.partitioning.strategy import Param, Strategy

#: Strategy name -> its record (function, parameters, data it needs).
STRATEGIES: dict[str, Strategy] = {
    module.STRATEGY.name: module.STRATEGY
    for module in (
        iid,
        dirichlet,
        pathological,
        shards,
        quantity,
        feature_noise,
        natural,
        dirichlet_quantity,
        rotation,
        concept_shift,
    )
}


def register(strategy: Strategy) -> Strategy:
    """Add ``strategy`` to :data:`STRATEGIES` (the command line and results see it too).

    Parameters
    ----------
    strategy
        Its record; a parameter it shares by name with another strategy must have
        the same rule (they share one config key and one result column).

    Returns
    -------
    Strategy
        ``strategy``, so a module can write ``STRATEGY = register(Strategy(...))``.

    Raises
    ------
    ValueError
        The name is taken, or a shared parameter name has another type.

    """
    if strategy.name in STRATEGIES:
        raise ValueError(f"a strategy named {strategy.name!r} is already registered")
    known = all_params()
    for param in strategy.params:
        if param.name in known and known[param.name].rule.kind is not param.rule.kind:
            raise ValueError(
                f"parameter {param.name!r} of {strategy.name!r} is a {param.rule.kind.__name__}, "
                f"but another strategy's is a {known[param.name].rule.kind.__name__}"
            )
    STRATEGIES[strategy.name] = strategy
    return strategy


def all_params() -> dict[str, Param]:
    """Every parameter of every registered strategy, by name, in registration order."""
    params: dict[str, Param] = {}
    for strategy in STRATEGIES.values():
        for param in strategy.params:
            params.setdefault(param.name, param)
    return params


def get_strategy(name: Any) -> Strategy:
    """Return the record of strategy ``name``.

    Raises
    ------
    PartitionError
        No strategy has that name.

    """
    if not isinstance(name, str) or name not in STRATEGIES:
        names = ", ".join(STRATEGIES)
        raise param_invalid("strategy", name, f"one of {names}", "e.g. {strategy}='iid'")
    return STRATEGIES[name]


def validate_params(strategy: str, num_clients: int, **params: Any) -> dict[str, Any]:
    """Check a strategy's parameters without any data; return them with the defaults filled in.

    The checks that need no data: the strategy exists, ``num_clients >= 1``,
    every parameter is known and in range (``alpha > 0``,
    ``classes_per_client >= 1``, ``sigma >= 0``, ``min_client_size >= 0``,
    ``writer_mode`` in sample/merge, ...). Checks against the data
    (``classes_per_client`` above the number of classes, more clients than examples
    or writers, missing writer ids, ...) run in :func:`partition`.

    Parameters
    ----------
    strategy
        A key of :data:`STRATEGIES`.
    num_clients
        The number of clients.
    **params
        The strategy's parameters (not ``writer_ids``); missing ones take their defaults.

    Returns
    -------
    dict
        Every parameter of the strategy with its value.

    Raises
    ------
    PartitionError
        With one line naming the parameter, the value, what is allowed and how to fix it.

    """
    record = get_strategy(strategy)
    values = record.with_defaults(params)
    check_params(record, num_clients, values)
    return values


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
        quantity, feature_noise, natural, dirichlet_quantity, rotation, concept_shift.
    labels
        Class id of every example, shape ``(n,)``, integers >= 0.
    num_clients
        Number of clients ``K``.
    seed
        The run's seed; the partition draws from the stream
        ``fedbench.seeding.rng(seed, fedbench.seeding.PARTITION)``.
    **params
        The strategy's parameters; each one left out takes its default (the
        keyword defaults of the strategy's function, e.g. ``alpha=0.5,
        min_client_size=10`` for ``dirichlet``). ``natural`` also takes ``writer_ids=``.

    Returns
    -------
    list of numpy.ndarray
        ``K`` int64 arrays of indices into ``labels``, each sorted ascending; no
        index appears twice. Indices in no array are unassigned (only
        ``pathological`` and ``natural`` with ``writer_mode="sample"`` leave any,
        and they warn).

    Raises
    ------
    PartitionError
        Bad parameters (checked before the data is touched), then parameters
        that do not fit the data. The message names the Python parameters.

    Examples
    --------
    >>> parts = partition("iid", np.arange(10) % 2, 3, seed=0)
    >>> [len(p) for p in parts]
    [4, 3, 3]

    """
    record = get_strategy(strategy)
    data = {name: params.pop(name) for name in record.data if name in params}
    values = record.with_defaults(params)
    check_params(record, num_clients, values)
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise param_invalid("seed", seed, "an integer >= 0", "e.g. {seed}=0")
    generator = seeding.rng(int(seed), seeding.PARTITION)
    return record.fn(labels, num_clients, generator, **values, **data)
