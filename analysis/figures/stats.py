"""Per-setting statistics the figures plot: means over seeds, 95% intervals, references.

Intervals are 95% t-intervals of the mean over seeds (none for a single seed). A
figure's *facets* are the columns of :data:`FACETS` that vary among the federated runs;
a setting's *context* is its configuration but the partition, so that an IID run and a
centralized run with the same context are the references of a non-IID run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis import aggregate as A
from analysis.figures.looks import Series, assign, labels
from analysis.load import SETTING, is_centralized, setting_columns
from fedbench import results as R

#: Columns a figure is faceted by when a sweep varies them.
FACETS = (R.DATASET, R.MODEL, R.ALGORITHM, R.NUM_CLIENTS)
ACCURACY_TITLE = {A.FINAL: "final test accuracy", A.BEST: "best test accuracy over rounds"}


def interval(std: pd.Series, n: pd.Series) -> pd.Series:
    """Half-width of the 95% t-interval of a mean over ``n`` seeds (NaN for one seed)."""
    n = n.astype(float)
    t = pd.Series(sps.t.ppf(0.975, np.maximum(n - 1, 1)), index=n.index)
    return (t * std / np.sqrt(n)).where(n > 1)


def natural(text: str) -> tuple:
    """Sort key reading digit runs as numbers ('10 clients' < '100 clients')."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def facet_columns(frame: pd.DataFrame, facets: Sequence[str] = FACETS) -> list[str]:
    """Those of ``facets`` that vary among the federated runs."""
    federated = frame[~is_centralized(frame)]
    return [c for c in facets if c in frame and federated[c].astype(str).nunique() > 1]


def facet_label(frame: pd.DataFrame, facets: Sequence[str]) -> pd.Series:
    """``dataset=fmnist, model=cnn`` per row for the facet columns ('' when none)."""
    if not len(frame):
        return pd.Series(dtype=str)
    if not facets:
        return pd.Series("", index=frame.index)
    return frame[list(facets)].apply(lambda row: ", ".join(f"{c}={row[c]}" for c in facets), axis=1)


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
    """Setting columns but the partition, its parameters and the client count."""
    left_out = {R.PARTITION, R.NUM_CLIENTS, R.CLIENTS_PER_ROUND, *R.partition_columns()}
    return [c for c in setting_columns(frame) if c not in left_out]


def context_key(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One string per row joining ``columns`` (rows with equal keys share a context)."""
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


def kept(frame: pd.DataFrame, first: list[str], runs: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s columns ``first`` then the setting columns of ``runs``, those present."""
    return frame[[c for c in dict.fromkeys([*first, *setting_columns(runs)]) if c in frame]]


def setting_stats(
    runs: pd.DataFrame, metric: str = "final", series: dict[str, Series] | None = None
) -> pd.DataFrame:
    """One row per setting: mean, std, n, 95% half-interval of the accuracy and the metrics.

    Columns: the setting columns, ``label``, ``facet``, ``context``, ``accuracy_mean``,
    ``accuracy_std``, ``accuracy_n``, ``accuracy_ci95``, and ``<metric>_mean`` for every
    heterogeneity metric.
    """
    series = series if series is not None else assign(runs)
    summaries = A.run_summaries(runs)
    stats = A.over_seeds(summaries)
    column = A.ACCURACY[metric]
    out = stats.rename(columns={f"{column}_{k}": f"accuracy_{k}" for k in ("mean", "std", "n")})
    out["accuracy_ci95"] = interval(out["accuracy_std"], out["accuracy_n"])
    out["label"] = labels(out, series)
    out["facet"] = facet_label(out, facet_columns(summaries))
    out["context"] = context_key(out, [c for c in context_columns(summaries) if c in out])
    return out


def references(stats: pd.DataFrame) -> pd.DataFrame:
    """IID and centralized settings, one row per context: ``kind``, ``context``, accuracy stats."""
    iid = stats[(stats[R.PARTITION] == "iid") & ~is_centralized(stats)].assign(kind="IID")
    central = stats[is_centralized(stats)].assign(kind="centralized")
    return pd.concat([iid, central])


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


def per_round(runs: pd.DataFrame, series: dict[str, Series], column: str) -> pd.DataFrame:
    """Mean, std, n and 95% half-interval of ``column`` over seeds, per setting and round."""
    done = A.evaluated(runs)
    keys = [SETTING, R.ROUND]
    out = done.groupby(keys, sort=True)[column].agg(["mean", "std", "count"]).reset_index()
    out = out.rename(columns={"count": "n"})
    out["ci95"] = interval(out["std"], out["n"])
    firsts = done.drop_duplicates(SETTING).set_index(SETTING)
    for name in setting_columns(done):
        out[name] = out[SETTING].map(firsts[name])
    out["label"] = labels(out, series)
    return out
