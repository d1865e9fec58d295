"""A shard's clients trained one after another inside one TensorFlow computation.

A round's sampled clients are split into shards (:mod:`fedbench.training.shards`); each
shard is one TFF client slot. Inside it, :func:`build_shard_training` loops over the
shard's clients: each client starts from the broadcast model with a fresh optimizer
state, reads its examples from the client store in its own epoch order (batches never
straddle two epochs), takes its local steps, and what the algorithm makes of its update
(:class:`ClientRule`) is summed into the shard's result. The shard returns sums, which
the server combines across shards exactly as it would combine clients:

- ``weighted_update`` = sum_k w_k u_k and ``weight`` = sum_k w_k (float32): the
  examples-weighted mean's two halves (``u_k`` the update the algorithm averages, ``w_k``
  its weight, 0 for an unusable client);
- ``updates`` and ``weights``: every client's flattened ``u_k`` and ``w_k``, stacked,
  for ``client_drift``'s distance of each update to the round's mean (a second pass
  once the mean is known, :func:`fedbench.training.drift.stacked_terms`);
- ``metrics``: the clients' unfinalized metrics summed (they are sums themselves:
  TFF's ``sum_then_finalize`` over shards equals it over clients);
- ``sums``: the algorithm's further sums (FedNova's ``sum w_k a_k``, SCAFFOLD's
  ``sum Δc_k``), and ``rows``: how many new state rows the shard wrote. A process
  keeping state per client stages its clients' rows in files
  (:mod:`fedbench.training.staged_rows`): the shard reads each client's row there and
  writes its new row beside it, so rows never cross TFF.

Per client the steps are those of TFF's model-delta client work with
``LoopImplementation.DATASET_ITERATOR`` (forward pass, gradient, optimizer step,
FedProx's proximal gradient ``mu (w - w_0)`` added before the step, SCAFFOLD's
correction ``w <- w - lr (c - c_i)`` after it), so the sharded path's records equal the
per-client path's up to the order of float32 sums.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff

from fedbench.training import staged_rows, tff_model
from fedbench.training.client_data import X, Y, gather_batch
from fedbench.training.local_training import all_finite

#: Fields of a shard's round input: the client store's directory, its clients, their
#: sizes, their local epochs and every client's epoch orders, concatenated (client k's
#: ``epochs[k] * sizes[k]`` indices).
DIRECTORY, CLIENTS, SIZES, EPOCHS, ORDER = "directory", "clients", "sizes", "epochs", "order"
#: Fields of a shard's result.
WEIGHTED_UPDATE, WEIGHT = "weighted_update", "weight"
UPDATES, WEIGHTS, METRICS, SUMS, ROWS = "updates", "weights", "metrics", "sums", "rows"


def shard_input_type() -> tff.types.StructType:
    """TFF type of a shard's round input: ``<directory=str, clients, sizes, epochs, order>``.

    The four last are int32[?]. The store's directory is an input, not a constant, so
    one built process serves the jobs of a sweep whatever their clients.
    """
    integers = [
        (name, tff.TensorType(np.int32, [None])) for name in (CLIENTS, SIZES, EPOCHS, ORDER)
    ]
    return tff.StructType([(DIRECTORY, tff.TensorType(np.str_)), *integers])


@dataclass(frozen=True)
class LocalResult:
    """One client's local training, as a :class:`ClientRule` sees it (tensors).

    Attributes
    ----------
    delta
        ``initial - final`` trainable weights (TFF's sign), a list of tensors.
    examples
        Examples trained (int64).
    steps
        Local steps taken (int64).
    usable
        Whether the update may be used: every element finite and at least one step.

    """

    delta: list[tf.Tensor]
    examples: tf.Tensor
    steps: tf.Tensor
    usable: tf.Tensor

    @property
    def weight(self) -> tf.Tensor:
        """The examples trained as float32, 0 for an unusable update."""
        return tf.where(self.usable, tf.cast(self.examples, tf.float32), 0.0)

    @property
    def zeroed_delta(self) -> list[tf.Tensor]:
        """``delta``, zeros when unusable (as TFF's client work zeroes a non-finite update)."""
        return [tf.where(self.usable, d, tf.zeros_like(d)) for d in self.delta]


@dataclass(frozen=True)
class Contribution:
    """What one client adds to its shard's result (tensors).

    Attributes
    ----------
    update
        The update the server averages (a list shaped like the trainable weights).
    weight
        Its weight (float32; 0 leaves the client out).
    sums
        Further per-client values the shard sums (name -> tensor or list of tensors).
    row
        The client's new state row (a list of tensors), or ``None`` without client state.

    """

    update: list[tf.Tensor]
    weight: tf.Tensor
    sums: collections.OrderedDict
    row: list[tf.Tensor] | None = None


@dataclass(frozen=True)
class ClientRule:
    """How an algorithm trains a client of a shard and what it makes of the result.

    Attributes
    ----------
    contribute
        ``(result, row, broadcast) -> Contribution``; ``row`` is the client's state row
        (``None`` without client state), ``broadcast`` the algorithm's server values sent
        to every client (``None`` without).
    sums_zero
        Zeros shaped like a contribution's ``sums`` (the shard's sums start there).
    proximal_mu
        FedProx's ``mu``: ``mu (w - w_0)`` is added to every gradient (0: none).
    correction
        ``(row, broadcast) -> list of tensors`` applied after every optimizer step as
        ``w <- w - correction_lr * correction`` (SCAFFOLD's ``c - c_i``), or ``None``.
    correction_lr
        The correction's step.
    keep_unusable_metrics
        Whether an unusable client's metrics count (TFF's client work resets them; the
        processes fedbench composes keep them).

    """

    contribute: Callable[[LocalResult, Any, Any], Contribution]
    sums_zero: Callable[[list[tf.Variable]], collections.OrderedDict]
    proximal_mu: float = 0.0
    correction: Callable[[Any, Any], list[tf.Tensor]] | None = None
    correction_lr: float = 0.0
    keep_unusable_metrics: bool = False


def averaged(result: LocalResult, row: Any = None, broadcast: Any = None) -> Contribution:
    """FedAvg's contribution: the update (zeroed if unusable), weighted by its examples."""
    return Contribution(result.zeroed_delta, result.weight, collections.OrderedDict())


#: The FedAvg family's rule (FedProx sets ``proximal_mu``).
FEDAVG_RULE = ClientRule(contribute=averaged, sums_zero=lambda trainable: collections.OrderedDict())

#: Reads a client's training data: ``(client, directory) -> (features, labels)``.
ReadClient = Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]


def _flat(values: list[tf.Tensor]) -> tf.Tensor:
    return tf.concat([tf.reshape(v, [-1]) for v in values], axis=0)


def build_shard_training(
    keras_fn: Callable[[], tf.keras.Model],
    optimizer: tff.learning.optimizers.Optimizer,
    read_client: ReadClient,
    *,
    batch_size: int,
    compact: bool,
    rule: ClientRule,
    row_specs: tuple[tf.TensorSpec, ...] = (),
) -> Callable[..., collections.OrderedDict]:
    """A ``tf.function`` training a shard's clients one after another (see the module doc).

    Call it inside a ``tff.tensorflow.computation`` (it builds its model there).

    Parameters
    ----------
    keras_fn
        No-argument function returning a new Keras model (the architecture of the
        process's ``model_fn``; the loss and metrics are :mod:`fedbench.training.tff_model`'s).
    optimizer
        The client optimizer (its state starts fresh for every client).
    read_client
        A client's features (uint8 codes when ``compact``, else float32) and int64 labels.
    batch_size
        Mini-batch size; an epoch's last batch may be smaller.
    compact
        Whether the store holds features as uint8 codes.
    rule
        The algorithm's local-training options and what it makes of each client.
    row_specs
        The leaves of a client's state row (empty: the algorithm keeps no client state).

    Returns
    -------
    callable
        ``train(initial_weights, shard, staging=None, broadcast=None)`` ->
        ``OrderedDict(weighted_update, weight, updates, weights, metrics, sums,
        rows)``; ``staging`` is the folder of the round's staged rows (a string tensor;
        ``None`` without client state), where each client's row is read and its new
        row written (:mod:`fedbench.training.staged_rows`); ``rows`` is the number of
        rows written (int32).

    """
    model = keras_fn()
    loss = tff_model.loss_fn()
    weights = tff.learning.models.ModelWeights.from_model(model)
    trainable = tuple(tf.nest.flatten(weights.trainable))
    specs = tuple(tf.TensorSpec(v.shape, v.dtype) for v in trainable)
    mu, correction_lr = rule.proximal_mu, rule.correction_lr

    def local_training(
        initial: tff.learning.models.ModelWeights,
        features: tf.Tensor,
        labels: tf.Tensor,
        order: tf.Tensor,
        epochs: tf.Tensor,
        correction: list[tf.Tensor] | None,
    ) -> tuple[LocalResult, collections.OrderedDict]:
        tf.nest.map_structure(lambda v, t: v.assign(t), weights, initial)
        start = tuple(tf.nest.flatten(initial.trainable))
        size = tf.shape(labels)[0]
        per_epoch = (size + batch_size - 1) // batch_size
        steps = epochs * per_epoch
        # Every step's slice of ``order``, computed at once: the loop below runs once per
        # batch and costs what its operations cost, so it holds the step's arithmetic alone.
        first, last = _batch_bounds(steps, per_epoch, size, batch_size)
        state = optimizer.initialize(specs)
        matches = loss_total = tf.zeros([], tf.float32)
        for step in tf.range(steps):
            data = gather_batch(features, labels, order[first[step] : last[step]], compact=compact)
            with tf.GradientTape() as tape:
                logits = model(data[X], training=True)
                data_loss = loss(data[Y], logits)
                # The gradient includes the layers' own losses, as TFF's forward pass does;
                # TFF's loss metric records the loss function alone.
                batch_loss = tf.add_n([data_loss, *model.losses])
            gradients = tuple(tape.gradient(batch_loss, trainable))
            if mu > 0.0:
                gradients = tuple(
                    g + mu * (w - w0) for g, w, w0 in zip(gradients, trainable, start, strict=True)
                )
            state, updated = optimizer.next(state, trainable, gradients)
            if correction is not None:
                updated = tuple(
                    w - correction_lr * c for w, c in zip(updated, correction, strict=True)
                )
            for variable, value in zip(trainable, updated, strict=True):
                variable.assign(value)
            batch_matches, batch_loss_total = tff_model.batch_sums(data[Y], logits, data_loss)
            matches += batch_matches
            loss_total += batch_loss_total
        metrics = tff_model.client_metrics(matches, loss_total, epochs * size, steps)
        delta = [tf.subtract(w0, w) for w0, w in zip(start, trainable, strict=True)]
        usable = tf.logical_and(all_finite(delta), steps > 0)
        trained = metrics["num_examples"][0], metrics["num_batches"][0]
        return LocalResult(delta, *trained, usable), metrics

    def masked(keep: tf.Tensor, values: collections.OrderedDict) -> collections.OrderedDict:
        return tf.nest.map_structure(lambda v: tf.where(keep, v, tf.zeros_like(v)), values)

    @tf.function
    def train(
        initial_weights: tff.learning.models.ModelWeights,
        shard: Any,
        staging: Any = None,
        broadcast: Any = None,
    ) -> collections.OrderedDict:
        clients, sizes = shard[CLIENTS], shard[SIZES]
        epochs, order = shard[EPOCHS], shard[ORDER]
        offsets = tf.cumsum(sizes * epochs, exclusive=True)
        count = tf.shape(clients)[0]
        weighted = [tf.zeros_like(v) for v in trainable]
        weight = tf.zeros([], tf.float32)
        metrics = tff_model.metrics_zero()
        sums = rule.sums_zero(list(trainable))
        updates = tf.TensorArray(tf.float32, size=count, element_shape=[_size(specs)])
        client_weights = tf.TensorArray(tf.float32, size=count, element_shape=[])
        written = tf.zeros([], tf.int32)
        for i in tf.range(count):
            features, labels = read_client(clients[i], shard[DIRECTORY])
            own = None
            if staging is not None:
                own = staged_rows.read_staged(staging, clients[i], row_specs)
            correction = None if rule.correction is None else rule.correction(own, broadcast)
            span = order[offsets[i] : offsets[i] + sizes[i] * epochs[i]]
            result, own_metrics = local_training(
                initial_weights, features, labels, span, epochs[i], correction
            )
            given = rule.contribute(result, own, broadcast)
            weighted = [s + u * given.weight for s, u in zip(weighted, given.update, strict=True)]
            weight += given.weight
            counted = tf.logical_or(result.usable, rule.keep_unusable_metrics)
            metrics = tf.nest.map_structure(tf.add, metrics, masked(counted, own_metrics))
            sums = tf.nest.map_structure(tf.add, sums, given.sums)
            updates = updates.write(i, _flat(given.update))
            client_weights = client_weights.write(i, given.weight)
            if staging is not None and given.row is not None:
                saved = staged_rows.write_staged(staging, clients[i], given.row)
                with tf.control_dependencies([saved]):
                    written = tf.identity(written + 1)
        return collections.OrderedDict(
            [
                (WEIGHTED_UPDATE, weighted),
                (WEIGHT, weight),
                (UPDATES, updates.stack()),
                (WEIGHTS, client_weights.stack()),
                (METRICS, metrics),
                (SUMS, sums),
                (ROWS, written),
            ]
        )

    return train


def _batch_bounds(
    steps: tf.Tensor, per_epoch: tf.Tensor, size: tf.Tensor, batch_size: int
) -> tuple[tf.Tensor, tf.Tensor]:
    """Where each step's batch starts and ends in a client's concatenated epoch orders.

    Step ``s`` trains batch ``s mod per_epoch`` of epoch ``s div per_epoch``; an epoch's
    last batch may be smaller, and no batch straddles two epochs.
    """
    step = tf.range(steps)
    epoch, batch = step // per_epoch, step % per_epoch
    first = epoch * size + batch * batch_size
    last = epoch * size + tf.minimum((batch + 1) * batch_size, size)
    return first, last


def _size(specs: tuple[tf.TensorSpec, ...]) -> int:
    return int(sum(np.prod(s.shape, dtype=np.int64) for s in specs))
