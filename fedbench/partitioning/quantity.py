"""``partition=quantity``: client sizes ~ Dir(alpha), content IID (quantity skew)."""

from __future__ import annotations

import numpy as np

from fedbench.partitioning import _core, _validation
from fedbench.partitioning.params import ALPHA, MIN_CLIENT_SIZE
from fedbench.partitioning.strategy import Search, Strategy


def draw_sizes(
    num_examples: int,
    num_clients: int,
    alpha: float,
    min_client_size: int,
    rng: np.random.Generator,
    relax: str = "raise {alpha}",
) -> np.ndarray:
    """Draw client sizes ``floor``-cut from ``Dir(alpha)`` until all reach ``min_client_size``.

    Returns
    -------
    numpy.ndarray
        ``(K,)`` int64 sizes summing to ``num_examples``.

    Raises
    ------
    PartitionError
        No draw within :data:`fedbench.partitioning._core.MAX_DRAWS` reached
        ``min_client_size``; ``relax`` says which parameter to change.

    """
    concentration = np.full(num_clients, float(alpha))
    return _core.draw_until_min_size(
        lambda: _core.cut_sizes(rng.dirichlet(concentration), num_examples),
        min_client_size,
        sizes_of=lambda sizes: sizes,
        relax=relax,
    )


def quantity(
    labels: np.ndarray,
    num_clients: int,
    rng: np.random.Generator,
    *,
    alpha: float = 0.5,
    min_client_size: int = 10,
) -> list[np.ndarray]:
    """Draw client sizes from Dir(alpha) and fill each client with random examples.

    NIID-Bench's quantity skew (Li, Diao, Chen and He, "Federated Learning on
    Non-IID Data Silos: An Experimental Study", ICDE 2022, ``partition ==
    "iid-diff-quantity"``): proportions ``q ~ Dir(alpha)``, the shuffled
    examples cut at ``floor(cumsum(q) * n)``, redrawn until every client holds
    ``min_client_size`` examples. Label distributions stay IID in expectation.

    Deviations: the redraw is capped at
    :data:`fedbench.partitioning._core.MAX_DRAWS`, and NIID-Bench hard-codes the
    minimum size to 10 where this takes ``min_client_size``.

    Parameters
    ----------
    labels
        Class id of every example, shape ``(n,)``.
    num_clients
        Number of clients ``K``, ``1 <= K <= n``.
    rng
        The partition's random generator.
    alpha
        Dirichlet concentration of the sizes, > 0; smaller is more unequal.
    min_client_size
        Every client gets at least this many examples, ``>= 0``. Mind that with
        many clients small ``alpha`` makes tiny clients common: with ``K``
        clients a size is about ``n/K * Gamma(alpha)/alpha``.

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
    sizes = draw_sizes(len(labels), num_clients, alpha, min_client_size, rng)
    return _core.parts_from_sizes(labels, int(labels.max()) + 1, sizes, rng)


STRATEGY = Strategy(
    "quantity",
    quantity,
    (ALPHA, MIN_CLIENT_SIZE),
    skew="quantity",
    search=Search("alpha", 0.01, 100.0),
)
