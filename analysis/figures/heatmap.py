"""``heatmap``: a whole sweep at a glance, mean accuracy and its seed spread per cell.

Two configuration axes: by default one row per setting without its algorithm (strategy
and strength, grouped by strategy) and one column per algorithm (or the first other
column that varies); ``--heatmap-rows`` and ``--heatmap-cols`` name other setting
columns. A cell shows the mean accuracy over seeds in percent and, below it, ± the
sample standard deviation (``n=1``: one seed, no spread).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from analysis import aggregate as A
from analysis.figures.looks import others
from analysis.figures.registry import Drawn, Inputs, Skipped, register
from analysis.figures.stats import ACCURACY_TITLE, footer, kept, setting_stats
from analysis.load import SETTING, setting_columns
from fedbench import results as R

NAME = "heatmap"
ROW, COL = "row", "col"


def _axes(inputs: Inputs, stats: pd.DataFrame) -> tuple[str | None, str | None]:
    """The row and column axes: the options, else (setting, the algorithm or a varying column)."""
    cols = inputs.heatmap_cols
    if cols is None:
        varying = others(inputs.runs.drop_duplicates(SETTING))
        cols = R.ALGORITHM if R.ALGORITHM in varying else (varying[0] if varying else None)
    return inputs.heatmap_rows, cols


@register(NAME)
def heatmap(inputs: Inputs) -> Drawn | Skipped:
    """Mean final (or best) accuracy with the seed spread per (row, column) cell."""
    runs, series = inputs.runs, inputs.series
    if runs.empty:
        return Skipped("no finished runs")
    stats = setting_stats(runs, inputs.metric, series)
    rows, cols = _axes(inputs, stats)
    allowed = setting_columns(stats)
    for flag, column in (("--heatmap-rows", rows), ("--heatmap-cols", cols)):
        if column is not None and column not in allowed:
            return Skipped(f"{flag}={column} is not a setting column; pick one of {allowed}")
    order = {s: series[s].order for s in stats[SETTING]}
    stats = stats.assign(_order=stats[SETTING].map(order)).sort_values("_order", kind="stable")
    stats[COL] = stats[cols].map(_text) if cols else "all settings"
    if rows:
        stats[ROW] = stats[rows].map(_text)
    else:
        stats[ROW] = stats[SETTING].map(lambda s: series[s].label_without(cols or ""))
    crowded = stats.groupby([ROW, COL])[SETTING].transform("nunique") > 1
    if crowded.any():
        return Skipped(
            f"settings share a cell with rows={rows or 'setting'} and cols={cols}; "
            "name other axes with --heatmap-rows/--heatmap-cols"
        )
    row_order = list(dict.fromkeys(stats[ROW]))
    col_order = sorted(dict.fromkeys(stats[COL]), key=lambda v: _key(stats, cols, v))
    mean = stats.pivot(index=ROW, columns=COL, values="accuracy_mean")
    mean = mean.reindex(index=row_order, columns=col_order)
    text = stats.assign(text=stats.apply(_cell, axis=1)).pivot(
        index=ROW, columns=COL, values="text"
    )
    text = text.reindex(index=row_order, columns=col_order).fillna("")
    width = 2.2 + 1.15 * len(col_order) + 0.06 * max(len(r) for r in row_order)
    fig, ax = plt.subplots(figsize=(width, 1.4 + 0.42 * len(row_order)))
    sns.heatmap(
        100 * mean,
        annot=text,
        fmt="",
        cmap="viridis",
        vmin=max(0.0, 100 * mean.min().min() - 5),
        vmax=min(100.0, 100 * mean.max().max() + 2),
        linewidths=0.5,
        linecolor="white",
        annot_kws={"fontsize": 7},
        cbar_kws={"label": f"{ACCURACY_TITLE[A.ACCURACY[inputs.metric]]} (%, mean over seeds)"},
        ax=ax,
    )
    # A rule between strategies: rows are grouped by strategy in the shared order.
    groups = stats.drop_duplicates(ROW).set_index(ROW)[SETTING].map(lambda s: series[s].group)
    groups = groups.reindex(row_order).tolist()
    for i in range(1, len(groups)):
        if groups[i] != groups[i - 1]:
            ax.axhline(i, color="white", lw=2.5)
    ax.set_xlabel(cols or "")
    ax.set_ylabel(rows or "setting")
    ax.tick_params(axis="y", labelsize=7, rotation=0)
    ax.tick_params(axis="x", labelsize=8, rotation=0)
    ax.set_title(f"Mean accuracy per cell (± std over seeds; n={_seeds(stats)})", fontsize=10)
    data = kept(stats, [ROW, COL, "accuracy_mean", "accuracy_std", "accuracy_n", "label"], runs)
    return Drawn(NAME, fig, data, footer(runs))


def _text(value: object) -> str:
    if isinstance(value, float):
        return "–" if pd.isna(value) else f"{value:g}"
    return str(value)


def _key(stats: pd.DataFrame, column: str | None, value: str) -> tuple:
    """Columns in the order of the shared looks (numbers ascending)."""
    if column is None:
        return (0,)
    first = stats[stats[COL] == value]["_order"].min()
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return (0, number, "") if pd.notna(number) else (1, first[2] if first else 0, value)


def _cell(row: pd.Series) -> str:
    mean = f"{100 * row['accuracy_mean']:.1f}"
    if row["accuracy_n"] > 1 and pd.notna(row["accuracy_std"]):
        return f"{mean}\n±{100 * row['accuracy_std']:.1f}"
    return f"{mean}\nn=1"


def _seeds(stats: pd.DataFrame) -> str:
    counts = sorted(int(n) for n in stats["accuracy_n"].unique())
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
