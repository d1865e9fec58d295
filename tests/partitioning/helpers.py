"""Shared helpers for the partitioning tests: default parameters and partition checks."""

from __future__ import annotations

import itertools

import numpy as np

from fedbench.heterogeneity import label_counts
from fedbench.partitioning import STRATEGIES


def params_for(
    strategy: str, writer_ids: np.ndarray | None = None, **overrides: object
) -> dict[str, object]:
    """The strategy's config defaults, with the overrides it takes and (natural) the writer ids.

    Overrides of parameters the strategy does not take are ignored, so one set of
    overrides can serve every strategy.
    """
    defaults = STRATEGIES[strategy].defaults
    params = {**defaults, **{k: v for k, v in overrides.items() if k in defaults}}
    if strategy == "natural":
        params["writer_ids"] = writer_ids
    return params


def balanced_labels(num_classes: int, per_class: int) -> np.ndarray:
    """``per_class`` examples of each class, class-sorted: [0]*per_class + [1]*per_class + ..."""
    return np.repeat(np.arange(num_classes), per_class)


def assert_valid_parts(parts: list[np.ndarray], num_examples: int, num_clients: int) -> None:
    """Exactly num_clients int64 ascending arrays of in-range indices, no index twice."""
    assert len(parts) == num_clients
    for part in parts:
        assert part.dtype == np.int64
        assert np.all(np.diff(part) > 0), "indices must be strictly ascending"
    flat = np.concatenate(parts)
    assert flat.size == np.unique(flat).size, "an index is in two parts (or twice in one)"
    assert flat.size == 0 or (flat.min() >= 0 and flat.max() < num_examples)


def counts_of(labels: np.ndarray, parts: list[np.ndarray]) -> np.ndarray:
    """The (K, C) label-count table with C = max(labels) + 1."""
    return label_counts(labels, parts, int(labels.max()) + 1)


def strictly_decreasing(values: list[float]) -> bool:
    """Whether each value is below the one before it."""
    return all(a > b for a, b in itertools.pairwise(values))
