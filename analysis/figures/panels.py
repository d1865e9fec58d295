"""Small multiples and the marks every panel shares: reference lines, accuracy limits."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from analysis.figures.looks import CENTRALIZED_COLOR, IID_COLOR

#: Reference kind -> (line style, colour) of its horizontal line.
REFERENCE_STYLES = {"IID": ("--", IID_COLOR), "centralized": (":", CENTRALIZED_COLOR)}
#: Panels at most in a row of small multiples.
MOST_COLUMNS = 4


def facet_grid(
    data: pd.DataFrame,
    draw: Callable[..., None],
    *,
    col: str,
    row: str | None = None,
    height: float = 3.4,
    aspect: float = 1.25,
    sharex: bool | str = False,
    sharey: bool | str = True,
) -> sns.FacetGrid:
    """One panel per value of ``col`` (and ``row``), ``draw(data=..., ax=...)`` in each.

    Without ``row`` the panels wrap after :data:`MOST_COLUMNS`; the figure grows with
    the panels. Panel titles are the ``col`` (and ``row``) values.
    """
    wrap = None if row else min(MOST_COLUMNS, max(1, data[col].nunique()))
    grid = sns.FacetGrid(
        data,
        col=col,
        row=row,
        col_order=list(dict.fromkeys(data[col])),
        row_order=list(dict.fromkeys(data[row])) if row else None,
        col_wrap=wrap,
        height=height,
        aspect=aspect,
        sharex=sharex,
        sharey=sharey,
        despine=False,
        margin_titles=False,
    )
    for (i, j, _), frame in grid.facet_data():
        if len(frame):
            draw(data=frame, ax=grid.facet_axis(i, j))
    titles = "{row_name} | {col_name}" if row else "{col_name}"
    grid.set_titles(titles, size=9)
    grid.figure.tight_layout()
    return grid


def reference_lines(ax: plt.Axes, refs: pd.DataFrame, band: bool = True) -> None:
    """A horizontal line per reference row (``kind``: IID or centralized), its interval a band."""
    for _, ref in refs.iterrows():
        style, color = REFERENCE_STYLES[ref["kind"]]
        ax.axhline(ref["accuracy_mean"], ls=style, color=color, lw=1)
        if band and pd.notna(ref.get("accuracy_ci95")):
            ax.axhspan(
                ref["accuracy_mean"] - ref["accuracy_ci95"],
                ref["accuracy_mean"] + ref["accuracy_ci95"],
                color=color,
                alpha=0.08,
                lw=0,
            )


def reference_handles(refs: pd.DataFrame) -> list[tuple[Line2D, str]]:
    """Legend entries of the reference lines drawn from ``refs``."""
    out = []
    for kind in REFERENCE_STYLES:
        if (refs["kind"] == kind).any() if len(refs) else False:
            style, color = REFERENCE_STYLES[kind]
            text = f"{kind} mean (line; band: 95% CI)"
            out.append((Line2D([], [], ls=style, color=color, lw=1), text))
    return out


def accuracy_limits(ax: plt.Axes, means: pd.Series) -> None:
    """Y limits around the means (intervals of two seeds are wide; accuracy stays in [0, 1])."""
    means = means.dropna()
    if means.empty:
        return
    pad = max(0.03, 0.15 * (means.max() - means.min()))
    ax.set_ylim(max(0.0, means.min() - pad), min(1.0, means.max() + pad))
