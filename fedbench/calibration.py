"""Match a synthetic strategy to a target partition: the parameter giving the same heterogeneity.

:func:`calibrate` answers "which Dirichlet α resembles this natural split?": it
measures the target partition (e.g. FEMNIST by writer) and searches the strategy's
parameter (its record's :class:`~fedbench.partitioning.strategy.Search`) for the value
whose partitions of the same examples into as many clients have, averaged over a few
seeds, the same value of the metric. Needs numpy only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedbench.errors import PartitionError, param_invalid
from fedbench.heterogeneity import (
    FEATURE_METRICS,
    HETEROGENEITY_METRICS,
    feature_heterogeneity,
    heterogeneity,
)
from fedbench.partitioning import STRATEGIES, ShiftContext, get_strategy, partition
from fedbench.partitioning.shift import shifted
from fedbench.partitioning.strategy import Search, Strategy

#: Seeds each candidate value is measured over (``seed, seed + 1, ...``).
SEEDS = 5
#: Bisection steps at most (a log-scale range of 10^4 narrows to a factor of 1.00014).
MAX_STEPS = 16
#: Bisection steps towards a usable end when an end of the range cannot be partitioned.
END_STEPS = 4


@dataclass(frozen=True)
class Calibration:
    """The parameter value whose partitions match a target partition's metric.

    Attributes
    ----------
    strategy, parameter
        The strategy and its searched parameter (``"dirichlet"``, ``"alpha"``).
    value
        The matching value (an ``int`` for integer parameters).
    metric
        The metric matched.
    target
        The target partition's value of it.
    achieved
        Its mean over the seeds at ``value``.
    spread
        Its standard deviation over the seeds at ``value`` (population, ``ddof=0``).
    seeds
        The seeds measured.

    """

    strategy: str
    parameter: str
    value: float
    metric: str
    target: float
    achieved: float
    spread: float
    seeds: tuple[int, ...]

    def __float__(self) -> float:
        return float(self.value)

    def summary(self) -> str:
        """One line: the value, the target and what it achieves.

        E.g. ``"dirichlet alpha matching this partition's label_emd: 0.31 (target 0.912;
        achieved 0.915 ± 0.012 over 5 seeds)"``.
        """
        return (
            f"{self.strategy} {self.parameter} matching this partition's {self.metric}: "
            f"{self.value:.4g} (target {self.target:.3f}; achieved {self.achieved:.3f} "
            f"± {self.spread:.3f} over {len(self.seeds)} seeds)"
        )


def calibration_key(name: str) -> str:
    """The command-line key of a :func:`calibrate` argument, as error messages name it."""
    return {"strategy": "calibrate", "metric": "calibrate_metric"}.get(name, name)


def calibratable() -> list[str]:
    """The registered strategies with a parameter to calibrate."""
    return [name for name, record in STRATEGIES.items() if record.search is not None]


def check_calibration(strategy: Any, metric: Any) -> Strategy:
    """Raise unless ``strategy`` has a parameter to calibrate and ``metric`` is a metric.

    Returns
    -------
    Strategy
        The strategy's record.

    Raises
    ------
    PartitionError
        Naming ``strategy`` or ``metric``.

    """
    record = get_strategy(strategy)
    if record.search is None:
        names = ", ".join(calibratable())
        raise param_invalid(
            "strategy",
            strategy,
            f"a strategy with a parameter to calibrate: {names}",
            "calibrate one of them (e.g. {strategy}='dirichlet')",
        )
    if metric not in HETEROGENEITY_METRICS:
        raise param_invalid(
            "metric",
            metric,
            f"one of {', '.join(HETEROGENEITY_METRICS)}",
            "e.g. {metric}='label_emd'",
        )
    return record


def calibrate(
    strategy: str,
    labels: np.ndarray,
    target_parts: Sequence[np.ndarray],
    *,
    seed: int,
    metric: str = "label_emd",
    **fixed: Any,
) -> Calibration:
    """Find the parameter of ``strategy`` whose partitions match ``target_parts`` on ``metric``.

    The examples the target assigns are partitioned again into as many clients, with
    the strategy's other parameters at ``fixed`` (or their defaults), for each of
    :data:`SEEDS` seeds; the metric's mean over the seeds is bisected over the
    parameter's range (on a log scale for concentrations), assuming it moves
    monotonically with the parameter. Strategies that shift clients (feature noise,
    rotation, label swaps) are measured on the shifted clients, as they train.

    Parameters
    ----------
    strategy
        A strategy with a parameter to calibrate (:func:`calibratable`): ``dirichlet``,
        ``dirichlet_quantity`` and ``quantity`` (``alpha``), ``pathological``
        (``classes_per_client``), ``feature_noise`` (``sigma``), ``rotation``
        (``max_degrees``), ``concept_shift`` (``swaps``).
    labels
        Class id of every example, ``(N,)``.
    target_parts
        The target partition: index arrays into ``labels``, one per client.
    seed
        The first of the seeds measured (``seed .. seed + SEEDS - 1``).
    metric
        A metric of :data:`fedbench.heterogeneity.HETEROGENEITY_METRICS`. Feature
        metrics need ``features=``.
    **fixed
        The strategy's other parameters, and ``features=`` (every example's features,
        ``(N, ...)``) for feature metrics or strategies that shift features.

    Returns
    -------
    Calibration
        The value, the target's metric and the mean and spread achieved at the value.

    Raises
    ------
    PartitionError
        The strategy has nothing to calibrate, the metric is unknown, features are
        missing, or the target lies beyond what the strategy reaches over its range
        (the message gives that span).

    Examples
    --------
    >>> labels = np.repeat(np.arange(10), 300)
    >>> target = partition("dirichlet", labels, 20, seed=100, alpha=0.3)
    >>> found = calibrate("dirichlet", labels, target, seed=0)
    >>> 0.15 < found.value < 0.6
    True

    """
    record = check_calibration(strategy, metric)
    search = record.search
    assert search is not None  # checked above
    features = fixed.pop("features", None)
    if features is None and (metric in FEATURE_METRICS or record.client_shift is not None):
        raise param_invalid(
            "features",
            None,
            f"every example's features, to measure {metric} of {strategy}'s clients",
            "pass {features}=<the dataset's x>",
        )
    if search.param in fixed:
        raise param_invalid(
            search.param,
            fixed[search.param],
            "left out: it is what calibration finds",
            f"drop {{{search.param}}}",
        )
    labels = np.asarray(labels)
    assigned = np.concatenate(
        [np.empty(0, np.int64), *(np.asarray(p, np.int64) for p in target_parts)]
    )
    target = _measure_target(labels, target_parts, features, metric)
    sub_labels = labels[assigned]
    sub_features = None if features is None else np.asarray(features)[assigned]
    num_classes = int(labels.max()) + 1
    seeds = tuple(range(seed, seed + SEEDS))

    def measure(value: float) -> np.ndarray:
        return np.array(
            [
                _metric_of(
                    record,
                    sub_labels,
                    sub_features,
                    len(target_parts),
                    s,
                    metric,
                    num_classes,
                    {**fixed, search.param: value},
                )
                for s in seeds
            ]
        )

    value, values = _bisect(search, num_classes, measure, target, strategy, metric)
    return Calibration(
        strategy,
        search.param,
        value,
        metric,
        target,
        float(values.mean()),
        float(values.std()),
        seeds,
    )


def _measure_target(labels, parts, features, metric) -> float:
    if metric in FEATURE_METRICS:
        return heterogeneity(labels, parts, features=features)[metric]
    return heterogeneity(labels, parts)[metric]


def _metric_of(
    record: Strategy,
    labels: np.ndarray,
    features: np.ndarray | None,
    num_clients: int,
    seed: int,
    metric: str,
    num_classes: int,
    params: dict[str, Any],
) -> float:
    """``metric`` of ``num_clients`` clients by ``record`` with ``params``, shifted to train."""
    parts = partition(record.name, labels, num_clients, seed=seed, **params)
    if record.client_shift is None:
        return _measure_target(labels, parts, features, metric)
    assert features is not None
    values = record.with_defaults(params)
    context = ShiftContext(num_clients, seed, num_classes, tuple(features.shape[1:]))
    clients = [
        shifted(features[p], labels[p], shift, seed=seed, client=k, stream_key=0)
        for k, (p, shift) in enumerate(
            zip(parts, record.client_shift(values, context), strict=True)
        )
    ]
    if metric in FEATURE_METRICS:
        return feature_heterogeneity([x for x, _ in clients], [y for _, y in clients])[metric]
    y = np.concatenate([c[1] for c in clients])
    offsets = np.cumsum([0, *(len(p) for p in parts)])
    return heterogeneity(y, [np.arange(a, b) for a, b in itertools.pairwise(offsets)])[metric]


def _to_unit(search: Search, value: float) -> float:
    return math.log(value) if search.scale == "log" else float(value)


def _from_unit(search: Search, unit: float) -> float:
    return math.exp(unit) if search.scale == "log" else unit


def _bisect(
    search: Search,
    num_classes: int,
    measure: Callable[[float], np.ndarray],
    target: float,
    strategy: str,
    metric: str,
) -> tuple[float, np.ndarray]:
    """Bisect the mean of ``measure`` onto ``target`` over the search range.

    An end of the range that cannot be partitioned (a tiny α with a minimum client
    size) is first bisected towards the other end, to the last value that can.
    """
    low, high = search.bounds(num_classes)
    low, f_low = _usable_end(search, low, high, measure)
    high, f_high = _usable_end(search, high, low, measure)
    lo_mean, hi_mean = f_low.mean(), f_high.mean()
    if not min(lo_mean, hi_mean) <= target <= max(lo_mean, hi_mean):
        raise param_invalid(
            "strategy",
            strategy,
            f"a strategy that reaches the target's {metric}={target:.3f}, and {strategy} spans "
            f"{lo_mean:.3f} ({search.param}={low:.4g}) to {hi_mean:.3f} "
            f"({search.param}={high:.4g})",
            "choose another strategy or {metric}",
        )
    rising = hi_mean >= lo_mean
    ends = [(low, f_low), (high, f_high)]
    for _ in range(MAX_STEPS):
        (a, _), (b, _) = ends
        middle = _middle(search, a, b)
        if middle is None:
            break
        f_m = measure(middle)
        ends[0 if (f_m.mean() < target) == rising else 1] = (middle, f_m)
    value, values = min(ends, key=lambda end: abs(end[1].mean() - target))
    return (int(value) if search.scale == "int" else float(value)), values


def _middle(search: Search, a: float, b: float) -> float | None:
    """The point halfway between ``a`` and ``b`` on the search's scale (None: none left)."""
    if search.scale == "int":
        return None if abs(b - a) <= 1 else (a + b) // 2
    return _from_unit(search, (_to_unit(search, a) + _to_unit(search, b)) / 2)


def _usable_end(
    search: Search, end: float, other: float, measure: Callable[[float], np.ndarray]
) -> tuple[float, np.ndarray]:
    """Measure ``end``; if it cannot be partitioned, bisect towards ``other`` for one that can."""
    try:
        return end, measure(end)
    except PartitionError:
        bad = end
    good, f_good = other, measure(other)
    for _ in range(END_STEPS):
        middle = _middle(search, bad, good)
        if middle is None:
            break
        try:
            good, f_good = middle, measure(middle)
        except PartitionError:
            bad = middle
    return good, f_good
