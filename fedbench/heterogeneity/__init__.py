"""Heterogeneity of a partition: from its label counts and from its clients' features.

The metrics come in two families, each a module: the label metrics of ``interface.md``
and the counts (:mod:`fedbench.heterogeneity.labels`: ``label_emd``, ``label_jsd``,
``label_hellinger``, ``effective_classes``, ``size_cv``, ``dropped_fraction``,
``num_clients``, ``num_examples``) and the feature metrics
(:mod:`fedbench.heterogeneity.features`: ``feature_hellinger``, ``feature_frechet``,
``conditional_frechet``), with their definitions. :func:`heterogeneity` measures both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedbench.heterogeneity.features import (
    FEATURE_METRICS,
    FEATURE_SEED,
    HISTOGRAM_BINS,
    HISTOGRAM_FEATURES,
    MAX_CLIENT_EXAMPLES,
    MIN_COVARIANCE_EXAMPLES,
    PROJECTION_DIM,
    feature_heterogeneity,
    measure_features,
)
from fedbench.heterogeneity.labels import (
    COUNT_METRICS,
    LABEL_METRICS,
    heterogeneity_from_counts,
    label_counts,
)

#: The measures of heterogeneity proper: every metric a figure may plot accuracy against.
HETEROGENEITY_METRICS = LABEL_METRICS + FEATURE_METRICS
#: The metric names, in the order :func:`heterogeneity` returns them.
METRICS = HETEROGENEITY_METRICS + COUNT_METRICS

__all__ = [
    "COUNT_METRICS",
    "FEATURE_METRICS",
    "FEATURE_SEED",
    "HETEROGENEITY_METRICS",
    "HISTOGRAM_BINS",
    "HISTOGRAM_FEATURES",
    "LABEL_METRICS",
    "MAX_CLIENT_EXAMPLES",
    "METRICS",
    "MIN_COVARIANCE_EXAMPLES",
    "PROJECTION_DIM",
    "feature_heterogeneity",
    "heterogeneity",
    "heterogeneity_from_counts",
    "label_counts",
]


def heterogeneity(
    labels: np.ndarray,
    parts: Sequence[np.ndarray],
    num_classes: int | None = None,
    *,
    features: np.ndarray | None = None,
) -> dict[str, float]:
    """Measure how heterogeneous a partition is (the metrics of ``interface.md``).

    Parameters
    ----------
    labels
        Class id of every example, shape ``(N,)``.
    parts
        One array of indices into ``labels`` per client (as returned by
        :func:`fedbench.partitioning.partition`).
    num_classes
        ``C``; defaults to ``max(labels) + 1``. Classes no client holds do not
        change any metric.
    features
        Every example's features, ``(N, ...)``; with them the feature metrics are
        measured (:func:`feature_heterogeneity`), without them they are NaN.

    Returns
    -------
    dict of str to float
        ``label_emd``, ``label_jsd``, ``label_hellinger``, ``effective_classes``,
        ``size_cv``, ``feature_hellinger``, ``feature_frechet``, ``conditional_frechet``,
        ``dropped_fraction``, ``num_clients``, ``num_examples``; definitions and the
        treatment of empty and small clients in :mod:`fedbench.heterogeneity.labels` and
        :mod:`fedbench.heterogeneity.features`.

    Examples
    --------
    Two classes, each client holding one of them:

    >>> m = heterogeneity(np.array([0, 0, 1, 1]), [np.array([0, 1]), np.array([2, 3])])
    >>> m["label_emd"], m["effective_classes"], m["size_cv"]
    (1.0, 1.0, 0.0)

    """
    labels = np.asarray(labels)
    metrics = heterogeneity_from_counts(label_counts(labels, parts, num_classes), len(labels))
    if features is not None:
        features = np.asarray(features)
        if len(features) != len(labels):
            raise ValueError(
                f"features must have one row per label ({len(labels)}), got {len(features)}"
            )
        metrics |= measure_features(labels, parts, features)
    return metrics
