"""The command line: ``python -m analysis.figures --results DIR [--only NAME] ...``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis import aggregate as A
from analysis.figures.accuracy_vs_heterogeneity import PARAMETER
from analysis.figures.registry import FIGURES, FIGURES_SUBDIR, Inputs, make_all
from fedbench import results as R

PREDICTORS = tuple(m for m in R.HETEROGENEITY_METRICS if m != R.DROPPED_FRACTION)


def _error(flag: str, value: object, allowed: str) -> int:
    print(
        f"figures: error: {flag}={value!r} is invalid: allowed is {allowed}; pick one",
        file=sys.stderr,
    )
    return 2


def main(argv: list[str] | None = None) -> int:
    """Write every registered figure (or ``--only`` ones); list what was drawn and skipped."""
    parser = argparse.ArgumentParser(prog="python -m analysis.figures", description=__doc__)
    parser.add_argument("--results", type=Path, default=Path("results"), help="results folder")
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help=f"one of {list(FIGURES)}"
    )
    choices = [*PREDICTORS, PARAMETER]
    parser.add_argument(
        "--x",
        default=None,
        help=f"x axis of accuracy_vs_heterogeneity: one of {choices} "
        "(default: each kind of skew against its own metric)",
    )
    parser.add_argument(
        "--metric", default="final", help="final (last evaluated round) or best accuracy"
    )
    parser.add_argument("--heatmap-rows", default=None, help="setting column of heatmap rows")
    parser.add_argument("--heatmap-cols", default=None, help="setting column of heatmap columns")
    args = parser.parse_args(argv)
    if not args.results.is_dir():
        print(f"figures: error: --results={args.results} is not a folder", file=sys.stderr)
        return 2
    if args.x is not None and args.x not in choices:
        return _error("--x", args.x, f"one of {choices}")
    if args.metric not in A.ACCURACY:
        return _error("--metric", args.metric, f"one of {list(A.ACCURACY)}")
    for name in args.only:
        if name not in FIGURES:
            return _error("--only", name, f"one of {list(FIGURES)}")
    inputs = Inputs.read(
        args.results,
        x=args.x,
        metric=args.metric,
        heatmap_rows=args.heatmap_rows,
        heatmap_cols=args.heatmap_cols,
    )
    make_all(inputs, args.results / FIGURES_SUBDIR, only=args.only)
    return 0
