"""``heterogeneity_predictors``: which heterogeneity metric predicts the accuracy drop?

Every non-IID run's drop below the IID mean of its context against each metric the
runs recorded (:data:`fedbench.results.HETEROGENEITY_METRICS`, so a metric fedbench adds
is drawn with no edit here), Spearman's rho in each panel's title. The rho table is
written beside the figure as ``heterogeneity_predictors_rho.csv`` and ``.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis import aggregate as A
from analysis.figures.accuracy_vs_heterogeneity import METRIC_TITLES
from analysis.figures.looks import assign, labels, legend
from analysis.figures.panels import facet_grid
from analysis.figures.registry import Drawn, Inputs, Skipped, register
from analysis.figures.stats import context_columns, context_key, footer, kept
from analysis.load import SETTING, is_centralized
from fedbench import results as R

NAME = "heterogeneity_predictors"
#: Metrics that are not how a partition skews labels, sizes or features.
NOT_PREDICTORS = frozenset({R.DROPPED_FRACTION})


def predictors(frame: pd.DataFrame) -> list[str]:
    """fedbench's heterogeneity metrics that ``frame`` holds values of, in fedbench's order."""
    return [
        m
        for m in R.HETEROGENEITY_METRICS
        if m not in NOT_PREDICTORS and m in frame and frame[m].notna().any()
    ]


def accuracy_drops(runs: pd.DataFrame, metric: str = "final", series=None) -> pd.DataFrame:
    """Every non-IID federated run's accuracy drop below the IID mean of its context.

    ``drop = mean accuracy of the IID setting with the same context - the run's accuracy``
    (positive: non-IID hurts). Runs without an IID setting in their context are left out.
    """
    series = series if series is not None else assign(runs)
    summaries = A.run_summaries(runs)
    column = A.ACCURACY[metric]
    context = [c for c in context_columns(summaries) if c in summaries]
    summaries["context"] = context_key(summaries, context)
    federated = summaries[~is_centralized(summaries)]
    iid = federated[federated[R.PARTITION] == "iid"]
    # Several IID settings in one context differ in client count: match on it too.
    iid_mean = iid.groupby(["context", R.NUM_CLIENTS])[column].mean().rename("iid_accuracy")
    others = federated[federated[R.PARTITION] != "iid"].join(
        iid_mean, on=["context", R.NUM_CLIENTS]
    )
    others = others[others["iid_accuracy"].notna()].copy()
    others["accuracy"] = others[column]
    others["drop"] = others["iid_accuracy"] - others["accuracy"]
    others["label"] = labels(others, series)
    return others


def predictor_table(drops: pd.DataFrame) -> pd.DataFrame:
    """Spearman's rho of the drop against every heterogeneity metric, strongest first.

    Columns ``metric``, ``spearman_rho``, ``p_value``, ``runs``; a metric constant over
    the runs gets a null rho. Sorted by ``|rho|`` (nulls last).
    """
    rows = []
    for metric in predictors(drops):
        pair = drops[[metric, "drop"]].dropna()
        rho, p = (np.nan, np.nan)
        if len(pair) >= 3 and pair[metric].nunique() > 1 and pair["drop"].nunique() > 1:
            result = sps.spearmanr(pair[metric], pair["drop"])
            rho, p = float(result.statistic), float(result.pvalue)
        rows.append({"metric": metric, "spearman_rho": rho, "p_value": p, "runs": len(pair)})
    table = pd.DataFrame(rows, columns=["metric", "spearman_rho", "p_value", "runs"])
    order = table["spearman_rho"].abs().fillna(-1).sort_values(ascending=False, kind="stable")
    return table.loc[order.index].reset_index(drop=True)


def predictor_markdown(table: pd.DataFrame) -> str:
    """The rho table as Markdown."""
    lines = ["| metric | Spearman ρ | p-value | runs |", "|---|---|---|---|"]
    for row in table.itertuples(index=False):
        rho = "–" if pd.isna(row.spearman_rho) else f"{row.spearman_rho:+.3f}"
        p = "–" if pd.isna(row.p_value) else f"{row.p_value:.3g}"
        lines.append(f"| {row.metric} | {rho} | {p} | {row.runs} |")
    return "\n".join(lines) + "\n"


@register(NAME)
def heterogeneity_predictors(inputs: Inputs) -> Drawn | Skipped:
    """Accuracy drop relative to IID against each metric, one panel each, rho in its title."""
    runs, series = inputs.runs, inputs.series
    if runs.empty:
        return Skipped("no finished runs")
    drops = accuracy_drops(runs, inputs.metric, series)
    if drops.empty:
        return Skipped("no non-IID run has an IID run of the same setting")
    table = predictor_table(drops)
    rho = dict(zip(table["metric"], table["spearman_rho"], strict=True))
    long = drops.melt(
        id_vars=[SETTING, "drop"], value_vars=list(table["metric"]), var_name="metric"
    )
    long["panel"] = long["metric"].map(
        lambda m: (
            f"{m}: Spearman ρ = " + ("n/a (constant)" if pd.isna(rho[m]) else f"{rho[m]:+.2f}")
        )
    )

    def draw(data: pd.DataFrame, ax) -> None:
        for setting, group in data.groupby(SETTING, sort=False):
            look = series[setting]
            ax.plot(group["value"], group["drop"], markersize=5, gid=look.label, **look.point())
        metric = data["metric"].iloc[0]
        ax.set_xlabel(METRIC_TITLES.get(metric, metric), fontsize=8)
        ax.set_ylabel("accuracy drop vs IID", fontsize=8)
        ax.axhline(0, color="0.6", lw=0.8)

    grid = facet_grid(long, draw, col="panel", height=3.0, aspect=1.2)
    fig = grid.figure
    legend(fig, [series[s] for s in drops[SETTING].unique()])
    fig.suptitle(
        f"Which heterogeneity metric predicts the {inputs.metric} accuracy drop? "
        "(one point per run)",
        fontsize=10,
        y=1.02,
    )
    first = [R.RUN_ID, R.SEED, "label", "accuracy", "iid_accuracy", "drop", *predictors(drops)]
    markdown = predictor_markdown(table)
    return Drawn(
        NAME,
        fig,
        kept(drops, first, runs),
        footer(runs[~is_centralized(runs)]),
        files={f"{NAME}_rho.csv": table.to_csv(index=False), f"{NAME}_rho.md": markdown},
        message=markdown,
    )
