"""``fedprox_systems``: the FedProx paper's synthetic grid (``sweeps/fedprox_systems.yaml``).

Li et al. (MLSys 2020) plot, for Synthetic-IID, Synthetic(0,0), (0.5,0.5) and (1,1)
(columns) at 0%, 50% and 90% stragglers (rows), FedAvg dropping the stragglers and
FedProx with mu = 0 and mu = 1 keeping their partial work, per round. Two figures, one
per measure: ``fedprox_systems_train_loss`` and ``fedprox_systems_test_accuracy``; each
line is the mean over seeds. The runs shown are the ``synthetic`` dataset's ``fedavg``
and ``fedprox`` runs; a run's heterogeneity is read from its configuration (its
dataset's ``alpha`` and ``beta``, or ``IID`` for a pooled split).
"""

from __future__ import annotations

import json

import matplotlib.ticker as mticker
import pandas as pd
from matplotlib.lines import Line2D

from analysis.figures.panels import facet_grid
from analysis.figures.registry import Drawn, Inputs, Skipped, register
from analysis.figures.stats import footer
from fedbench import results as R

NAME = "fedprox_systems"
HETEROGENEITY, METHOD, STRAGGLERS = "heterogeneity", "method", "stragglers"
#: The three methods of the paper and their colours (others are drawn grey).
METHODS = {"FedAvg (drop)": "#1f77b4", "FedProx mu=0": "#ff7f0e", "FedProx mu=1": "#2ca02c"}
#: The measures drawn, one figure each, and their axis labels.
MEASURES = {R.TRAIN_LOSS: "training loss", R.TEST_ACCURACY: "test accuracy"}


def heterogeneity(config_json: str) -> str:
    """``IID`` for a pooled split, ``Synthetic(a,b)`` for writers as clients (a run's config)."""
    config = json.loads(config_json)
    if config["partition"]["name"] != "natural":
        return "IID" if config["partition"]["name"] == "iid" else config["partition"]["name"]
    data = config["dataset"]
    return f"Synthetic({data['alpha']:g},{data['beta']:g})"


def method(row: pd.Series) -> str:
    """The paper's name of a run's method: FedAvg dropping stragglers, FedProx with its mu."""
    work = row[R.STRAGGLER_WORK] if pd.notna(row[R.STRAGGLER_WORK]) else "drop"
    if row[R.ALGORITHM] == "fedavg" and work == "drop":
        return "FedAvg (drop)"
    if row[R.ALGORITHM] == "fedprox" and work == "partial":
        return f"FedProx mu={row['mu']:g}"
    mu = f" mu={row['mu']:g}" if pd.notna(row.get("mu")) else ""
    return f"{row[R.ALGORITHM]}{mu} ({work})"


def study(runs: pd.DataFrame) -> pd.DataFrame:
    """Rows of the study's runs with its three keys: heterogeneity, method and stragglers."""
    rows = runs[(runs[R.DATASET] == "synthetic") & runs[R.ALGORITHM].isin(["fedavg", "fedprox"])]
    if rows.empty:
        return rows
    rows = rows.copy()
    if "mu" not in rows:
        rows["mu"] = float("nan")
    for column in (R.STRAGGLERS, R.STRAGGLER_WORK):
        if column not in rows:
            rows[column] = None
    rows[HETEROGENEITY] = rows[R.CONFIG_JSON].map(heterogeneity)
    per_run = rows.drop_duplicates(R.RUN_ID).set_index(R.RUN_ID)
    rows[METHOD] = rows[R.RUN_ID].map(per_run.apply(method, axis=1))
    rows[STRAGGLERS] = rows[R.STRAGGLERS].fillna(0.0).astype(float)
    return rows


def heterogeneity_order(label: str) -> tuple:
    """IID first, then Synthetic(a,b) by a."""
    if label == "IID":
        return (0, 0.0)
    if label.startswith("Synthetic("):
        return (1, float(label[len("Synthetic(") :].split(",")[0]))
    return (2, label)


def per_round(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean and count over seeds of ``column`` per heterogeneity, stragglers, method and round."""
    keys = [HETEROGENEITY, STRAGGLERS, METHOD, R.ROUND]
    kept = rows[rows[column].notna()]
    out = kept.groupby(keys, sort=True)[column].agg(["mean", "count"]).reset_index()
    return out.rename(columns={"count": "n"}).assign(measure=column)


@register(NAME)
def fedprox_systems(inputs: Inputs) -> list[Drawn] | Skipped:
    """Training loss and test accuracy per round in the paper's grid, one figure each."""
    runs = inputs.runs
    rows = study(runs) if not runs.empty else runs
    if rows.empty:
        return Skipped("no synthetic FedAvg or FedProx runs (sweeps/fedprox_systems.yaml)")
    figures = []
    for column, label in MEASURES.items():
        data = per_round(rows, column)
        if data.empty:
            continue
        data["row"] = data[STRAGGLERS].map(lambda s: f"{s:.0%} stragglers")
        data["col"] = data[HETEROGENEITY]
        data = data.sort_values(
            [STRAGGLERS, HETEROGENEITY, METHOD, R.ROUND],
            key=lambda s: s.map(heterogeneity_order) if s.name == HETEROGENEITY else s,
        )

        def draw(data: pd.DataFrame, ax, label: str = label) -> None:
            for name, line in data.groupby(METHOD, sort=True):
                ax.plot(line[R.ROUND], line["mean"], lw=1.4, color=METHODS.get(name, "0.5"))
            ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
            ax.set_xlabel("round")
            ax.set_ylabel(f"{label} (mean over seeds)", fontsize=8)

        grid = facet_grid(data, draw, row="row", col="col", sharex=True, height=2.6)
        methods = sorted(data[METHOD].unique())
        handles = [Line2D([], [], color=METHODS.get(m, "0.5"), lw=1.4) for m in methods]
        grid.figure.legend(
            handles,
            methods,
            loc="upper center",
            ncol=len(methods),
            fontsize=8,
            bbox_to_anchor=(0.5, 1.04),
            frameon=False,
        )
        grid.figure.suptitle(f"FedProx systems heterogeneity: {label}", fontsize=10, y=1.08)
        columns = [HETEROGENEITY, STRAGGLERS, METHOD, R.ROUND, "measure", "mean", "n"]
        figures.append(Drawn(f"{NAME}_{column}", grid.figure, data[columns], footer(rows)))
    return figures or Skipped("the study's runs hold no evaluated round")
