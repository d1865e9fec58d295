"""``fairness``: mean against 10th-percentile per-client accuracy at the last round."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from analysis import aggregate as A
from analysis.figures.looks import labels, legend
from analysis.figures.registry import Drawn, Inputs, Skipped, register
from analysis.figures.stats import footer, interval
from analysis.load import SETTING
from fedbench import results as R

NAME = "fairness"
MEAN, P10 = R.CLIENT_ACCURACY_MEAN, R.CLIENT_ACCURACY_P10


@register(NAME)
def fairness(inputs: Inputs) -> Drawn | Skipped:
    """Mean against p10 per-client accuracy per setting (mean, 95% CI over seeds)."""
    runs, series = inputs.runs, inputs.series
    done = A.evaluated(runs) if not runs.empty else runs
    if not runs.empty and MEAN in done and P10 in done:
        done = done[done[P10].notna() & done[MEAN].notna()]
    if runs.empty or done.empty or MEAN not in done:
        return Skipped("no run recorded per-client accuracy (fl.client_holdout > 0)")
    last = done[done[R.ROUND] == done.groupby([R.RUN_ID, R.ROUNDS])[R.ROUND].transform("max")]
    last = last.assign(label=labels(last, series))
    grouped = last.groupby([SETTING, "label"], sort=True)
    data = grouped[[MEAN, P10]].agg(["mean", "std", "count"])
    data.columns = [f"{c}_{s}" for c, s in data.columns]
    data = data.reset_index()
    data[f"{MEAN}_ci95"] = interval(data[f"{MEAN}_std"], data[f"{MEAN}_count"])
    data[f"{P10}_ci95"] = interval(data[f"{P10}_std"], data[f"{P10}_count"])
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    for row in data.itertuples(index=False):
        row = row._asdict()
        look = series[row[SETTING]]
        ax.errorbar(
            row[f"{MEAN}_mean"],
            row[f"{P10}_mean"],
            xerr=0 if pd.isna(row[f"{MEAN}_ci95"]) else row[f"{MEAN}_ci95"],
            yerr=0 if pd.isna(row[f"{P10}_ci95"]) else row[f"{P10}_ci95"],
            capsize=3,
            markersize=6,
            gid=look.label,
            **look.point(),
        )
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--")
    ax.set_xlabel("mean per-client accuracy")
    ax.set_ylabel("10th-percentile per-client accuracy")
    ax.set_title("Whom does the global model fail? (mean, 95% CI over seeds)", fontsize=10)
    ax.text(
        0.98,
        0.02,
        "dashed: p10 = mean (every client alike)",
        fontsize=7,
        color="0.4",
        ha="right",
        transform=ax.transAxes,
    )
    legend(fig, [series[s] for s in data[SETTING]])
    return Drawn(NAME, fig, data, footer(last))
