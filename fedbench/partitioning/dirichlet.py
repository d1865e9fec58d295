"""``partition=dirichlet``: per-class proportions ~ Dir(alpha) over clients (label skew)."""

from __future__ import annotations

import numpy as np

from fedbench.partitioning import _core, _validation
from fedbench.partitioning.params import ALPHA, MIN_CLIENT_SIZE
from fedbench.partitioning.strategy import Search, Strategy


def label_skew_counts(
    class_sizes: np.ndarray,
    targets: np.ndarray,
    alpha: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw one class x client count table with Dirichlet label skew and the balancing step.

    For each class ``c`` in turn: draw ``q ~ Dir(alpha, ..., alpha)`` over the
    ``K`` clients, weight it by the clients' target sizes, zero every client that
    already holds at least its target, renormalise, and cut the class's examples
    at the cumulative proportions (:func:`fedbench.partitioning._core.cut_sizes`).
    With equal targets ``n / K`` this is NIID-Bench's loop exactly.

    ``q`` is drawn as independent ``Gamma(alpha, 1)`` variables, all classes at
    once; the renormalisation makes them Dirichlet. For tiny ``alpha`` every open
    client's gamma can underflow to 0 (a Dirichlet draw that puts all its mass
    on clients already full); the whole class then goes to one open client
    picked uniformly, the limit of the draw as ``alpha -> 0`` (the largest gamma
    then dominates any ratio of targets). NIID-Bench divides by zero there.

    Parameters
    ----------
    class_sizes
        ``(C,)`` number of examples of each class.
    targets
        ``(K,)`` positive target client sizes summing to ``n``.
    alpha
        Dirichlet concentration, > 0.
    rng
        Random generator.

    Returns
    -------
    numpy.ndarray
        ``(C, K)`` int64 counts; row ``c`` sums to ``class_sizes[c]``.

    """
    num_clients = len(targets)
    weights = targets / targets.sum()
    gammas = rng.standard_gamma(float(alpha), size=(len(class_sizes), num_clients))
    counts = np.zeros((len(class_sizes), num_clients), dtype=np.int64)
    sizes = np.zeros(num_clients, dtype=np.int64)
    for c, class_size in enumerate(class_sizes):
        if class_size == 0:
            continue
        is_open = sizes < targets  # never all full: fewer than n examples are placed yet
        shares = gammas[c] * weights * is_open
        if shares.sum() > 0:
            counts[c] = _core.cut_sizes(shares, int(class_size))
        else:
            counts[c, rng.choice(np.flatnonzero(is_open))] = class_size
        sizes += counts[c]
    return counts


def draw_label_skew(
    class_sizes: np.ndarray,
    targets: np.ndarray,
    alpha: float,
    min_client_size: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Redraw :func:`label_skew_counts` until every client reaches ``min_client_size``.

    Returns
    -------
    numpy.ndarray
        ``(C, K)`` int64 counts.

    Raises
    ------
    PartitionError
        No draw within :data:`fedbench.partitioning._core.MAX_DRAWS` reached
        ``min_client_size``.

    """
    return _core.draw_until_min_size(
        lambda: label_skew_counts(class_sizes, targets, alpha, rng),
        min_client_size,
        sizes_of=lambda table: table.sum(axis=0),
        relax="raise {alpha}",
    )


def dirichlet(
    labels: np.ndarray,
    num_clients: int,
    rng: np.random.Generator,
    *,
    alpha: float = 0.5,
    min_client_size: int = 10,
) -> list[np.ndarray]:
    """Split each class over the clients by Dirichlet proportions (label skew).

    Hsu, Qi and Brown 2019, "Measuring the Effects of Non-Identical Data
    Distribution for Federated Visual Classification" (arXiv:1909.06335), as
    implemented by NIID-Bench (Li, Diao, Chen and He, "Federated Learning on
    Non-IID Data Silos: An Experimental Study", ICDE 2022, ``partition ==
    "noniid-labeldir"``), including its balancing step: a client already holding
    ``n / K`` examples gets no more of the remaining classes. The whole draw is
    repeated until every client holds ``min_client_size`` examples.

    Deviations from NIID-Bench: the redraw is capped at
    :data:`fedbench.partitioning._core.MAX_DRAWS` (NIID-Bench loops forever); the
    rounding remainder of each class's cut goes to the last open client, not the
    last client; a class whose draw puts all mass on full clients goes to one
    open client (see :func:`label_skew_counts`); which examples of a class a
    client receives is drawn at random.

    Parameters
    ----------
    labels
        Class id of every example, shape ``(n,)``.
    num_clients
        Number of clients ``K``, ``1 <= K <= n``.
    rng
        The partition's random generator.
    alpha
        Dirichlet concentration, > 0; smaller is more skewed (0.1 is strong skew,
        100 is close to IID).
    min_client_size
        Every client gets at least this many examples, ``>= 0``.

    Returns
    -------
    list of numpy.ndarray
        ``K`` sorted int64 index arrays covering every example.

    Raises
    ------
    PartitionError
        A parameter is out of range, there are more clients than examples,
        ``min_client_size * K > n``, or no draw within the cap reached
        ``min_client_size``.

    """
    params = {"alpha": alpha, "min_client_size": min_client_size}
    labels = _validation.checked_labels(STRATEGY, labels, num_clients, params)
    targets = np.full(num_clients, len(labels) / num_clients)
    counts = draw_label_skew(np.bincount(labels), targets, alpha, min_client_size, rng)
    return _core.parts_from_class_counts(labels, counts, rng)


STRATEGY = Strategy(
    "dirichlet", dirichlet, (ALPHA, MIN_CLIENT_SIZE), search=Search("alpha", 0.01, 100.0)
)
