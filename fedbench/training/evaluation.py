"""Centralised evaluation of the global model: the test set and each client's own held-out data."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

_BATCH = 4096


def predict_logits(model: tf.keras.Model, x: np.ndarray) -> np.ndarray:
    """Return the model's logits for ``x`` in batches (inference mode: dropout off)."""
    if len(x) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    chunks = [model(x[i : i + _BATCH], training=False).numpy() for i in range(0, len(x), _BATCH)]
    return np.concatenate(chunks)


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
