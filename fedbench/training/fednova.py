"""FedNova (Wang et al., NeurIPS 2020): normalized averaging, as in NIID-Bench.

Client ``i`` takes ``τ_i`` local steps of SGD with momentum ``ρ`` (``fl.client_momentum``)
and sends its update ``Δ_i = x - y_i`` normalized by

    a_i = [τ_i - ρ (1 - ρ^τ_i) / (1 - ρ)] / (1 - ρ)        (a_i = τ_i when ρ = 0),

the norm of its accumulated gradient coefficients. With ``p_i = n_i / sum_{j in S} n_j``
over the sampled clients ``S``, the server applies

    x <- x - server_lr * τ_eff * sum_i p_i Δ_i / a_i,      τ_eff = sum_i p_i a_i.

When every client takes the same number of steps without momentum, ``a_i = τ_eff = τ``
and the round is FedAvg's. ``client_drift`` is measured on the normalized updates
``Δ_i / a_i``, which are what FedNova averages. A client with no example, or whose
update is not finite, is given weight 0 (the round loop then reports the run as
diverged when it had examples).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff

from fedbench.training import local_training as local
from fedbench.training.composed import (
    AGGREGATOR,
    MODEL,
    ClientInputs,
    ComposedProcess,
    ModelTypes,
    initialize_computation,
    model_weights,
    round_metrics,
)
from fedbench.training.drift import DriftMeasuringFactory
from fedbench.training.optimizers import OptimizerSettings, client_sgd


def normalizing_factor(steps: tf.Tensor, momentum: float) -> tf.Tensor:
    """FedNova's ``a_i`` of a client that took ``steps`` local steps with ``momentum``.

    Returns
    -------
    tf.Tensor
        ``steps`` without momentum, else ``[τ - ρ (1 - ρ^τ) / (1 - ρ)] / (1 - ρ)``.

    """
    if momentum == 0.0:
        return steps
    rho = tf.constant(momentum, steps.dtype)
    return (steps - rho * (1.0 - tf.pow(rho, steps)) / (1.0 - rho)) / (1.0 - rho)


#: The clients' two sums that give tau_eff = sum_i n_i a_i / sum_i n_i.
SUMS_TYPE = tff.StructType([("weighted_factor", np.float32), ("weight", np.float32)])


def server_update_computation(types: ModelTypes, server_lr: float) -> tff.Computation:
    """FedNova's server step: ``x <- x - server_lr * tau_eff * mean`` of the normalized updates.

    ``(model, mean_normalized, sums) -> ModelWeights``, ``sums`` of :data:`SUMS_TYPE`.
    """

    @tff.tensorflow.computation(types.weights, types.trainable, SUMS_TYPE)
    def server_update(model: object, mean_normalized: object, sums: object) -> object:
        return server_step(model, mean_normalized, sums, server_lr)

    return server_update


def server_step(model: Any, mean_normalized: Any, sums: Any, server_lr: float) -> Any:
    """FedNova's server step in TensorFlow (:func:`server_update_computation`'s body).

    Returns
    -------
    tff.learning.models.ModelWeights
        The new global weights.

    """
    tau_eff = tf.math.divide_no_nan(sums["weighted_factor"], sums["weight"])
    trainable = local.applied(list(model.trainable), list(mean_normalized), server_lr * tau_eff)
    return tff.learning.models.ModelWeights(trainable, list(model.non_trainable))


def fednova(
    model_fn: Callable[[], tff.learning.models.VariableModel],
    settings: OptimizerSettings,
    clients: ClientInputs,
    fresh_weights: Callable[[str], Sequence[np.ndarray]],
) -> ComposedProcess:
    """Build FedNova's learning process.

    Parameters
    ----------
    model_fn
        No-argument function returning a new ``tff.learning.models.VariableModel``.
    settings
        Client SGD (step, momentum ``ρ``, weight decay) and the server step.
    clients
        The clients' round inputs and how each reads its data.
    fresh_weights
        Not used: FedNova keeps no state that starts from a network (composed builders
        all take it, :func:`fedbench.training.algorithms.build_round_process`).

    Returns
    -------
    ComposedProcess
        No client state: its server state holds the global model.

    """
    types = ModelTypes.of(model_fn)
    server_lr, momentum = settings.server_lr, settings.client_momentum
    aggregation = DriftMeasuringFactory().create(types.trainable, tff.TensorType(np.float32))

    @tff.tensorflow.computation(types.weights, clients.input_type)
    def client_update(weights: object, client_input: object) -> collections.OrderedDict:
        train = local.build_local_training(model_fn, client_sgd(settings))
        result = train(model_weights(weights), clients.dataset(client_input))
        update = local.usable_update(result)
        a = normalizing_factor(tf.maximum(update["steps"], 1.0), momentum)
        return collections.OrderedDict(
            normalized=[d / a for d in update["delta"]],
            sums=collections.OrderedDict(
                weighted_factor=update["weight"] * a, weight=update["weight"]
            ),
            weight=update["weight"],
            metrics=result[local.METRICS],
        )

    server_update = server_update_computation(types, server_lr)

    initialize_fn = initialize_computation(model_fn, aggregation)

    client_inputs = tff.FederatedType(clients.input_type, tff.CLIENTS)

    @tff.federated_computation(initialize_fn.type_signature.result, client_inputs)
    def next_fn(state: object, inputs: object) -> tuple:
        weights = tff.federated_broadcast(state[MODEL])
        out = tff.federated_map(client_update, (weights, inputs))
        averaged = aggregation.next(state[AGGREGATOR], out["normalized"], out["weight"])
        sums = tff.federated_sum(out["sums"])
        model = tff.federated_map(server_update, (state[MODEL], averaged.result, sums))
        new_state = tff.federated_zip(
            collections.OrderedDict([(MODEL, model), (AGGREGATOR, averaged.state)])
        )
        metrics = round_metrics(types.aggregate_metrics(out["metrics"]), averaged.measurements)
        return new_state, metrics

    return ComposedProcess(initialize_fn, next_fn)
