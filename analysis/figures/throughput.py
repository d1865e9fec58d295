"""``throughput``: benchmark ratios side by side, one panel per comparison (log scale)."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from analysis.figures.benchmarks import benchmark_frame, benchmark_ratios
from analysis.figures.registry import Drawn, Inputs, Skipped, register
from analysis.figures.stats import natural

NAME = "throughput"
_RATIO_TICKS = (0.001, 0.01, 0.1, 0.25, 0.5, 1, 2, 4, 10, 100, 1000)


@register(NAME)
def throughput(inputs: Inputs) -> Drawn | Skipped:
    """One panel per comparison, one bar per case: each way's median over the baseline's."""
    ratios = benchmark_ratios(benchmark_frame(inputs.benchmarks))
    if ratios.empty:
        return Skipped("no benchmark comparisons under results/benchmarks (make bench)")
    comparisons = list(dict.fromkeys(ratios["comparison"]))
    most = max(ratios[ratios["comparison"] == c]["case"].nunique() for c in comparisons)
    cols = min(len(comparisons), 2)
    rows = -(-len(comparisons) // cols)
    height = max(2.0, 0.35 * most + 1.3)
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, height * rows + 0.4), squeeze=False)
    for ax in axes.flat[len(comparisons) :]:
        ax.set_visible(False)
    span = float(np.abs(np.log10(ratios["ratio"])).max()) * 1.35 + 0.15
    for ax, comparison in zip(axes.flat, comparisons, strict=False):
        _panel(ax, ratios[ratios["comparison"] == comparison], comparison, span)
    fig.suptitle(f"Throughput ratios, same benchmark run ({ratios['file'].iloc[0]})", fontsize=10)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    source, commit = ratios["file"].iloc[0], ratios["commit"].iloc[0]
    return Drawn(NAME, fig, ratios, f"{len(ratios)} ratios from {source}; git commit: {commit}")


def _panel(ax: plt.Axes, frame: pd.DataFrame, comparison: str, span: float) -> None:
    frame = frame.sort_values("case", key=lambda c: c.map(natural), kind="stable")
    ways = list(dict.fromkeys(frame["way"]))
    cases = list(dict.fromkeys(frame["case"]))
    height = 0.8 / len(ways)
    for i, way in enumerate(ways):
        sub = frame[frame["way"] == way].set_index("case").reindex(cases)
        y = np.arange(len(cases)) + (i - (len(ways) - 1) / 2) * height
        # Bars grow from 1 (as fast as the baseline) to the ratio, either way.
        bars = ax.barh(y, sub["ratio"] - 1, left=1, height=height, label=way)
        for bar, value in zip(bars, sub["ratio"], strict=True):
            if pd.notna(value):
                ax.text(
                    value,
                    bar.get_y() + bar.get_height() / 2,
                    f" {value:.2g}x ",
                    va="center",
                    ha="left" if value >= 1 else "right",
                    fontsize=7,
                )
    ax.set_yticks(np.arange(len(cases)), [textwrap.fill(c, 28) for c in cases], fontsize=7)
    ax.axvline(1, color="0.3", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlim(10**-span, 10**span)
    # Past a decade or so each way, the in-between ticks crowd the labels around 1.
    shown = _RATIO_TICKS if span < 1.5 else tuple(t for t in _RATIO_TICKS if np.log10(t) % 1 == 0)
    ax.xaxis.set_major_locator(
        mticker.FixedLocator([t for t in shown if 10**-span <= t <= 10**span])
    )
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ax.tick_params(axis="x", labelsize=7)
    base = frame["baseline_way"].iloc[0]
    ax.set_xlabel(f"median time / {base}'s (log; > 1: slower than {base})", fontsize=8)
    shared = frame["shared"].iloc[0]
    ax.set_title(textwrap.fill(f"{comparison}: {shared}" if shared else comparison, 60), fontsize=9)
    if len(ways) > 1:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
