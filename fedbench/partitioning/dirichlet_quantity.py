"""``partition=dirichlet_quantity``: Dirichlet label skew crossed with Dirichlet sizes."""

from __future__ import annotations

import numpy as np

from fedbench.partitioning import _core, _validation
from fedbench.partitioning.dirichlet import draw_label_skew
from fedbench.partitioning.params import ALPHA, MIN_CLIENT_SIZE
from fedbench.partitioning.quantity import draw_sizes
from fedbench.partitioning.strategy import Param, Search, Strategy
from fedbench.rules import POSITIVE_FLOAT

QUANTITY_ALPHA = Param(
    "quantity_alpha",
    POSITIVE_FLOAT,
    "Dirichlet concentration of client sizes (dirichlet_quantity); smaller is more unequal.",
    label="qα",
)


def dirichlet_quantity(
    labels: np.ndarray,
    num_clients: int,
    rng: np.random.Generator,
    *,
    alpha: float = 0.5,
    quantity_alpha: float = 0.5,
    min_client_size: int = 10,
) -> list[np.ndarray]:
    """Label skew of strength ``alpha`` and quantity skew of strength ``quantity_alpha``.

    fedbench's own combination of the two NIID-Bench skews (Li et al., ICDE
    2022) that :func:`~fedbench.partitioning.dirichlet.dirichlet` and
    :func:`~fedbench.partitioning.quantity.quantity` apply one at a time:

    1. target sizes ``t`` drawn exactly as ``quantity`` draws its sizes:
       ``s ~ Dir(quantity_alpha)`` cut into integers, redrawn until every
       ``t_k >= min_client_size``;
    2. for each class, proportions ``q ~ Dir(alpha)`` over clients, weighted by
       the targets (client ``k``'s share of the class is proportional to
       ``q_k t_k``), with the balancing step generalised from ``n / K`` to
       ``t_k``: a client already holding its target gets no more;
    3. step 2 redrawn (targets kept) until every client holds
       ``min_client_size`` examples.

    Both redraws are capped at :data:`fedbench.partitioning._core.MAX_DRAWS`;
    drawing the targets first makes an infeasible ``quantity_alpha`` fail fast.

    The limits give back the parents: as ``quantity_alpha -> inf`` the targets
    become equal and this is ``dirichlet``; as ``alpha -> inf`` every client's
    share of every class approaches ``t_k / n``, which is ``quantity``. Label metrics
    (label_emd, label_jsd, ...) therefore move with ``alpha``, and ``size_cv``
    with ``quantity_alpha``.

    Parameters
    ----------
    labels
        Class id of every example, shape ``(n,)``.
    num_clients
        Number of clients ``K``, ``1 <= K <= n``.
    rng
        The partition's random generator.
    alpha
        Concentration of the per-class proportions, > 0.
    quantity_alpha
        Concentration of the client sizes, > 0.
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
    params = {"alpha": alpha, "quantity_alpha": quantity_alpha, "min_client_size": min_client_size}
    labels = _validation.checked_labels(STRATEGY, labels, num_clients, params)
    n = len(labels)
    relax_sizes = "raise {quantity_alpha}"
    targets = draw_sizes(n, num_clients, quantity_alpha, min_client_size, rng, relax=relax_sizes)
    counts = draw_label_skew(np.bincount(labels), targets, alpha, min_client_size, rng)
    return _core.parts_from_class_counts(labels, counts, rng)


STRATEGY = Strategy(
    "dirichlet_quantity",
    dirichlet_quantity,
    (ALPHA, QUANTITY_ALPHA, MIN_CLIENT_SIZE),
    search=Search("alpha", 0.01, 100.0),
)
