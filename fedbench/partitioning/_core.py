"""Array mechanics shared by the strategies (no Python loop over examples).

Every label-based strategy decides *how many* examples of each class (or in
total) each client gets from the class counts and the random generator alone,
then hands out concrete examples through :func:`class_sorted_slots`: the
examples grouped by class, in random order within each class. Two consequences
hold for every strategy built this way: which examples of a class a client gets
is random (never "the first ones in input order"), and the per-client
label-count table depends only on the class counts and the seed, so permuting
the input leaves it unchanged. (``natural`` works on writers instead; its table
depends on the writers' examples and the seed, equally order-free.)
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable

import numpy as np

from fedbench.errors import param_invalid, render

#: Upper bound on the draws of the strategies that resample until every client
#: reaches ``min_client_size``.
MAX_DRAWS = 1000

UNASSIGNED = -1


class UnassignedExamplesWarning(UserWarning):
    """Some examples were left out of every client (the strategy reports how many).

    Like :class:`fedbench.errors.PartitionError`, it names Python parameters and keeps
    its template, so :meth:`keyed` can name the command line's keys instead.
    """

    def __init__(self, template: str) -> None:
        self.template = template
        super().__init__(render(template))

    def keyed(self, key_of: Callable[[str], str]) -> str:
        """The message with every parameter name replaced by ``key_of(name)``."""
        return render(self.template, key_of)


def _small_int(values: np.ndarray, high: int) -> np.ndarray:
    """Cast ``values`` (all in ``[-1, high)``) to the narrowest type: numpy radix-sorts 16 bits."""
    return values.astype(np.int16 if high < np.iinfo(np.int16).max else np.int64, copy=False)


def class_sorted_slots(
    labels: np.ndarray, num_classes: int, rng: np.random.Generator
) -> np.ndarray:
    """Return the indices of ``labels`` sorted by class, in random order within a class.

    This is McMahan et al.'s "sort by label" with ties broken at random.
    """
    perm = rng.permutation(len(labels))
    order = np.argsort(_small_int(labels[perm], num_classes), kind="stable")
    return perm[order]


def parts_from_clients(client_of: np.ndarray, num_clients: int) -> list[np.ndarray]:
    """Turn "client of each example" (``-1`` = unassigned) into sorted index arrays.

    Parameters
    ----------
    client_of
        Client id of every example, or ``-1`` for an example no client gets.
    num_clients
        Number of clients ``K``; ids lie in ``[0, K)``.

    Returns
    -------
    list of numpy.ndarray
        ``K`` int64 arrays of example indices, each ascending.

    """
    # A stable sort of the client ids keeps each client's indices ascending.
    order = np.argsort(_small_int(client_of, num_clients), kind="stable").astype(np.int64)
    sizes = np.bincount(client_of[client_of >= 0], minlength=num_clients)
    unassigned = len(client_of) - int(sizes.sum())  # the -1s sort first
    return np.split(order[unassigned:], np.cumsum(sizes)[:-1])


def parts_from_slot_clients(
    slots: np.ndarray, slot_clients: np.ndarray, num_clients: int
) -> list[np.ndarray]:
    """Give example ``slots[j]`` to client ``slot_clients[j]`` and return the parts."""
    client_of = np.empty(len(slots), dtype=np.int64)
    client_of[slots] = slot_clients
    return parts_from_clients(client_of, num_clients)


def parts_from_class_counts(
    labels: np.ndarray, counts: np.ndarray, rng: np.random.Generator
) -> list[np.ndarray]:
    """Give ``counts[c, k]`` random examples of class ``c`` to client ``k``.

    Parameters
    ----------
    labels
        Class id of every example, int64 in ``[0, C)``.
    counts
        ``(C, K)`` non-negative integers whose row ``c`` sums to at most the
        number of examples of class ``c``; the rest of the class is unassigned.
    rng
        Source of the within-class order.

    Returns
    -------
    list of numpy.ndarray
        ``K`` sorted int64 index arrays.

    """
    num_classes, num_clients = counts.shape
    class_sizes = np.bincount(labels, minlength=num_classes)
    rest = class_sizes - counts.sum(axis=1)
    # Per class: client 0's run of slots, client 1's, ..., then the unassigned rest.
    runs = np.concatenate([counts, rest[:, None]], axis=1).ravel()
    ids = np.tile(np.append(np.arange(num_clients), UNASSIGNED), num_classes)
    slots = class_sorted_slots(labels, num_classes, rng)
    return parts_from_slot_clients(slots, np.repeat(ids, runs), num_clients)


def parts_from_sizes(
    labels: np.ndarray, num_classes: int, sizes: np.ndarray, rng: np.random.Generator
) -> list[np.ndarray]:
    """Give client ``k`` a uniformly random set of ``sizes[k]`` examples (sizes sum to n)."""
    slots = class_sorted_slots(labels, num_classes, rng)
    slot_clients = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    return parts_from_slot_clients(slots, slot_clients, len(sizes))


def even_sizes(total: int, num_parts: int) -> np.ndarray:
    """Split ``total`` into ``num_parts`` sizes differing by at most 1 (the larger first).

    The same sizes as ``numpy.array_split``.
    """
    return total // num_parts + (np.arange(num_parts) < total % num_parts)


def cut_sizes(proportions: np.ndarray, total: int) -> np.ndarray:
    """Cut ``total`` items at the cumulative ``proportions``, as NIID-Bench does.

    ``floor(cumsum(p) * total)`` marks where each part ends; the cumulative sum is
    rescaled so it ends at exactly 1.0 and every item is handed out (NIID-Bench's
    ``np.split`` gives the float rounding remainder to the last part). A part with
    proportion 0 gets nothing.
    """
    cum = np.cumsum(proportions)
    cum /= cum[-1]
    ends = np.floor(cum * total).astype(np.int64)
    return np.diff(ends, prepend=0)


def draw_until_min_size(
    draw: Callable[[], np.ndarray],
    min_client_size: int,
    sizes_of: Callable[[np.ndarray], np.ndarray],
    relax: str,
) -> np.ndarray:
    """Call ``draw()`` until every client has ``min_client_size`` examples, at most MAX_DRAWS times.

    Parameters
    ----------
    draw
        Returns one random allocation (e.g. sizes or a class x client count table).
    min_client_size
        The size every client must reach.
    sizes_of
        Maps an allocation to the client sizes.
    relax
        What to change when the cap is hit, a message template, e.g. ``"raise {alpha}"``.

    Returns
    -------
    numpy.ndarray
        The first allocation in which every client reaches ``min_client_size``.

    Raises
    ------
    PartitionError
        After MAX_DRAWS draws, naming the largest smallest-client size reached.

    """
    best = -1
    for _ in range(MAX_DRAWS):
        allocation = draw()
        smallest = int(sizes_of(allocation).min())
        if smallest >= min_client_size:
            return allocation
        best = max(best, smallest)
    raise param_invalid(
        "min_client_size",
        min_client_size,
        f"a size every client reaches; the best of {MAX_DRAWS} draws still left "
        f"a client with only {best} examples",
        f"lower {{min_client_size}}, {relax}, or use fewer {{num_clients}}",
    )


def warn_unassigned(strategy: str, unassigned: int, total: int, why: str, fix: str) -> None:
    """Warn that ``unassigned`` of ``total`` examples are in no client, and why.

    ``why`` and ``fix`` are message templates (parameter names in braces).

    The warning points at the first caller outside :mod:`fedbench.partitioning`
    (``stacklevel=2`` as seen from the user's call, whether they called a
    strategy directly or through ``partition``).
    """
    share = unassigned / total if total else 0.0
    template = (
        f"the {strategy} strategy: {unassigned} of {total} examples ({share:.1%}) are in no "
        f"client because {why}; they are excluded from training and counted in "
        f"dropped_fraction. To use them, {fix}."
    )
    frame, level = sys._getframe(0), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith(__package__):
        frame, level = frame.f_back, level + 1
    warnings.warn(UnassignedExamplesWarning(template), stacklevel=level)
