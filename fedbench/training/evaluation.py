"""Centralised evaluation of the global model: the test set and each client's own held-out data."""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from fedbench.clients import ClientArrays

#: Examples in one evaluation batch, at most.
MAX_BATCH = 4096
#: Bytes one batch's widest layer output may take: a wide model is evaluated in smaller
#: batches, so its activations (a few such outputs alive at once) stay well under 1 GB.
ACTIVATION_BUDGET = 64 * 2**20


def widest_output_bytes(model: tf.keras.Model) -> int:
    """Bytes of one example's widest layer output in ``model`` (0 when no shape is known).

    Read from the layers' output shapes, the batch axis left out; a layer whose output
    is not built yet (a model called on no input) counts for nothing.
    """
    widest = 0
    for layer in model.layers:
        try:
            outputs = tf.nest.flatten(layer.output)
        except (AttributeError, ValueError):  # not connected to an input yet
            continue
        for output in outputs:
            shape = output.shape[1:]
            if shape.is_fully_defined():
                widest = max(widest, shape.num_elements() * output.dtype.size)
    return widest


def batch_size(model: tf.keras.Model) -> int:
    """Examples per evaluation batch for ``model``: a power of two up to :data:`MAX_BATCH`.

    The largest one whose widest layer output (:func:`widest_output_bytes`) fits
    :data:`ACTIVATION_BUDGET`, never below 1. Models whose every layer output holds at
    most 4,096 float32 values per example (``linear``, ``mlp``, ``cnn`` on 28 x 28
    images) keep :data:`MAX_BATCH`; ``cnn_emnist`` (24 x 24 x 64 values after its second
    convolution, 147 kB an example) takes 256.
    """
    widest = widest_output_bytes(model)
    if widest == 0:
        return MAX_BATCH
    fits = max(ACTIVATION_BUDGET // widest, 1)
    return min(MAX_BATCH, 1 << (int(fits).bit_length() - 1))


def predict_logits(model: tf.keras.Model, x: np.ndarray) -> np.ndarray:
    """Return the model's logits for ``x`` in batches of :func:`batch_size` (dropout off).

    The forward pass is a compiled ``tf.function`` per model (traced once for any number of
    examples): the same kernels as an eager call, without Keras' per-call Python, which
    for a small model is most of an evaluation.
    """
    if len(x) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    batch = batch_size(model)
    forward = _forward(model, x)
    chunks = [forward(x[i : i + batch]).numpy() for i in range(0, len(x), batch)]
    return np.concatenate(chunks)


#: Each model's compiled forward passes, by input shape and type (a model's entry goes
#: with the model: the functions hold it weakly).
_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forward(model: tf.keras.Model, x: np.ndarray) -> Callable[[np.ndarray], tf.Tensor]:
    passes = _FORWARD.setdefault(model, {})
    key = (x.shape[1:], x.dtype.str)
    if key not in passes:
        held = weakref.ref(model)
        spec = tf.TensorSpec([None, *x.shape[1:]], tf.as_dtype(x.dtype))
        passes[key] = tf.function(
            lambda batch: held()(batch, training=False), input_signature=[spec]
        )
    return passes[key]


def loss_and_accuracy(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean sparse softmax cross-entropy and accuracy of ``logits`` against labels ``y``."""
    losses = tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    return float(np.mean(losses)), float(np.mean(np.argmax(logits, axis=1) == y))


def per_client_accuracy(
    model: tf.keras.Model, xs: list[np.ndarray], ys: list[np.ndarray]
) -> np.ndarray:
    """Accuracy of the global model on each client's own held-out data.

    Clients without held-out examples are left out (not counted as 0 or 1).

    Returns
    -------
    numpy.ndarray
        One accuracy per client that has held-out data.

    """
    sizes = np.array([len(y) for y in ys])
    if sizes.sum() == 0:
        return np.zeros(0)
    logits = predict_logits(model, np.concatenate([x for x in xs if len(x)]))
    correct = np.argmax(logits, axis=1) == np.concatenate(ys)
    owner = np.repeat(np.arange(len(ys)), sizes)
    hits = np.bincount(owner, weights=correct, minlength=len(ys))
    has_data = sizes > 0
    return hits[has_data] / sizes[has_data]


@dataclass(frozen=True)
class ClientScores:
    """The global model's accuracy on the clients' data, and the two gaps of Yuan et al. (2022).

    Attributes
    ----------
    client_accuracy_mean, client_accuracy_p10
        Mean and 10th percentile, over the participating clients with held-out
        examples, of the accuracy on each one's held-out examples.
    heldout_client_accuracy
        Mean, over the held-out clients (``fl.heldout_clients``) with examples, of the
        accuracy on each one's examples, training and held-out alike (none was trained on).
    participation_gap
        ``client_accuracy_mean - heldout_client_accuracy``.
    out_of_sample_gap
        The same participating clients' mean accuracy on their training examples, minus
        ``client_accuracy_mean``.

    Each is NaN where its data is missing (no held-out examples, no held-out client).

    """

    client_accuracy_mean: float = math.nan
    client_accuracy_p10: float = math.nan
    heldout_client_accuracy: float = math.nan
    participation_gap: float = math.nan
    out_of_sample_gap: float = math.nan


def mean_or_nan(values: np.ndarray | None) -> float:
    """The mean of ``values``; NaN for none (``None`` or empty)."""
    return float(np.mean(values)) if values is not None and len(values) else math.nan


def client_scores(
    model: tf.keras.Model, clients: ClientArrays, heldout: np.ndarray | None = None
) -> ClientScores:
    """Score ``model`` on the participating clients' and the held-out clients' data.

    Parameters
    ----------
    model
        The model holding the global weights.
    clients
        Every client's arrays.
    heldout
        The clients that never train; ``None`` or empty: every client participates.

    Returns
    -------
    ClientScores

    """
    heldout = np.zeros(0, dtype=np.int64) if heldout is None else np.asarray(heldout)
    taking_part = np.setdiff1d(np.arange(clients.num_clients), heldout)
    away = mean_or_nan(
        per_client_accuracy(
            model,
            [_all_examples(clients.train_x, clients.holdout_x, k) for k in heldout],
            [_all_examples(clients.train_y, clients.holdout_y, k) for k in heldout],
        )
    )
    if clients.holdout_y is None:
        return ClientScores(heldout_client_accuracy=away)
    scored = [k for k in taking_part if len(clients.holdout_y[k])]
    unseen = per_client_accuracy(
        model, [clients.holdout_x[k] for k in scored], [clients.holdout_y[k] for k in scored]
    )
    if not len(unseen):
        return ClientScores(heldout_client_accuracy=away)
    mean = float(np.mean(unseen))
    seen = math.nan
    if len(heldout):  # a generalisation study: one more pass, over the training data
        seen = mean_or_nan(
            per_client_accuracy(
                model, [clients.train_x[k] for k in scored], [clients.train_y[k] for k in scored]
            )
        )
    return ClientScores(
        client_accuracy_mean=mean,
        client_accuracy_p10=float(np.percentile(unseen, 10)),
        heldout_client_accuracy=away,
        participation_gap=mean - away,
        out_of_sample_gap=seen - mean,
    )


def _all_examples(
    train: list[np.ndarray], holdout: list[np.ndarray] | None, client: int
) -> np.ndarray:
    """A client's training and held-out arrays, one after the other."""
    if holdout is None:
        return train[client]
    return np.concatenate([train[client], holdout[client]])
