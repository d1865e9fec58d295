"""What each sampled client does in a round: its local epochs, or nothing (a dropped straggler).

Applied after sampling (:func:`fedbench.seeding.sample_clients`), from the run's seed:

- **Unequal local work** (``fl.local_epochs_min``, FedNova's set-up, Wang et al. 2020):
  client ``k`` plans ``E_k`` epochs drawn uniformly in [``local_epochs_min``,
  ``local_epochs``] from ``(seed, LOCAL_EPOCHS, round, k)``; unset, ``E_k`` is
  ``local_epochs``.
- **Stragglers** (``fl.stragglers``, FedProx's systems heterogeneity, Li et al. 2020): of
  the ``m`` sampled clients, ``m - round(m * (1 - stragglers))`` straggle (the reference
  code's count, ``litian96/FedProx``), chosen from ``(seed, STRAGGLERS, round)``. With
  ``fl.straggler_work=drop`` they train nothing and send nothing (FedAvg's treatment in
  the paper); with ``partial`` straggler ``k`` trains a random 1..``E_k`` epochs, drawn
  from ``(seed, STRAGGLERS, round, k)`` (the reference draws 1..E-1).

Every draw depends on the seed, the round and the client (or the round's sample) alone,
so a round replays on its own and a resumed run takes the same work. Without stragglers
and without ``local_epochs_min`` nothing is drawn: every sampled client trains
``local_epochs`` epochs, as before these settings existed. Nothing here imports
TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedbench import seeding
from fedbench.errors import ConfigError, invalid

#: ``fl.straggler_work`` values.
DROP, PARTIAL = "drop", "partial"


@dataclass(frozen=True)
class WorkSettings:
    """The ``fl`` keys that say what sampled clients do.

    Attributes
    ----------
    local_epochs
        ``fl.local_epochs``: every client's epochs, the largest a client may draw.
    local_epochs_min
        ``fl.local_epochs_min``: the fewest a client may draw (``None``: no draw).
    stragglers
        ``fl.stragglers``: the share of each round's sampled clients that straggle.
    straggler_work
        ``fl.straggler_work``: :data:`DROP` or :data:`PARTIAL`.

    """

    local_epochs: int
    local_epochs_min: int | None = None
    stragglers: float = 0.0
    straggler_work: str = DROP


@dataclass(frozen=True)
class RoundWork:
    """The clients that train in a round and their epochs.

    Attributes
    ----------
    clients
        The sampled clients that train (dropped stragglers left out), in sampled order.
    epochs
        Each of ``clients``' local epochs (int64, same order).
    stragglers
        The sampled clients drawn as stragglers (sorted; dropped or partial).

    """

    clients: np.ndarray
    epochs: np.ndarray
    stragglers: np.ndarray


def straggler_count(sampled: int, fraction: float) -> int:
    """How many of ``sampled`` clients straggle: ``sampled - round(sampled * (1 - fraction))``.

    Python's ``round`` (ties to even) as in the FedProx reference code, which keeps
    ``round(clients_per_round * (1 - drop_percent))`` clients active.
    """
    if fraction == 0:
        return 0
    return sampled - round(sampled * (1.0 - fraction))


def planned_epochs(seed: int, round_num: int, client: int, settings: WorkSettings) -> int:
    """The epochs ``client`` plans in ``round_num``: drawn in [min, max], or ``local_epochs``."""
    low, high = settings.local_epochs_min, settings.local_epochs
    if low is None:
        return high
    return int(
        seeding.rng(seed, seeding.LOCAL_EPOCHS, round_num, int(client)).integers(low, high + 1)
    )


def partial_epochs(seed: int, round_num: int, client: int, planned: int) -> int:
    """A partial straggler's epochs: uniform in 1..``planned``, from (seed, round, client)."""
    return int(
        seeding.rng(seed, seeding.STRAGGLERS, round_num, int(client)).integers(1, planned + 1)
    )


def choose_stragglers(
    seed: int, round_num: int, sampled: np.ndarray, fraction: float
) -> np.ndarray:
    """The sampled clients that straggle in ``round_num`` (sorted; empty without stragglers)."""
    count = straggler_count(len(sampled), fraction)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    chosen = seeding.rng(seed, seeding.STRAGGLERS, round_num).choice(
        np.asarray(sampled, dtype=np.int64), size=count, replace=False
    )
    return np.sort(chosen)


def assign(seed: int, round_num: int, sampled: np.ndarray, settings: WorkSettings) -> RoundWork:
    """What each of ``sampled`` does in ``round_num``.

    Parameters
    ----------
    seed
        The run's seed.
    round_num
        The round (1-based).
    sampled
        The round's sampled clients.
    settings
        Local epochs and stragglers.

    Returns
    -------
    RoundWork
        The clients that train, in the order of ``sampled``, and their epochs.

    """
    sampled = np.asarray(sampled, dtype=np.int64)
    stragglers = choose_stragglers(seed, round_num, sampled, settings.stragglers)
    slow = np.isin(sampled, stragglers)
    planned = np.array([planned_epochs(seed, round_num, k, settings) for k in sampled], np.int64)
    if settings.straggler_work == DROP:
        return RoundWork(sampled[~slow], planned[~slow], stragglers)
    epochs = planned.copy()
    for i in np.flatnonzero(slow):
        epochs[i] = partial_epochs(seed, round_num, sampled[i], planned[i])
    return RoundWork(sampled, epochs, stragglers)


def local_steps(epochs: np.ndarray, sizes: np.ndarray, batch_size: int) -> np.ndarray:
    """Each client's local steps: ``epochs * ceil(n / batch_size)`` (batches never straddle epochs).

    Parameters
    ----------
    epochs
        Each client's local epochs.
    sizes
        Each client's number of training examples (same order).
    batch_size
        Mini-batch size.

    Returns
    -------
    numpy.ndarray
        int64 steps per client.

    """
    sizes = np.asarray(sizes, dtype=np.int64)
    return np.asarray(epochs, dtype=np.int64) * (-(-sizes // batch_size))


def check_work(settings: WorkSettings, clients_per_round: int) -> None:
    """Raise :class:`ConfigError` for client-work settings that contradict each other.

    Raises
    ------
    ConfigError
        ``fl.local_epochs_min`` above ``fl.local_epochs``, or dropped stragglers that
        would leave a round without any client.

    """
    low, high = settings.local_epochs_min, settings.local_epochs
    if low is not None and low > high:
        raise ConfigError(
            invalid(
                "fl.local_epochs_min",
                low,
                f"at most fl.local_epochs={high}",
                "lower fl.local_epochs_min or raise fl.local_epochs",
            )
        )
    dropped = straggler_count(clients_per_round, settings.stragglers)
    if settings.straggler_work == DROP and dropped >= clients_per_round:
        raise ConfigError(
            invalid(
                "fl.stragglers",
                settings.stragglers,
                f"a share that leaves a client training: with fl.clients_per_round="
                f"{clients_per_round} and fl.straggler_work=drop every client would be dropped",
                "lower fl.stragglers, raise fl.clients_per_round or set fl.straggler_work=partial",
            )
        )
