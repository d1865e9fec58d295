"""``partition=iid``: a shuffled, equal split."""

from __future__ import annotations

import numpy as np

from fedbench.partitioning import _core, _validation
from fedbench.partitioning.strategy import Strategy


def iid(labels: np.ndarray, num_clients: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Split the examples uniformly at random into ``num_clients`` near-equal parts.

    The standard IID baseline (McMahan et al. 2017, "Communication-Efficient
    Learning of Deep Networks from Decentralized Data", AISTATS). The split
    shuffles itself: it is IID whatever the order of ``labels``.

    Parameters
    ----------
    labels
        Class id of every example, shape ``(n,)``.
    num_clients
        Number of clients ``K``, ``1 <= K <= n``.
    rng
        The partition's random generator.

    Returns
    -------
    list of numpy.ndarray
        ``K`` sorted int64 index arrays; sizes are ``n // K`` or ``n // K + 1``.

    Raises
    ------
    PartitionError
        ``num_clients`` is not an integer >= 1 or exceeds the number of examples.

    """
    labels = _validation.checked_labels(STRATEGY, labels, num_clients, {})
    num_classes = int(labels.max()) + 1
    sizes = _core.even_sizes(len(labels), num_clients)
    return _core.parts_from_sizes(labels, num_classes, sizes, rng)


STRATEGY = Strategy("iid", iid, skew="none")
