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
from fedbench.partitioning import all_params

FIGURES_SUBDIR = "figures"


def run_label(frame: pd.DataFrame) -> pd.Series:
    """A short legend label per row: the partition and its labelled parameters (``α=0.1``)."""
    symbols = {p.name: p.label for p in all_params().values() if p.label}

    def value(v: object) -> str:
        return f"{v:g}" if isinstance(v, int | float) else str(v)

    def label(row: pd.Series) -> str:
        parts = [f"{s}={value(row[c])}" for c, s in symbols.items() if pd.notna(row.get(c))]
        return f"{row[R.PARTITION]}" + (f" ({', '.join(parts)})" if parts else "")

    return frame.apply(label, axis=1)


def final_rounds(runs: pd.DataFrame) -> pd.DataFrame:
    """The last evaluated round of every run."""
    evaluated = runs[runs[R.EVALUATED].fillna(False).astype(bool)]
    last = evaluated.groupby(R.RUN_ID)[R.ROUND].transform("max")
    return evaluated[evaluated[R.ROUND] == last]


def steady_rounds(runs: pd.DataFrame) -> pd.DataFrame:
    """Each run's rounds 2 and later (its only round, for a one-round run), for throughput.

    Round 1 of a run also pays for TFF compiling the computation on its worker
    (measured ~5x slower than later rounds on digits); steady state is what compares.
    """
    one_round = runs.groupby(R.RUN_ID)[R.ROUND].transform("max") == 1
    return runs[(runs[R.ROUND] > 1) | one_round]


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
    """Training throughput of the runs, and the newest benchmark JSON as side-by-side ratios.

    Panels (each only when its data exists): client examples/s per model and
    algorithm from the runs; for every benchmark group whose cases do the same work
    in two or more ways (libraries, or TFF vs plain Keras) in one run, each way's
    median time as a multiple of the group's fastest; the median time of every other
    case.
    """
    runs = steady_rounds(runs)
    bench = _benchmark_frame(benchmarks)
    # A comparison: one group, two or more ways (library / test function) of doing it.
    compared = (
        bench[bench.groupby("group")["case"].transform("nunique") > 1] if len(bench) else bench
    )
    single = bench[~bench.index.isin(compared.index)] if len(bench) else bench
    panels = [
        p for p, frame in (("runs", runs), ("ratio", compared), ("time", single)) if len(frame)
    ]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 5.5), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        if panel == "runs":
            sns.barplot(
                data=runs,
                x=R.MODEL,
                y=R.EXAMPLES_PER_SECOND,
                hue=R.ALGORITHM,
                estimator="median",
                ax=ax,
            )
            ax.set_title("FedAvg training throughput (client examples / s, median of rounds 2+)")
        elif panel == "ratio":
            ratio = compared.assign(
                ratio=compared["median_ms"]
                / compared.groupby("group")["median_ms"].transform("min")
            )
            sns.barplot(data=ratio, y="group", x="ratio", hue="case", orient="h", ax=ax)
            ax.set_xscale("log")
            ax.set_xlabel("median time / fastest in its group (log scale; 1 = fastest)")
            ax.set_ylabel("")
            ax.set_title("Side by side in one benchmark run")
            ax.legend(fontsize=7)
        else:
            sns.barplot(data=single, y="param", x="median_ms", hue="group", orient="h", ax=ax)
            ax.set_xscale("log")
            ax.set_xlabel("median time (ms, log scale)")
            ax.set_ylabel("")
            ax.set_title("Benchmark medians")
            ax.legend(fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    if len(bench):
        fig.suptitle(f"benchmarks: {bench['file'].iloc[0]}", fontsize=8)
    return _save(fig, out / "throughput.png")


def _benchmark_frame(files: list[Path]) -> pd.DataFrame:
    """The newest pytest-benchmark JSON as one row per case (group, case label, median ms)."""
    if not files:
        return pd.DataFrame()
    newest = max(files, key=lambda p: p.stat().st_mtime)
    rows = []
    for case in json.loads(newest.read_text()).get("benchmarks", []):
        params = case.get("params") or {}
        label = (
            (case.get("extra_info") or {}).get("case")
            or params.get("library")
            or case["name"].split("[")[0].removeprefix("test_")
        )
        rows.append(
            {
                "group": case.get("group") or case["name"],
                "name": case["name"],
                "param": case.get("param") or case["name"],
                "case": label,
                "median_ms": case["stats"]["median"] * 1e3,
                "file": newest.name,
            }
        )
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
