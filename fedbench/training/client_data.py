"""Client arrays from a partition, and the ``tf.data`` datasets each round feeds TFF.

Clients' data stays in numpy until a client is sampled; its round dataset then
embeds the client's arrays once and gathers mini-batches by index, so several
local epochs do not copy the data.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from fedbench import seeding
from fedbench.data._common import u8_codes
from fedbench.data.base import FederatedDataset

X, Y = "x", "y"


@dataclass(frozen=True)
class ClientArrays:
    """Each client's training arrays and, optionally, its own held-out arrays.

    Attributes
    ----------
    train_x, train_y
        Per-client features (feature noise already applied) and labels.
    holdout_x, holdout_y
        Per-client held-out data for per-client evaluation, or ``None`` when off.
    noise_sigmas
        Per-client Gaussian feature-noise std (``partition=feature_noise``), else ``None``.

    """

    train_x: list[np.ndarray]
    train_y: list[np.ndarray]
    holdout_x: list[np.ndarray] | None = None
    holdout_y: list[np.ndarray] | None = None
    noise_sigmas: np.ndarray | None = None

    @property
    def num_clients(self) -> int:
        """Number of clients."""
        return len(self.train_y)

    @property
    def sizes(self) -> np.ndarray:
        """Training examples per client."""
        return np.array([len(y) for y in self.train_y], dtype=np.int64)


def writer_test_parts(dataset: FederatedDataset, train_parts: list[np.ndarray]) -> list[np.ndarray]:
    """Map each client to the test examples of the writers in its training part.

    For a natural partition this is each writer's own test data (merged silos get
    the test data of all their writers).

    Parameters
    ----------
    dataset
        A dataset with writer ids in both splits.
    train_parts
        Index arrays into ``dataset.train``, one per client.

    Returns
    -------
    list of numpy.ndarray
        Index arrays into ``dataset.test``, one per client (empty for a client whose
        writers have no test examples).

    """
    if dataset.train.writers is None or dataset.test.writers is None:
        raise ValueError(f"dataset {dataset.name!r} has no writer ids")
    num_writers = len(dataset.writer_names or ()) or int(dataset.train.writers.max()) + 1
    client_of_writer = np.full(num_writers, -1, dtype=np.int64)
    for client, part in enumerate(train_parts):
        client_of_writer[dataset.train.writers[part]] = client
    test_client = client_of_writer[dataset.test.writers]
    order = np.argsort(test_client, kind="stable")
    bounds = np.searchsorted(test_client[order], np.arange(len(train_parts) + 1))
    return [np.sort(order[bounds[k] : bounds[k + 1]]) for k in range(len(train_parts))]


def holdout_split(
    parts: list[np.ndarray], fraction: float, seed: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Hold out a seeded share of each client's examples (at least one example stays for training).

    Returns
    -------
    (train_parts, holdout_parts)

    """
    train, held = [], []
    for client, part in enumerate(parts):
        shuffled = seeding.rng(seed, seeding.HOLDOUT, client).permutation(part)
        k = min(round(fraction * len(part)), max(len(part) - 1, 0))
        held.append(np.sort(shuffled[:k]))
        train.append(np.sort(shuffled[k:]))
    return train, held


def _with_noise(x: np.ndarray, sigma: float, seed: int, client: int, stream_key: int) -> np.ndarray:
    if sigma == 0.0:
        return x
    noise = seeding.rng(seed, seeding.FEATURE_NOISE, client, stream_key).normal(0.0, sigma, x.shape)
    return (x + noise).astype(np.float32)


def build_client_arrays(
    dataset: FederatedDataset,
    parts: list[np.ndarray],
    *,
    seed: int,
    holdout_parts: list[np.ndarray] | None = None,
    holdout_from_test: bool = False,
    noise_sigmas: np.ndarray | None = None,
) -> ClientArrays:
    """Gather each client's arrays, applying per-client feature noise.

    Parameters
    ----------
    dataset
        The loaded dataset.
    parts
        Index arrays into ``dataset.train``, one per client.
    seed
        The run's seed (feature noise draws from it).
    holdout_parts
        Per-client held-out indices, into ``dataset.test`` if ``holdout_from_test``
        (natural data: the writer's own test examples) else into ``dataset.train``.
    holdout_from_test
        Whether ``holdout_parts`` index ``dataset.test`` rather than ``dataset.train``.
    noise_sigmas
        Per-client noise std; the same noise model is applied to the client's
        held-out data, which comes from the same client distribution.

    Returns
    -------
    ClientArrays

    """
    sigmas = np.zeros(len(parts)) if noise_sigmas is None else np.asarray(noise_sigmas, float)
    train_x = [
        _with_noise(dataset.train.x[p], float(sigmas[k]), seed, k, 0) for k, p in enumerate(parts)
    ]
    train_y = [dataset.train.y[p] for p in parts]
    holdout_x = holdout_y = None
    if holdout_parts is not None:
        source = dataset.test if holdout_from_test else dataset.train
        holdout_x = [
            _with_noise(source.x[p], float(sigmas[k]), seed, k, 1)
            for k, p in enumerate(holdout_parts)
        ]
        holdout_y = [source.y[p] for p in holdout_parts]
    return ClientArrays(train_x, train_y, holdout_x, holdout_y, noise_sigmas)


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
