"""The findings page: every study's numbers, figures and sentences from its Parquet alone.

:func:`build_sections` reads each study's results folder (:mod:`analysis.findings.studies`)
and returns the page's :class:`Section` s; :func:`render_page` joins them into Markdown.
Tables print means with 95% t-intervals over seeds (NIID-Bench's layout: the standard
deviation, as that paper's tables); every table names the command that prints
its numbers (``python -m analysis.findings --table NAME``), every section the command
that runs its sweep, and every sentence that ranks is a generated
:class:`~analysis.findings.claims.Claim`. Nothing here reads a clock: an unchanged
results folder gives the same page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.figures import fedprox_systems as F
from analysis.figures.registry import FIGURES, Inputs, drawn
from analysis.findings import claims as C
from analysis.findings import drops as D
from analysis.findings import figures as G
from analysis.findings import matched as M
from analysis.findings import predictors as P
from analysis.findings import systems as S
from analysis.findings.studies import (
    FEDPROX_SYSTEMS,
    NATURAL_VS_MATCHED,
    NIID_BENCH_QUICK,
    PARTICIPATION,
    WHICH_HETEROGENEITY,
    Study,
)
from analysis.load import finished_settings
from analysis.report import Request, build, render
from analysis.report.request import Table
from fedbench import results as R

TITLE = "What fedbench finds"
TABLE_COMMAND = "python -m analysis.findings --results {root} --table {name}"
#: The report flags that print NIID-Bench's table (its section's command).
NIID_REPORT = "--layout niid-bench --metric best"


@dataclass
class Section:
    """One study's part of the page.

    Attributes
    ----------
    study
        Its study record.
    body
        Markdown blocks, in order.
    claims
        The generated sentences among ``body``.
    headline
        Those of them the page lists at its top (default: the first two).
    finished
        Whether its sweep has finished (headlines of an unfinished one say so).
    figures
        File name -> matplotlib figure, written beside the page.
    tables
        Table name -> the numbers behind it (``--table NAME`` prints them).

    """

    study: Study
    body: list[str] = field(default_factory=list)
    claims: list[C.Claim] = field(default_factory=list)
    headline: list[C.Claim] = field(default_factory=list)
    finished: bool = False
    figures: dict[str, object] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def markdown(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub pipe table (the report's Markdown format)."""
    return render(Table(header, rows, pd.DataFrame()), "md").rstrip("\n")


def mean_ci(mean: float, ci: float, scale: float = 100.0, digits: int = 1) -> str:
    """``12.3 ± 4.5`` (``scale``-d), ``12.3`` without an interval, ``–`` without a mean."""
    if pd.isna(mean):
        return "–"
    text = C.fixed(mean, digits, scale)
    return text if pd.isna(ci) else f"{text} ± {C.fixed(ci, digits, scale)}"


def load(study: Study, root: Path) -> pd.DataFrame:
    """The finished runs of ``study`` under ``root`` (empty when it has not run)."""
    folder = study.results(root)
    if not (folder / "runs").is_dir():
        return pd.DataFrame()
    return finished_settings(folder)


def sweep_finished(study: Study, root: Path) -> bool:
    """Whether the study's last sweep ended with every job finished.

    fedbench's sweeper writes ``logs/multirun/<time>/sweep-summary.json`` when a sweep
    ends, listing its unfinished jobs (also when Ctrl-C stops it). The newest summary
    counts, unless a result file was written after it (a sweep running now, or one
    killed before it could write its summary). A sweep file changed since its last run
    (more seeds, say) is not seen here: run ``make findings`` after changing one.
    """
    folder = study.results(root)
    summaries = sorted(
        (folder / "logs" / "multirun").glob("*/sweep-summary.json"),
        key=lambda p: p.stat().st_mtime,
    )
    if not summaries:
        return False
    newest = summaries[-1]
    written = [p.stat().st_mtime for p in (folder / "runs").glob("*.parquet")]
    if written and max(written) > newest.stat().st_mtime:
        return False
    summary = json.loads(newest.read_text())
    return not any(summary.get(str(status)) for status in R.UNFINISHED_STATUSES)


def _state(section: Section, root: Path) -> str:
    """A warning line when the study's sweep has not finished, else nothing."""
    section.finished = sweep_finished(section.study, root)
    if section.finished:
        return ""
    return (
        "**Unfinished:** the sweep has not finished (or is running); the numbers below are "
        "its finished runs only. `make findings` resumes it."
    )


def _setup(runs: pd.DataFrame) -> str:
    """One line: what the runs share (data, model, clients, rounds) and how many there are."""
    first = runs.iloc[0]
    seeds = runs[R.SEED].nunique()
    return (
        f"{runs[R.RUN_ID].nunique()} runs: `{first[R.DATASET]}`, model `{first[R.MODEL]}`, "
        f"{first[R.NUM_CLIENTS]} clients ({first[R.CLIENTS_PER_ROUND]} a round), "
        f"{int(runs[R.ROUNDS].max())} rounds of {first[R.LOCAL_EPOCHS]} local epoch(s), "
        f"{seeds} seed{'s' if seeds != 1 else ''}."
    )


def _commands(study: Study, root: Path, tables: list[str], also: tuple[str, ...] = ()) -> str:
    """The bash block: the study's sweep, then ``also`` and each table's ``--table`` line."""
    lines = [f"# run or resume the sweep ({study.name}.yaml)", study.command(root), *also]
    lines += [TABLE_COMMAND.format(root=root, name=name) for name in tables]
    return "```bash\n" + "\n".join(lines) + "\n```"


def _bullets(claims: list[C.Claim]) -> str:
    """The sentences of ``claims`` as a Markdown list."""
    return "\n".join(f"- {c.text}" for c in claims)


def _not_run(section: Section, root: Path) -> Section:
    started = any((section.study.results(root) / "runs").glob("*.parquet"))
    section.body += [
        "**Unfinished:** no run has finished yet. `make findings` resumes it:"
        if started
        else "Not run yet. Run it (or `make findings`), then regenerate this page:",
        _commands(section.study, root, []),
    ]
    return section


def which_heterogeneity(root: Path) -> Section:
    """Drops against IID per skew and algorithm, the drop heatmap, and the predictors."""
    section = Section(WHICH_HETEROGENEITY)
    runs = load(WHICH_HETEROGENEITY, root)
    if runs.empty:
        return _not_run(section, root)
    accuracies = D.run_accuracies(runs)
    drops = D.paired_drops(accuracies)
    table, iid = D.drop_table(drops), D.iid_table(accuracies)
    rhos = P.rho_table(P.rho_per_seed(drops))
    section.tables.update(drops=table, iid=iid, predictors=rhos)
    algorithms = D.algorithm_order(accuracies)
    header = ["kind", "skew", *algorithms]
    rows = [["none", "IID accuracy (%)", *_cells(iid, algorithms, "mean", "ci")]]
    for skew, group in table.groupby(D.SKEW, sort=False):
        cells = _cells(group, algorithms, "drop_mean", "drop_ci")
        rows.append([group["kind"].iloc[0], skew, *cells])
    strongest = table.drop_duplicates(R.PARTITION)[D.SKEW].tolist()
    overall, costliest, kinds = C.overall(table, drops), C.costliest(table), C.kinds(table)
    claims = [*overall, *costliest, *kinds, *C.least_and_most_hurt(table, drops, strongest)]
    predictor_claims = C.predictors(rhos)
    section.claims = [*claims, *predictor_claims]
    section.headline = [*overall, *kinds, *(costliest if len(costliest) == 1 else [])]
    if not table.empty:
        section.figures["drops.png"] = G.drop_heatmap(
            table, "accuracy drop against IID (points), mean ± 95% interval over seeds"
        )
    section.body += [
        _state(section, root),
        _setup(runs) + " A cell is the drop of final test accuracy against the IID run of the same "
        "algorithm and seed, in points, averaged over seeds with its 95% interval; "
        "the first row is each algorithm's IID accuracy.",
        _commands(WHICH_HETEROGENEITY, root, ["iid", "drops", "predictors"]),
        "![accuracy drop per skew and algorithm](findings/drops.png)" if not table.empty else "",
        markdown(header, rows),
        _bullets(claims),
        "### Which metric predicts the drop",
        "Spearman's ρ between a partition's heterogeneity metric and the drop it caused, "
        "over the skewed settings of one algorithm and one seed; mean ± 95% interval "
        "over seeds (a metric constant over the settings has none).",
    ]
    if not rhos.empty:
        metrics = [m for m in R.HETEROGENEITY_METRICS if m in set(rhos["metric"])]
        grid = rhos.set_index([R.ALGORITHM, "metric"])
        rho_rows = [
            [
                a,
                *(
                    mean_ci(grid.loc[(a, m), "rho_mean"], grid.loc[(a, m), "rho_ci"], 1.0, 2)
                    if (a, m) in grid.index
                    else "–"
                    for m in metrics
                ),
            ]
            for a in D.algorithm_order(rhos)
        ]
        section.figures["predictors.png"] = G.predictor_heatmap(
            rhos, "Spearman's rho of metric and drop, mean ± 95% interval over seeds"
        )
        section.body += [
            "![rank correlation of each metric with the drop](findings/predictors.png)",
            markdown(["algorithm", *metrics], rho_rows),
            _bullets(predictor_claims),
        ]
    return section


def _cells(frame: pd.DataFrame, algorithms: list[str], mean: str, ci: str) -> list[str]:
    by = frame.set_index(R.ALGORITHM)
    return [mean_ci(by.loc[a, mean], by.loc[a, ci]) if a in by.index else "–" for a in algorithms]


def natural_vs_matched(root: Path) -> Section:
    """FEMNIST's writers against the same examples split IID and by calibrated skews."""
    section = Section(NATURAL_VS_MATCHED)
    runs = load(NATURAL_VS_MATCHED, root)
    if runs.empty:
        return _not_run(section, root)
    table = M.matched_table(D.run_accuracies(runs))
    section.tables["matched"] = table
    section.claims = M.claims(table)
    rows = [
        [
            row[R.PARTITION],
            row["matched_on"] or ("the writers" if row[R.PARTITION] == M.NATURAL else "–"),
            mean_ci(row["accuracy_mean"], row["accuracy_ci"]),
            mean_ci(row["difference_mean"], row["difference_ci"]),
            f"{row[R.LABEL_EMD]:.3f}",
            f"{row[R.FEATURE_FRECHET]:.3f}",
            str(int(row["n"])),
        ]
        for _, row in table.iterrows()
    ]
    section.figures["natural_vs_matched.png"] = G.matched_points(
        table, "FEMNIST subset: natural split against splits matched to it"
    )
    section.body += [
        _state(section, root),
        _setup(runs) + " The Dirichlet split is calibrated to the writers' `label_emd` and the "
        "feature-noise split to their `feature_frechet` (sweeps/natural_vs_matched.yaml); "
        "the difference is paired by seed, in points.",
        _commands(NATURAL_VS_MATCHED, root, ["matched"]),
        "![natural against matched splits](findings/natural_vs_matched.png)",
        markdown(
            [
                "partition",
                "matched on",
                "accuracy (%)",
                "− natural (points)",
                "label_emd",
                "feature_frechet",
                "seeds",
            ],
            rows,
        ),
        _bullets(section.claims),
    ]
    return section


def niid_bench_quick(root: Path) -> Section:
    """NIID-Bench's table layout over the quick reproduction (best accuracy over rounds)."""
    section = Section(NIID_BENCH_QUICK)
    runs = load(NIID_BENCH_QUICK, root)
    if runs.empty:
        return _not_run(section, root)
    table = build(runs, Request(layout="niid-bench", metric="best"))
    section.tables["niid_bench"] = table.data
    folder = NIID_BENCH_QUICK.results(root)
    section.body += [
        _state(section, root),
        _setup(runs)
        + " Best test accuracy over rounds (%), mean ± std over seeds, as NIID-Bench's "
        "tables read; a smoke test of the reproduction, not the paper's budget "
        "(docs/niid-bench.md).",
        _commands(NIID_BENCH_QUICK, root, [], (f"fedbench-report {folder} {NIID_REPORT}",)),
        render(table, "md").rstrip("\n"),
    ]
    return section


def participation(root: Path) -> Section:
    """Held-out clients and cyclic availability: accuracy and the two gaps per arm."""
    section = Section(PARTICIPATION)
    runs = load(PARTICIPATION, root)
    if runs.empty:
        return _not_run(section, root)
    table = S.participation_table(runs)
    section.tables["participation"] = table
    section.claims = S.participation_claims(table)
    rows = [
        [
            f"{row[R.ALPHA]:g}",
            row[S.ARM],
            *(mean_ci(row[f"{c}_mean"], row[f"{c}_ci"]) for c in S.GAPS),
            str(int(row["n"])),
        ]
        for _, row in table.iterrows()
    ]
    section.figures.update(_registry_figures("participation_gaps", runs))
    section.body += [
        _state(section, root),
        _setup(runs)
        + " At the last evaluated round, mean ± 95% interval over seeds, in percent and "
        "points (definitions: docs/results.md).",
        _commands(PARTICIPATION, root, ["participation"]),
        "![participation gaps per round](findings/participation_gaps.png)",
        markdown(
            [
                "alpha",
                "participation",
                "test accuracy",
                "held-out clients",
                "participation gap",
                "out-of-sample gap",
                "seeds",
            ],
            rows,
        ),
        _bullets(section.claims),
    ]
    return section


def fedprox_systems(root: Path) -> Section:
    """Stragglers against heterogeneity: final accuracy per data arm, straggler share, method."""
    section = Section(FEDPROX_SYSTEMS)
    runs = load(FEDPROX_SYSTEMS, root)
    table = S.fedprox_table(runs) if not runs.empty else pd.DataFrame()
    if table.empty:
        return _not_run(section, root)
    section.tables["fedprox_systems"] = table
    section.claims = S.fedprox_claims(table)
    methods = sorted(table[F.METHOD].unique())
    grid = table.set_index([F.HETEROGENEITY, F.STRAGGLERS, F.METHOD])
    rows = []
    for (heterogeneity, stragglers), _ in table.groupby(
        [F.HETEROGENEITY, F.STRAGGLERS], sort=False
    ):
        cells = []
        for m in methods:
            key = (heterogeneity, stragglers, m)
            column = S.FINAL_ACCURACY
            cells.append(
                mean_ci(grid.loc[key, f"{column}_mean"], grid.loc[key, f"{column}_ci"])
                if key in grid.index
                else "–"
            )
        rows.append([heterogeneity, f"{stragglers:.0%}", *cells])
    section.figures.update(_registry_figures("fedprox_systems", runs))
    section.body += [
        _state(section, root),
        _setup(runs) + " Final test accuracy (%); intervals over seeds where there are several.",
        _commands(FEDPROX_SYSTEMS, root, ["fedprox_systems"]),
        "![test accuracy per round](findings/fedprox_systems_test_accuracy.png)",
        markdown(["data", "stragglers", *methods], rows),
        _bullets(section.claims),
    ]
    return section


def _registry_figures(name: str, runs: pd.DataFrame) -> dict[str, object]:
    """The figures ``name`` of :mod:`analysis.figures` draws from ``runs``, by file name."""
    return {f"{item.name}.png": item.figure for item in drawn(FIGURES[name](Inputs(runs=runs)))}


#: The page's sections, in order (one per study).
SECTIONS: tuple[Callable[[Path], Section], ...] = (
    which_heterogeneity,
    natural_vs_matched,
    niid_bench_quick,
    participation,
    fedprox_systems,
)


def build_sections(root: Path) -> list[Section]:
    """Every study's section from the results under ``root``."""
    return [make(root) for make in SECTIONS]


def render_page(sections: list[Section], root: Path) -> str:
    """The whole page as Markdown: the headline sentences, then every study's section."""
    headline = [
        ("" if s.finished else f"*{s.study.name}, unfinished:* ") + c.text
        for s in sections
        for c in (s.headline or s.claims[:2])
    ]
    out = [
        f"# {TITLE}",
        "<!-- Generated by `make findings` (python -m analysis.findings) from the Parquet "
        f"under {root}/; do not edit: rerun it. -->",
        "fedbench's answers to *how much does non-IID data hurt FedAvg, and which "
        "heterogeneity hurts which algorithm?*, regenerated from its own results by "
        "`make findings`. Every number below is printed by the command beside it; every "
        "sentence that ranks is generated from the numbers it ranks.",
        "## Headlines",
        "\n".join(f"- {text}" for text in headline) or "No study has run yet.",
    ]
    for section in sections:
        out += [f"## {section.study.name}: {section.study.question}", *section.body]
    return "\n\n".join(block for block in out if block) + "\n"
