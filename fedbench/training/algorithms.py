"""The FedAvg family as ``tff.learning`` learning processes, by config name.

Parameter ranges are checked before any process is built, by :mod:`fedbench.validation`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import tensorflow_federated as tff

from fedbench.errors import ConfigError, invalid
from fedbench.training.drift import DriftMeasuringFactory

#: How clients iterate over their data: the iterator loop. ``DATASET_REDUCE`` (TFF's
#: default) instantiates its reduce function again on every client in every round,
#: which dominates the round of a small client; both run the same steps in the same order.
LOOP = tff.learning.LoopImplementation.DATASET_ITERATOR


@dataclass(frozen=True)
class OptimizerSettings:
    """Client and server optimiser settings (from ``fl.*`` and the algorithm config)."""

    client_lr: float
    client_momentum: float
    server_lr: float


def _client_sgd(settings: OptimizerSettings) -> tff.learning.optimizers.Optimizer:
    momentum = settings.client_momentum or None  # build_sgdm(momentum=None) is plain SGD
    return tff.learning.optimizers.build_sgdm(settings.client_lr, momentum=momentum)


def _with_server_optimizer(
    model_fn: Callable,
    settings: OptimizerSettings,
    server_optimizer: tff.learning.optimizers.Optimizer,
    loop: tff.learning.LoopImplementation = LOOP,
) -> tff.learning.templates.LearningProcess:
    """Weighted FedAvg with client SGD, the given server optimizer and the drift aggregator."""
    return tff.learning.algorithms.build_weighted_fed_avg(
        model_fn,
        client_optimizer_fn=_client_sgd(settings),
        server_optimizer_fn=server_optimizer,
        model_aggregator=DriftMeasuringFactory(),
        loop_implementation=loop,
    )


def fedavg(
    model_fn: Callable, settings: OptimizerSettings, *, loop: tff.learning.LoopImplementation = LOOP
) -> tff.learning.templates.LearningProcess:
    """Weighted FedAvg (McMahan et al. 2017): client SGD, server SGD at ``server_lr``."""
    server = tff.learning.optimizers.build_sgdm(settings.server_lr)
    return _with_server_optimizer(model_fn, settings, server, loop)


def fedavgm(
    model_fn: Callable,
    settings: OptimizerSettings,
    server_momentum: float = 0.9,
    *,
    loop: tff.learning.LoopImplementation = LOOP,
) -> tff.learning.templates.LearningProcess:
    """FedAvgM (Hsu et al. 2019): FedAvg whose server applies SGD with momentum."""
    server = tff.learning.optimizers.build_sgdm(
        settings.server_lr, momentum=server_momentum or None
    )
    return _with_server_optimizer(model_fn, settings, server, loop)


def fedprox(
    model_fn: Callable,
    settings: OptimizerSettings,
    mu: float = 0.01,
    *,
    loop: tff.learning.LoopImplementation = LOOP,
) -> tff.learning.templates.LearningProcess:
    """FedProx (Li et al., MLSys 2020) via ``tff.learning.algorithms.build_weighted_fed_prox``."""
    return tff.learning.algorithms.build_weighted_fed_prox(
        model_fn,
        proximal_strength=mu,
        client_optimizer_fn=_client_sgd(settings),
        server_optimizer_fn=tff.learning.optimizers.build_sgdm(settings.server_lr),
        model_aggregator=DriftMeasuringFactory(),
        loop_implementation=loop,
    )


def fedadam(
    model_fn: Callable,
    settings: OptimizerSettings,
    beta_1: float = 0.9,
    beta_2: float = 0.99,
    epsilon: float = 1e-3,
    *,
    loop: tff.learning.LoopImplementation = LOOP,
) -> tff.learning.templates.LearningProcess:
    """FedAdam (Reddi et al., ICLR 2021): server Adam with step ``server_lr``.

    Reddi et al. tune the server step on a log grid (often 1e-2 .. 1e-1 for EMNIST)
    and use epsilon = 1e-3; ``fl.server_lr=1.0`` (the FedAvg default) is usually too large.
    Deviation: TFF's ``build_adam`` applies Adam's bias correction to the moments,
    which Reddi et al.'s Algorithm 2 does not; it matters only in the first rounds.
    """
    server = tff.learning.optimizers.build_adam(
        settings.server_lr, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon
    )
    return _with_server_optimizer(model_fn, settings, server, loop)


ALGORITHMS: dict[str, Callable[..., tff.learning.templates.LearningProcess]] = {
    "fedavg": fedavg,
    "fedavgm": fedavgm,
    "fedprox": fedprox,
    "fedadam": fedadam,
}


def build_process(
    name: str,
    model_fn: Callable,
    settings: OptimizerSettings,
    *,
    loop: tff.learning.LoopImplementation = LOOP,
    **options: float,
) -> tff.learning.templates.LearningProcess:
    """Build the learning process registered as ``name`` (the ``algorithm=`` value).

    Parameters
    ----------
    name
        A key of :data:`ALGORITHMS`.
    model_fn
        No-argument function returning a fresh ``tff.learning.models.VariableModel``.
    settings
        Client and server optimiser settings.
    loop
        How clients iterate over their data (:data:`LOOP`; the results are the same).
    **options
        The algorithm config's other keys (``mu``, ``server_momentum``, ...).

    Returns
    -------
    tff.learning.templates.LearningProcess

    """
    if name not in ALGORITHMS:
        raise ConfigError(invalid("algorithm", name, f"one of {sorted(ALGORITHMS)}"))
    return ALGORITHMS[name](model_fn, settings, loop=loop, **options)
