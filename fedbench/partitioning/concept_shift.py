"""``partition=concept_shift``: an IID split whose clients swap pairs of labels (P(y|x) differs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fedbench import seeding
from fedbench.errors import param_invalid
from fedbench.partitioning import _validation
from fedbench.partitioning.iid import iid
from fedbench.partitioning.shift import ClientShift, ShiftContext
from fedbench.partitioning.strategy import Param, Search, Strategy
from fedbench.rules import NON_NEGATIVE_INT


def concept_shift(
    labels: np.ndarray, num_clients: int, rng: np.random.Generator, *, swaps: int = 1
) -> list[np.ndarray]:
    """Split IID; each client exchanges the labels of ``swaps`` random pairs of classes.

    Concept shift ("same features, different label", Kairouz et al., "Advances and
    Open Problems in Federated Learning", 2021, Sec. 3.1): every client holds the same
    inputs drawn alike, so label marginals stay near IID, but client ``k`` calls class
    ``a`` ``b`` and ``b`` ``a`` for each of its ``swaps`` disjoint pairs ``(a, b)``,
    drawn per client from the run's seed (:func:`client_swaps`). This function only
    makes the split; the clients relabel their examples (training and held-out) when
    they are built.

    Parameters
    ----------
    labels, num_clients, rng
        As for :func:`fedbench.partitioning.iid.iid`.
    swaps
        Disjoint class pairs each client swaps, ``0 <= swaps <= C // 2`` (``C = max(labels) + 1``).

    Returns
    -------
    list of numpy.ndarray
        The IID parts.

    Raises
    ------
    PartitionError
        ``swaps`` above the number of disjoint class pairs.

    """
    _validation.check_params(STRATEGY, num_clients, {"swaps": swaps})
    labels = _validation.as_labels(labels)
    check_swaps(swaps, int(labels.max()) + 1 if labels.size else 0)
    return iid(labels, num_clients, rng)


def check_swaps(swaps: int, num_classes: int) -> None:
    """Raise unless ``swaps`` disjoint pairs fit in ``num_classes`` classes."""
    if swaps > num_classes // 2:
        raise param_invalid(
            "swaps",
            swaps,
            f"at most {num_classes // 2} (disjoint pairs of the {num_classes} classes)",
            f"set {{swaps}} <= {num_classes // 2}",
        )


def client_swaps(
    swaps: int, num_classes: int, seed: int, client: int
) -> tuple[tuple[int, int], ...]:
    """The disjoint class pairs client ``client`` swaps, drawn from ``(seed, client)`` alone.

    Examples
    --------
    >>> pairs = client_swaps(2, 10, seed=0, client=3)
    >>> len(pairs), len({c for pair in pairs for c in pair})
    (2, 4)

    """
    check_swaps(swaps, num_classes)
    order = seeding.rng(seed, seeding.LABEL_SWAPS, client).permutation(num_classes)
    pairs = order[: 2 * swaps].reshape(swaps, 2)
    return tuple(sorted((int(min(a, b)), int(max(a, b))) for a, b in pairs))


def client_shift(params: Mapping[str, Any], context: ShiftContext) -> list[ClientShift]:
    """Each client's label swaps."""
    return [
        ClientShift(label_swaps=client_swaps(params["swaps"], context.num_classes, context.seed, k))
        for k in range(context.num_clients)
    ]


STRATEGY = Strategy(
    "concept_shift",
    concept_shift,
    (
        Param(
            "swaps",
            NON_NEGATIVE_INT,
            "Disjoint pairs of classes whose labels each client exchanges (seeded per client).",
            label="swaps",
            stronger="larger",
        ),
    ),
    client_shift=client_shift,
    skew="concept",
    search=Search("swaps", 0, lambda num_classes: num_classes // 2, "int"),
)
