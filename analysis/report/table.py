"""Aggregation: result rows -> one :class:`~analysis.report.request.Table` of a request.

Runs that differ only in ``seed`` are one setting; a cell is the mean ± sample standard
deviation over its seeds. A setting with fewer seeds than the others is marked † and
named in a footnote, never left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analysis import aggregate as A
from analysis.load import SETTING, is_centralized, setting_columns, varying
from analysis.report.cells import Formatter, by_metric, pivot, plain
from analysis.report.layouts import LAYOUTS, Layout
from analysis.report.request import VALUES, ReportError, Request, Table
from fedbench import results as R
from fedbench.errors import invalid
from fedbench.partitioning import all_params


def build(frame: pd.DataFrame, request: Request) -> Table:
    """Aggregate result rows (:func:`analysis.load.finished_settings`) into a table.

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
    layout = LAYOUTS[request.layout]
    frame, request = layout.prepare(frame, request)
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
    stats = _ordered(stats, [*rows, *request.cols], layout)
    fmt = Formatter(request.decimals)
    accuracy = A.ACCURACY[request.metric]
    if request.cols:
        shown = accuracy if request.value == "accuracy" else request.value
        by_columns = _ordered(stats, list(request.cols), layout)
        table = pivot(stats, rows, list(request.cols), shown, fmt, by_columns)
    else:
        metrics = [accuracy, *([A.ROUNDS_TO_TARGET] if request.target is not None else [])]
        recorded = (R.CLIENT_ACCURACY_P10, R.CLIENT_DRIFT)
        metrics += [m for m in recorded if stats[f"{m}_n"].gt(0).any()]
        table = by_metric(stats, rows, metrics, fmt, request.target)
    if is_centralized(stats).any():
        table.notes.append(
            "num_clients=1: the centralized reference (one client holding all training data, "
            "same rounds, local epochs and batch size)"
        )
    return table


#: What each status of a setting without a result says, in a report's footnote.
_NOT_FINISHED = {
    R.Status.RUNNING: "still training",
    R.Status.KILLED: "its process ended without a word (kill -9, out of memory, a node failure)",
    R.Status.INTERRUPTED: "stopped from outside",
    R.Status.FAILED: "stopped by an error",
}


def not_finished_note(unfinished: pd.DataFrame) -> str | None:
    """A footnote naming the settings the table leaves out for want of a result, by status.

    ``unfinished``: :func:`analysis.load.unfinished`. ``None`` when every setting finished.
    """
    if unfinished.empty:
        return None
    parts = []
    for status, group in unfinished.groupby(R.STATUS, sort=True):
        runs = ", ".join(
            f"{row[R.CONFIG_HASH]} (rounds={row[R.ROUNDS]}, "
            + (f"rows to round {int(row[R.ROUND])})" if pd.notna(row[R.ROUND]) else "no row)")
            for _, row in group.iterrows()
        )
        what = _NOT_FINISHED.get(status, status)
        parts.append(f"{len(group)} {status} ({what}): {runs}")
    return "Left out, no result yet: " + "; ".join(parts) + "; the same command resumes them"


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
            present = sorted({plain(v) for v in frame[key].unique()})
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


def _ordered(stats: pd.DataFrame, keys: list[str], layout: Layout) -> pd.DataFrame:
    """Sort by the keys, nulls first, each by the layout's order of its values."""

    def key(column: pd.Series) -> pd.Series:
        order = layout.sort_keys.get(column.name)
        return order(column) if order else column

    if not keys:
        return stats.reset_index(drop=True)
    return stats.sort_values(keys, key=key, na_position="first", kind="stable").reset_index(
        drop=True
    )
