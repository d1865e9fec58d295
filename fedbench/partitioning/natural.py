"""``partition=natural``: one client per writer (or per silo of writers)."""

from __future__ import annotations

import numpy as np

from fedbench.errors import param_invalid
from fedbench.partitioning import _core, _validation
from fedbench.partitioning.strategy import Param, Strategy
from fedbench.rules import one_of


def _compact_writers(writer_ids: object, num_examples: int) -> tuple[np.ndarray, int]:
    """Return each example's writer renumbered ``0..W-1`` (ascending id order) and ``W``."""
    if writer_ids is None:
        raise param_invalid(
            "strategy",
            "natural",
            "a strategy the data supports: natural needs writer ids and this data has none",
            "pass {writer_ids}, use a dataset with writers, or another strategy",
        )
    writers = np.asarray(writer_ids)
    if (
        writers.shape != (num_examples,)
        or not np.issubdtype(writers.dtype, np.integer)
        or (writers.size and writers.min() < 0)
    ):
        raise param_invalid(
            "writer_ids",
            f"<array of shape {writers.shape}, dtype {writers.dtype}>",
            f"one integer writer index >= 0 per example ({num_examples})",
            "pass the dataset split's writers array",
        )
    present = np.bincount(writers) > 0
    new_id = np.cumsum(present) - 1
    return new_id[writers], int(present.sum())


def natural(
    labels: np.ndarray,
    num_clients: int,
    rng: np.random.Generator,
    *,
    writer_mode: str = "sample",
    writer_ids: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Make each writer a client (LEAF's natural FEMNIST federation).

    Caldas et al. 2018, "LEAF: A Benchmark for Federated Settings"
    (arXiv:1812.01097): a client is one writer. With ``K == W`` writers, client
    ``k`` is the writer with the ``k``-th smallest id (no randomness). With
    ``K < W``:

    - ``writer_mode="sample"``: a seeded sample of ``K`` writers without
      replacement (LEAF samples users the same way); the other writers'
      examples are unassigned, with an :class:`UnassignedExamplesWarning`, and
      count in ``dropped_fraction``;
    - ``writer_mode="merge"``: every writer is kept and the writers are merged
      into ``K`` silos, NIID-Bench's "real" FEMNIST split (Li et al., ICDE 2022):
      shuffle the writers and split them with ``numpy.array_split``, so silos
      hold ``W // K`` or ``W // K + 1`` writers.

    Parameters
    ----------
    labels
        Class id of every example, shape ``(n,)``.
    num_clients
        Number of clients ``K <= W``.
    rng
        The partition's random generator.
    writer_mode
        ``"sample"`` or ``"merge"``; used only when ``K < W``.
    writer_ids
        Writer index of every example, shape ``(n,)``, integers >= 0 (gaps in
        the ids are fine: ``W`` counts the ids present).

    Returns
    -------
    list of numpy.ndarray
        ``K`` sorted int64 index arrays.

    Raises
    ------
    PartitionError
        No writer ids, malformed writer ids, or more clients than writers.

    Warns
    -----
    UnassignedExamplesWarning
        In ``sample`` mode with ``K < W``.

    """
    _validation.check_params(STRATEGY, num_clients, {"writer_mode": writer_mode})
    labels = _validation.as_labels(labels)
    writers, num_writers = _compact_writers(writer_ids, len(labels))
    if num_clients > num_writers:
        raise param_invalid(
            "num_clients",
            num_clients,
            f"at most the number of writers ({num_writers}) for the natural strategy",
            f"set {{num_clients}} <= {num_writers}",
        )
    client_of_writer = np.full(num_writers, _core.UNASSIGNED, dtype=np.int64)
    if num_clients == num_writers:
        client_of_writer[:] = np.arange(num_writers)
    elif writer_mode == "sample":
        chosen = np.sort(rng.choice(num_writers, size=num_clients, replace=False))
        client_of_writer[chosen] = np.arange(num_clients)
    else:
        silo_sizes = _core.even_sizes(num_writers, num_clients)
        client_of_writer[rng.permutation(num_writers)] = np.repeat(
            np.arange(num_clients), silo_sizes
        )
    client_of = client_of_writer[writers]
    unassigned = int((client_of == _core.UNASSIGNED).sum())
    if unassigned:
        _core.warn_unassigned(
            "natural",
            unassigned,
            len(labels),
            f"{{writer_mode}}='sample' keeps {num_clients} of {num_writers} writers",
            "set {writer_mode}='merge' or raise {num_clients}",
        )
    return _core.parts_from_clients(client_of, num_clients)


STRATEGY = Strategy(
    "natural",
    natural,
    (
        Param(
            "writer_mode",
            one_of("sample", "merge"),
            "With fewer clients than writers: 'sample' a seeded subset of writers, or "
            "'merge' writers into silos.",
        ),
    ),
    data=("writer_ids",),
    own_test_data=True,
    skew="natural",
)
