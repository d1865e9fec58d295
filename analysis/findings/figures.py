"""The findings page's own figures: drops as a heatmap, predictors, natural against matched.

Each function returns a :class:`matplotlib.figure.Figure`; :func:`save` writes it as PNG
with the same settings every time, so an unchanged results folder rewrites the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from analysis.findings.claims import fixed
from analysis.findings.drops import SKEW, algorithm_order
from fedbench import results as R

DPI = 110


def _cell(mean: float, ci: float, scale: float, digits: int) -> str:
    text = fixed(mean, digits, scale)
    return text if pd.isna(ci) else f"{text}\n± {fixed(ci, digits, scale)}"


def drop_heatmap(table: pd.DataFrame, title: str) -> plt.Figure:
    """Skews (rows, grouped by kind) x algorithms (columns): mean drop in points ± 95% interval."""
    skews = list(dict.fromkeys(table[SKEW]))
    algorithms = algorithm_order(table)
    grid = table.pivot(index=SKEW, columns=R.ALGORITHM, values="drop_mean").loc[skews, algorithms]
    ci = table.pivot(index=SKEW, columns=R.ALGORITHM, values="drop_ci").loc[skews, algorithms]
    kinds = table.drop_duplicates(SKEW).set_index(SKEW)["kind"].loc[skews]
    cell = np.vectorize(lambda m, c: _cell(m, c, 100, 1), otypes=[object])
    notes = cell(grid.to_numpy(), ci.to_numpy())
    fig, ax = plt.subplots(figsize=(1.3 * len(algorithms) + 3.2, 0.55 * len(skews) + 1.4))
    top = max(float(np.nanmax(np.abs(grid.to_numpy()))) * 100, 1.0)
    sns.heatmap(
        100 * grid,
        annot=notes,
        fmt="",
        cmap="RdBu_r",
        center=0.0,
        vmin=-top,
        vmax=top,
        cbar_kws={"label": "accuracy drop against IID (points)"},
        annot_kws={"fontsize": 7},
        linewidths=0.5,
        ax=ax,
    )
    ax.set_yticklabels([f"{kinds[s]}: {s}" for s in skews], rotation=0, fontsize=8)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(title, fontsize=9)
    return fig


def predictor_heatmap(table: pd.DataFrame, title: str) -> plt.Figure:
    """Algorithms (rows) x metrics (columns): mean Spearman rho over seeds ± 95% interval."""
    algorithms = algorithm_order(table)
    metrics = [m for m in R.HETEROGENEITY_METRICS if m in set(table["metric"])]
    grid = table.pivot(index=R.ALGORITHM, columns="metric", values="rho_mean")
    grid = grid.reindex(index=algorithms, columns=metrics)
    ci = table.pivot(index=R.ALGORITHM, columns="metric", values="rho_ci")
    ci = ci.reindex(index=algorithms, columns=metrics)
    notes = np.vectorize(lambda m, c: "" if pd.isna(m) else _cell(m, c, 1, 2), otypes=[object])(
        grid.to_numpy(), ci.to_numpy()
    )
    fig, ax = plt.subplots(figsize=(1.25 * len(metrics) + 2.5, 0.6 * len(algorithms) + 1.6))
    sns.heatmap(
        grid,
        annot=notes,
        fmt="",
        cmap="PuOr_r",
        center=0.0,
        vmin=-1,
        vmax=1,
        cbar_kws={"label": "Spearman's rho (metric, drop)"},
        annot_kws={"fontsize": 7},
        linewidths=0.5,
        ax=ax,
    )
    ax.set_xticklabels(metrics, rotation=30, ha="right", fontsize=8)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(title, fontsize=9)
    return fig


def matched_points(table: pd.DataFrame, title: str) -> plt.Figure:
    """Each split's mean test accuracy with its 95% interval; the natural split as a line."""
    fig, ax = plt.subplots(figsize=(5.2, 2.6))
    y = np.arange(len(table))
    err = table["accuracy_ci"].fillna(0.0).to_numpy() * 100
    ax.errorbar(100 * table["accuracy_mean"], y, xerr=err, fmt="o", color="#1f77b4", capsize=3)
    natural = table[table[R.PARTITION] == "natural"]
    if len(natural):
        ax.axvline(100 * float(natural["accuracy_mean"].iloc[0]), color="0.4", ls="--", lw=1)
    labels = [
        p if not on else f"{p} (matched on {on})"
        for p, on in zip(table[R.PARTITION], table["matched_on"], strict=True)
    ]
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("final test accuracy (%), mean ± 95% interval over seeds", fontsize=8)
    ax.set_title(title, fontsize=9)
    return fig


def save(fig: plt.Figure, path: Path) -> Path:
    """Write ``fig`` as PNG at ``path`` (folders made) and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.1, metadata={"Software": None})
    plt.close(fig)
    return path
