"""The command line of ``fedbench-report`` (and ``python -m analysis.report``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from analysis.load import finished, unfinished, with_settings
from analysis.report.formats import FORMATS, NOTED_FORMATS, render
from analysis.report.request import VALUES, ReportError, Request
from analysis.report.table import build, not_finished_note
from fedbench import results as R
from fedbench.errors import invalid

PROG = "fedbench-report"


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage block) and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def parser() -> argparse.ArgumentParser:
    """The command line of ``fedbench-report``."""
    p = _Parser(
        prog=PROG,
        description="Mean ± std over seeds of every setting in a fedbench results folder.",
        epilog="Columns: any configuration column (dataset, partition, alpha, model, "
        "algorithm, num_clients, rounds, ...). A setting is every configuration column but "
        "seed; runs differing only in seed are its repetitions.",
    )
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="a fedbench results folder")
    p.add_argument(
        "--rows",
        type=_names,
        default=(),
        help="columns labelling rows, e.g. partition,alpha (default: those that vary)",
    )
    p.add_argument(
        "--cols",
        type=_names,
        default=(),
        help="columns spread over table columns, e.g. algorithm (default: one column per metric)",
    )
    p.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keep runs with KEY=VALUE (repeatable; VALUE may be v1,v2 or null)",
    )
    p.add_argument(
        "--metric",
        default="final",
        help="accuracy shown: final = test accuracy at the last evaluated round; best = highest "
        "test accuracy over the evaluated rounds (how NIID-Bench's tables are read here). "
        "Default: final",
    )
    p.add_argument(
        "--target",
        type=float,
        default=None,
        help="add the rounds each setting takes to reach this test accuracy, e.g. 0.8",
    )
    p.add_argument(
        "--value",
        default="accuracy",
        help=f"what a cell shows with --cols: one of {list(VALUES)} (default: accuracy)",
    )
    p.add_argument(
        "--format", default="md", help="md (print a Markdown table), csv or latex (default: md)"
    )
    p.add_argument(
        "--layout",
        default="plain",
        help="plain, or niid-bench: NIID-Bench's table (partitions as rows, one column per "
        "algorithm; use with --metric best)",
    )
    p.add_argument(
        "--decimals",
        type=int,
        default=1,
        help="decimals of percentages and round counts (default 1)",
    )
    p.add_argument(
        "--output", "-o", default=None, help="write to this file instead of standard output"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``fedbench-report`` and ``python -m analysis.report``."""
    args = parser().parse_args(argv)
    try:
        if args.format not in FORMATS:
            raise ReportError(invalid("--format", args.format, f"one of {list(FORMATS)}"))
        if not os.path.isdir(args.results_dir):
            raise ReportError(
                invalid(
                    "RESULTS_DIR",
                    args.results_dir,
                    "an existing results folder",
                    "pass the folder a sweep's results_dir= wrote (default: results)",
                )
            )
        request = Request(
            rows=args.rows,
            cols=args.cols,
            where=tuple(args.where),
            metric=args.metric,
            target=args.target,
            value=args.value,
            decimals=args.decimals,
            layout=args.layout,
        )
        settings = R.load_settings(args.results_dir)
        left_out = not_finished_note(unfinished(settings))
        try:
            table = build(with_settings(finished(settings)), request)
        except ReportError as error:
            raise ReportError(f"{error} ({left_out})" if left_out else str(error)) from None
        if left_out:
            table.notes.append(left_out)
            if args.format not in NOTED_FORMATS:  # csv: the numbers only; the note on stderr
                print(f"{PROG}: {left_out}", file=sys.stderr)
        text = render(table, args.format)
    except ReportError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
