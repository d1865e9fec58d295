"""The ``tf.data`` datasets each round feeds TFF, from a client's numpy arrays.

Clients' data stays in numpy (:mod:`fedbench.clients`) until a client is sampled;
its round dataset then embeds the client's arrays once and gathers mini-batches by
index, so several local epochs do not copy the data.
"""

from __future__ import annotations

import collections

import numpy as np
import tensorflow as tf

from fedbench.data._common import u8_codes

X, Y = "x", "y"


def element_spec(example_shape: tuple[int, ...]) -> collections.OrderedDict:
    """The element spec of a batch: ``OrderedDict(x=float32[None, ...], y=int64[None])``."""
    return collections.OrderedDict(
        [
            (X, tf.TensorSpec([None, *example_shape], tf.float32)),
            (Y, tf.TensorSpec([None], tf.int64)),
        ]
    )


def round_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    local_epochs: int,
    shuffle_rng: np.random.Generator | None,
    compact: bool = True,
) -> tf.data.Dataset:
    """One client's data for one round: ``local_epochs`` passes of mini-batches.

    Each epoch is a fresh permutation drawn from ``shuffle_rng`` (or the stored
    order when it is ``None``); batches never straddle two epochs, as in a
    per-epoch Keras loop. The client's arrays are embedded in the dataset once and
    batches gathered by index. With ``compact`` (default), pixels on the 8-bit grid
    (every image loader's) are embedded as uint8 codes (:func:`fedbench.data._common.u8_codes`)
    and decoded as ``float32(k) / 255`` in the graph: float32 division is correctly
    rounded in numpy and TensorFlow alike, so the batches are bit for bit the same, and
    4x smaller to ship. A round of a linear model on Fashion-MNIST's 60,000 examples
    went from ~5 s to ~1 s.
    """
    n = len(y)
    codes = u8_codes(x) if compact else None
    if codes is None:
        features = tf.constant(x, dtype=tf.float32)

        def decode(batch: tf.Tensor) -> tf.Tensor:
            return batch
    else:
        features = tf.constant(codes, dtype=tf.uint8)

        def decode(batch: tf.Tensor) -> tf.Tensor:
            return tf.cast(batch, tf.float32) / 255.0

    labels = tf.constant(y, dtype=tf.int64)
    orders = [
        shuffle_rng.permutation(n) if shuffle_rng else np.arange(n) for _ in range(local_epochs)
    ]
    indices = tf.data.Dataset.from_tensor_slices(orders[0]).batch(batch_size)
    for order in orders[1:]:
        indices = indices.concatenate(tf.data.Dataset.from_tensor_slices(order).batch(batch_size))
    return indices.map(
        lambda idx: collections.OrderedDict(
            [(X, decode(tf.gather(features, idx))), (Y, tf.gather(labels, idx))]
        )
    )
