"""``participation_gaps``: the out-of-sample and participation gaps per round (Yuan et al. 2022).

Two panels side by side, one line per setting (mean over seeds): the out-of-sample gap
(participating clients' training against their held-out accuracy) and the participation
gap (their held-out accuracy against the clients that never trained). Definitions in
``docs/results.md``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import pandas as pd

from analysis.figures.looks import legend
from analysis.figures.registry import Drawn, Inputs, Skipped, register
from analysis.figures.stats import footer, per_round
from analysis.load import SETTING
from fedbench import results as R

NAME = "participation_gaps"
#: The panels, left to right: column, title and what the gap subtracts.
GAPS = (
    (R.OUT_OF_SAMPLE_GAP, "out-of-sample gap", "participants: train − held-out examples"),
    (R.PARTICIPATION_GAP, "participation gap", "participants' held-out − held-out clients"),
)


@register(NAME)
def participation_gaps(inputs: Inputs) -> Drawn | Skipped:
    """Both gaps per round and setting (mean over seeds; the CSV keeps std, n and 95% CI)."""
    runs, series = inputs.runs, inputs.series
    if runs.empty or R.PARTICIPATION_GAP not in runs or runs[R.PARTICIPATION_GAP].isna().all():
        return Skipped("no run recorded the participation gap (fl.heldout_clients > 0)")
    frames = []
    for column, _, _ in GAPS:
        has = runs[runs[column].notna()]
        if len(has):
            frames.append(per_round(has, series, column).assign(gap=column))
    data = pd.concat(frames, ignore_index=True)
    fig, axes = plt.subplots(1, len(GAPS), figsize=(10, 4.2), sharex=True)
    fig.subplots_adjust(wspace=0.3)
    for ax, (column, name, meaning) in zip(axes, GAPS, strict=True):
        panel = data[data["gap"] == column]
        for setting in sorted(panel[SETTING].unique(), key=lambda s: series[s].order):
            line = panel[panel[SETTING] == setting]
            look = series[setting]
            ax.plot(line[R.ROUND], line["mean"], markersize=4, gid=look.label, **look.line())
        ax.axhline(0, color="0.6", lw=0.8, ls="--")
        ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
        ax.set_xlabel("round")
        ax.set_ylabel(f"{name} (accuracy)", fontsize=8)
        ax.set_title(f"{name}: {meaning}", fontsize=9)
    legend(fig, [series[s] for s in data[SETTING].unique()])
    fig.suptitle("Who generalises to whom? (mean over seeds; > 0: accuracy lost)", fontsize=10)
    columns = ["gap", "label", R.ROUND, "mean", "std", "n", "ci95", SETTING]
    return Drawn(NAME, fig, data[columns], footer(runs))
