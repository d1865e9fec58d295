"""Regenerate every figure from whatever is in ``results/``.

    python -m analysis.figures --results results      # or: make figures

Reads runs through :func:`analysis.load.load_settings`, partition reports
(``results/partitions``) and pytest-benchmark JSON (``results/benchmarks``), and writes
to ``results/figures``: every PNG with its plotted data as ``<figure>.csv`` beside it and
a footer naming how many runs it shows and the git commits they came from. Intervals are
95% t-intervals of the mean over seeds (none for a single seed). A figure whose inputs
are absent is skipped with a message.

Figures: ``accuracy_vs_heterogeneity`` (``--x``: a measured metric or ``parameter``),
``heterogeneity_predictors`` (accuracy drop relative to IID against every metric, with
Spearman's rho; the rho table as ``heterogeneity_predictors_rho.csv`` and ``.md``),
``convergence``, ``fairness`` (when per-client accuracy is recorded), ``throughput``
(benchmark ratios) and ``labels-<report>`` (per-client label counts).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis import aggregate as A
from analysis.load import SETTING, is_centralized, load_settings, setting_columns
from fedbench import results as R
from fedbench.partitioning import all_params

FIGURES_SUBDIR = "figures"
#: Columns a figure is faceted by when a sweep varies them.
FACETS = (R.DATASET, R.MODEL, R.ALGORITHM, R.NUM_CLIENTS)
PARAMETER = "parameter"
#: Heterogeneity metrics on the x axis of the predictor figure (``dropped_fraction`` is
#: what a partition leaves out, not how it skews labels or sizes).
PREDICTORS = tuple(m for m in R.HETEROGENEITY_METRICS if m != R.DROPPED_FRACTION)
METRIC_TITLES = {
    R.LABEL_EMD: "label_emd (0 = IID, 2 = disjoint)",
    R.LABEL_JSD: "label_jsd (0 = IID, 1 = disjoint)",
    R.LABEL_HELLINGER: "label_hellinger (0 = IID, 1 = disjoint)",
    R.EFFECTIVE_CLASSES: "effective_classes (1 = one class per client)",
    R.SIZE_CV: "size_cv (client size std / mean)",
}
ACCURACY_TITLE = {A.FINAL: "final test accuracy", A.BEST: "best test accuracy over rounds"}


# --- shared helpers ----------------------------------------------------------------------


def interval(std: pd.Series, n: pd.Series) -> pd.Series:
    """Half-width of the 95% t-interval of a mean over ``n`` seeds (NaN for one seed)."""
    n = n.astype(float)
    t = pd.Series(sps.t.ppf(0.975, np.maximum(n - 1, 1)), index=n.index)
    return (t * std / np.sqrt(n)).where(n > 1)


def setting_label(frame: pd.DataFrame) -> pd.Series:
    """A short label per row: the partition and its labelled parameters (``dirichlet (α=0.1)``)."""
    symbols = {p.name: p.label for p in all_params().values() if p.label and p.name in frame}

    def label(row: pd.Series) -> str:
        if row.get(R.NUM_CLIENTS) == 1:
            return "centralized"
        parts = [f"{s}={row[c]:g}" for c, s in symbols.items() if pd.notna(row.get(c))]
        return f"{row[R.PARTITION]}" + (f" ({', '.join(parts)})" if parts else "")

    return frame.apply(label, axis=1) if len(frame) else pd.Series(dtype=str)


def colors(labels: Sequence[str]) -> dict[str, str]:
    """One colour per setting label, the same in every figure: IID black, centralized red."""
    fixed = {"iid": "black", "centralized": "tab:red"}
    palette = [c for c in plt.get_cmap("tab10").colors if c != plt.get_cmap("tab10").colors[3]]
    others = sorted({label for label in labels if label not in fixed})
    return fixed | {label: palette[i % len(palette)] for i, label in enumerate(others)}


def facet_columns(frame: pd.DataFrame) -> list[str]:
    """Those of :data:`FACETS` that vary among the federated runs."""
    federated = frame[~is_centralized(frame)]
    return [c for c in FACETS if c in frame and federated[c].astype(str).nunique() > 1]


def facet_label(row: pd.Series, facets: Sequence[str]) -> str:
    """``dataset=fmnist, model=cnn`` for the varying facet columns ('' when none vary)."""
    return ", ".join(f"{c}={row[c]}" for c in facets)


def title(frame: pd.DataFrame, facet: str) -> str:
    """A panel title: the facet, else the dataset, model and algorithm all runs share."""
    if facet:
        return facet
    federated = frame[~is_centralized(frame)] if R.NUM_CLIENTS in frame else frame
    shared = [
        str(federated[c].iloc[0])
        for c in (R.DATASET, R.MODEL, R.ALGORITHM)
        if c in federated and len(federated) and federated[c].nunique() == 1
    ]
    return ", ".join(shared) or "all runs"


def context_columns(frame: pd.DataFrame) -> list[str]:
    """Setting columns but the partition, its parameters and the client count.

    Runs that agree on these differ only in how the data is split (or pooled): an IID
    run and a centralized run with the same context are the references of a non-IID run.
    """
    left_out = {R.PARTITION, R.NUM_CLIENTS, R.CLIENTS_PER_ROUND, *R.partition_columns()}
    return [c for c in setting_columns(frame) if c not in left_out]


def _context_key(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    return frame[columns].astype(str).agg("|".join, axis=1) if len(frame) else pd.Series(dtype=str)


def footer(runs: pd.DataFrame) -> str:
    """``N runs; commits abc1234, def5678`` for the runs a figure shows (dirty trees marked)."""
    per_run = runs.drop_duplicates([R.RUN_ID, R.ROUNDS]) if R.RUN_ID in runs else runs
    commits = []
    for commit, dirty in (
        per_run[[R.GIT_COMMIT, R.GIT_DIRTY]].drop_duplicates().itertuples(index=False)
        if R.GIT_DIRTY in per_run
        else ((c, False) for c in per_run[R.GIT_COMMIT].drop_duplicates())
    ):
        text = str(commit)[:7] if pd.notna(commit) else "unknown"
        commits.append(text + ("+dirty" if dirty is True else ""))
    commits = sorted(set(commits))
    return f"{len(per_run)} runs; git commits: {', '.join(commits) or 'unknown'}"


def _save(fig: plt.Figure, data: pd.DataFrame, path: Path, note: str) -> Path:
    """Write the PNG with ``note`` as its footer, and ``data`` as ``<figure>.csv`` beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.text(0.01, 0.005, note, fontsize=7, color="0.35", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=130)
    plt.close(fig)
    data.to_csv(path.with_suffix(".csv"), index=False)
    return path


def _grid(count: int, width: float = 5.2, height: float = 4.0, most: int = 3):
    cols = min(count, most)
    rows = -(-count // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows + 0.4), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])


# --- per-setting statistics ----------------------------------------------------------------


def setting_stats(runs: pd.DataFrame, metric: str = "final") -> pd.DataFrame:
    """One row per setting: mean, std, n, 95% half-interval of the accuracy and the metrics.

    Columns: the setting columns, ``label``, ``facet``, ``context``, ``accuracy_mean``,
    ``accuracy_std``, ``accuracy_n``, ``accuracy_ci95``, and ``<metric>_mean`` for every
    heterogeneity metric.
    """
    summaries = A.run_summaries(runs)
    stats = A.over_seeds(summaries)
    column = A.ACCURACY[metric]
    out = stats.rename(columns={f"{column}_{k}": f"accuracy_{k}" for k in ("mean", "std", "n")})
    out["accuracy_ci95"] = interval(out["accuracy_std"], out["accuracy_n"])
    facets = facet_columns(summaries)
    out["label"] = setting_label(out)
    out["facet"] = out.apply(facet_label, axis=1, facets=facets) if len(out) else ""
    out["context"] = _context_key(out, [c for c in context_columns(summaries) if c in out])
    return out


def references(stats: pd.DataFrame) -> pd.DataFrame:
    """IID and centralized settings, one row per context: ``kind``, ``context``, accuracy stats."""
    iid = stats[(stats[R.PARTITION] == "iid") & ~is_centralized(stats)].assign(kind="IID")
    central = stats[is_centralized(stats)].assign(kind="centralized")
    return pd.concat([iid, central])


# --- accuracy against heterogeneity --------------------------------------------------------


def accuracy_vs_heterogeneity(
    runs: pd.DataFrame, out: Path, x: str = R.LABEL_EMD, metric: str = "final"
) -> Path:
    """Accuracy (mean and 95% interval over seeds) against heterogeneity, per setting.

    ``x`` is a heterogeneity metric (its mean over the seeds' partitions) or
    ``parameter``: one panel per strategy against its labelled parameter. Facets:
    dataset, model, algorithm and client count, when they vary. IID (dashed, with its
    interval as a band) and centralized runs (dotted) of the same context are reference
    lines.
    """
    stats = setting_stats(runs, metric)
    refs = references(stats)
    points = stats[(stats[R.PARTITION] != "iid") & ~is_centralized(stats)].copy()
    panels = _panels(points, stats, x)
    color = colors(stats["label"])
    fig, axes = _grid(max(len(panels), 1))
    rows = []
    for ax, (name, frame, xcol, xlabel) in zip(axes, panels, strict=False):
        for label, group in frame.groupby("label", sort=True):
            ax.errorbar(
                group[xcol],
                group["accuracy_mean"],
                yerr=group["accuracy_ci95"].fillna(0),
                fmt="o",
                capsize=3,
                label=label,
                color=color[label],
            )
        if x != PARAMETER:  # IID points sit at their own measured heterogeneity
            iid = stats[(stats[R.PARTITION] == "iid") & ~is_centralized(stats)]
            iid = iid[iid["facet"].isin(frame["facet"].unique())]
            if len(iid):
                ax.errorbar(
                    iid[xcol],
                    iid["accuracy_mean"],
                    yerr=iid["accuracy_ci95"].fillna(0),
                    fmt="s",
                    color="black",
                    capsize=3,
                    label="iid",
                )
        shown = panel_references(refs, frame)
        _reference_lines(ax, shown)
        _accuracy_limits(ax, pd.concat([frame["accuracy_mean"], shown["accuracy_mean"]]))
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel)
        xs = frame[xcol].dropna()
        if x == PARAMETER and len(xs) and xs.min() > 0 and xs.max() / xs.min() > 5:
            ax.set_xscale("log")
        elif x == PARAMETER and len(xs) and (xs == xs.round()).all():
            ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
        ax.set_ylabel(f"{ACCURACY_TITLE[A.ACCURACY[metric]]} (mean, 95% CI)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
        rows.append(frame.assign(panel=name, x=frame[xcol], x_name=xcol))
    if not panels:
        axes[0].text(0.5, 0.5, "no non-IID settings", ha="center", transform=axes[0].transAxes)
    data = pd.concat(rows) if rows else pd.DataFrame()
    data = pd.concat([data, refs.assign(panel="reference", x=np.nan, x_name="")])
    keep = [
        "panel",
        "facet",
        "label",
        "kind",
        "x_name",
        "x",
        "accuracy_mean",
        "accuracy_std",
        "accuracy_n",
        "accuracy_ci95",
        *setting_columns(runs),
    ]
    data = data[[c for c in dict.fromkeys(keep) if c in data]]
    fig.suptitle(
        f"Accuracy against heterogeneity ({metric} accuracy; points: mean over seeds)", fontsize=10
    )
    return _save(fig, data, out / "accuracy_vs_heterogeneity.png", footer(runs))


def panel_references(refs: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The references of a panel: IID settings of its facets, centralized ones of its contexts.

    A centralized run has one client whatever the federation's size, so it is the upper
    bound of every client count of its configuration.
    """
    iid = refs[(refs["kind"] == "IID") & refs["facet"].isin(frame["facet"].unique())]
    central = refs[
        (refs["kind"] == "centralized") & refs["context"].isin(frame["context"].unique())
    ]
    return pd.concat([iid, central])


def _panels(points: pd.DataFrame, stats: pd.DataFrame, x: str):
    """(title, rows, x column, x label) per panel."""
    panels = []
    facets = list(dict.fromkeys(stats.loc[~is_centralized(stats), "facet"])) or [""]
    for facet in facets:
        frame = points[points["facet"] == facet]
        if x != PARAMETER:
            if len(frame) or len(stats[stats["facet"] == facet]):
                panels.append((title(stats, facet), frame, f"{x}_mean", METRIC_TITLES.get(x, x)))
            continue
        for strategy, group in frame.groupby(R.PARTITION, sort=True):
            params = [p for p in all_params() if p in group and group[p].nunique() > 1]
            params = params or [p for p in all_params() if p in group and group[p].notna().any()]
            if not params:
                continue
            name = f"{title(stats, facet)}, {strategy}"
            panels.append((name, group, params[0], f"{strategy}: {params[0]}"))
    return panels


def _accuracy_limits(ax: plt.Axes, means: pd.Series) -> None:
    """Y limits around the means (intervals of two seeds are wide; accuracy stays in [0, 1])."""
    means = means.dropna()
    if means.empty:
        return
    pad = max(0.03, 0.15 * (means.max() - means.min()))
    ax.set_ylim(max(0.0, means.min() - pad), min(1.0, means.max() + pad))


def _reference_lines(ax: plt.Axes, refs: pd.DataFrame) -> None:
    styles = {"IID": ("--", "0.2"), "centralized": (":", "tab:red")}
    for _, ref in refs.iterrows():
        style, color = styles[ref["kind"]]
        ax.axhline(
            ref["accuracy_mean"],
            ls=style,
            color=color,
            lw=1,
            label=f"{ref['kind']} ({100 * ref['accuracy_mean']:.1f}%)",
        )
        if pd.notna(ref["accuracy_ci95"]):
            ax.axhspan(
                ref["accuracy_mean"] - ref["accuracy_ci95"],
                ref["accuracy_mean"] + ref["accuracy_ci95"],
                color=color,
                alpha=0.1,
            )


# --- which metric predicts the drop --------------------------------------------------------


def accuracy_drops(runs: pd.DataFrame, metric: str = "final") -> pd.DataFrame:
    """Every non-IID federated run's accuracy drop below the IID mean of its context.

    ``drop = mean accuracy of the IID setting with the same context - the run's accuracy``
    (positive: non-IID hurts). Runs without an IID setting in their context are left out.
    """
    summaries = A.run_summaries(runs)
    column = A.ACCURACY[metric]
    context = [c for c in context_columns(summaries) if c in summaries]
    summaries["context"] = _context_key(summaries, context)
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
    others["label"] = setting_label(others)
    return others


def predictor_table(drops: pd.DataFrame) -> pd.DataFrame:
    """Spearman's rho of the drop against every heterogeneity metric, strongest first.

    Columns ``metric``, ``spearman_rho``, ``p_value``, ``runs``; a metric constant over
    the runs gets a null rho. Sorted by ``|rho|`` (nulls last).
    """
    rows = []
    for metric in PREDICTORS:
        if metric not in drops:
            continue
        pair = drops[[metric, "drop"]].dropna()
        rho, p = (np.nan, np.nan)
        if len(pair) >= 3 and pair[metric].nunique() > 1 and pair["drop"].nunique() > 1:
            result = sps.spearmanr(pair[metric], pair["drop"])
            rho, p = float(result.statistic), float(result.pvalue)
        rows.append({"metric": metric, "spearman_rho": rho, "p_value": p, "runs": len(pair)})
    table = pd.DataFrame(rows, columns=["metric", "spearman_rho", "p_value", "runs"])
    order = table["spearman_rho"].abs().fillna(-1).sort_values(ascending=False, kind="stable")
    return table.loc[order.index].reset_index(drop=True)


def heterogeneity_predictors(runs: pd.DataFrame, out: Path, metric: str = "final") -> Path | None:
    """Accuracy drop relative to IID against each metric, one panel each, rho in its title.

    Writes the points (``heterogeneity_predictors.csv``) and the rho table
    (``heterogeneity_predictors_rho.csv`` and ``.md``).
    """
    drops = accuracy_drops(runs, metric)
    if drops.empty:
        return None
    table = predictor_table(drops)
    color = colors(setting_label(runs.drop_duplicates(SETTING)))
    fig, axes = _grid(len(table), width=4.2, height=3.5)
    for ax, row in zip(axes, table.itertuples(index=False), strict=True):
        for label, group in drops.groupby("label", sort=True):
            ax.scatter(group[row.metric], group["drop"], s=25, label=label, color=color[label])
        rho = "n/a (constant)" if pd.isna(row.spearman_rho) else f"{row.spearman_rho:+.2f}"
        ax.set_title(f"{row.metric}: Spearman ρ = {rho}", fontsize=9)
        ax.set_xlabel(METRIC_TITLES.get(row.metric, row.metric), fontsize=8)
        ax.set_ylabel("accuracy drop vs IID", fontsize=8)
        ax.axhline(0, color="0.6", lw=0.8)
    axes[0].legend(fontsize=6, loc="best")
    fig.suptitle(
        f"Which heterogeneity metric predicts the {metric} accuracy drop? (one point per run)",
        fontsize=10,
    )
    keep = [
        R.RUN_ID,
        R.SEED,
        "label",
        "accuracy",
        "iid_accuracy",
        "drop",
        *PREDICTORS,
        *setting_columns(drops),
    ]
    path = _save(
        fig,
        drops[[c for c in dict.fromkeys(keep) if c in drops]],
        out / "heterogeneity_predictors.png",
        footer(runs[~is_centralized(runs)]),
    )
    table.to_csv(out / "heterogeneity_predictors_rho.csv", index=False)
    (out / "heterogeneity_predictors_rho.md").write_text(predictor_markdown(table))
    return path


def predictor_markdown(table: pd.DataFrame) -> str:
    """The rho table as Markdown."""
    lines = ["| metric | Spearman ρ | p-value | runs |", "|---|---|---|---|"]
    for row in table.itertuples(index=False):
        rho = "–" if pd.isna(row.spearman_rho) else f"{row.spearman_rho:+.3f}"
        p = "–" if pd.isna(row.p_value) else f"{row.p_value:.3g}"
        lines.append(f"| {row.metric} | {rho} | {p} | {row.runs} |")
    return "\n".join(lines) + "\n"


# --- convergence and fairness --------------------------------------------------------------


def convergence(runs: pd.DataFrame, out: Path) -> Path:
    """Test accuracy per round: mean over seeds with its 95% interval as a band, per setting."""
    done = A.evaluated(runs).assign(label=setting_label)
    facets = facet_columns(runs)
    done["facet"] = done.apply(facet_label, axis=1, facets=facets) if len(done) else ""
    keys = ["facet", "label", SETTING, R.ROUND]
    per_round = done.groupby(keys, sort=True)[R.TEST_ACCURACY].agg(["mean", "std", "count"])
    per_round = per_round.reset_index().rename(columns={"count": "n"})
    per_round["ci95"] = interval(per_round["std"], per_round["n"])
    facet_names = list(dict.fromkeys(per_round["facet"]))
    fig, axes = _grid(len(facet_names), width=6.0, height=4.2)
    for ax, facet in zip(axes, facet_names, strict=True):
        frame = per_round[per_round["facet"] == facet]
        color = colors(per_round["label"])
        settings = frame.groupby([SETTING], sort=False)
        for (_,), group in settings:
            label = group["label"].iloc[0]
            style = ":" if label == "centralized" else "-"
            (line,) = ax.plot(group[R.ROUND], group["mean"], style, label=label, color=color[label])
            band = group["ci95"].fillna(0)
            low, high = (group["mean"] - band).clip(0, 1), (group["mean"] + band).clip(0, 1)
            ax.fill_between(group[R.ROUND], low, high, color=line.get_color(), alpha=0.15)
        ax.set_ylim(0, 1)
        ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
        ax.set_title(title(runs, facet), fontsize=9)
        ax.set_xlabel("round")
        ax.set_ylabel("test accuracy (mean; band: 95% CI over seeds)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle("Convergence", fontsize=10)
    return _save(fig, per_round, out / "convergence.png", footer(runs))


def fairness(runs: pd.DataFrame, out: Path) -> Path | None:
    """Mean against 10th-percentile per-client accuracy at the last round, per setting."""
    done = A.evaluated(runs)
    done = done[done[R.CLIENT_ACCURACY_P10].notna() & done[R.CLIENT_ACCURACY_MEAN].notna()]
    if done.empty:
        return None
    last = done[done[R.ROUND] == done.groupby([R.RUN_ID, R.ROUNDS])[R.ROUND].transform("max")]
    last = last.assign(label=setting_label)
    grouped = last.groupby([SETTING, "label"], sort=True)
    data = grouped[[R.CLIENT_ACCURACY_MEAN, R.CLIENT_ACCURACY_P10]].agg(["mean", "std", "count"])
    data.columns = [f"{c}_{s}" for c, s in data.columns]
    data = data.reset_index()
    fig, ax = plt.subplots(figsize=(6.2, 5.0))
    for row in data.itertuples(index=False):
        row = row._asdict()
        n = pd.Series([row[f"{R.CLIENT_ACCURACY_MEAN}_count"]])
        xerr = interval(pd.Series([row[f"{R.CLIENT_ACCURACY_MEAN}_std"]]), n).fillna(0)[0]
        yerr = interval(pd.Series([row[f"{R.CLIENT_ACCURACY_P10}_std"]]), n).fillna(0)[0]
        ax.errorbar(
            row[f"{R.CLIENT_ACCURACY_MEAN}_mean"],
            row[f"{R.CLIENT_ACCURACY_P10}_mean"],
            xerr=xerr,
            yerr=yerr,
            fmt="o",
            capsize=3,
            label=row["label"],
        )
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--", label="p10 = mean (every client alike)")
    ax.set_xlabel("mean per-client accuracy")
    ax.set_ylabel("10th-percentile per-client accuracy")
    ax.set_title("Whom does the global model fail? (mean, 95% CI over seeds)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    return _save(fig, data, out / "fairness.png", footer(last))


# --- throughput from make bench ------------------------------------------------------------

#: Ways of doing a benchmark's work that are fedbench's own (the numerator of a ratio).
FEDBENCH_WAYS = ("fedbench", "TFF")


def benchmark_frame(files: Sequence[Path]) -> pd.DataFrame:
    """The newest pytest-benchmark JSON, one row per case.

    Columns ``group``, ``name``, ``way`` (``extra_info["case"]``, else the ``library``
    parameter, else the test function's name), ``baseline`` (``extra_info["baseline"]``),
    ``median_ms``, ``file`` and ``commit`` (the JSON's ``commit_info``).
    """
    if not files:
        return pd.DataFrame()
    newest = max(files, key=lambda p: p.stat().st_mtime)
    document = json.loads(newest.read_text())
    commit = (document.get("commit_info") or {}).get("id") or "unknown"
    dirty = (document.get("commit_info") or {}).get("dirty")
    rows = []
    for case in document.get("benchmarks", []):
        extra = case.get("extra_info") or {}
        params = case.get("params") or {}
        rows.append(
            {
                "group": case.get("group") or case["name"],
                "name": case["name"],
                "way": extra.get("case")
                or params.get("library")
                or case["name"].split("[")[0].removeprefix("test_"),
                "baseline": bool(extra.get("baseline", False)),
                "median_ms": case["stats"]["median"] * 1e3,
                "file": newest.name,
                "commit": str(commit)[:7] + ("+dirty" if dirty else ""),
            }
        )
    return pd.DataFrame(rows)


def benchmark_ratios(bench: pd.DataFrame) -> pd.DataFrame:
    """Each way's median time over its group's baseline, for groups with two or more ways.

    A pytest-benchmark *group* is one case done in several *ways* (cases differing in
    ``extra_info["case"]`` or the ``library`` parameter). The baseline of a group is
    the case with ``extra_info["baseline"] = True``; else the way that is not fedbench's
    own (:data:`FEDBENCH_WAYS`), when there is exactly one; else the fastest. A ratio
    above 1 means slower than the baseline. ``comparison`` names the ways compared
    (``TFF vs plain Keras``), one panel each.
    """
    if bench.empty:
        return bench
    out = []
    for group, frame in bench.groupby("group", sort=True):
        frame = frame.groupby("way", as_index=False).agg(
            median_ms=("median_ms", "median"),
            baseline=("baseline", "any"),
            file=("file", "first"),
            commit=("commit", "first"),
        )
        if len(frame) < 2:
            continue
        if frame["baseline"].any():
            base = frame[frame["baseline"]].iloc[0]
        elif (~frame["way"].isin(FEDBENCH_WAYS)).sum() == 1 and frame["way"].isin(
            FEDBENCH_WAYS
        ).any():
            base = frame[~frame["way"].isin(FEDBENCH_WAYS)].iloc[0]
        else:
            base = frame.loc[frame["median_ms"].idxmin()]
        others = frame[frame["way"] != base["way"]]
        comparison = f"{' / '.join(sorted(others['way']))} vs {base['way']}"
        out.append(
            others.assign(
                group=group,
                baseline_way=base["way"],
                baseline_ms=base["median_ms"],
                ratio=others["median_ms"] / base["median_ms"],
                comparison=comparison,
            )
        )
    if not out:
        return pd.DataFrame()
    ratios = pd.concat(out, ignore_index=True)
    # The case label: the group name without the prefix every group of its comparison shares.
    prefix = ratios.groupby("comparison")["group"].transform(_common_prefix)
    ratios["case"] = [
        g.removeprefix(p).strip(" ,-") or g for g, p in zip(ratios["group"], prefix, strict=True)
    ]
    ratios["shared"] = prefix.str.strip(" ,-")
    return ratios[
        [
            "comparison",
            "shared",
            "case",
            "group",
            "way",
            "baseline_way",
            "median_ms",
            "baseline_ms",
            "ratio",
            "file",
            "commit",
        ]
    ]


_RATIO_TICKS = (0.001, 0.01, 0.1, 0.25, 0.5, 1, 2, 4, 10, 100, 1000)


def _natural(text: str) -> tuple:
    """Sort key reading digit runs as numbers ('10 clients' < '100 clients')."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def _common_prefix(groups: Sequence[str]) -> str:
    """The longest common prefix of the group names, cut after a separator (space , -)."""
    names = list(dict.fromkeys(groups))
    if len(names) < 2:
        return ""
    prefix = ""
    for chars in zip(*names, strict=False):
        if len(set(chars)) > 1:
            break
        prefix += chars[0]
    cut = max(prefix.rfind(sep) for sep in (" ", ",", "-"))
    return prefix[: cut + 1] if cut >= 0 else ""


def throughput(benchmarks: Sequence[Path], out: Path) -> Path | None:
    """Benchmark ratios side by side: one panel per comparison, one bar per case (log scale)."""
    ratios = benchmark_ratios(benchmark_frame(benchmarks))
    if ratios.empty:
        return None
    comparisons = list(dict.fromkeys(ratios["comparison"]))
    most = max(ratios[ratios["comparison"] == c]["case"].nunique() for c in comparisons)
    fig, axes = _grid(len(comparisons), width=6.2, height=max(2.0, 0.35 * most + 1.3), most=2)
    span = float(np.abs(np.log10(ratios["ratio"])).max()) * 1.35 + 0.15
    for ax, comparison in zip(axes, comparisons, strict=True):
        frame = ratios[ratios["comparison"] == comparison]
        frame = frame.sort_values("case", key=lambda c: c.map(_natural), kind="stable")
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
        shown = (
            _RATIO_TICKS if span < 1.5 else tuple(t for t in _RATIO_TICKS if np.log10(t) % 1 == 0)
        )
        ticks = [t for t in shown if 10**-span <= t <= 10**span]
        ax.xaxis.set_major_locator(mticker.FixedLocator(ticks))
        ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.xaxis.set_minor_formatter(mticker.NullFormatter())
        ax.tick_params(axis="x", labelsize=7)
        base = frame["baseline_way"].iloc[0]
        ax.set_xlabel(f"median time / {base}'s (log; > 1: slower than {base})", fontsize=8)
        shared = frame["shared"].iloc[0]
        title = f"{comparison}: {shared}" if shared else comparison
        ax.set_title(textwrap.fill(title, 60), fontsize=9)
        if len(ways) > 1:
            ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"Throughput ratios, same benchmark run ({ratios['file'].iloc[0]})", fontsize=10)
    source, commit = ratios["file"].iloc[0], ratios["commit"].iloc[0]
    note = f"{len(ratios)} ratios from {source}; git commit: {commit}"
    return _save(fig, ratios, out / "throughput.png", note)


# --- partition reports ------------------------------------------------------------------------


def label_distributions(reports: list[Path], out: Path) -> list[Path]:
    """Per-client label counts of each partition report, as stacked bars (up to 50 clients)."""
    written = []
    for path in sorted(reports):
        table = pd.read_parquet(path)
        counts = table.filter(like="count_").head(50)
        counts.index = table["client_id"].head(50)
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
        shown = f" (first 50 of {len(table)} clients)" if len(table) > 50 else ""
        ax.set_title(f"{path.stem}: labels per client{shown}", fontsize=9)
        ax.set_xlabel("client")
        ax.set_ylabel("examples")
        ax.tick_params(axis="x", labelsize=6)
        note = f"partition report {path.name}: {len(table)} clients"
        written.append(_save(fig, counts.reset_index(), out / f"labels-{path.stem}.png", note))
    return written


# --- all figures ------------------------------------------------------------------------------


def make_all(results_dir: Path, x: str = R.LABEL_EMD, metric: str = "final") -> list[Path]:
    """Write every figure whose inputs exist under ``results_dir``; return their paths."""
    out = results_dir / FIGURES_SUBDIR
    runs = load_settings(results_dir)
    written: list[Path] = []
    if runs.empty:
        print(f"figures: no finished runs under {R.runs_dir(results_dir)}; skipping run figures")
    else:
        written += [accuracy_vs_heterogeneity(runs, out, x, metric)]
        predictors = heterogeneity_predictors(runs, out, metric)
        if predictors is None:
            print(
                "figures: no non-IID run has an IID run of the same setting; "
                "skipping heterogeneity_predictors"
            )
        else:
            written.append(predictors)
            print((out / "heterogeneity_predictors_rho.md").read_text(), end="")
        written.append(convergence(runs, out))
        fair = fairness(runs, out)
        if fair is None:
            print(
                "figures: no run recorded per-client accuracy (fl.client_holdout > 0); "
                "skipping fairness"
            )
        else:
            written.append(fair)
    tp = throughput(sorted((results_dir / "benchmarks").glob("*.json")), out)
    if tp is None:
        print(
            "figures: no benchmark comparisons under results/benchmarks (make bench); "
            "skipping throughput"
        )
    else:
        written.append(tp)
    written += label_distributions(sorted((results_dir / "partitions").glob("*.parquet")), out)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m analysis.figures [--results DIR] [--x METRIC] [--metric M]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"), help="results folder")
    choices = [*PREDICTORS, PARAMETER]
    parser.add_argument(
        "--x",
        default=R.LABEL_EMD,
        help=f"x axis of accuracy_vs_heterogeneity: one of {choices} (default label_emd)",
    )
    parser.add_argument(
        "--metric",
        default="final",
        help="final (last evaluated round) or best (highest over rounds) accuracy",
    )
    args = parser.parse_args(argv)
    if not args.results.is_dir():
        print(f"figures: error: --results={args.results} is not a folder", file=sys.stderr)
        return 2
    if args.x not in choices:
        print(
            f"figures: error: --x={args.x!r} is invalid: allowed is one of {choices}; pick one",
            file=sys.stderr,
        )
        return 2
    if args.metric not in A.ACCURACY:
        print(
            f"figures: error: --metric={args.metric!r} is invalid: "
            f"allowed is one of {list(A.ACCURACY)}; pick one",
            file=sys.stderr,
        )
        return 2
    for path in make_all(args.results, args.x, args.metric):
        print(f"figure: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
