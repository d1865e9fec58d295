"""``accuracy_vs_heterogeneity``: accuracy per setting against how heterogeneous it is.

Points are means over seeds with 95% intervals. The x axis is a measured metric (its
mean over the seeds' partitions) or, with ``--x parameter``, each strategy's labelled
parameter (one panel per strategy). Without ``--x``, each kind of skew
(:data:`fedbench.partitioning.strategy.SKEWS`, from the strategy records) is its own panel
against its own metric (:data:`KIND_METRIC`, when the runs recorded it). Further panels
per dataset, model, algorithm and client count when they vary. IID (dashed, its interval
as a band) and centralized runs (dotted) of the same context are reference lines; IID
points sit at their own measured heterogeneity.
"""

from __future__ import annotations

import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from analysis import aggregate as A
from analysis.figures.looks import legend
from analysis.figures.panels import (
    accuracy_limits,
    facet_grid,
    reference_handles,
    reference_lines,
)
from analysis.figures.registry import Drawn, Inputs, Skipped, register
from analysis.figures.stats import (
    ACCURACY_TITLE,
    footer,
    kept,
    natural,
    panel_references,
    references,
    setting_stats,
    title,
)
from analysis.load import SETTING, is_centralized
from fedbench import results as R
from fedbench.partitioning import STRATEGIES, all_params
from fedbench.partitioning.strategy import SKEWS

NAME = "accuracy_vs_heterogeneity"
PANEL = ["panel", "row", "col", "facet", "label"]
ACCURACY = ["accuracy_mean", "accuracy_std", "accuracy_n", "accuracy_ci95"]
PARAMETER = "parameter"
#: The metric each kind of skew is drawn against (label_emd when the runs lack it).
KIND_METRIC = {
    "label": R.LABEL_EMD,
    "quantity": R.SIZE_CV,
    "feature": R.FEATURE_HELLINGER,
    "concept": R.CONDITIONAL_FRECHET,
    "natural": R.LABEL_EMD,
}
METRIC_TITLES = {
    R.LABEL_EMD: "label_emd (0 = IID, 2 = disjoint)",
    R.LABEL_JSD: "label_jsd (0 = IID, 1 = disjoint)",
    R.LABEL_HELLINGER: "label_hellinger (0 = IID, 1 = disjoint)",
    R.EFFECTIVE_CLASSES: "effective_classes (1 = one class per client)",
    R.SIZE_CV: "size_cv (client size std / mean)",
    R.FEATURE_HELLINGER: "feature_hellinger (0 = IID, 1 = disjoint)",
    R.FEATURE_FRECHET: "feature_frechet (Fréchet / pooled trace; 0 = IID)",
    R.CONDITIONAL_FRECHET: "conditional_frechet (per class; 0 = IID)",
}


def skew(strategy: str) -> str:
    """The kind of skew of a strategy (its record's ``skew``; ``label`` if unregistered)."""
    record = STRATEGIES.get(strategy)
    return record.skew if record is not None else "label"


def _measured(stats: pd.DataFrame, metric: str) -> bool:
    column = f"{metric}_mean"
    return column in stats and stats[column].notna().any()


def _parameter(group: pd.DataFrame) -> str | None:
    """The strategy parameter its settings vary (else the one it sets), if any."""
    params = [p for p in all_params() if p in group and group[p].nunique() > 1]
    params = params or [p for p in all_params() if p in group and group[p].notna().any()]
    return params[0] if params else None


def panels(points: pd.DataFrame, stats: pd.DataFrame, x: str | None) -> pd.DataFrame:
    """The points with their panel: ``row`` (facet), ``col`` (kind of skew or strategy),
    ``panel`` (both), ``x_name`` and ``x``.

    A kind of skew whose metric the runs did not record (and ``x=parameter``) is drawn
    per strategy against the strategy's parameter.
    """
    out = []
    kinds = points[R.PARTITION].map(skew) if len(points) else pd.Series(dtype=str)
    points = points.assign(skew=kinds)
    several = kinds.nunique() > 1
    order = sorted(kinds.unique(), key=SKEWS.index) if len(kinds) else []
    for kind in order:
        kind_points = points[points["skew"] == kind]
        for facet in sorted(kind_points["facet"].unique(), key=natural):
            frame = kind_points[kind_points["facet"] == facet]
            row = title(stats, facet)
            metric = x or KIND_METRIC.get(kind, R.LABEL_EMD)
            if x != PARAMETER and _measured(frame, metric):
                col = f"{kind} skew" if several else ""
                out.append(frame.assign(row=row, col=col, x_name=metric, x=frame[f"{metric}_mean"]))
                continue
            for strategy, group in frame.groupby(R.PARTITION, sort=False):
                param = _parameter(group)
                if param:
                    col = f"{kind} skew: {strategy}" if several else strategy
                    out.append(group.assign(row=row, col=col, x_name=param, x=group[param]))
    if not out:
        return pd.DataFrame()
    frame = pd.concat(out)
    frame["panel"] = [
        ", ".join(p for p in pair if p) for pair in zip(frame["row"], frame["col"], strict=True)
    ]
    return frame


@register(NAME)
def accuracy_vs_heterogeneity(inputs: Inputs) -> Drawn | Skipped:
    """Accuracy (mean and 95% interval over seeds) against heterogeneity, per setting."""
    runs, series = inputs.runs, inputs.series
    if runs.empty:
        return Skipped("no finished runs")
    stats = setting_stats(runs, inputs.metric, series)
    refs = references(stats)
    federated = stats[~is_centralized(stats)]
    points = panels(federated[federated[R.PARTITION] != "iid"], stats, inputs.x)
    if points.empty:
        return Skipped("no non-IID setting with a measured metric or a parameter to plot")
    iid = federated[federated[R.PARTITION] == "iid"]
    iid_points = []
    keys = ["panel", "row", "col", "facet", "x_name"]
    for (panel, row, col, facet, x_name), _ in (
        points.groupby(keys, sort=False) if len(points) else ()
    ):
        shown = iid[iid["facet"] == facet]
        if len(shown) and f"{x_name}_mean" in shown:  # a metric, not a parameter
            iid_points.append(
                shown.assign(
                    panel=panel,
                    row=row,
                    col=col,
                    x_name=x_name,
                    x=shown[f"{x_name}_mean"],
                    skew="none",
                )
            )
    drawn = pd.concat([points, *iid_points])

    means = pd.concat([drawn["accuracy_mean"], refs["accuracy_mean"]])

    def draw(data: pd.DataFrame, ax) -> None:
        for setting, group in data.groupby(SETTING, sort=False):
            look = series[setting]
            ax.errorbar(
                group["x"],
                group["accuracy_mean"],
                yerr=group["accuracy_ci95"].fillna(0),
                capsize=3,
                markersize=6,
                gid=look.label,
                **look.point(),
            )
        frame = data[data["skew"] != "none"]
        reference_lines(ax, panel_references(refs, frame))
        accuracy_limits(ax, means)  # one y range for every panel: they compare
        x_name = frame["x_name"].iloc[0]
        strategy = frame[R.PARTITION].iloc[0]
        xlabel = f"{strategy}: {x_name}" if x_name in all_params() else x_name
        ax.set_xlabel(METRIC_TITLES.get(x_name, xlabel), fontsize=8)
        xs = frame["x"].dropna()
        if x_name in all_params() and len(xs):  # ticks at the strengths the sweep tried
            if xs.min() > 0 and xs.max() / xs.min() > 5:
                ax.set_xscale("log")
            values = sorted(xs.unique())
            ax.xaxis.set_major_locator(mticker.FixedLocator(values))
            ax.xaxis.set_major_formatter(mticker.FixedFormatter([f"{v:g}" for v in values]))
            ax.xaxis.set_minor_formatter(mticker.NullFormatter())
        ax.set_ylabel(f"{ACCURACY_TITLE[A.ACCURACY[inputs.metric]]}\n(mean, 95% CI)", fontsize=8)

    rows = drawn["row"].nunique() > 1 and drawn["col"].nunique() > 1
    if rows:
        grid = facet_grid(drawn, draw, row="row", col="col", sharey=False)
    else:
        drawn["name"] = drawn["col"].where(drawn["col"] != "", drawn["row"])
        grid = facet_grid(drawn, draw, col="name", sharey=False)
    fig = grid.figure
    legend(fig, [series[s] for s in drawn[SETTING].unique()], reference_handles(refs))
    fig.suptitle(
        f"Accuracy against heterogeneity ({inputs.metric} accuracy; points: mean over seeds)",
        fontsize=10,
        y=1.02,
    )
    data = pd.concat([points, *iid_points, refs.assign(panel="reference", x=np.nan, x_name="")])
    data = kept(data, [*PANEL, "kind", "skew", "x_name", "x", *ACCURACY], runs)
    return Drawn(NAME, fig, data, footer(runs))
