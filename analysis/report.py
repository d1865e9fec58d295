"""fedbench-report: a table of mean ± std over seeds from a results folder.

    fedbench-report results --rows partition,alpha --cols algorithm --metric best
    python -m analysis.report results --where dataset=fmnist --format latex

Runs that differ only in ``seed`` are one setting; a cell is the mean ± sample standard
deviation over its seeds. A setting with fewer seeds than the others is marked † and
named in a footnote, never left out.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from analysis import aggregate as A
from analysis.load import SETTING, is_centralized, load_settings, setting_columns, varying
from fedbench import results as R
from fedbench.errors import invalid
from fedbench.partitioning import all_params

PROG = "fedbench-report"
MARK = "†"
FORMATS = ("md", "csv", "latex")
LAYOUTS = ("plain", "niid-bench")
#: ``--value``: what a cell shows when ``--cols`` spreads settings over columns.
VALUES = ("accuracy", A.ROUNDS_TO_TARGET, R.CLIENT_ACCURACY_P10, R.CLIENT_DRIFT)
#: Quantities shown as percentages.
PERCENT = frozenset({A.FINAL, A.BEST, R.CLIENT_ACCURACY_P10})
HEADERS = {
    A.FINAL: "final accuracy (%)",
    A.BEST: "best accuracy (%)",
    R.CLIENT_ACCURACY_P10: "client accuracy p10 (%)",
    R.CLIENT_DRIFT: "client drift",
}
#: NIID-Bench's names of its partitions (Li et al., ICDE 2022), in the order of its tables.
NIID_BENCH_PARTITIONS = {
    "dirichlet": "pk ~ Dir({alpha:g})",
    "pathological": "#C={classes_per_client:d}",
    "quantity": "q ~ Dir({alpha:g})",
    "iid": "homogeneous",
}
CENTRALIZED = "centralized (pooled data)"
NIID_BENCH_ALGORITHMS = {"fedavg": "FedAvg", "fedprox": "FedProx", "fedavgm": "FedAvgM"}


class ReportError(Exception):
    """Bad input: one line naming the flag, the value, what is allowed and the fix."""


@dataclass
class Table:
    """A report: header, rows of cell strings, the numbers behind them, footnotes."""

    header: list[str]
    rows: list[list[str]]
    data: pd.DataFrame
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Request:
    """What the table shows (the command line's flags)."""

    rows: tuple[str, ...] = ()
    cols: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    metric: str = "final"
    target: float | None = None
    value: str = "accuracy"
    decimals: int = 1
    layout: str = "plain"


def build(frame: pd.DataFrame, request: Request) -> Table:
    """Aggregate result rows (:func:`analysis.load.load_settings`) into a table.

    ``rows`` and ``cols`` name setting columns whose values label the table's rows and
    columns (default rows: every setting column that varies, but those in ``cols``).
    Without ``cols`` the columns are the metrics; with ``cols`` every cell shows
    ``value``. ``where`` keeps rows whose ``key`` equals ``value`` (``key=v1,v2``:
    either; ``null``: nulls).

    Raises
    ------
    ReportError
        An unknown flag value or column, no run left, two settings in one cell.

    """
    _check_flags(request)
    if request.layout == "niid-bench":
        frame, request = _niid_bench_layout(frame, request)
    allowed = [c for c in setting_columns(frame) if frame[c].notna().any()]
    for flag, names in (("--rows", request.rows), ("--cols", request.cols)):
        for name in names:
            if name not in allowed:
                raise ReportError(invalid(flag, name, f"one of {allowed}", "pick from that list"))
    frame = _filtered(frame, request.where, [*allowed, R.SEED])  # seeds filter too
    summaries = A.run_summaries(frame, request.target)
    stats = A.over_seeds(summaries)
    rows = list(request.rows) or default_rows(summaries, request.cols)
    _check_one_setting_per_cell(stats, summaries, rows, list(request.cols), request)
    stats = _ordered(stats, [*rows, *request.cols])
    fmt = _Formatter(request.decimals)
    accuracy = A.ACCURACY[request.metric]
    if request.cols:
        shown = accuracy if request.value == "accuracy" else request.value
        table = _pivot(stats, rows, list(request.cols), shown, fmt)
    else:
        metrics = [accuracy, *([A.ROUNDS_TO_TARGET] if request.target is not None else [])]
        recorded = (R.CLIENT_ACCURACY_P10, R.CLIENT_DRIFT)
        metrics += [m for m in recorded if stats[f"{m}_n"].gt(0).any()]
        table = _by_metric(stats, rows, metrics, fmt, request.target)
    if is_centralized(stats).any() and request.layout != "niid-bench":
        table.notes.append(
            "num_clients=1: the centralized reference (one client holding all training data, "
            "same rounds, local epochs and batch size)"
        )
    return table


def default_rows(summaries: pd.DataFrame, cols: Sequence[str] = ()) -> list[str]:
    """The setting columns that vary, but those in ``cols``.

    An unlabelled strategy parameter (no legend symbol in its record, e.g.
    ``min_client_size``) that is null only for the strategies that do not take it, and
    one value otherwise, tells no setting apart and is left out.
    """
    params = {name for name, p in all_params().items() if not p.label}
    out = []
    for column in varying(summaries, setting_columns(summaries)):
        if column in cols:
            continue
        if column in params and summaries[column].dropna().astype(str).nunique() <= 1:
            continue
        out.append(column)
    return out


def _check_flags(request: Request) -> None:
    if request.metric not in A.ACCURACY:
        raise ReportError(invalid("--metric", request.metric, f"one of {list(A.ACCURACY)}"))
    if request.value not in VALUES:
        raise ReportError(invalid("--value", request.value, f"one of {list(VALUES)}"))
    if request.value == A.ROUNDS_TO_TARGET and request.target is None:
        raise ReportError(
            invalid("--value", request.value, "only with --target", "add e.g. --target 0.8")
        )
    if request.layout not in LAYOUTS:
        raise ReportError(invalid("--layout", request.layout, f"one of {list(LAYOUTS)}"))
    if request.target is not None and not 0 < request.target <= 1:
        raise ReportError(invalid("--target", request.target, "a test accuracy in (0, 1]"))


def _niid_bench_layout(frame: pd.DataFrame, request: Request) -> tuple[pd.DataFrame, Request]:
    """Partitions named and ordered as NIID-Bench's tables; one column per algorithm."""
    if request.rows or request.cols:
        raise ReportError(
            invalid(
                "--layout",
                request.layout,
                "without --rows and --cols (it sets them)",
                "drop --rows/--cols, or use --layout plain",
            )
        )
    frame = frame.copy()
    if frame.empty:
        return frame, request
    labels = []
    for row in frame[[R.PARTITION, *R.partition_columns(), R.NUM_CLIENTS]].itertuples(index=False):
        values = row._asdict()
        if values[R.NUM_CLIENTS] == 1:
            labels.append(CENTRALIZED)
            continue
        template = NIID_BENCH_PARTITIONS.get(values[R.PARTITION])
        try:
            labels.append(template.format(**_ints(values)) if template else values[R.PARTITION])
        except (KeyError, ValueError, TypeError):
            labels.append(values[R.PARTITION])
    frame[R.PARTITION] = labels
    frame[R.ALGORITHM] = frame[R.ALGORITHM].map(lambda a: NIID_BENCH_ALGORITHMS.get(a, a))
    return frame, Request(
        rows=(R.PARTITION,),
        cols=(R.ALGORITHM,),
        where=request.where,
        metric=request.metric,
        target=request.target,
        value=request.value,
        decimals=request.decimals,
    )


def _ints(values: dict) -> dict:
    return {
        k: int(v) if k == R.CLASSES_PER_CLIENT and pd.notna(v) else v for k, v in values.items()
    }


def _filtered(frame: pd.DataFrame, where: Sequence[str], allowed: list[str]) -> pd.DataFrame:
    if frame.empty:
        raise ReportError(
            "RESULTS_DIR has no finished runs: allowed is a results folder with completed or "
            "diverged runs under runs/; run a sweep first (fedbench -m -cd sweeps -cn default) "
            "or name the folder its results_dir= wrote"
        )
    for clause in where:
        key, sep, text = clause.partition("=")
        if not sep or not key:
            raise ReportError(
                invalid("--where", clause, "key=value", "e.g. --where dataset=fmnist")
            )
        if key not in allowed:
            raise ReportError(
                invalid("--where", clause, f"a key among {allowed}", "pick a key from that list")
            )
        keep = pd.Series(False, index=frame.index)
        for item in text.split(","):
            keep |= _matches(frame[key], item)
        if not keep.any():
            present = sorted({_plain(v) for v in frame[key].unique()})
            raise ReportError(
                invalid("--where", clause, f"a value of {key} among {present}", "pick one of them")
            )
        frame = frame[keep]
    return frame


def _matches(column: pd.Series, text: str) -> pd.Series:
    if text.lower() in ("null", "none", "nan", "–"):
        return column.isna()
    if pd.api.types.is_bool_dtype(column):
        return column.astype(str).str.lower() == text.lower()
    if pd.api.types.is_numeric_dtype(column):
        try:
            number = float(text)
        except ValueError:
            return pd.Series(False, index=column.index)
        return (column - number).abs() <= 1e-9 * max(1.0, abs(number))
    return column.astype(str) == text


def _check_one_setting_per_cell(stats, summaries, rows, cols, request: Request) -> None:
    keys = [*rows, *cols]
    if not keys:
        return
    counts = stats.groupby(keys, dropna=False, sort=False)[SETTING].transform("nunique")
    if (counts <= 1).all():
        return
    mixed = summaries[summaries[SETTING].isin(stats.loc[counts > 1, SETTING])]
    apart = [c for c in varying(mixed, setting_columns(mixed)) if c not in keys]
    flag, names = ("--rows", rows) if request.rows or not cols else ("--cols", cols)
    raise ReportError(
        f"{flag}={','.join(names)} is invalid: allowed is a choice of --rows and --cols that "
        f"tells every setting apart, and settings in one cell differ in {apart}; add them to "
        f"--rows or --cols, or keep one value with --where {apart[0]}=..."
    )


def _ordered(stats: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sort by the keys, nulls first; NIID-Bench's partition names in the paper's order."""
    prefixes = [t.split("{")[0] for t in NIID_BENCH_PARTITIONS.values()] + [CENTRALIZED]

    def rank(label: str) -> str:
        for i, prefix in enumerate(prefixes):
            if label.startswith(prefix):
                return f"{i:02d}|{label}"
        return f"{len(prefixes):02d}|{label}"

    def key(column: pd.Series) -> pd.Series:
        if (
            column.name == R.PARTITION
            and column.astype(str).map(rank).str[:2].ne(f"{len(prefixes):02d}").all()
        ):
            return column.astype(str).map(rank)
        return column

    if not keys:
        return stats.reset_index(drop=True)
    return stats.sort_values(keys, key=key, na_position="first", kind="stable").reset_index(
        drop=True
    )


class _Formatter:
    def __init__(self, decimals: int) -> None:
        self.decimals = decimals

    def number(self, metric: str, value: float) -> str:
        if pd.isna(value):
            return "–"
        if metric in PERCENT:
            return f"{100 * value:.{self.decimals}f}"
        if metric == A.ROUNDS_TO_TARGET:
            return f"{value:.{self.decimals}f}"
        return f"{value:.3f}"

    def cell(self, s: pd.Series, metric: str) -> str:
        n, seeds = int(s[f"{metric}_n"]), int(s[A.SEEDS])
        if n == 0:
            return "–" if metric != A.ROUNDS_TO_TARGET else f"not reached (0/{seeds})"
        text = self.number(metric, s[f"{metric}_mean"])
        if n > 1:
            text += f" ± {self.number(metric, s[f'{metric}_std'])}"
        if metric == A.ROUNDS_TO_TARGET and n < seeds:
            text += f" ({n}/{seeds} reached)"
        return text


def _plain(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _seed_note(stats: pd.DataFrame, where: list[str]) -> list[str]:
    short = stats["fewer_seeds"]
    if not short.any():
        return []
    most = int(stats[A.SEEDS].max())
    parts = [
        f"{w}: n={int(n)} (seeds {s})"
        for w, n, s in zip(
            [w for w, k in zip(where, short, strict=True) if k],
            stats.loc[short, A.SEEDS],
            stats.loc[short, A.SEED_LIST],
            strict=True,
        )
    ]
    return [f"{MARK} fewer seeds than the other settings (most have {most}): " + "; ".join(parts)]


def _numbers(stats: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    stat_columns = [f"{m}_{k}" for m in metrics for k in ("mean", "std", "n")]
    return stats[[*keys, *stat_columns, A.SEEDS, A.SEED_LIST, "fewer_seeds"]].copy()


def _by_metric(stats, rows, metrics, fmt, target) -> Table:
    """One row per setting; one column per metric and one for the number of seeds."""
    header = [*rows]
    header += [f"rounds to {target:g}" if m == A.ROUNDS_TO_TARGET else HEADERS[m] for m in metrics]
    header.append("seeds")
    body = []
    for _, s in stats.iterrows():
        cells = [_plain(s[r]) for r in rows] + [fmt.cell(s, m) for m in metrics]
        body.append([*cells, f"{int(s[A.SEEDS])}{MARK if s['fewer_seeds'] else ''}"])
    notes = ["mean ± std over seeds"]
    notes += _seed_note(stats, [f"row {i + 1}" for i in range(len(stats))])
    return Table(header, body, _numbers(stats, rows, metrics), notes)


def _column_title(cols: list[str], values: tuple[str, ...], named: list[str]) -> str:
    return " ".join(f"{c}={v}" if c in named else v for c, v in zip(cols, values, strict=True))


def _pivot(stats, rows, cols, metric, fmt) -> Table:
    """Rows by ``rows``, one column per combination of ``cols``; each cell ``metric``."""

    def key(s: pd.Series, names: list[str]) -> tuple[str, ...]:
        return tuple(_plain(s[c]) for c in names)

    col_keys = list(dict.fromkeys(key(s, cols) for _, s in stats.iterrows()))
    row_keys = list(dict.fromkeys(key(s, rows) for _, s in stats.iterrows()))
    cells = {(key(s, rows), key(s, cols)): s for _, s in stats.iterrows()}
    named = [c for c in cols if not pd.api.types.is_string_dtype(stats[c])]
    header = [*rows, *(_column_title(cols, k, named) for k in col_keys)]
    body, where = [], []
    for _i, rkey in enumerate(row_keys):
        line = list(rkey)
        for ckey in col_keys:
            s = cells.get((rkey, ckey))
            line.append(
                "–" if s is None else fmt.cell(s, metric) + (MARK if s["fewer_seeds"] else "")
            )
        body.append(line)
    where = [
        f"row {row_keys.index(key(s, rows)) + 1}, {' '.join(key(s, cols))}"
        for _, s in stats.iterrows()
    ]
    seeds = ", ".join(str(int(n)) for n in sorted(stats[A.SEEDS].unique()))
    notes = [f"{HEADERS.get(metric, metric)}: mean ± std over seeds (n = {seeds})"]
    notes += _seed_note(stats, where)
    return Table(header, body, _numbers(stats, [*rows, *cols], [metric]), notes)


# --- rendering ---------------------------------------------------------------------------


def to_markdown(table: Table) -> str:
    """A GitHub pipe table, then the footnotes."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [line(table.header), "|" + "|".join("---" for _ in table.header) + "|"]
    out += [line(r) for r in table.rows]
    return "\n".join([*out, "", *table.notes]) + "\n"


def to_csv(table: Table) -> str:
    """The numbers behind the table, one line per setting: keys, ``<metric>_mean/_std/_n``, n."""
    buffer = io.StringIO()
    table.data.to_csv(buffer, index=False)
    return buffer.getvalue()


_LATEX_SPECIAL = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
}


def _latex(text: str) -> str:
    text = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    text = text.replace(" ± ", r" $\pm$ ").replace(MARK, r"\textsuperscript{\dag}")
    return text.replace("–", "--")


def to_latex(table: Table) -> str:
    """A booktabs ``tabular`` (``\\usepackage{booktabs}``), footnotes as a paragraph below."""
    spec = "l" * len(table.header)
    out = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    out.append(" & ".join(_latex(h) for h in table.header) + r" \\")
    out.append(r"\midrule")
    out += [" & ".join(_latex(c) for c in row) + r" \\" for row in table.rows]
    out += [r"\bottomrule", r"\end{tabular}"]
    out += [r"\par\footnotesize " + _latex(n) for n in table.notes]
    return "\n".join(out) + "\n"


RENDER = {"md": to_markdown, "csv": to_csv, "latex": to_latex}


def render(table: Table, fmt: str) -> str:
    """The table in ``fmt`` (one of :data:`FORMATS`)."""
    return RENDER[fmt](table)


# --- command line ------------------------------------------------------------------------


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
        text = render(build(load_settings(args.results_dir), request), args.format)
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
