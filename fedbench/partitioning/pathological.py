"""``partition=pathological``: every client holds exactly k classes (NIID-Bench's #C=k)."""

from __future__ import annotations

import numpy as np

from fedbench.errors import PartitionError, param_invalid
from fedbench.partitioning import _core, _validation
from fedbench.partitioning.strategy import Param, Search, Strategy
from fedbench.rules import POSITIVE_INT


def class_holders(
    num_clients: int, num_classes: int, classes_per_client: int, rng: np.random.Generator
) -> np.ndarray:
    """Return the ``(K, C)`` boolean table "client k holds class c".

    Client ``k`` holds class ``k mod C`` and ``classes_per_client - 1`` other
    distinct classes drawn uniformly at random: the ``k - 1`` smallest of ``C``
    uniform keys, with the first class's key forced to the front.
    """
    keys = rng.random((num_clients, num_classes))
    clients = np.arange(num_clients)
    keys[clients, clients % num_classes] = -1.0
    chosen = np.argpartition(keys, classes_per_client - 1, axis=1)[:, :classes_per_client]
    holds = np.zeros((num_clients, num_classes), dtype=bool)
    holds[clients[:, None], chosen] = True
    return holds


def pathological(
    labels: np.ndarray,
    num_clients: int,
    rng: np.random.Generator,
    *,
    classes_per_client: int = 2,
) -> list[np.ndarray]:
    """Give every client exactly ``classes_per_client`` classes, each class split evenly.

    NIID-Bench's "#C=k" label skew (Li, Diao, Chen and He, "Federated Learning on
    Non-IID Data Silos: An Experimental Study", ICDE 2022, ``partition ==
    "noniid-#label<k>"``): client ``i`` holds class ``i mod C`` plus ``k - 1``
    other distinct classes at random; the examples of each class are shuffled
    and split evenly (``numpy.array_split``) among the clients holding it, in
    client order. ``C`` counts the classes present in ``labels``, in increasing
    id order (a class id with no example is not a class a client can hold;
    NIID-Bench takes ``C`` from the dataset, where every class is present).

    A class no client holds (possible when ``K * k`` is small next to ``C``) is
    left unassigned: an :class:`UnassignedExamplesWarning` says how many
    examples, and ``heterogeneity()`` reports them as ``dropped_fraction``.
    NIID-Bench cannot split a class among zero holders (``numpy.array_split``
    raises there).

    Parameters
    ----------
    labels
        Class id of every example, shape ``(n,)``.
    num_clients
        Number of clients ``K``, ``1 <= K <= n``.
    rng
        The partition's random generator.
    classes_per_client
        Classes per client ``k``, ``1 <= k <= C``.

    Returns
    -------
    list of numpy.ndarray
        ``K`` sorted int64 index arrays.

    Raises
    ------
    PartitionError
        ``k`` is out of range (``k > C`` included), there are more clients than
        examples, or a class has fewer examples than clients holding it, so some
        client would get nothing.

    Warns
    -----
    UnassignedExamplesWarning
        When some class is held by no client.

    """
    params = {"classes_per_client": classes_per_client}
    labels = _validation.checked_labels(STRATEGY, labels, num_clients, params)
    all_sizes = np.bincount(labels)
    present = np.flatnonzero(all_sizes)
    class_sizes = all_sizes[present]
    num_classes = len(present)
    if classes_per_client > num_classes:
        raise param_invalid(
            "classes_per_client",
            classes_per_client,
            f"at most the number of classes present ({num_classes})",
            f"set {{classes_per_client}} <= {num_classes}",
        )
    holds = class_holders(num_clients, num_classes, classes_per_client, rng)
    holders = holds.sum(axis=0)  # (C,) clients holding each class
    rank = np.cumsum(holds, axis=0) - 1  # a holder's position among its class's holders
    base, extra = np.divmod(class_sizes, np.maximum(holders, 1))
    counts = holds * (base + (rank < extra))  # (K, C): numpy.array_split sizes per class
    _check_no_client_empty(counts, holders, class_sizes, present)
    unheld = class_sizes[holders == 0]
    if unheld.sum() > 0:
        _core.warn_unassigned(
            "pathological",
            int(unheld.sum()),
            len(labels),
            f"{len(unheld)} of {num_classes} classes are held by no client",
            "raise {num_clients} or {classes_per_client}",
        )
    table = np.zeros((len(all_sizes), num_clients), dtype=np.int64)
    table[present] = counts.T
    return _core.parts_from_class_counts(labels, table, rng)


def _check_no_client_empty(
    counts: np.ndarray, holders: np.ndarray, class_sizes: np.ndarray, class_ids: np.ndarray
) -> None:
    """Refuse a split in which a class has fewer examples than holders, leaving a client empty."""
    empty = int((counts.sum(axis=1) == 0).sum())
    if not empty:
        return
    short = np.flatnonzero(class_sizes < holders)
    c = short[np.argmin(class_sizes[short] - holders[short])]
    raise PartitionError(
        f"the pathological strategy: {empty} of {len(counts)} clients would get no examples "
        f"(class {class_ids[c]} has {class_sizes[c]} examples for {holders[c]} clients holding "
        "it); lower {num_clients} or raise {classes_per_client}"
    )


STRATEGY = Strategy(
    "pathological",
    pathological,
    (
        Param(
            "classes_per_client",
            POSITIVE_INT,
            "Classes each client holds (NIID-Bench's #C=k).",
            label="#C",
        ),
    ),
    search=Search("classes_per_client", 1, lambda num_classes: num_classes, "int"),
)
