"""The command line: ``python -m analysis.findings [--run] [--results DIR] [--out PAGE]``.

``--run`` first runs (or resumes) every study's sweep (``make findings`` does); then the
page and its figures are written from the Parquet alone. ``--table NAME`` prints the
numbers behind one of the page's tables instead (CSV, full precision).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from analysis.findings import figures as G
from analysis.findings.page import build_sections, render_page
from analysis.findings.run import run_studies
from analysis.findings.studies import BY_NAME, STUDIES
from fedbench.errors import invalid
from fedbench.interrupts import Terminated, exit_code, stop_name

PROG = "python -m analysis.findings"
#: Every table ``--table`` prints, and the study whose section holds it.
TABLES = {
    "iid": "which_heterogeneity",
    "drops": "which_heterogeneity",
    "predictors": "which_heterogeneity",
    "matched": "natural_vs_matched",
    "niid_bench": "niid_bench_fmnist_quick",
    "participation": "participation",
    "fedprox_systems": "fedprox_systems",
}


def parser() -> argparse.ArgumentParser:
    """The command line's flags."""
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--results",
        type=Path,
        default=Path("results/findings"),
        help="the findings folder: one results folder per study (default: results/findings)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("docs/findings.md"), help="the page (figures beside it)"
    )
    p.add_argument("--run", action="store_true", help="run or resume every study's sweep first")
    p.add_argument(
        "--only",
        default="",
        help=f"comma-separated studies to run (default: all of {[s.name for s in STUDIES]})",
    )
    p.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Hydra override added to every sweep --run starts (repeatable)",
    )
    p.add_argument("--table", default=None, help=f"print one table's numbers: {list(TABLES)}")
    return p


def _error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweeps (``--run``), then write the page, or print one table."""
    args = parser().parse_args(argv)
    only = [name for name in args.only.split(",") if name]
    for name in only:
        if name not in BY_NAME:
            return _error(invalid("--only", name, f"one of {list(BY_NAME)}", "pick from that list"))
    if args.table is not None and args.table not in TABLES:
        return _error(invalid("--table", args.table, f"one of {list(TABLES)}", "pick one"))
    statuses: dict[str, int | None] = {}
    failed: dict[str, int | None] = {}
    if args.run:
        studies = [BY_NAME[n] for n in only] if only else list(STUDIES)
        try:
            statuses = run_studies(studies, args.results, args.override)
        except (KeyboardInterrupt, Terminated) as stop:
            say = f"findings: stopped by {stop_name(stop)}; `make findings` resumes"
            print(say, file=sys.stderr)
            return exit_code(stop)
        failed = {name: code for name, code in statuses.items() if code not in (0, None)}
    sections = build_sections(args.results)
    if args.table is not None:
        section = next(s for s in sections if s.study.name == TABLES[args.table])
        if args.table not in section.tables:
            return _error(f"--table={args.table}: {section.study.name} has no results yet")
        sys.stdout.write(section.tables[args.table].to_csv(index=False))
        return 0
    figures = args.out.parent / args.out.stem
    for section in sections:
        for name, figure in section.figures.items():
            G.save(figure, figures / name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render_page(sections, args.results), encoding="utf-8")
    print(f"findings: wrote {args.out} and {figures}/")
    for name, code in failed.items():
        print(f"findings: the sweep {name} exited {code}; its section shows what finished")
    skipped = [name for name, code in statuses.items() if code is None]
    for name in skipped:
        print(f"findings: {name} did not run (its data is missing); its section says so")
    return 1 if failed or skipped else 0
