"""Sentences that state a finding, generated from the numbers they state.

Every sentence of the findings page that says which is more or less comes from here. A
:class:`Claim` holds its text and the :class:`Ranking` s it asserts (names, in the order
the sentence states, with the value each was ranked by), so that a test can recompute
every ranking from the Parquet, and a rerun that changes an ordering rewrites the
sentence instead of leaving it stale. Values equal at the precision the page prints
them are ties, and a sentence names every tied name; where a sentence sets two
algorithms apart, it says whether their paired gap over seeds is beyond its 95% interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.figures.stats import interval
from analysis.findings.drops import DROP, KIND, SKEW, algorithm_order
from fedbench import results as R

#: Values a ranking can be by (the test recomputes each from the Parquet).
MEAN_DROP, MAX_DROP, MEAN_RHO = "mean drop", "largest mean drop", "mean rho"


def fixed(value: float, digits: int = 1, scale: float = 100.0) -> str:
    """``value * scale`` with ``digits`` decimals, never ``-0.0`` (how the page prints)."""
    return f"{round(scale * value, digits) + 0.0:.{digits}f}"


def points(value: float) -> str:
    """A drop or accuracy difference (a fraction) in percentage points, one decimal."""
    return fixed(value)


@dataclass(frozen=True)
class Ranking:
    """Names ordered by a value, as a sentence states them.

    Attributes
    ----------
    of
        What is ranked: ``algorithm``, ``skew``, ``kind``, ``metric``, ...
    by
        The value: :data:`MEAN_DROP` (mean over seeds of the paired drop, averaged over
        the skews in ``where``'s scope), :data:`MAX_DROP`, :data:`MEAN_RHO`, ...
    where
        The rows it ranks among, e.g. ``{"skew": "dirichlet (α=0.1)"}`` (a tuple: any
        of those values; empty: all).
    items
        ``(name, value)`` in the stated order.
    descending
        Whether the stated order is largest first.
    digits, scale
        How the page prints a value (``fixed(value, digits, scale)``): values printed
        alike are ties.

    """

    of: str
    by: str
    where: Mapping[str, str | tuple[str, ...]]
    items: tuple[tuple[str, float], ...]
    descending: bool = False
    digits: int = 1
    scale: float = 100.0

    def printed(self, value: float) -> str:
        """``value`` as the page prints it."""
        return fixed(value, self.digits, self.scale)

    def tied(self, last: bool = False) -> list[str]:
        """The names printed alike with the first (``last``: the last), in stated order."""
        ends = list(reversed(self.items)) if last else list(self.items)
        return [name for name, value in ends if self.printed(value) == self.printed(ends[0][1])]

    @property
    def first(self) -> str:
        """The name the sentence puts first."""
        return self.items[0][0]

    @property
    def last(self) -> str:
        """The name the sentence puts last."""
        return self.items[-1][0]


@dataclass(frozen=True)
class Claim:
    """A generated sentence and the rankings it asserts."""

    text: str
    rankings: tuple[Ranking, ...] = field(default=())


def names(found: Sequence[str], bold: bool = True) -> str:
    """``a``, ``a and b``, ``a, b and c`` (bold, or as code)."""
    marked = [f"**{n}**" if bold else f"`{n}`" for n in found]
    return marked[0] if len(marked) == 1 else ", ".join(marked[:-1]) + " and " + marked[-1]


def _verb(found: Sequence[str], one: str, many: str) -> str:
    return one if len(found) == 1 else many


def ranking(
    frame: pd.DataFrame,
    of: str,
    value: str,
    by: str,
    where: Mapping[str, str | tuple[str, ...]],
    descending: bool,
    digits: int = 1,
    scale: float = 100.0,
) -> Ranking:
    """The rows of ``frame`` ranked by ``value`` (ties by name), as a :class:`Ranking`."""
    ordered = frame.sort_values([value, of], ascending=[not descending, True], kind="stable")
    items = tuple(zip(ordered[of], ordered[value].astype(float), strict=True))
    return Ranking(of, by, dict(where), items, descending, digits, scale)


def paired_gap(drops: pd.DataFrame, low: str, high: str) -> tuple[float, float, int]:
    """Mean over seeds of ``high``'s drop minus ``low``'s, its 95% half-width, the seeds.

    ``drops`` holds the runs in scope (:func:`analysis.findings.drops.paired_drops`); a
    seed's drop of an algorithm is its mean over the skews in scope.
    """
    per_seed = drops.groupby([R.ALGORITHM, R.SEED])[DROP].mean().unstack(R.ALGORITHM)
    gap = (per_seed[high] - per_seed[low]).dropna()
    ci = interval(pd.Series([gap.std()]), pd.Series([len(gap)])).iloc[0]
    return float(gap.mean()), float(ci), len(gap)


def _gap_note(drops: pd.DataFrame, low: str, high: str) -> str:
    gap, ci, n = paired_gap(drops, low, high)
    if np.isnan(ci):
        return f"; one seed, no interval on their gap of {points(gap)} points"
    if abs(gap) <= ci:
        return f"; paired over {n} seeds their gap, {points(gap)} ± {points(ci)}, is within noise"
    return f"; paired over {n} seeds their gap is {points(gap)} ± {points(ci)} points"


def _least_most(r: Ranking, drops: pd.DataFrame) -> str:
    """``**a** loses least (x points) and **b** most (y points); ...``, ties named together."""
    best, worst = r.tied(), r.tied(last=True)
    low, high = r.items[0][1], r.items[-1][1]
    if r.printed(low) == r.printed(high):
        return f"every algorithm loses the same ({points(low)} points)"
    return (
        f"{names(best)} {_verb(best, 'loses', 'lose')} least ({points(low)} points) and "
        f"{names(worst)} most ({points(high)} points)" + _gap_note(drops, r.first, r.last)
    )


def least_and_most_hurt(
    table: pd.DataFrame, drops: pd.DataFrame, skews: Sequence[str]
) -> list[Claim]:
    """Under each of ``skews``: the algorithms that lose least and most.

    ``table`` is :func:`analysis.findings.drops.drop_table`, ``drops`` the runs behind it.
    """
    claims = []
    for skew in skews:
        rows = table[table[SKEW] == skew]
        if rows[R.ALGORITHM].nunique() < 2:
            continue
        r = ranking(rows, R.ALGORITHM, "drop_mean", MEAN_DROP, {SKEW: skew}, False)
        text = f"Under {skew}, {_least_most(r, drops[drops[SKEW] == skew])}."
        claims.append(Claim(text, (r,)))
    return claims


def shared_skews(table: pd.DataFrame) -> list[str]:
    """The skews every algorithm of ``table`` has a cell for."""
    algorithms = table[R.ALGORITHM].nunique()
    counts = table.groupby(SKEW, sort=False)[R.ALGORITHM].nunique()
    return list(counts[counts == algorithms].index)


def overall(table: pd.DataFrame, drops: pd.DataFrame) -> list[Claim]:
    """The algorithms with the smallest and largest drop averaged over the shared skews."""
    skews = shared_skews(table)
    scope = table[table[SKEW].isin(skews)]
    means = scope.groupby(R.ALGORITHM, sort=False)["drop_mean"].mean().reset_index()
    if len(means) < 2:
        return []
    r = ranking(means, R.ALGORITHM, "drop_mean", MEAN_DROP, {SKEW: tuple(skews)}, False)
    text = (
        f"Averaged over the {len(skews)} skewed settings, "
        f"{_least_most(r, drops[drops[SKEW].isin(skews)])}."
    )
    return [Claim(text, (r,))]


def costliest(table: pd.DataFrame) -> list[Claim]:
    """Per algorithm, the skew that costs it most; one sentence when it is the same for all."""
    rankings = [
        ranking(rows, SKEW, "drop_mean", MEAN_DROP, {R.ALGORITHM: algorithm}, True)
        for algorithm in algorithm_order(table)
        for rows in [table[table[R.ALGORITHM] == algorithm]]
    ]
    if not rankings:
        return []
    tops = {tuple(r.tied()) for r in rankings}
    if len(tops) == 1 and len(rankings) > 1:
        top = list(tops.pop())
        spread = sorted((r.items[0][1], r.where[R.ALGORITHM]) for r in rankings)
        (low, a_low), (high, a_high) = spread[0], spread[-1]
        text = (
            f"The costliest skew{_verb(top, ' is', 's are')} {names(top)} for every algorithm: "
            f"from {points(low)} points ({a_low}) to {points(high)} ({a_high})."
        )
        return [Claim(text, tuple(rankings))]
    claims = []
    for r in rankings:
        top = r.tied()
        text = (
            f"The costliest skew{_verb(top, '', 's')} for **{r.where[R.ALGORITHM]}**: "
            f"{names(top, bold=False)} ({points(r.items[0][1])} points)."
        )
        claims.append(Claim(text, (r,)))
    return claims


def kinds(table: pd.DataFrame) -> list[Claim]:
    """The kinds of skew by the largest mean drop any of their cells shows."""
    spans = table.groupby(KIND, sort=False)["drop_mean"].max().rename("max").reset_index()
    if spans.empty:
        return []
    r = ranking(spans, KIND, "max", MAX_DROP, {}, True)
    parts = [f"{kind} {points(high)}" for kind, high in r.items]
    text = "The costliest cell of each kind of skew: " + "; ".join(parts) + " points."
    return [Claim(text, (r,))]


def predictors(table: pd.DataFrame) -> list[Claim]:
    """Per algorithm, the metric whose mean rank correlation with the drop is largest.

    ``table`` is :func:`analysis.findings.predictors.rho_table`. Ranked by signed rho:
    a metric predicts the drop when larger values go with larger drops.
    """
    claims = []
    for algorithm in algorithm_order(table):
        rows = table[table[R.ALGORITHM] == algorithm]
        r = ranking(rows, "metric", "rho_mean", MEAN_RHO, {R.ALGORITHM: algorithm}, True, 2, 1.0)
        top = r.tied()
        best = rows.set_index("metric").loc[r.first]
        if best["rho_mean"] <= 0:
            text = (
                f"For **{algorithm}**, no metric's mean rank correlation with the drop is positive."
            )
        else:
            ci = "" if pd.isna(best["rho_ci"]) else f" ± {best['rho_ci']:.2f}"
            text = (
                f"For **{algorithm}**, {names(top, bold=False)} "
                f"{_verb(top, 'orders', 'order')} the settings by drop best "
                f"(Spearman's ρ = {best['rho_mean']:+.2f}{ci} over {int(best['n'])} seeds)."
            )
        claims.append(Claim(text, (r,)))
    return claims
