"""Partitioning strategies: labels (and writer ids) -> one index array per client.

Every strategy is a pure function ``fn(labels, num_clients, rng, **params)``
registered in :data:`STRATEGIES`; :func:`partition` is the seeded entry point and
:func:`validate_params` the data-free check the CLI runs before a sweep.
"""

from fedbench.partitioning._core import MAX_DRAWS, UnassignedExamplesWarning
from fedbench.partitioning.feature_noise import client_noise_sigmas
from fedbench.partitioning.registry import STRATEGIES, partition, validate_params

__all__ = [
    "MAX_DRAWS",
    "STRATEGIES",
    "UnassignedExamplesWarning",
    "client_noise_sigmas",
    "partition",
    "validate_params",
]
