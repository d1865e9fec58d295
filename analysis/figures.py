"""Regenerate every figure from whatever is in ``results/``.

    python -m analysis.figures --results results      # or: make figures

Reads per-run Parquet (``results/runs``), partition reports (``results/partitions``)
and pytest-benchmark JSON (``results/benchmarks``) through the column constants of
``fedbench.results``, and writes PNGs to ``results/figures``. A figure whose inputs
are absent is skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from fedbench import results as R

FIGURES_SUBDIR = "figures"


def run_label(frame: pd.DataFrame) -> pd.Series:
    """A short legend label per row: the partition and its parameters."""
    params = {
        R.ALPHA: "α",
        R.CLASSES_PER_CLIENT: "#C",
        R.SHARDS_PER_CLIENT: "shards",
        R.SIGMA: "σ",
        R.QUANTITY_ALPHA: "qα",
    }

    def label(row: pd.Series) -> str:
        parts = [f"{sym}={row[col]:g}" for col, sym in params.items() if pd.notna(row.get(col))]
        return f"{row[R.PARTITION]}" + (f" ({', '.join(parts)})" if parts else "")

    return frame.apply(label, axis=1)


def final_rounds(runs: pd.DataFrame) -> pd.DataFrame:
    """The last evaluated round of every run."""
    evaluated = runs[runs[R.EVALUATED].fillna(False).astype(bool)]
    last = evaluated.groupby(R.RUN_ID)[R.ROUND].transform("max")
    return evaluated[evaluated[R.ROUND] == last]


def accuracy_vs_heterogeneity(runs: pd.DataFrame, out: Path) -> Path:
    """Final test accuracy against measured label heterogeneity (label_emd), one point per run."""
    final = final_rounds(runs).assign(setting=run_label)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    sns.scatterplot(
        data=final, x=R.LABEL_EMD, y=R.TEST_ACCURACY, hue="setting", style=R.MODEL, s=80, ax=ax
    )
    ax.set_xlabel("label heterogeneity: label_emd (0 = IID, 2 = disjoint)")
    ax.set_ylabel("final test accuracy")
    ax.set_title(
        f"FedAvg accuracy vs heterogeneity ({', '.join(sorted(final[R.DATASET].unique()))})"
    )
    ax.legend(fontsize=7, loc="best")
    return _save(fig, out / "accuracy_vs_heterogeneity.png")


def convergence(runs: pd.DataFrame, out: Path) -> Path:
    """Test accuracy per round, one line per setting (mean and spread over seeds)."""
    evaluated = runs[runs[R.EVALUATED].fillna(False).astype(bool)].assign(setting=run_label)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    sns.lineplot(data=evaluated, x=R.ROUND, y=R.TEST_ACCURACY, hue="setting", style=R.MODEL, ax=ax)
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy")
    ax.set_title("Convergence")
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, out / "convergence.png")


def throughput(runs: pd.DataFrame, benchmarks: list[Path], out: Path) -> Path | None:
    """Training throughput (examples/s) per model and algorithm; benchmark ratios if present."""
    panels = [runs] if not runs.empty else []
    bench = _benchmark_frame(benchmarks)
    if not panels and bench.empty:
        return None
    fig, axes = plt.subplots(1, 2 if (panels and not bench.empty) else 1, figsize=(11, 4.2))
    axes = list(axes) if hasattr(axes, "__len__") else [axes]
    if panels:
        ax = axes.pop(0)
        sns.barplot(data=runs, x=R.MODEL, y=R.EXAMPLES_PER_SECOND, hue=R.ALGORITHM, ax=ax)
        ax.set_title("FedAvg training throughput (client examples / s)")
    if not bench.empty:
        ax = axes.pop(0)
        sns.barplot(data=bench, y="name", x="median_ms", ax=ax, orient="h")
        ax.set_xscale("log")
        ax.set_xlabel("median time (ms, log scale)")
        ax.set_ylabel("")
        ax.set_title(f"pytest-benchmark: {bench['file'].iloc[0]}")
        ax.tick_params(axis="y", labelsize=6)
    return _save(fig, out / "throughput.png")


def _benchmark_frame(files: list[Path]) -> pd.DataFrame:
    if not files:
        return pd.DataFrame()
    newest = max(files, key=lambda p: p.stat().st_mtime)
    data = json.loads(newest.read_text())
    rows = [
        {"name": b["name"], "median_ms": b["stats"]["median"] * 1e3, "file": newest.name}
        for b in data.get("benchmarks", [])
    ]
    return pd.DataFrame(rows)


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
        written.append(_save(fig, out / f"labels-{path.stem}.png"))
    return written


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def make_all(results_dir: Path) -> list[Path]:
    """Write every figure whose inputs exist under ``results_dir``; return their paths."""
    out = results_dir / FIGURES_SUBDIR
    runs = R.load_runs(results_dir)
    runs = runs[runs[R.STATUS].isin(sorted(R.FINISHED_STATUSES))]
    written: list[Path] = []
    if runs.empty:
        print(f"figures: no finished runs under {R.runs_dir(results_dir)}; skipping run figures")
    else:
        written += [accuracy_vs_heterogeneity(runs, out), convergence(runs, out)]
    bench = sorted((results_dir / "benchmarks").glob("*.json"))
    tp = throughput(runs, bench, out)
    written += [tp] if tp else []
    written += label_distributions(sorted((results_dir / "partitions").glob("*.parquet")), out)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m analysis.figures [--results DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"), help="results folder")
    args = parser.parse_args(argv)
    if not args.results.is_dir():
        print(f"figures: error: --results={args.results} is not a folder", file=sys.stderr)
        return 2
    for path in make_all(args.results):
        print(f"figure: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
