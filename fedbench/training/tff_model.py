"""Wrap a Keras model factory as the ``model_fn`` that ``tff.learning`` builders take.

The loss (sparse categorical cross-entropy on logits) and the metric (sparse categorical
accuracy) are fixed here, once: :func:`make_model_fn` hands them to TFF's Keras wrapper,
and :func:`batch_sums` with :func:`client_metrics` give the same quantities, in the
wrapper's layout, for the sharded path's clients (which call the Keras model directly).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from typing import Any

import tensorflow as tf
import tensorflow_federated as tff

from fedbench.training.client_data import element_spec
from fedbench.training.models import build_model

#: The metric's name in TFF's metrics (``client_work.train``), beside ``loss``.
ACCURACY = "sparse_categorical_accuracy"


def loss_fn() -> tf.keras.losses.Loss:
    """The training loss: mean sparse categorical cross-entropy on logits."""
    return tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def make_keras_fn(
    name: str, options: Mapping[str, Any], example_shape: tuple[int, ...], num_classes: int
) -> Callable[[], tf.keras.Model]:
    """Return a no-argument function building a fresh Keras model of ``name``."""

    def keras_fn() -> tf.keras.Model:
        return build_model(name, example_shape, num_classes, **options)

    return keras_fn


def make_model_fn(
    name: str, options: Mapping[str, Any], example_shape: tuple[int, ...], num_classes: int
) -> Callable[[], tff.learning.models.VariableModel]:
    """Return a no-argument function building a fresh TFF model of ``name``.

    The weights this creates are placeholders: the run installs its seeded
    initial weights with ``process.set_model_weights`` (see ``initial_keras_model``).
    """
    spec = element_spec(example_shape)
    keras_fn = make_keras_fn(name, options, example_shape, num_classes)

    def model_fn() -> tff.learning.models.VariableModel:
        return tff.learning.models.from_keras_model(
            keras_fn(),
            input_spec=spec,
            loss=loss_fn(),
            metrics=[tf.keras.metrics.SparseCategoricalAccuracy()],
        )

    return model_fn


def batch_sums(
    labels: tf.Tensor, logits: tf.Tensor, batch_loss: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """One batch's share of the metrics: its correct predictions and its loss times its size.

    Both float32; summed batch after batch, they are the totals :func:`client_metrics`
    takes (a batch's mean loss weighted by its size, as Keras' ``Mean`` metric weighs it).
    """
    predicted = tf.cast(tf.argmax(logits, axis=-1), labels.dtype)
    matches = tf.reduce_sum(tf.cast(tf.equal(labels, predicted), tf.float32))
    return matches, batch_loss * tf.cast(tf.shape(labels)[0], tf.float32)


def client_metrics(
    matches: tf.Tensor, loss_total: tf.Tensor, examples: tf.Tensor, batches: tf.Tensor
) -> collections.OrderedDict:
    """Unfinalized metrics laid out as TFF's Keras wrapper reports them.

    Given the sums of :func:`batch_sums` over the batches trained, the examples (an
    integer) and the batches: the accuracy's ``[total, count]`` and the loss's
    ``[total, count]`` (float32), ``num_examples`` and ``num_batches`` (int64). They equal
    :meth:`report_local_unfinalized_metrics` of a model from :func:`make_model_fn` after
    the same forward passes (a count of examples is exact in float32 below 2**24).
    """
    count = tf.cast(examples, tf.float32)
    return collections.OrderedDict(
        [
            (ACCURACY, [matches, count]),
            ("loss", [loss_total, count]),
            ("num_examples", [tf.cast(examples, tf.int64)]),
            ("num_batches", [tf.cast(batches, tf.int64)]),
        ]
    )


def metrics_zero() -> collections.OrderedDict:
    """Unfinalized metrics at zero (no batch trained), in :func:`client_metrics`' layout."""
    zero = tf.zeros([], tf.float32)
    return client_metrics(zero, zero, tf.zeros([], tf.int64), tf.zeros([], tf.int64))


def initial_keras_model(
    name: str,
    options: Mapping[str, Any],
    example_shape: tuple[int, ...],
    num_classes: int,
    init_seed: int,
) -> tf.keras.Model:
    """Build the Keras model whose weights start training, seeded by ``init_seed``."""
    tf.keras.utils.set_random_seed(init_seed)
    return build_model(name, example_shape, num_classes, **options)
