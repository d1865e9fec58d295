"""Learning processes by ``algorithm=`` name: TFF's FedAvg family here, and how to build any.

Each record of :data:`fedbench.records.ALGORITHMS` names its builder, whose keyword-only
arguments are the record's options (the record holds their defaults and rules; the run
spec fills every one): TFF's FedAvg family is here, SCAFFOLD and FedNova in
:mod:`fedbench.training.scaffold` and :mod:`fedbench.training.fednova`. A builder returns
a ``tff.learning`` process that takes the clients' datasets (composed with the client
store to take round inputs), or, when its record says ``composed``, a process fedbench
composes from TFF computations (:mod:`fedbench.training.composed`) that reads the
clients' data itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow_federated as tff

from fedbench.errors import ConfigError, invalid
from fedbench.records import ALGORITHMS, record
from fedbench.training.composed import ClientInputs
from fedbench.training.drift import DriftMeasuringFactory
from fedbench.training.optimizers import OptimizerSettings, Proximal, client_sgd, server_sgd

#: How clients iterate over their data: the iterator loop. ``DATASET_REDUCE`` (TFF's
#: default) instantiates its reduce function again on every client in every round,
#: which dominates the round of a small client; both run the same steps in the same order.
LOOP = tff.learning.LoopImplementation.DATASET_ITERATOR


def with_server_optimizer(
    model_fn: Callable,
    settings: OptimizerSettings,
    server_optimizer: tff.learning.optimizers.Optimizer,
) -> tff.learning.templates.LearningProcess:
    """Weighted FedAvg with client SGD, the given server optimizer and the drift aggregator."""
    return tff.learning.algorithms.build_weighted_fed_avg(
        model_fn,
        client_optimizer_fn=client_sgd(settings),
        server_optimizer_fn=server_optimizer,
        model_aggregator=DriftMeasuringFactory(),
        loop_implementation=LOOP,
    )


def fedavg_server(settings: OptimizerSettings) -> tff.learning.optimizers.Optimizer:
    """FedAvg's server: SGD at ``server_lr`` (1 is plain averaging)."""
    return server_sgd(settings)


def fedavgm_server(
    settings: OptimizerSettings, *, server_momentum: float
) -> tff.learning.optimizers.Optimizer:
    """FedAvgM's server: SGD with momentum at ``server_lr``."""
    return server_sgd(settings, server_momentum)


def fedprox_server(settings: OptimizerSettings, *, mu: float) -> tff.learning.optimizers.Optimizer:
    """FedProx's server: FedAvg's (``mu`` acts on the clients)."""
    return server_sgd(settings)


def fedadam_server(
    settings: OptimizerSettings, *, beta_1: float, beta_2: float, epsilon: float
) -> tff.learning.optimizers.Optimizer:
    """FedAdam's server: Adam with step ``server_lr`` (see :func:`fedadam`)."""
    return tff.learning.optimizers.build_adam(
        settings.server_lr, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon
    )


#: The server optimizer of each ``tff.learning`` algorithm, from its settings and options.
SERVER_OPTIMIZERS: dict[str, Callable[..., tff.learning.optimizers.Optimizer]] = {
    "fedavg": fedavg_server,
    "fedavgm": fedavgm_server,
    "fedprox": fedprox_server,
    "fedadam": fedadam_server,
}


def fedavg(
    model_fn: Callable, settings: OptimizerSettings
) -> tff.learning.templates.LearningProcess:
    """Weighted FedAvg (McMahan et al. 2017): client SGD, server SGD at ``server_lr``."""
    return with_server_optimizer(model_fn, settings, fedavg_server(settings))


def fedavgm(
    model_fn: Callable,
    settings: OptimizerSettings,
    *,
    server_momentum: float,
) -> tff.learning.templates.LearningProcess:
    """FedAvgM (Hsu et al. 2019): FedAvg whose server applies SGD with momentum."""
    server = fedavgm_server(settings, server_momentum=server_momentum)
    return with_server_optimizer(model_fn, settings, server)


def fedprox(
    model_fn: Callable,
    settings: OptimizerSettings,
    *,
    mu: float,
) -> tff.learning.templates.LearningProcess:
    """FedProx (Li et al., MLSys 2020): FedAvg whose clients add ``mu (w - w_global)``.

    Built as FedAvg with a :class:`fedbench.training.optimizers.Proximal` client
    optimizer rather than with ``tff.learning.algorithms.build_weighted_fed_prox``,
    whose proximal term has the opposite sign (see that class).
    """
    client = client_sgd(settings)
    if mu > 0.0:
        client = Proximal(client, mu)
    return tff.learning.algorithms.build_weighted_fed_avg(
        model_fn,
        client_optimizer_fn=client,
        server_optimizer_fn=fedprox_server(settings, mu=mu),
        model_aggregator=DriftMeasuringFactory(),
        loop_implementation=LOOP,
    )


def fedadam(
    model_fn: Callable,
    settings: OptimizerSettings,
    *,
    beta_1: float,
    beta_2: float,
    epsilon: float,
) -> tff.learning.templates.LearningProcess:
    """FedAdam (Reddi et al., ICLR 2021): server Adam with step ``server_lr``.

    Reddi et al. tune the server step on a log grid (often 1e-2 .. 1e-1 for EMNIST)
    and use epsilon = 1e-3. Deviation: TFF's ``build_adam`` applies Adam's bias
    correction to the moments, which Reddi et al.'s Algorithm 2 does not; it matters
    only in the first rounds.
    """
    server = fedadam_server(settings, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    return with_server_optimizer(model_fn, settings, server)


def build_process(
    name: str,
    model_fn: Callable,
    settings: OptimizerSettings,
    **options: float,
) -> tff.learning.templates.LearningProcess:
    """Build the ``tff.learning`` process registered as ``name``, taking clients' datasets.

    Parameters
    ----------
    name
        An algorithm of :data:`fedbench.records.ALGORITHMS` that is not ``composed``.
    model_fn
        No-argument function returning a fresh ``tff.learning.models.VariableModel``.
    settings
        Client and server optimiser settings.
    **options
        The algorithm's options (``mu``, ``server_momentum``, ...), every one of its record.

    Returns
    -------
    tff.learning.templates.LearningProcess

    """
    algorithm = record("algorithm", name)
    if algorithm.composed:
        takes = [a for a, r in ALGORITHMS.items() if not r.composed]
        raise ConfigError(invalid("algorithm", name, f"one of {takes}"))
    return algorithm.builder_for("per_client")(model_fn, settings, **options)


def build_round_process(
    name: str,
    model_fn: Callable,
    settings: OptimizerSettings,
    clients: ClientInputs,
    compose: Callable[[tff.learning.templates.LearningProcess], Any],
    fresh_weights: Callable[[str], Sequence[np.ndarray]],
    **options: Any,
) -> Any:
    """Build the process registered as ``name``, taking each sampled client's round input.

    Parameters
    ----------
    name
        An algorithm of :data:`fedbench.records.ALGORITHMS`.
    model_fn, settings
        As for :func:`build_process`.
    clients
        The round inputs' type, how a client reads its data from its input, the clients.
    compose
        Turns a ``tff.learning`` process taking datasets into one taking round inputs
        (``ClientStore.compose``); composed builders read the data themselves.
    fresh_weights
        For composed builders: seed stream name -> the trainable weights of a freshly
        initialized network of the run's model, drawn from the run's seed and that stream
        (SCAFFOLD's ``control_start=network``).
    **options
        The algorithm's options.

    Returns
    -------
    tff.learning.templates.LearningProcess or ComposedProcess

    """
    algorithm = record("algorithm", name)
    if algorithm.composed:
        builder = algorithm.builder_for("per_client")
        return builder(model_fn, settings, clients, fresh_weights, **options)
    return compose(build_process(name, model_fn, settings, **options))
