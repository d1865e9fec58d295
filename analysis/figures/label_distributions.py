"""``labels``: per-client label counts of each partition report, as stacked bars."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from analysis.figures.registry import Drawn, Inputs, Skipped, register

NAME = "labels"
#: Clients drawn at most (the first ones of the report).
MOST_CLIENTS = 50


@register(NAME)
def label_distributions(inputs: Inputs) -> list[Drawn] | Skipped:
    """One figure ``labels-<report>`` per partition report (up to 50 clients each)."""
    if not inputs.partitions:
        return Skipped("no partition reports under results/partitions (fedbench-partition)")
    return [_report(path) for path in sorted(inputs.partitions)]


def _report(path) -> Drawn:
    table = pd.read_parquet(path)
    counts = table.filter(like="count_").head(MOST_CLIENTS)
    counts.index = table["client_id"].head(MOST_CLIENTS)
    fig, ax = plt.subplots(figsize=(8, 3.8))
    legend = counts.shape[1] <= 20  # a legend of 62 classes would hide the bars
    counts.plot.bar(stacked=True, ax=ax, legend=legend, colormap="tab20", width=0.9)
    if legend:
        ax.legend(
            [c.removeprefix("count_") for c in counts.columns],
            title="class",
            fontsize=6,
            ncol=2,
            bbox_to_anchor=(1.01, 1),
            loc="upper left",
        )
    shown = f" (first {MOST_CLIENTS} of {len(table)} clients)" if len(table) > MOST_CLIENTS else ""
    ax.set_title(f"{path.stem}: labels per client{shown}", fontsize=9)
    ax.set_xlabel("client")
    ax.set_ylabel("examples")
    ax.tick_params(axis="x", labelsize=6)
    note = f"partition report {path.name}: {len(table)} clients"
    return Drawn(f"labels-{path.stem}", fig, counts.reset_index(), note)
