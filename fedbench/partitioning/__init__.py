"""Partitioning strategies: labels (and writer ids) -> one index array per client.

Every strategy is a record (:class:`Strategy`: a pure function
``fn(labels, num_clients, rng, **params)`` and its parameters) registered in
:data:`STRATEGIES`; :func:`partition` is the seeded entry point and
:func:`validate_params` the data-free check. Needs numpy only.
"""

from fedbench.partitioning._core import MAX_DRAWS, UnassignedExamplesWarning
from fedbench.partitioning.feature_noise import client_noise_sigmas
from fedbench.partitioning.registry import (
    STRATEGIES,
    all_params,
    get_strategy,
    partition,
    register,
    validate_params,
)
from fedbench.partitioning.shift import ClientShift, ShiftContext
from fedbench.partitioning.strategy import Param, Strategy
from fedbench.rules import Rule

__all__ = [
    "MAX_DRAWS",
    "STRATEGIES",
    "ClientShift",
    "Param",
    "Rule",
    "ShiftContext",
    "Strategy",
    "UnassignedExamplesWarning",
    "all_params",
    "client_noise_sigmas",
    "get_strategy",
    "partition",
    "register",
    "validate_params",
]
