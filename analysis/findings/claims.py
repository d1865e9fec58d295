"""Sentences that state a finding, generated from the numbers they state.

Every sentence of the findings page that says which is more or less comes from here. A
:class:`Claim` holds its text and the :class:`Ranking` s it asserts (names, in the order
the sentence states, with the value each was ranked by), so that a test can recompute
every ranking from the Parquet, and a rerun that changes an ordering rewrites the
sentence instead of leaving it stale.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from analysis.findings.drops import KIND, SKEW, algorithm_order
from fedbench import results as R

#: Values a ranking can be by (the test recomputes each from the Parquet).
MEAN_DROP, MAX_DROP, ABS_RHO = "mean drop", "largest mean drop", "|mean rho|"
#: Values closer than this are a tie (a sentence names every tied name).
TIE = 1e-9


def points(value: float) -> str:
    """A drop or accuracy difference (a fraction) in percentage points, one decimal."""
    return f"{round(100 * value, 1) + 0.0:.1f}"  # + 0.0: no "-0.0"


@dataclass(frozen=True)
class Ranking:
    """Names ordered by a value, as a sentence states them.

    Attributes
    ----------
    of
        What is ranked: ``algorithm``, ``skew``, ``kind`` or ``metric``.
    by
        The value: :data:`MEAN_DROP` (mean over seeds of the paired drop, averaged over
        the other settings in ``where``'s scope), :data:`MAX_DROP` or :data:`ABS_RHO`.
    where
        The rows it ranks among, e.g. ``{"skew": "dirichlet (α=0.1)"}`` (empty: all).
    items
        ``(name, value)`` in the stated order.
    descending
        Whether the stated order is largest first.

    """

    of: str
    by: str
    where: Mapping[str, str]
    items: tuple[tuple[str, float], ...]
    descending: bool = False

    def holds(self) -> bool:
        """Whether ``items`` are sorted the stated way (ties allowed)."""
        values = [v for _, v in self.items]
        pairs = itertools.pairwise(values)
        return all(b <= a if self.descending else a <= b for a, b in pairs)

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


def tied(items: Sequence[tuple[str, float]], last: bool = False) -> list[str]:
    """The names whose value equals the first's (``last``: the last's), in ranking order."""
    ends = list(reversed(items)) if last else list(items)
    return [name for name, value in ends if abs(value - ends[0][1]) <= TIE]


def names(found: Sequence[str], bold: bool = True) -> str:
    """``a``, ``a and b``, ``a, b and c`` (bold by default)."""
    marked = [f"**{n}**" if bold else f"`{n}`" for n in found]
    return marked[0] if len(marked) == 1 else ", ".join(marked[:-1]) + " and " + marked[-1]


def _verb(found: Sequence[str], one: str, many: str) -> str:
    return one if len(found) == 1 else many


def _ranking(
    frame: pd.DataFrame, of: str, value: str, by: str, where: Mapping[str, str], descending: bool
) -> Ranking:
    ordered = frame.sort_values([value, of], ascending=[not descending, True], kind="stable")
    items = tuple(zip(ordered[of], ordered[value].astype(float), strict=True))
    return Ranking(of, by, dict(where), items, descending)


def least_and_most_hurt(table: pd.DataFrame, skews: Sequence[str]) -> list[Claim]:
    """Under each of ``skews``: the algorithm that loses least and the one that loses most.

    ``table`` is :func:`analysis.findings.drops.drop_table`.
    """
    claims = []
    for skew in skews:
        rows = table[table[SKEW] == skew]
        if rows[R.ALGORITHM].nunique() < 2:
            continue
        ranking = _ranking(rows, R.ALGORITHM, "drop_mean", MEAN_DROP, {SKEW: skew}, False)
        text = f"Under {skew}, {_least_most(ranking)}."
        claims.append(Claim(text, (ranking,)))
    return claims


def _least_most(ranking: Ranking) -> str:
    """``**a** loses least (x points) and **b** most (y points)``, ties named together."""
    best, worst = tied(ranking.items), tied(ranking.items, last=True)
    low, high = ranking.items[0][1], ranking.items[-1][1]
    if abs(high - low) <= TIE:
        return f"every algorithm loses the same ({points(low)} points)"
    return (
        f"{names(best)} {_verb(best, 'loses', 'lose')} least ({points(low)} points) and "
        f"{names(worst)} most ({points(high)} points)"
    )


def overall(table: pd.DataFrame) -> list[Claim]:
    """The algorithms with the smallest and largest drop averaged over every skewed setting."""
    means = table.groupby(R.ALGORITHM, sort=False)["drop_mean"].mean().reset_index()
    if len(means) < 2:
        return []
    ranking = _ranking(means, R.ALGORITHM, "drop_mean", MEAN_DROP, {}, False)
    text = f"Averaged over the {table[SKEW].nunique()} skewed settings, {_least_most(ranking)}."
    return [Claim(text, (ranking,))]


def costliest(table: pd.DataFrame) -> list[Claim]:
    """Per algorithm, the skew that costs it most; one sentence when it is the same for all."""
    rankings = [
        _ranking(rows, SKEW, "drop_mean", MEAN_DROP, {R.ALGORITHM: algorithm}, True)
        for algorithm in algorithm_order(table)
        for rows in [table[table[R.ALGORITHM] == algorithm]]
    ]
    if not rankings:
        return []
    tops = {tuple(tied(r.items)) for r in rankings}
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
        top = tied(r.items)
        text = (
            f"The costliest skew{_verb(top, '', 's')} for **{r.where[R.ALGORITHM]}**: "
            f"{names(top, bold=False)} ({points(r.items[0][1])} points)."
        )
        claims.append(Claim(text, (r,)))
    return claims


def kinds(table: pd.DataFrame) -> list[Claim]:
    """The kinds of skew by the largest mean drop any of their settings causes."""
    spans = table.groupby(KIND, sort=False)["drop_mean"].agg(["min", "max"]).reset_index()
    if spans.empty:
        return []
    ranking = _ranking(spans, KIND, "max", MAX_DROP, {}, True)
    low = spans.set_index(KIND)["min"]
    parts = [f"{kind} {points(low[kind])} to {points(high)}" for kind, high in ranking.items]
    text = "Drops by kind of skew, from its mildest to its costliest cell: " + "; ".join(parts)
    return [Claim(text + " points.", (ranking,))]


def predictors(table: pd.DataFrame) -> list[Claim]:
    """Per algorithm, the metric whose mean rank correlation with the drop is strongest.

    ``table`` is :func:`analysis.findings.predictors.rho_table`.
    """
    claims = []
    for algorithm, rows in table.groupby(R.ALGORITHM, sort=False):
        rows = rows.assign(abs_rho=rows["rho_mean"].abs())
        ordered = rows.sort_values("abs_rho", ascending=False, kind="stable")  # metric order
        items = tuple(zip(ordered["metric"], ordered["abs_rho"].astype(float), strict=True))
        ranking = Ranking("metric", ABS_RHO, {R.ALGORITHM: algorithm}, items, True)
        top = tied(items)
        best = rows.set_index("metric").loc[ranking.first]
        interval = "" if pd.isna(best["rho_ci"]) else f" ± {best['rho_ci']:.2f}"
        if len(top) == 1:
            how = f"Spearman's ρ = {best['rho_mean']:+.2f}{interval}"
        else:
            how = f"tied at |ρ| = {abs(best['rho_mean']):.2f}"
        text = (
            f"For **{algorithm}**, {names(top, bold=False)} "
            f"{_verb(top, 'orders', 'order')} the settings by drop best "
            f"({how} over {int(best['n'])} seeds)."
        )
        claims.append(Claim(text, (ranking,)))
    return claims
