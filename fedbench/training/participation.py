"""Who takes part: the clients a round may sample, the clients it samples, those that never train.

``fl.heldout_clients`` holds a seeded share of the clients out of training for good
(:func:`heldout_clients`); the global model is scored on them instead
(``heldout_client_accuracy``). The others, the *participating* clients, are sampled:

- ``fl.participation=uniform``: each round draws ``fl.clients_per_round`` of them
  uniformly without replacement. With no client held out this is
  :func:`fedbench.seeding.sample_clients` itself, bit for bit.
- ``fl.participation=cyclic``: semi-cyclic availability (Eichner et al., "Semi-Cyclic
  Stochastic Gradient Descent", ICML 2019). The participating clients are cut into
  ``k = fl.participation_blocks`` blocks of sizes differing by at most one; in round
  ``r`` only block ``r mod k`` is available, and the round draws its clients
  from it. ``fl.block_by=index`` cuts the clients in index order; ``label`` in the order
  of their most frequent training label (ties by index), so that which clients are
  available follows their data.

Every draw is a function of the seed, the round and the clients' labels alone, so any
round replays and a resumed run samples what the uninterrupted one would. Plain numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedbench import seeding
from fedbench.fl_keys import FLSettings, heldout_count


def heldout_clients(seed: int, num_clients: int, fraction: float) -> np.ndarray:
    """The clients that never train: ``heldout_count(num_clients, fraction)`` of them, seeded.

    Returns
    -------
    numpy.ndarray
        Sorted client indices (empty when ``fraction`` is 0).

    """
    count = heldout_count(num_clients, fraction)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    chosen = seeding.rng(seed, seeding.HELDOUT_CLIENTS).choice(
        num_clients, size=count, replace=False
    )
    return np.sort(chosen)


def dominant_labels(train_y: list[np.ndarray]) -> np.ndarray:
    """Each client's most frequent training label (the smallest of ties; -1 for no example)."""
    return np.array(
        [int(np.bincount(y.astype(np.int64)).argmax()) if len(y) else -1 for y in train_y]
    )


def blocks(clients: np.ndarray, count: int, order_key: np.ndarray | None = None) -> list:
    """Cut ``clients`` into ``count`` blocks of sizes differing by at most one.

    Parameters
    ----------
    clients
        The participating clients, sorted.
    count
        Number of blocks.
    order_key
        One key per client of ``clients``: the blocks follow it (ties by index);
        ``None``: index order.

    Returns
    -------
    list of numpy.ndarray
        Sorted client indices, one array per block.

    """
    order = clients if order_key is None else clients[np.lexsort((clients, order_key))]
    return [np.sort(part) for part in np.array_split(order, count)]


@dataclass(frozen=True)
class Participation:
    """Which clients each round may sample and samples.

    Attributes
    ----------
    num_clients
        Every client, held out or not.
    clients_per_round
        Clients a round samples.
    seed
        The run's seed.
    heldout
        Sorted clients that never train.
    cycle
        ``fl.participation=cyclic``: the blocks, one available per round; empty for
        uniform participation.

    """

    num_clients: int
    clients_per_round: int
    seed: int
    heldout: np.ndarray
    cycle: tuple[np.ndarray, ...] = ()

    @property
    def participating(self) -> np.ndarray:
        """The clients that may train (not held out), sorted."""
        return np.setdiff1d(np.arange(self.num_clients), self.heldout)

    def available(self, round_num: int) -> np.ndarray:
        """The clients round ``round_num`` (1-based) draws from, sorted."""
        if self.cycle:
            return self.cycle[round_num % len(self.cycle)]
        return self.participating

    def sample(self, round_num: int) -> np.ndarray:
        """Round ``round_num``'s clients: ``clients_per_round`` of :meth:`available`, sorted."""
        if not self.cycle and len(self.heldout) == 0:
            return seeding.sample_clients(
                self.seed, round_num, self.num_clients, self.clients_per_round
            )
        pool = self.available(round_num)
        stream = seeding.PARTICIPATION if self.cycle else seeding.SAMPLING
        chosen = seeding.rng(self.seed, stream, round_num).choice(
            len(pool), size=self.clients_per_round, replace=False
        )
        return np.sort(pool[chosen])


def uniform(num_clients: int, clients_per_round: int, seed: int) -> Participation:
    """Every client may take part, each round's clients drawn uniformly (today's sampling)."""
    return Participation(num_clients, clients_per_round, seed, np.zeros(0, dtype=np.int64))


def participation(fl: FLSettings, seed: int, train_y: list[np.ndarray]) -> Participation:
    """The participation ``fl`` asks for, over the clients whose training labels are ``train_y``.

    Parameters
    ----------
    fl
        The run's checked ``fl`` settings (``heldout_clients``, ``participation``,
        ``participation_blocks``, ``block_by``, ``clients_per_round``).
    seed
        The run's seed.
    train_y
        Each client's training labels (their most frequent label orders
        ``fl.block_by=label`` blocks).

    Returns
    -------
    Participation

    """
    num_clients = len(train_y)
    held = heldout_clients(seed, num_clients, fl.heldout_clients)
    chosen = Participation(num_clients, fl.clients_per_round, seed, held)
    if fl.participation != "cyclic":
        return chosen
    clients = chosen.participating
    key = dominant_labels(train_y)[clients] if fl.block_by == "label" else None
    cycle = tuple(blocks(clients, fl.participation_blocks, key))
    return Participation(num_clients, fl.clients_per_round, seed, held, cycle)
