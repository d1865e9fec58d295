"""Learning processes whose CLIENTS are shards of a round's clients (``fl.execution=sharded``).

Each algorithm's sharded process keeps the state of its per-client reference (the same
state type, so a checkpoint of one resumes in the other) and computes the same round:
the shards train their clients one after another (:mod:`fedbench.training.shard_training`)
and return sums; the server forms the examples-weighted mean of the updates from them
(``sum w u / sum w``, a NaN at 0/0 as TFF's ``MeanFactory`` gives, which the server step
refuses to apply), measures ``client_drift`` from every client's update stacked beside
the sums (:func:`fedbench.training.drift.stacked_terms`), and takes the algorithm's
server step:

- FedAvg, FedAvgM, FedProx and FedAdam: the step of TFF's own finalizer
  (``build_apply_optimizer_finalizer``: the algorithm's server optimizer, a non-finite
  update rejected) on the state of ``tff.learning``'s process (``LearningAlgorithmState``);
- SCAFFOLD and FedNova: their server updates, on the state of their composed processes,
  SCAFFOLD's control variates read from and written to the client table for the sampled
  clients only.

Every TFF call costs about as much as a small model's whole client arithmetic, so a
round makes few: the broadcast and the shards' training, one sum of everything the
server needs from them, the mean and its broadcast, the shards' drift terms and their
sum, and one server computation that takes the step and finalizes the metrics. The
records equal those of the round composed from TFF's finalizer and metric aggregator,
bit for bit (what the per-client path computes, to float32 rounding).

The metrics are laid out as the per-client processes report them (``client_work.train``,
``aggregator.client_drift``, ``aggregator.client_weight_total``). Each algorithm's record
(:data:`fedbench.records.ALGORITHMS`) names its builder here as its ``sharded`` slot
(``sharded_fedavg`` ... ``sharded_fednova``); :func:`build_sharded_process` builds by name.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff
from tensorflow_federated.python.learning.templates.apply_optimizer_finalizer import (
    reject_non_finite_update,
)

from fedbench.records import record
from fedbench.training import fednova, scaffold
from fedbench.training.algorithms import SERVER_OPTIMIZERS, build_process
from fedbench.training.client_store import ClientStore
from fedbench.training.composed import (
    AGGREGATOR,
    DATA,
    MODEL,
    STATE,
    ComposedProcess,
    ModelTypes,
    initialize_computation,
    model_weights,
)
from fedbench.training.drift import DriftMeasuringFactory, drift_measurements, stacked_terms
from fedbench.training.fednova import normalizing_factor
from fedbench.training.optimizers import OptimizerSettings, client_sgd
from fedbench.training.scaffold import CONTROL, start_hooks
from fedbench.training.shard_training import (
    FEDAVG_RULE,
    METRICS,
    ROWS,
    SUMS,
    UPDATES,
    WEIGHT,
    WEIGHTED_UPDATE,
    WEIGHTS,
    ClientRule,
    Contribution,
    LocalResult,
    build_shard_training,
    shard_input_type,
)


def _shard_computation(
    keras_fn: Callable,
    settings: OptimizerSettings,
    store: ClientStore,
    batch_size: int,
    rule: ClientRule,
    weights_type: tff.types.Type,
    row_type: tff.types.StructType | None = None,
    broadcast_type: tff.types.Type | None = None,
) -> tff.Computation:
    """The TF computation training one shard: ``(weights[, broadcast], input) -> sums``.

    With client state (``row_type``, the type of one client's row), a shard's input
    holds, beside its clients, the folder of the round's staged rows
    (:mod:`fedbench.training.staged_rows`).
    """
    row_specs = tuple(tf.TensorSpec(t.shape, t.dtype) for t in row_type or ())

    def train(weights: Any, shard: Any, staging: Any = None, broadcast: Any = None) -> Any:
        train_shard = build_shard_training(
            keras_fn,
            client_sgd(settings),
            store.read_client,
            batch_size=batch_size,
            compact=store.compact,
            rule=rule,
            row_specs=row_specs,
        )
        return train_shard(model_weights(weights), shard, staging, broadcast)

    if row_type is None:

        @tff.tensorflow.computation(weights_type, shard_input_type())
        def plain(weights: Any, shard: Any) -> Any:
            return train(weights, shard)

        return plain
    shard_type = tff.StructType([(DATA, shard_input_type()), (STATE, tff.TensorType(np.str_))])

    @tff.tensorflow.computation(
        tff.StructType([(MODEL, weights_type), (CONTROL, broadcast_type)]), shard_type
    )
    def with_state(server: Any, shard: Any) -> Any:
        return train(server[MODEL], shard[DATA], shard[STATE], list(server[CONTROL]))

    return with_state


def _round_sums(out: Any) -> Any:
    """The shards' sums the server needs, in one ``federated_sum`` at SERVER.

    ``weighted_update``, ``weight``, the unfinalized ``metrics`` and, for an algorithm
    whose rule adds any (SCAFFOLD, FedNova), its ``sums``. Each TFF call in a round costs
    about as much as a small model's whole client arithmetic, so the round makes few.
    """
    names = [WEIGHTED_UPDATE, WEIGHT, METRICS]
    if len(out[SUMS].type_signature.member):  # the FedAvg family's are empty
        names.append(SUMS)
    fields = collections.OrderedDict((name, out[name]) for name in names)
    return tff.federated_sum(tff.federated_zip(fields))


def _mean_and_drift_sums(out: Any, summed: Any) -> tuple[Any, Any]:
    """The round's mean update at SERVER, and the drift terms summed over every client.

    The mean is ``sum w u / sum w`` (a NaN at 0/0, as TFF's ``MeanFactory`` gives); each
    shard measures its clients' distances to it (:func:`fedbench.training.drift.stacked_terms`).
    """
    summed_type = summed.type_signature.member

    @tff.tensorflow.computation(summed_type)
    def divide(sums: Any) -> Any:
        return [tf.math.divide(w, sums[WEIGHT]) for w in sums[WEIGHTED_UPDATE]]

    mean = tff.federated_map(divide, summed)
    updates_type = out[UPDATES].type_signature.member
    weights_type = out[WEIGHTS].type_signature.member

    @tff.tensorflow.computation(updates_type, weights_type, mean.type_signature.member)
    def terms(updates: Any, weights: Any, average: Any) -> Any:
        return stacked_terms(updates, weights, average)

    at_shards = tff.federated_map(
        terms, (out[UPDATES], out[WEIGHTS], tff.federated_broadcast(mean))
    )
    return mean, tff.federated_sum(at_shards)


def _round_metrics(
    types: ModelTypes, summed: Any, drift_sums: Any, mean: Any, **more: Any
) -> collections.OrderedDict:
    """In TensorFlow: the round's metrics, laid out as the per-client processes report them.

    ``client_work.train`` (the clients' metrics finalized), ``aggregator`` (``client_drift``
    and ``client_weight_total``), then ``more`` (TFF's finalizer measurements).
    """
    drift = drift_measurements(drift_sums, mean)
    aggregator = collections.OrderedDict(
        client_drift=drift["client_drift"], client_weight_total=drift["client_weight_total"]
    )
    train = types.finalize_metrics(summed[METRICS])
    return collections.OrderedDict(
        client_work=collections.OrderedDict(train=train), aggregator=aggregator, **more
    )


def _apply_server_optimizer(optimizer: tff.learning.optimizers.Optimizer) -> Callable:
    """TFF's ``build_apply_optimizer_finalizer`` step as a TensorFlow function.

    ``(optimizer_state, trainable, update) -> (state, trainable, measurements)``: the
    optimizer's step, or nothing at all when the update is not finite
    (``reject_non_finite_update``, whose ``update_non_finite`` it measures).
    """

    @tf.function
    def apply(state: Any, trainable: Any, update: Any) -> tuple[Any, Any, Any]:
        new_state, new_weights = optimizer.next(state, trainable, update)
        reject, measurements = reject_non_finite_update(new_state, update)
        if reject:
            return state, trainable, measurements
        return new_state, new_weights, measurements

    return apply


def _server_side(state: Any, out: Any, step: Callable) -> Any:
    """The round at SERVER: the shards' sums, the drift pass, then ``step`` in one computation.

    ``step(state, summed, drift_sums, mean)``, TensorFlow, returns ``(new_state, metrics)``
    (:func:`_round_metrics`); so does the SERVER value returned.
    """
    summed = _round_sums(out)
    mean, drift_sums = _mean_and_drift_sums(out, summed)
    values = (state, summed, drift_sums, mean)

    @tff.tensorflow.computation(*(v.type_signature.member for v in values))
    def server(state: Any, summed: Any, drift_sums: Any, mean: Any) -> Any:
        return step(state, summed, drift_sums, mean)

    return tff.federated_map(server, values)


def fedavg_rule(name: str, **options: float) -> ClientRule:
    """The client rule of a ``tff.learning`` algorithm: FedAvg's, FedProx's ``mu`` set."""
    if name == "fedprox":
        return ClientRule(
            contribute=FEDAVG_RULE.contribute,
            sums_zero=FEDAVG_RULE.sums_zero,
            proximal_mu=options["mu"],
        )
    return FEDAVG_RULE


def sharded_tff_process(
    reference: tff.learning.templates.LearningProcess,
    model_fn: Callable,
    keras_fn: Callable,
    settings: OptimizerSettings,
    server_optimizer: tff.learning.optimizers.Optimizer,
    rule: ClientRule,
    store: ClientStore,
    batch_size: int,
) -> tff.learning.templates.LearningProcess:
    """The sharded process of a ``tff.learning`` FedAvg-family algorithm.

    Parameters
    ----------
    reference
        The algorithm's per-client process (taking datasets): its ``initialize``,
        ``get_model_weights`` and ``set_model_weights`` serve, and its state type is kept.
    model_fn
        No-argument function returning a new ``tff.learning.models.VariableModel``.
    keras_fn
        No-argument function returning the Keras model ``model_fn`` wraps.
    settings
        Client optimizer settings.
    server_optimizer
        The server optimizer the reference applies.
    rule
        The algorithm's client rule (:func:`fedavg_rule`).
    store
        The clients' training data, read by client index inside the shards.
    batch_size
        Mini-batch size.

    Returns
    -------
    tff.learning.templates.LearningProcess
        ``next(state, shards)`` with one :func:`fedbench.training.shards.shard_input` per shard.

    """
    types = ModelTypes.of(model_fn)
    apply = _apply_server_optimizer(server_optimizer)
    train_shard = _shard_computation(keras_fn, settings, store, batch_size, rule, types.weights)
    state_type = reference.initialize.type_signature.result

    @tff.federated_computation(state_type, tff.FederatedType(shard_input_type(), tff.CLIENTS))
    def next_fn(state: Any, shards: Any) -> Any:
        weights = state.global_model_weights
        out = tff.federated_map(train_shard, (tff.federated_broadcast(weights), shards))

        def step(state: Any, summed: Any, drift_sums: Any, mean: Any) -> Any:
            weights = state.global_model_weights
            optimizer_state, trainable, measurements = apply(
                state.finalizer, list(weights.trainable), mean
            )
            new_state = tff.learning.templates.LearningAlgorithmState(
                global_model_weights=tff.learning.models.ModelWeights(
                    trainable, list(weights.non_trainable)
                ),
                distributor=state.distributor,
                client_work=state.client_work,
                aggregator=state.aggregator,
                finalizer=optimizer_state,
            )
            metrics = _round_metrics(types, summed, drift_sums, mean, finalizer=measurements)
            return new_state, metrics

        stepped = _server_side(state, out, step)
        return tff.learning.templates.LearningProcessOutput(stepped[0], stepped[1])

    return tff.learning.templates.LearningProcess(
        reference.initialize,
        next_fn,
        reference.get_model_weights,
        reference.set_model_weights,
    )


def _scaffold_rule(client_lr: float) -> ClientRule:
    def contribute(result: LocalResult, own: Any, c: Any) -> Contribution:
        delta = result.zeroed_delta
        scale = 1.0 / (tf.maximum(tf.cast(result.steps, tf.float32), 1.0) * client_lr)
        new_own = [
            tf.where(result.usable, o - g + d * scale, o)
            for o, g, d in zip(own, c, delta, strict=True)
        ]
        control_delta = [new - o for new, o in zip(new_own, own, strict=True)]
        sums = collections.OrderedDict(control_delta=control_delta)
        return Contribution(delta, result.weight, sums, new_own)

    return ClientRule(
        contribute=contribute,
        sums_zero=lambda trainable: collections.OrderedDict(
            control_delta=[tf.zeros_like(v) for v in trainable]
        ),
        correction=lambda own, c: [g - o for g, o in zip(c, own, strict=True)],
        correction_lr=client_lr,
        keep_unusable_metrics=True,
    )


def sharded_scaffold(
    model_fn: Callable,
    keras_fn: Callable,
    settings: OptimizerSettings,
    store: ClientStore,
    batch_size: int,
    fresh_weights: Callable[[str], Sequence[np.ndarray]],
    *,
    control_start: str,
) -> ComposedProcess:
    """SCAFFOLD on shards: :func:`fedbench.training.scaffold.scaffold`'s state and round.

    Returns
    -------
    ComposedProcess
        Sharded: ``next`` takes shard inputs; the sampled clients' ``c_i`` are staged in
        files the shards read and write (:mod:`fedbench.training.staged_rows`).

    """
    types = ModelTypes.of(model_fn)
    control_type = types.trainable
    server_lr = settings.server_lr
    inverse_clients = 1.0 / (settings.population or store.num_clients)  # held-out never train
    aggregation = DriftMeasuringFactory().create(types.trainable, tff.TensorType(np.float32))
    train_shard = _shard_computation(
        keras_fn,
        settings,
        store,
        batch_size,
        _scaffold_rule(settings.client_lr),
        types.weights,
        control_type,
        control_type,
    )

    initialize_fn = initialize_computation(model_fn, aggregation, (CONTROL,))
    state_type = initialize_fn.type_signature.result
    shard_type = train_shard.type_signature.parameter[1]

    @tff.federated_computation(state_type, tff.FederatedType(shard_type, tff.CLIENTS))
    def next_fn(state: Any, shards: Any) -> Any:
        shared = tff.federated_zip(
            collections.OrderedDict([(MODEL, state[MODEL]), (CONTROL, state[CONTROL])])
        )
        out = tff.federated_map(train_shard, (tff.federated_broadcast(shared), shards))

        def step(state: Any, summed: Any, drift_sums: Any, mean: Any) -> Any:
            control_sum = summed[SUMS]["control_delta"]
            stepped = scaffold.server_step(
                state[MODEL], state[CONTROL], mean, control_sum, server_lr, inverse_clients
            )
            new_state = collections.OrderedDict(
                [
                    (MODEL, stepped[MODEL]),
                    (CONTROL, stepped[CONTROL]),
                    (AGGREGATOR, state[AGGREGATOR]),
                ]
            )
            return new_state, _round_metrics(types, summed, drift_sums, mean)

        stepped = _server_side(state, out, step)
        return stepped[0], stepped[1], out[ROWS]

    zero_control = [np.zeros(t.shape, t.dtype.type) for t in control_type]
    return ComposedProcess(
        initialize_fn,
        next_fn,
        zero_control,
        store.num_clients,
        sharded=True,
        **start_hooks(control_start, fresh_weights, zero_control),
    )


def _fednova_rule(momentum: float) -> ClientRule:
    def contribute(result: LocalResult, own: Any, broadcast: Any) -> Contribution:
        steps = tf.maximum(tf.cast(result.steps, tf.float32), 1.0)
        a = normalizing_factor(steps, momentum)
        weight = result.weight
        normalized = [d / a for d in result.zeroed_delta]
        sums = collections.OrderedDict(weighted_factor=weight * a)
        return Contribution(normalized, weight, sums)

    return ClientRule(
        contribute=contribute,
        sums_zero=lambda trainable: collections.OrderedDict(
            weighted_factor=tf.zeros([], tf.float32)
        ),
        keep_unusable_metrics=True,
    )


def sharded_fednova(
    model_fn: Callable,
    keras_fn: Callable,
    settings: OptimizerSettings,
    store: ClientStore,
    batch_size: int,
    fresh_weights: Callable[[str], Sequence[np.ndarray]],
) -> ComposedProcess:
    """FedNova on shards: :func:`fedbench.training.fednova.fednova`'s state and round.

    ``fresh_weights`` is not used (FedNova keeps no state that starts from a network;
    every sharded builder takes it, :data:`fedbench.records.Algorithm.sharded`).
    """
    types = ModelTypes.of(model_fn)
    server_lr = settings.server_lr
    aggregation = DriftMeasuringFactory().create(types.trainable, tff.TensorType(np.float32))
    rule = _fednova_rule(settings.client_momentum)
    train_shard = _shard_computation(keras_fn, settings, store, batch_size, rule, types.weights)

    initialize_fn = initialize_computation(model_fn, aggregation)
    state_type = initialize_fn.type_signature.result

    @tff.federated_computation(state_type, tff.FederatedType(shard_input_type(), tff.CLIENTS))
    def next_fn(state: Any, shards: Any) -> Any:
        out = tff.federated_map(train_shard, (tff.federated_broadcast(state[MODEL]), shards))

        def step(state: Any, summed: Any, drift_sums: Any, mean: Any) -> Any:
            sums = collections.OrderedDict(
                weighted_factor=summed[SUMS]["weighted_factor"], weight=summed[WEIGHT]
            )
            model = fednova.server_step(state[MODEL], mean, sums, server_lr)
            new_state = collections.OrderedDict([(MODEL, model), (AGGREGATOR, state[AGGREGATOR])])
            return new_state, _round_metrics(types, summed, drift_sums, mean)

        stepped = _server_side(state, out, step)
        return stepped[0], stepped[1]

    return ComposedProcess(initialize_fn, next_fn, sharded=True)


def _sharded_tff(
    name: str,
    model_fn: Callable,
    keras_fn: Callable,
    settings: OptimizerSettings,
    store: ClientStore,
    batch_size: int,
    **options: Any,
) -> tff.learning.templates.LearningProcess:
    """The sharded process of the ``tff.learning`` algorithm ``algorithm=name``."""
    reference = build_process(name, model_fn, settings, **options)
    server = SERVER_OPTIMIZERS[name](settings, **options)
    rule = fedavg_rule(name, **options)
    return sharded_tff_process(
        reference, model_fn, keras_fn, settings, server, rule, store, batch_size
    )


def sharded_fedavg(
    model_fn: Callable,
    keras_fn: Callable,
    settings: OptimizerSettings,
    store: ClientStore,
    batch_size: int,
    fresh_weights: Callable[[str], Sequence[np.ndarray]],
) -> tff.learning.templates.LearningProcess:
    """FedAvg on shards (:func:`sharded_tff_process`); ``fresh_weights`` is not used."""
    return _sharded_tff("fedavg", model_fn, keras_fn, settings, store, batch_size)


def sharded_fedavgm(
    model_fn: Callable,
    keras_fn: Callable,
    settings: OptimizerSettings,
    store: ClientStore,
    batch_size: int,
    fresh_weights: Callable[[str], Sequence[np.ndarray]],
    *,
    server_momentum: float,
) -> tff.learning.templates.LearningProcess:
    """FedAvgM on shards (:func:`sharded_tff_process`); ``fresh_weights`` is not used."""
    return _sharded_tff(
        "fedavgm",
        model_fn,
        keras_fn,
        settings,
        store,
        batch_size,
        server_momentum=server_momentum,
    )


def sharded_fedprox(
    model_fn: Callable,
    keras_fn: Callable,
    settings: OptimizerSettings,
    store: ClientStore,
    batch_size: int,
    fresh_weights: Callable[[str], Sequence[np.ndarray]],
    *,
    mu: float,
) -> tff.learning.templates.LearningProcess:
    """FedProx on shards (:func:`sharded_tff_process`); ``fresh_weights`` is not used."""
    return _sharded_tff("fedprox", model_fn, keras_fn, settings, store, batch_size, mu=mu)


def sharded_fedadam(
    model_fn: Callable,
    keras_fn: Callable,
    settings: OptimizerSettings,
    store: ClientStore,
    batch_size: int,
    fresh_weights: Callable[[str], Sequence[np.ndarray]],
    *,
    beta_1: float,
    beta_2: float,
    epsilon: float,
) -> tff.learning.templates.LearningProcess:
    """FedAdam on shards (:func:`sharded_tff_process`); ``fresh_weights`` is not used."""
    return _sharded_tff(
        "fedadam",
        model_fn,
        keras_fn,
        settings,
        store,
        batch_size,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
    )


def build_sharded_process(
    name: str,
    model_fn: Callable,
    keras_fn: Callable,
    settings: OptimizerSettings,
    store: ClientStore,
    batch_size: int,
    fresh_weights: Callable[[str], Sequence[np.ndarray]],
    **options: Any,
) -> Any:
    """Build the sharded process of ``algorithm=name``: its record's ``sharded`` builder.

    Returns
    -------
    tff.learning.templates.LearningProcess or ComposedProcess
        ``next`` takes one :func:`fedbench.training.shards.shard_input` per shard.

    Raises
    ------
    ConfigError
        The algorithm has no sharded builder (:meth:`fedbench.records.Algorithm.builder_for`).

    """
    builder = record("algorithm", name).builder_for("sharded")
    return builder(model_fn, keras_fn, settings, store, batch_size, fresh_weights, **options)


def for_job(
    process: Any,
    name: str,
    store: ClientStore,
    fresh_weights: Callable[[str], Sequence[np.ndarray]],
    **options: Any,
) -> Any:
    """A process built for an earlier job, ready for this one (its own client table's start).

    The computations are shared; what a composed process's client table holds before
    the first round (SCAFFOLD's ``control_start``) depends on this job's seed.
    """
    if name != "scaffold":
        return process
    start = start_hooks(options["control_start"], fresh_weights, process.client_state)
    hooks = {"initial_row": None, "initial_server": None, **start}
    return dataclasses.replace(process, num_clients=store.num_clients, **hooks)
