"""Label heterogeneity of a partition: from its ``(K, C)`` label counts.

The label metrics are those of ``interface.md``. Let ``n_k`` be client ``k``'s size,
``n = sum_k n_k`` the number of *assigned* examples, ``p_k`` client ``k``'s label
distribution, ``p`` the label distribution of all assigned examples and ``C``
the number of classes:

- ``label_emd = sum_k (n_k/n) sum_c |p_k(c) - p(c)|`` in ``[0, 2]`` (Zhao et al.
  2018, "Federated Learning with Non-IID Data", arXiv:1806.00582);
- ``label_jsd = sum_k (n_k/n) JS(p_k, p)``, Jensen-Shannon divergence in bits,
  in ``[0, 1]``;
- ``label_hellinger = sum_k (n_k/n) H(p_k, p)`` with
  ``H(a, b) = sqrt(1/2 sum_c (sqrt a_c - sqrt b_c)^2)``, in ``[0, 1]``;
- ``effective_classes``: mean over clients of ``exp(entropy(p_k))`` (natural
  log), in ``[1, C]``;
- ``size_cv = std(n_k) / mean(n_k)`` with the population standard deviation
  (``ddof=0``), over all ``K`` clients.

Also ``dropped_fraction`` (share of the input examples in no client),
``num_clients`` (``K``, empty clients included) and ``num_examples`` (``n``).

Empty clients (``n_k = 0``) have no label distribution. They weigh
``n_k / n = 0`` in the three divergences, are left out of the
``effective_classes`` mean (it averages over non-empty clients), and count as
size 0 in ``size_cv`` and in ``num_clients``. With no assigned example at all,
every metric but ``dropped_fraction``, ``num_clients`` and ``num_examples`` is
NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedbench.heterogeneity.features import FEATURE_METRICS

#: Measures of the label distributions and the client sizes, in order.
LABEL_METRICS = ("label_emd", "label_jsd", "label_hellinger", "effective_classes", "size_cv")
#: What the partition leaves out and its size.
COUNT_METRICS = ("dropped_fraction", "num_clients", "num_examples")


def label_counts(
    labels: np.ndarray, parts: Sequence[np.ndarray], num_classes: int | None = None
) -> np.ndarray:
    """Count each client's examples of each class.

    Parameters
    ----------
    labels
        Class id of every example, shape ``(N,)``, integers in ``[0, C)``.
    parts
        One array of indices into ``labels`` per client.
    num_classes
        ``C``; defaults to ``max(labels) + 1``.

    Returns
    -------
    numpy.ndarray
        ``(K, C)`` int64 table; entry ``[k, c]`` is client ``k``'s number of
        examples of class ``c``.

    Raises
    ------
    ValueError
        An index is outside ``[0, N)`` or in more than one place (``parts`` is not a
        partition of ``labels``), or a label of an assigned example lies outside
        ``[0, C)``.

    Examples
    --------
    >>> label_counts(np.array([0, 1, 1, 2]), [np.array([0, 1]), np.array([2, 3])]).tolist()
    [[1, 1, 0], [0, 1, 1]]

    """
    labels = np.asarray(labels)
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    num_clients = len(parts)
    sizes = np.fromiter((len(part) for part in parts), dtype=np.int64, count=num_clients)
    indices = np.concatenate([np.empty(0, np.int64), *(np.asarray(p, np.int64) for p in parts)])
    _check_partition_of(indices, len(labels))
    assigned = labels[indices].astype(np.int64)
    if assigned.size and (assigned.min() < 0 or assigned.max() >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes}), got {assigned.min()}..{assigned.max()}"
        )
    client = np.repeat(np.arange(num_clients, dtype=np.int64), sizes)
    flat = np.bincount(client * num_classes + assigned, minlength=num_clients * num_classes)
    return flat.reshape(num_clients, num_classes)


def _check_partition_of(indices: np.ndarray, n: int) -> None:
    """Raise unless ``indices`` are distinct positions in ``[0, n)`` (negatives would wrap)."""
    if not indices.size:
        return
    if indices.min() < 0 or indices.max() >= n:
        raise ValueError(
            f"parts must index the {n} labels (0..{n - 1}), got {indices.min()}..{indices.max()}"
        )
    repeated = np.flatnonzero(np.bincount(indices, minlength=n) > 1)
    if repeated.size:
        raise ValueError(
            f"parts must not share examples: index {repeated[0]} is in more than one place "
            f"({repeated.size} such indices)"
        )


def _kl_bits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise KL(a || b) in bits, with ``0 log 0 = 0``; needs ``b > 0`` wherever ``a > 0``."""
    positive = a > 0
    ratio = np.divide(a, b, out=np.ones_like(a), where=positive)
    return np.sum(a * np.log2(ratio), axis=-1)


def heterogeneity_from_counts(counts: np.ndarray, total: int | None = None) -> dict[str, float]:
    """Compute the metrics from a ``(K, C)`` label-count table.

    Parameters
    ----------
    counts
        Output of :func:`label_counts`.
    total
        Number of input examples (assigned or not), for ``dropped_fraction``;
        defaults to the number assigned (``dropped_fraction = 0``).

    Returns
    -------
    dict of str to float
        The metrics of :data:`METRICS` (see the module docstring).

    """
    counts = np.asarray(counts, dtype=np.float64)
    num_clients = counts.shape[0]
    sizes = counts.sum(axis=1)
    n = sizes.sum()
    total = n if total is None else total
    dropped = 1.0 - n / total if total else 0.0
    nonempty = sizes > 0
    counts_only = {
        "dropped_fraction": float(dropped),
        "num_clients": float(num_clients),
        "num_examples": float(n),
    }
    if n == 0:
        return dict.fromkeys(LABEL_METRICS + FEATURE_METRICS, float("nan")) | counts_only
    p = counts.sum(axis=0) / n  # (C,)
    p_k = counts[nonempty] / sizes[nonempty, None]  # (K', C), non-empty clients only
    weight = sizes[nonempty] / n
    emd = np.abs(p_k - p).sum(axis=1)
    mid = (p_k + p) / 2
    jsd = 0.5 * _kl_bits(p_k, mid) + 0.5 * _kl_bits(np.broadcast_to(p, p_k.shape), mid)
    hellinger = np.sqrt(np.clip(0.5 * ((np.sqrt(p_k) - np.sqrt(p)) ** 2).sum(axis=1), 0, 1))
    log_p_k = np.log(p_k, out=np.zeros_like(p_k), where=p_k > 0)
    effective = np.exp(-(p_k * log_p_k).sum(axis=1))
    return {
        "label_emd": float(weight @ emd),
        "label_jsd": float(np.clip(weight @ jsd, 0.0, 1.0)),
        "label_hellinger": float(weight @ hellinger),
        "effective_classes": float(effective.mean()),
        "size_cv": float(sizes.std() / sizes.mean()),
        **dict.fromkeys(FEATURE_METRICS, float("nan")),
    } | counts_only
