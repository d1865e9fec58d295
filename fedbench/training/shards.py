"""A round's sampled clients split into shards, and each shard's round input.

The sampled clients (sorted, :func:`fedbench.seeding.sample_clients`) are cut into
``shards`` contiguous runs whose sizes differ by at most one (``numpy.array_split``);
with fewer clients than shards the last shards are empty (they train nothing and add
zeros). A shard's round input names its clients, their sizes, their local epochs and
their epoch orders, concatenated: the same orders
(:func:`~fedbench.training.client_data.epoch_orders` from
:func:`~fedbench.training.client_data.shuffle_rng`) a client reads on the per-client
path, so both paths take the same steps on the same batches.
"""

from __future__ import annotations

import collections

import numpy as np

from fedbench.training.client_data import epoch_orders, shuffle_rng
from fedbench.training.shard_training import CLIENTS, DIRECTORY, EPOCHS, ORDER, SIZES


def split_clients(sampled: np.ndarray, shards: int) -> list[np.ndarray]:
    """``sampled`` cut into ``shards`` contiguous runs of sizes differing by at most one.

    Raises
    ------
    ValueError
        ``shards`` is below 1.

    """
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    return np.array_split(np.asarray(sampled, dtype=np.int64), shards)


def shard_input(
    clients: np.ndarray,
    sizes: np.ndarray,
    round_num: int,
    *,
    directory: str,
    local_epochs: int | np.ndarray,
    seed: int,
    shuffle: bool,
) -> collections.OrderedDict:
    """One shard's round input.

    Parameters
    ----------
    clients
        The shard's clients, in the order they train.
    sizes
        Every client's number of training examples (indexed by client).
    directory
        The client store's directory.
    round_num
        The round (1-based).
    local_epochs
        Passes each client makes over its data: one number for all, or one per client
        of ``clients``.
    seed
        The run's seed.
    shuffle
        Whether each epoch is a fresh permutation (else the stored order).

    Returns
    -------
    collections.OrderedDict
        ``directory``, ``clients``, ``sizes``, ``epochs`` (int32, one per client) and
        ``order`` (int32, every client's ``epochs * size`` example indices, client after
        client).

    """
    own_sizes = np.asarray([sizes[k] for k in clients], dtype=np.int32)
    epochs = np.broadcast_to(np.asarray(local_epochs, dtype=np.int32), own_sizes.shape)
    orders = [
        epoch_orders(int(n), int(e), shuffle_rng(seed, round_num, k, shuffle=shuffle))
        for k, n, e in zip(clients, own_sizes, epochs, strict=True)
    ]
    flat = np.concatenate([o.ravel() for o in orders]) if orders else np.zeros(0)
    return collections.OrderedDict(
        [
            (DIRECTORY, directory),
            (CLIENTS, np.asarray(clients, dtype=np.int32)),
            (SIZES, own_sizes),
            (EPOCHS, np.array(epochs, dtype=np.int32)),
            (ORDER, flat.astype(np.int32)),
        ]
    )
