"""One seed, many independent random streams.

Every random choice in fedbench draws from a numpy ``Generator`` derived from the
run's single ``seed`` and a named stream (plus integer keys such as the round
number or a client index). Streams are independent of each other and of the
order in which they are requested, so any round's client sample, or any
client's shuffle, can be replayed on its own.
"""

from __future__ import annotations

import hashlib

import numpy as np

PARTITION = "partition"
SAMPLING = "client_sampling"
MODEL_INIT = "model_init"
SHUFFLE = "client_shuffle"
FEATURE_NOISE = "feature_noise"
DATA_SPLIT = "data_split"
HOLDOUT = "client_holdout"
LABEL_SWAPS = "label_swaps"
#: The network SCAFFOLD's control variates start from (``algorithm.control_start=network``).
CONTROL_INIT = "control_init"
#: Which of a round's sampled clients straggle, and a partial straggler's epochs (issue 34).
STRAGGLERS = "stragglers"
#: A client's local epochs of a round drawn in [``fl.local_epochs_min``, ``fl.local_epochs``].
LOCAL_EPOCHS = "local_epochs"
#: The clients that never train (``fl.heldout_clients``).
HELDOUT_CLIENTS = "heldout_clients"
#: A cyclic round's draw of clients from its block (``fl.participation=cyclic``).
PARTICIPATION = "participation"


def _stream_key(stream: str) -> int:
    """Map a stream name to a stable 32-bit integer (independent of PYTHONHASHSEED)."""
    return int.from_bytes(hashlib.sha256(stream.encode()).digest()[:4], "little")


def seed_sequence(seed: int, stream: str, *keys: int) -> np.random.SeedSequence:
    """Return the ``SeedSequence`` for ``(seed, stream, *keys)``.

    Parameters
    ----------
    seed
        The run's seed (any non-negative integer; 0 is a valid seed).
    stream
        Name of the random stream, e.g. :data:`PARTITION`.
    *keys
        Further non-negative integers, e.g. the round number and a client index.

    Returns
    -------
    numpy.random.SeedSequence

    """
    if seed < 0 or any(k < 0 for k in keys):
        raise ValueError(f"seed and stream keys must be non-negative, got {seed}, {keys}")
    return np.random.SeedSequence(entropy=seed, spawn_key=(_stream_key(stream), *keys))


def rng(seed: int, stream: str, *keys: int) -> np.random.Generator:
    """Return an independent ``numpy.random.Generator`` for ``(seed, stream, *keys)``.

    Examples
    --------
    >>> a = rng(0, SAMPLING, 3).integers(1000)
    >>> b = rng(0, SAMPLING, 3).integers(1000)
    >>> bool(a == b)
    True

    """
    return np.random.default_rng(seed_sequence(seed, stream, *keys))


def int_seed(seed: int, stream: str, *keys: int) -> int:
    """Return a 31-bit integer seed for libraries that take an int (TensorFlow ops)."""
    return int(seed_sequence(seed, stream, *keys).generate_state(1)[0] & 0x7FFFFFFF)


def sample_clients(
    seed: int, round_num: int, num_clients: int, clients_per_round: int
) -> np.ndarray:
    """Clients sampled in ``round_num``: a function of (seed, round) only, so any round replays.

    Returns
    -------
    numpy.ndarray
        ``clients_per_round`` distinct client indices, sorted.

    """
    chosen = rng(seed, SAMPLING, round_num).choice(
        num_clients, size=clients_per_round, replace=False
    )
    return np.sort(chosen)
