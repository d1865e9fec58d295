"""Feature heterogeneity of a partition: its clients' features against the pooled ones.

The feature metrics (:func:`feature_heterogeneity`; NaN when no features are given)
compare each client's features with the pooled features of all assigned examples.
Features are flattened per example. Let ``D`` be their number:

- ``feature_hellinger``: for each of :data:`HISTOGRAM_FEATURES` features drawn with a
  fixed seed (all of them when ``D`` is smaller), a histogram of
  :data:`HISTOGRAM_BINS` equal-width bins spanning the feature's pooled range; the
  Hellinger distance of each client's histogram to the pooled one, example-weighted
  over clients, averaged over the drawn features that are not constant in the pooled
  data. In ``[0, 1]``: 0 when every client's histograms equal the pooled ones, 1 when
  clients occupy disjoint bins. Finite clients give a small positive value even for
  an IID split (a client's histogram is a sample of the pooled one).
- ``feature_frechet``: the features projected to ``d = min(D, 32)`` dimensions
  (:data:`PROJECTION_DIM`; a fixed seeded Gaussian projection when ``D > 32``, the
  features themselves otherwise); for every client, the Fréchet distance (the
  2-Wasserstein distance between Gaussians with the same means and covariances)
  ``|m_k - m|^2 + tr(S_k + S - 2 (S^(1/2) S_k S^(1/2))^(1/2))`` between its
  projected features (mean ``m_k``, covariance ``S_k``) and the pooled ones (``m``,
  ``S``); example-weighted over clients and divided by ``tr(S)``, so that it does not
  change when the features are rescaled. ``>= 0``; 0 when every client's mean and
  covariance equal the pooled ones.
- ``conditional_frechet``: the same per class, client ``k``'s class-``c`` examples
  against all assigned class-``c`` examples, weighted by examples over the (client,
  class) cells and divided by the same ``tr(S)`` of all assigned examples. It sees
  concept shift: clients that label the same inputs differently have class-``c``
  features unlike the pooled class ``c``.

A client with more than :data:`MAX_CLIENT_EXAMPLES` examples is measured on a sample
of that many, drawn with a fixed seed; each sampled example then stands for
``n_k / 500`` of the client's, so the pooled statistics and the weights stay those of
all examples. Covariances are population covariances (``ddof=0``). A client (for
``conditional_frechet``, a client's class) with fewer than :data:`MIN_COVARIANCE_EXAMPLES`
examples has no covariance and is left out; the weights are renormalised over the
clients (cells) kept, and a metric with none kept is NaN. A covariance from few
examples is noisy, which raises the Fréchet distances of small clients: compare
values between partitions of similar client sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Measures of the features the clients hold (NaN when no features are given).
FEATURE_METRICS = ("feature_hellinger", "feature_frechet", "conditional_frechet")
#: Features ``feature_hellinger`` draws (with :data:`FEATURE_SEED`) from the flattened features.
HISTOGRAM_FEATURES = 32
#: Equal-width bins per feature histogram, over the feature's pooled range.
HISTOGRAM_BINS = 10
#: Dimension the Fréchet distances project the flattened features to.
PROJECTION_DIM = 32
#: Seed of the feature draw and of the projection (fixed: the same features give the same metrics).
FEATURE_SEED = 0
#: Fewest examples of a client (or a client's class) with a covariance in the Fréchet metrics.
MIN_COVARIANCE_EXAMPLES = 2
#: Most examples of one client the feature metrics read (a seeded sample of larger clients).
MAX_CLIENT_EXAMPLES = 500


def _feature_plan(num_features: int) -> tuple[np.ndarray, int]:
    """Return the ``(D, d + m)`` float32 map of flat features to summaries, and ``d``.

    The map gives the ``d`` projected features (a seeded Gaussian projection, or the
    identity when ``D <= 32``) followed by the ``m`` histogram features (one-hot
    columns of a seeded draw).
    """
    rng = np.random.default_rng(FEATURE_SEED)
    columns = np.arange(num_features)
    if num_features > HISTOGRAM_FEATURES:
        columns = np.sort(rng.choice(num_features, HISTOGRAM_FEATURES, replace=False))
    if num_features <= PROJECTION_DIM:
        projection = np.eye(num_features)
    else:
        projection = rng.standard_normal((num_features, PROJECTION_DIM)) / np.sqrt(PROJECTION_DIM)
    picks = np.zeros((num_features, len(columns)))
    picks[columns, np.arange(len(columns))] = 1.0
    return np.hstack([projection, picks]).astype(np.float32), projection.shape[1]


def _summarised(flat: np.ndarray, plan: np.ndarray) -> np.ndarray:
    """``flat`` (rows of flat features) mapped by ``plan``, in float32."""
    return np.asarray(flat).astype(np.float32, copy=False) @ plan


def _hellinger_of_histograms(
    sampled: np.ndarray, client: np.ndarray, weight: np.ndarray, num_clients: int
) -> float:
    """``feature_hellinger`` of the histogram features (rows in client order, row weights)."""
    low, high = sampled.min(axis=0), sampled.max(axis=0)
    varies = high > low
    if not varies.any():
        return float("nan")
    values, low, span = sampled[:, varies], low[varies], (high - low)[varies]
    num_cols = values.shape[1]
    bins = ((values - low) * (HISTOGRAM_BINS / span)).astype(np.int64)
    np.minimum(bins, HISTOGRAM_BINS - 1, out=bins)
    bins += (client * num_cols)[:, None] * HISTOGRAM_BINS + np.arange(num_cols) * HISTOGRAM_BINS
    cells = num_clients * num_cols * HISTOGRAM_BINS
    row_weights = np.repeat(weight, num_cols)
    counts = np.bincount(bins.ravel(), minlength=cells).reshape(num_clients, num_cols, -1)
    pooled = np.bincount(bins.ravel(), row_weights, minlength=cells).reshape(counts.shape)
    pooled = pooled.sum(axis=0) / weight.sum()
    rows = np.bincount(client, minlength=num_clients)
    sizes = np.bincount(client, weight, minlength=num_clients)  # each client's n_k
    kept = rows > 0
    shares = counts[kept] / rows[kept, None, None]
    squared = 0.5 * ((np.sqrt(shares) - np.sqrt(pooled)) ** 2).sum(axis=2)  # (K', features)
    distance = np.sqrt(np.clip(squared, 0.0, 1.0))
    return float((sizes[kept] / sizes.sum()) @ distance.mean(axis=1))


#: Groups whose covariances are stacked at once in :func:`_frechet_to_pooled`.
_GROUPS_PER_BATCH = 2048


def _frechet_to_pooled(
    z: np.ndarray, group: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Fréchet distance of each group of rows of ``z`` to all rows of ``z`` (weighted).

    ``group`` is non-decreasing (rows come grouped; a group's rows share one weight).
    Returns the weights of the groups with at least :data:`MIN_COVARIANCE_EXAMPLES`
    rows, their distances, and the trace of the pooled covariance. The cross term
    ``tr((S_k^(1/2) S S_k^(1/2))^(1/2))`` is the sum of the square roots of the
    eigenvalues of ``S^(1/2) S_k S^(1/2)``, the covariance of the group's rows mapped by
    ``S^(1/2)``; for a group of ``n_k < d`` rows, the nonzero ones are those of their
    ``n_k x n_k`` Gram matrix, computed for all groups of one size at once.
    """
    total = weight.sum()
    centred = z - weight @ z / total  # distances do not change when every row moves alike
    cov = (centred * weight[:, None]).T @ centred / total
    eigenvalues, vectors = np.linalg.eigh(cov)
    root = (vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ vectors.T
    starts = np.flatnonzero(np.r_[True, np.diff(group) != 0])
    sizes = np.diff(np.r_[starts, len(group)])
    means = np.add.reduceat(centred, starts, axis=0) / sizes[:, None]
    traces = np.add.reduceat((centred**2).sum(axis=1), starts) / sizes - (means**2).sum(axis=1)
    cross = np.zeros(len(starts))
    small = (sizes >= MIN_COVARIANCE_EXAMPLES) & (sizes < z.shape[1])
    if small.any():
        mapped = centred @ root
        mapped_means = means @ root
        for size in np.unique(sizes[small]):
            cells = np.flatnonzero(small & (sizes == size))
            rows = mapped[starts[cells, None] + np.arange(size)] - mapped_means[cells, None, :]
            gram = rows @ rows.transpose(0, 2, 1) / size
            cross[cells] = np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0.0, None)).sum(axis=1)
    large = np.flatnonzero(sizes >= max(MIN_COVARIANCE_EXAMPLES, z.shape[1]))
    for chunk in range(0, len(large), _GROUPS_PER_BATCH):  # bounds the (groups, d, d) stack
        cells = large[chunk : chunk + _GROUPS_PER_BATCH]
        m_k = means[cells]
        covs = np.stack(
            [
                centred[a : a + n].T @ centred[a : a + n]
                for a, n in zip(starts[cells], sizes[cells], strict=True)
            ]
        )
        covs = covs / sizes[cells, None, None] - m_k[:, :, None] * m_k[:, None, :]
        eig = np.linalg.eigvalsh(root @ covs @ root)
        cross[cells] = np.sqrt(np.clip(eig, 0.0, None)).sum(axis=1)
    kept = sizes >= MIN_COVARIANCE_EXAMPLES
    fd = (means**2).sum(axis=1) + traces + np.trace(cov) - 2.0 * cross
    weights = np.add.reduceat(weight, starts)
    return weights[kept], np.clip(fd[kept], 0.0, None), float(np.trace(cov))


def _weighted(sizes: np.ndarray, values: np.ndarray, scale: float) -> float:
    """Example-weighted mean of ``values`` divided by ``scale`` (NaN with nothing kept)."""
    if not sizes.size or scale <= 0:
        return float("nan")
    return float(sizes @ values / sizes.sum() / scale)


def _client_sample(sizes: Sequence[int]) -> list[np.ndarray]:
    """Each client's rows the feature metrics read: all, or a seeded sample of 500."""
    return [
        np.sort(
            np.random.default_rng([FEATURE_SEED, k]).choice(n, MAX_CLIENT_EXAMPLES, replace=False)
        )
        if n > MAX_CLIENT_EXAMPLES
        else np.arange(n)
        for k, n in enumerate(sizes)
    ]


def _feature_metrics(
    summary: np.ndarray, dim: int, sizes: np.ndarray, y: np.ndarray
) -> dict[str, float]:
    """The feature metrics of summarised rows (projected, then histogram features).

    ``summary`` holds each client's sampled rows in client order; ``sizes`` the
    clients' sizes ``n_k`` (each sampled row stands for ``n_k / m_k`` examples).
    """
    if not len(summary):
        return dict.fromkeys(FEATURE_METRICS, float("nan"))
    rows = np.minimum(sizes, MAX_CLIENT_EXAMPLES)
    client = np.repeat(np.arange(len(sizes)), rows)
    weight = np.repeat(sizes / np.maximum(rows, 1), rows)
    z, sampled = summary[:, :dim].astype(np.float64), summary[:, dim:]
    kept, distances, trace = _frechet_to_pooled(z, client, weight)
    cells_kept, cell_distances = [np.empty(0)], [np.empty(0)]
    order = np.argsort(y, kind="stable")
    for of_class in np.split(order, np.flatnonzero(np.diff(y[order])) + 1):
        if len(of_class) >= MIN_COVARIANCE_EXAMPLES:
            n_kc, fd, _ = _frechet_to_pooled(z[of_class], client[of_class], weight[of_class])
            cells_kept.append(n_kc)
            cell_distances.append(fd)
    return {
        "feature_hellinger": _hellinger_of_histograms(sampled, client, weight, len(sizes)),
        "feature_frechet": _weighted(kept, distances, trace),
        "conditional_frechet": _weighted(
            np.concatenate(cells_kept), np.concatenate(cell_distances), trace
        ),
    }


def feature_heterogeneity(
    features: Sequence[np.ndarray], labels: Sequence[np.ndarray]
) -> dict[str, float]:
    """Measure how the clients' features differ (the feature metrics of the module docstring).

    Parameters
    ----------
    features
        Each client's features, ``(n_k, ...)`` (the arrays it trains on: after any feature
        noise or rotation); every client's examples have the same shape.
    labels
        Each client's labels, ``(n_k,)`` (as it trains on them: after any label swap).

    Returns
    -------
    dict of str to float
        ``feature_hellinger``, ``feature_frechet``, ``conditional_frechet``; NaN where
        undefined (no assigned example, every client too small, constant features).

    Examples
    --------
    Two clients of one feature, values ``{0, 2}`` and ``{4, 6}`` (means 1 and 5,
    variances 1; pooled mean 3, variance 5). In one dimension the Fréchet distance is
    ``(m_k - m)^2 + (s_k - s)^2 = 4 + (1 - sqrt 5)^2 = 10 - 2 sqrt 5`` for each client,
    divided by the pooled variance 5:

    >>> x = [np.array([[0.0], [2.0]]), np.array([[4.0], [6.0]])]
    >>> m = feature_heterogeneity(x, [np.zeros(2, int), np.zeros(2, int)])
    >>> round(m["feature_frechet"], 6), round((10 - 2 * 5 ** 0.5) / 5, 6)
    (1.105573, 1.105573)

    """
    sizes = np.fromiter((len(y) for y in labels), dtype=np.int64, count=len(labels))
    if len(features) != len(labels) or any(
        len(x) != n for x, n in zip(features, sizes, strict=True)
    ):
        raise ValueError("features and labels must have one array per client, of equal lengths")
    picks = _client_sample(sizes)
    y = np.concatenate(
        [np.empty(0, np.int64), *(np.asarray(v)[p] for v, p in zip(labels, picks, strict=True))]
    )
    width = next((int(np.prod(np.shape(x)[1:])) for x in features if len(x)), 0)
    plan, dim = _feature_plan(width)
    # One client's sampled rows at a time: a copy of every client's at once is the
    # size of the training set.
    summaries = (
        _summarised(np.asarray(x)[p].reshape(len(p), -1), plan)
        for x, p in zip(features, picks, strict=True)
    )
    summary = np.concatenate([np.empty((0, plan.shape[1])), *summaries])
    return _feature_metrics(summary, dim, sizes, y.astype(np.int64))


def measure_features(
    labels: np.ndarray, parts: Sequence[np.ndarray], features: np.ndarray
) -> dict[str, float]:
    """The feature metrics of a partition of ``features`` (one row per label), by name.

    What :func:`fedbench.heterogeneity.heterogeneity` measures when given features:
    clients larger than :data:`MAX_CLIENT_EXAMPLES` are sampled first.
    """
    sizes = np.array([len(p) for p in parts], dtype=np.int64)
    picks = _client_sample(sizes)
    rows = np.concatenate(
        [
            np.empty(0, np.int64),
            *(np.asarray(p, np.int64)[q] for p, q in zip(parts, picks, strict=True)),
        ]
    )
    plan, dim = _feature_plan(int(np.prod(features.shape[1:], dtype=np.int64)))
    flat = features.reshape(len(features), -1)
    if 2 * len(rows) > len(flat):  # most rows: map them all in place, then pick
        summary = _summarised(flat, plan)[rows]
    else:
        summary = _summarised(flat[rows], plan)
    return _feature_metrics(summary, dim, sizes, labels[rows].astype(np.int64))
