"""``convergence``: test accuracy per round, mean over seeds with its 95% interval as a band.

One panel per dataset, model, algorithm and client count when they vary. When more
than :data:`HANDFUL` settings would share a panel, the panel splits into small
multiples, one per strategy, each with the IID and centralized curves of its panel as
references. With more than :data:`BANDS` lines in a panel, lines are drawn without bands
(the CSV keeps every interval).
"""

from __future__ import annotations

import matplotlib.ticker as mticker
import pandas as pd

from analysis.figures.looks import REFERENCE, legend
from analysis.figures.panels import facet_grid
from analysis.figures.registry import Drawn, Inputs, Skipped, register
from analysis.figures.stats import facet_columns, facet_label, footer, natural, per_round, title
from analysis.load import SETTING
from fedbench import results as R

NAME = "convergence"
#: Settings one panel holds before it splits by strategy.
HANDFUL = 6
#: Lines per panel up to which each gets its 95% band (more bands pile up, and two seeds'
#: intervals are wide: t(0.975, 1) = 12.7). Decided once per figure, so panels compare.
BANDS = 3
#: Markers per line at most (the look's marker, spaced along the line).
MARKS = 8


@register(NAME)
def convergence(inputs: Inputs) -> Drawn | Skipped:
    """Test accuracy per round per setting; small multiples by strategy when lines pile up."""
    runs, series = inputs.runs, inputs.series
    if runs.empty:
        return Skipped("no finished runs")
    data = per_round(runs, series, R.TEST_ACCURACY)
    if data.empty:
        return Skipped("no run has an evaluated round")
    data["facet"] = facet_label(data, facet_columns(runs))
    data["group"] = data[SETTING].map(lambda s: series[s].group)
    crowded = data.groupby("facet")[SETTING].nunique().max() > HANDFUL
    first = data.assign(order=data[SETTING].map(lambda s: series[s].order))
    first = first.sort_values("order").drop_duplicates("group")
    strategies = [g for g in first["group"] if g != REFERENCE]
    panels = []
    for facet in sorted(data["facet"].unique(), key=natural):
        frame = data[data["facet"] == facet]
        name = title(runs, facet)
        if crowded and strategies:
            refs = frame[frame["group"] == REFERENCE]
            for group in strategies:
                own = frame[frame["group"] == group]
                if len(own):
                    panels.append(pd.concat([own, refs]).assign(row=name, col=group))
        else:
            panels.append(frame.assign(row="", col=name))
    shown = pd.concat(panels)
    order = {s: series[s].order for s in shown[SETTING].unique()}
    bands = shown.groupby(["row", "col"])[SETTING].nunique().max() <= BANDS

    def draw(data: pd.DataFrame, ax) -> None:
        rounds = data[R.ROUND].nunique()
        for setting in sorted(data[SETTING].unique(), key=order.get):
            group = data[data[SETTING] == setting]
            look = series[setting]
            reference = look.group == REFERENCE
            ax.plot(
                group[R.ROUND],
                group["mean"],
                markevery=max(1, rounds // MARKS),
                markersize=4,
                lw=1.0 if reference else 1.5,
                gid=look.label,
                zorder=2 if reference else 3,
                **look.line(),
            )
            if bands:
                band = group["ci95"].fillna(0)
                low, high = (group["mean"] - band).clip(0, 1), (group["mean"] + band).clip(0, 1)
                ax.fill_between(group[R.ROUND], low, high, color=look.color, alpha=0.12, lw=0)
        ax.set_ylim(0, 1)
        ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
        ax.set_xlabel("round")
        shown = "mean; band: 95% CI" if bands else f"mean; no bands past {BANDS} lines"
        ax.set_ylabel(f"test accuracy\n({shown})", fontsize=8)

    if shown["row"].nunique() > 1:
        grid = facet_grid(shown, draw, row="row", col="col", sharex=True)
    else:
        grid = facet_grid(shown, draw, col="col", sharex=True)
    fig = grid.figure
    legend(fig, [series[s] for s in shown[SETTING].unique()])
    fig.suptitle("Convergence", fontsize=10, y=1.02)
    columns = ["facet", "group", "label", R.ROUND, "mean", "std", "n", "ci95", SETTING]
    return Drawn(NAME, fig, data[columns], footer(runs))
