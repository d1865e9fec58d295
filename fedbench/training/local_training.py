"""A client's local training for the algorithms fedbench composes itself (SCAFFOLD, FedNova).

The same steps as TFF's FedAvg client work (``tff.learning`` model-delta client work with
``LoopImplementation.DATASET_ITERATOR``): per batch, a forward pass, the gradient of the
loss, one optimizer step; the model's metric variables accumulate as they do there. Two
things are added: the number of local steps, and an optional correction applied after
each step, ``w <- w - lr * correction`` (SCAFFOLD's ``c - c_i``, applied as NIID-Bench's
code applies it, after the optimizer's own step).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import tensorflow as tf
import tensorflow_federated as tff

#: Field names of a local training's result.
DELTA, NUM_EXAMPLES, STEPS, METRICS = "delta", "num_examples", "steps", "metrics"


def build_local_training(
    model_fn: Callable[[], tff.learning.models.VariableModel],
    optimizer: tff.learning.optimizers.Optimizer,
    correction_lr: float = 0.0,
) -> Callable[..., collections.OrderedDict]:
    """A ``tf.function`` training a fresh model from given weights on one client's data.

    Call it inside a ``tff.tensorflow.computation`` (it builds its model there).

    Parameters
    ----------
    model_fn
        No-argument function returning a new ``tff.learning.models.VariableModel``.
    optimizer
        The client optimizer (its state starts fresh on every call).
    correction_lr
        Step of the per-step correction; the returned function then takes a
        ``correction`` (one tensor per trainable weight).

    Returns
    -------
    callable
        ``train(initial_weights, dataset[, correction])`` ->
        ``OrderedDict(delta, num_examples, steps, metrics)``: the trainable weights'
        change ``initial - final`` (TFF's sign: a step along it lowers the loss when
        subtracted), the examples and the steps (batches) trained, and the model's
        local unfinalized metrics.

    """
    model = model_fn()

    @tf.function
    def train(
        initial_weights: tff.learning.models.ModelWeights,
        dataset: tf.data.Dataset,
        correction: Any = None,
    ) -> collections.OrderedDict:
        weights = tff.learning.models.ModelWeights.from_model(model)
        tf.nest.map_structure(lambda v, t: v.assign(t), weights, initial_weights)
        trainable = tuple(tf.nest.flatten(weights.trainable))
        specs = tuple(tf.TensorSpec(v.shape, v.dtype) for v in trainable)
        state = optimizer.initialize(specs)
        num_examples = tf.zeros([], tf.int64)
        steps = tf.zeros([], tf.int64)
        for batch in iter(dataset):
            with tf.GradientTape() as tape:
                output = model.forward_pass(batch, training=True)
            gradients = tape.gradient(output.loss, weights.trainable)
            state, updated = optimizer.next(state, trainable, tuple(tf.nest.flatten(gradients)))
            if correction is not None:
                updated = tuple(
                    w - correction_lr * c for w, c in zip(updated, correction, strict=True)
                )
            for variable, value in zip(trainable, updated, strict=True):
                variable.assign(value)
            num_examples += tf.cast(output.num_examples, tf.int64)
            steps += 1
        delta = tuple(
            tf.subtract(start, end)
            for start, end in zip(
                tf.nest.flatten(initial_weights.trainable), trainable, strict=True
            )
        )
        return collections.OrderedDict(
            [
                (DELTA, delta),
                (NUM_EXAMPLES, num_examples),
                (STEPS, steps),
                (METRICS, model.report_local_unfinalized_metrics()),
            ]
        )

    return train


def usable_update(result: collections.OrderedDict) -> collections.OrderedDict:
    """A local training's update as the server may use it, or inert.

    An update is usable when the client took at least one step and every element of its
    update is finite. An unusable one is zeroed and weighs 0, as TFF's FedAvg client work
    treats a non-finite update (the round loop then notices the missing weight).

    Returns
    -------
    collections.OrderedDict
        ``delta`` (zeros if unusable), ``steps`` (float32), ``usable`` (bool) and
        ``weight`` (the examples trained, float32; 0 if unusable).

    """
    delta = list(result[DELTA])
    steps = tf.cast(result[STEPS], tf.float32)
    usable = tf.logical_and(all_finite(delta), steps > 0)
    return collections.OrderedDict(
        delta=[tf.where(usable, d, tf.zeros_like(d)) for d in delta],
        steps=steps,
        usable=usable,
        weight=tf.where(usable, tf.cast(result[NUM_EXAMPLES], tf.float32), 0.0),
    )


def applied(weights: Any, step: Any, scale: Any) -> list[tf.Tensor]:
    """``w - scale * s`` per weight and step; ``weights`` unchanged if a step is not finite.

    As TFF's FedAvg finalizer does: a round whose sampled clients all weigh 0 (no example,
    or updates that were not finite) averages 0/0 and leaves the model as it was. A finite
    step that moves the weights past float32's range is applied (the run diverged).
    """
    finite = all_finite(step)
    return [tf.where(finite, w - scale * s, w) for w, s in zip(weights, step, strict=True)]


def all_finite(values: Any) -> tf.Tensor:
    """A boolean tensor: whether every element of every tensor in ``values`` is finite."""
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in tf.nest.flatten(values)])
