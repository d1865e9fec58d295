"""What a client's round data is: its batches' spec, each local epoch's order, 8-bit pixels.

A client trains on ``local_epochs`` passes over its examples, each pass in an order
from :func:`epoch_orders` (a fresh permutation per epoch, drawn from the client's
stream of the round, :func:`shuffle_rng`), cut into mini-batches that never straddle
two epochs, as in a per-epoch Keras loop. Features on the 8-bit grid travel as uint8
codes and are decoded in the graph by :func:`decode_pixels`. The client store
(:mod:`fedbench.training.client_store`) builds its batches from these; so does the
reference path kept with the tests, whose batches it matches bit for bit.
"""

from __future__ import annotations

import collections

import numpy as np
import tensorflow as tf

from fedbench import seeding

X, Y = "x", "y"


def element_spec(example_shape: tuple[int, ...]) -> collections.OrderedDict:
    """The element spec of a batch: ``OrderedDict(x=float32[None, ...], y=int64[None])``."""
    return collections.OrderedDict(
        [
            (X, tf.TensorSpec([None, *example_shape], tf.float32)),
            (Y, tf.TensorSpec([None], tf.int64)),
        ]
    )


def shuffle_rng(
    seed: int, round_num: int, client: int, *, shuffle: bool
) -> np.random.Generator | None:
    """The stream client ``client``'s epoch orders of round ``round_num`` are drawn from.

    Returns
    -------
    numpy.random.Generator or None
        ``seeding.rng(seed, SHUFFLE, round_num, client)``, a function of the seed, the
        round and the client alone (so any round replays); ``None`` without ``shuffle``
        (the stored order).

    """
    return seeding.rng(seed, seeding.SHUFFLE, round_num, int(client)) if shuffle else None


def epoch_orders(n: int, local_epochs: int, rng: np.random.Generator | None) -> np.ndarray:
    """The order of a client's ``n`` examples in each of its ``local_epochs`` passes.

    Parameters
    ----------
    n
        The client's number of examples.
    local_epochs
        Passes over them.
    rng
        Each epoch is the next permutation drawn from it; ``None``: the stored order.

    Returns
    -------
    numpy.ndarray
        ``int64[local_epochs, n]``, row ``e`` the example indices of epoch ``e``.

    """
    orders = np.empty((local_epochs, n), dtype=np.int64)
    for order in orders:
        order[:] = rng.permutation(n) if rng is not None else np.arange(n)
    return orders


def decode_pixels(codes: tf.Tensor) -> tf.Tensor:
    """8-bit codes ``k`` as float32 ``k / 255``, in the graph.

    Float32 division is correctly rounded in numpy and TensorFlow alike, so this gives
    bit for bit the pixels :func:`fedbench.data._common.unit_from_u8` makes and
    :func:`fedbench.data._common.u8_codes` encodes.
    """
    return tf.cast(codes, tf.float32) / 255.0


def gather_batch(
    features: tf.Tensor, labels: tf.Tensor, idx: tf.Tensor, *, compact: bool
) -> collections.OrderedDict:
    """The batch of examples ``idx``: ``OrderedDict(x=float32[len(idx), ...], y=int64[len(idx)])``.

    Parameters
    ----------
    features
        The client's features: uint8 codes when ``compact`` (decoded by
        :func:`decode_pixels`), else float32.
    labels
        The client's labels (int64).
    idx
        Indices of the batch's examples.
    compact
        Whether ``features`` are uint8 codes.

    Returns
    -------
    collections.OrderedDict

    """
    x = tf.gather(features, idx)
    return collections.OrderedDict(
        [(X, decode_pixels(x) if compact else x), (Y, tf.gather(labels, idx))]
    )
