"""Per-client tables, a one-line summary and a label heatmap of a partition."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure

from fedbench.heterogeneity import FEATURE_METRICS, HETEROGENEITY_METRICS, label_counts

#: Heatmaps with at most this many cells print each cell's count.
_ANNOTATE_CELLS = 400
#: At most this many row labels are printed.
_MAX_ROW_LABELS = 40


def client_table(
    labels: np.ndarray, parts: Sequence[np.ndarray], num_classes: int | None = None
) -> pd.DataFrame:
    """Return one row per client: ``client_id``, ``num_examples``, ``count_0`` ... ``count_{C-1}``.

    Parameters
    ----------
    labels
        Class id of every example.
    parts
        One index array per client.
    num_classes
        ``C``; defaults to ``max(labels) + 1``.

    Returns
    -------
    pandas.DataFrame
        ``K`` rows of int64 columns.

    """
    counts = label_counts(labels, parts, num_classes)
    table = pd.DataFrame(counts, columns=[f"count_{c}" for c in range(counts.shape[1])])
    table.insert(0, "num_examples", counts.sum(axis=1))
    table.insert(0, "client_id", np.arange(len(counts), dtype=np.int64))
    return table


def summary_line(metrics: Mapping[str, float], unassigned: int) -> str:
    """Return a one-line summary: clients, examples, unassigned count, metrics to 3 decimals.

    Feature metrics that were not measured (NaN: no features given) are left out.

    Parameters
    ----------
    metrics
        Output of :func:`fedbench.heterogeneity.heterogeneity`.
    unassigned
        Number of examples in no client.

    Returns
    -------
    str
        E.g. ``"10 clients, 1,437 examples (0 unassigned); label_emd=0.912 ..."``.

    """
    shown = [
        n for n in HETEROGENEITY_METRICS if n not in FEATURE_METRICS or metrics[n] == metrics[n]
    ]
    values = " ".join(f"{name}={metrics[name]:.3f}" for name in shown)
    return (
        f"{int(metrics['num_clients']):,} clients, {int(metrics['num_examples']):,} examples "
        f"({unassigned:,} unassigned); {values}"
    )


def heatmap_rows(sizes: np.ndarray, max_rows: int) -> tuple[np.ndarray, str]:
    """Pick the clients a heatmap draws, and say which in words.

    Parameters
    ----------
    sizes
        ``(K,)`` client sizes.
    max_rows
        Most rows to draw.

    Returns
    -------
    rows : numpy.ndarray
        Client ids in drawing order: all clients in id order when ``K <= max_rows``,
        else ``max_rows`` clients evenly spaced over the clients sorted by size
        (largest first, ties by id), from the largest to the smallest.
    caption : str
        E.g. ``"all 10 clients"`` or ``"100 of 1,000 clients, evenly spaced by size rank ..."``.

    """
    num_clients = len(sizes)
    if num_clients <= max_rows:
        return np.arange(num_clients), f"all {num_clients:,} clients"
    by_size = np.argsort(-sizes, kind="stable")  # largest first, ties by client id
    ranks = np.round(np.linspace(0, num_clients - 1, max_rows)).astype(np.int64)
    return by_size[ranks], (
        f"{max_rows} of {num_clients:,} clients, evenly spaced by size rank "
        f"(largest first; every ~{num_clients / max_rows:.0f}th)"
    )


def label_heatmap(counts: np.ndarray, *, title: str, max_rows: int = 100) -> Figure:
    """Draw a clients x classes heatmap of each client's label distribution.

    Each row is one client's share of examples per class (rows sum to 1, so
    small and large clients read alike; colour on a square-root scale; empty
    clients are grey); a bar beside each row shows the client's size. With more
    than ``max_rows`` clients the figure shows ``max_rows`` clients evenly spaced
    over the clients sorted by size, and its title says so.

    Parameters
    ----------
    counts
        ``(K, C)`` label counts (:func:`fedbench.heterogeneity.label_counts`).
    title
        First line of the figure title (e.g. dataset and strategy).
    max_rows
        Most client rows drawn, ``>= 1``.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; its ``suptitle`` says which clients it shows.

    """
    counts = np.asarray(counts)
    sizes = counts.sum(axis=1)
    rows, shown = heatmap_rows(sizes, max_rows)
    shown_counts = counts[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = shown_counts / shown_counts.sum(axis=1, keepdims=True)
    num_rows, num_classes = shares.shape

    fig = Figure(figsize=(max(6.0, 2.5 + 0.16 * num_classes), max(3.0, 1.8 + 0.13 * num_rows)))
    grid = fig.add_gridspec(1, 3, width_ratios=[num_classes, max(2, num_classes // 6), 0.6])
    ax, size_ax, bar_ax = (fig.add_subplot(grid[0, i]) for i in range(3))
    annotate = num_rows * num_classes <= _ANNOTATE_CELLS
    sns.heatmap(
        shares,
        ax=ax,
        cbar_ax=bar_ax,
        cmap="viridis",
        norm=PowerNorm(0.5, vmin=0.0, vmax=1.0),  # sqrt scale: small shares stay visible
        annot=shown_counts if annotate else None,
        fmt="d",
        annot_kws={"fontsize": 7},
        xticklabels=1 if num_classes <= 64 else max(1, num_classes // 32),
        yticklabels=False,
        cbar_kws={"label": "share of the client's examples (sqrt scale)"},
    )
    ax.set_facecolor("0.85")  # empty clients (NaN rows)
    ax.set_xlabel("class" + (" (cells: counts)" if annotate else ""))
    ax.tick_params(axis="x", labelsize=6 if num_classes > 30 else 8, rotation=90)
    step = max(1, int(np.ceil(num_rows / _MAX_ROW_LABELS)))
    ax.set_yticks(np.arange(0, num_rows, step) + 0.5)
    ax.set_yticklabels([str(c) for c in rows[::step]], fontsize=7, rotation=0)
    ax.set_ylabel("client id")

    size_ax.barh(np.arange(num_rows) + 0.5, sizes[rows], height=0.8, color="0.4")
    size_ax.set_ylim(num_rows, 0)
    size_ax.set_yticks([])
    size_ax.set_xlabel("examples")
    size_ax.tick_params(axis="x", labelsize=7)

    empty = int((sizes[rows] == 0).sum())
    if empty:
        shown += f"; {empty} empty (grey)"
    fig.suptitle(f"{title}\n{shown}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_label_heatmap(
    counts: np.ndarray, path: str | Path, *, title: str, max_rows: int = 100
) -> Path:
    """Write :func:`label_heatmap` of ``counts`` to ``path`` as a PNG (parents created).

    Returns
    -------
    pathlib.Path
        ``path``.

    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    label_heatmap(counts, title=title, max_rows=max_rows).savefig(path, dpi=110)
    return path
