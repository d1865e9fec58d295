"""Per-run result files: hashing, atomic writes, loading.

Each run lands as one Parquet file ``<results_dir>/runs/<config_hash>.parquet`` with
one row per round. ``pandas.read_parquet("<results_dir>/runs")`` loads a whole sweep.
Every file is written with :func:`fedbench.results.columns.schema`, so files from
different runs (where a parameter is null in one and set in another) always concatenate.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fedbench import atomic
from fedbench.errors import ResultsNotWritable
from fedbench.results.columns import (
    CONFIG_HASH,
    ROUND,
    RUN_ID,
    STARTED_AT,
    STATUS,
    schema,
)
from fedbench.results.lock import seen_status
from fedbench.results.paths import run_path, runs_dir
from fedbench.results.status import Status
from fedbench.spec import config_hash  # noqa: F401 (re-exported as R.config_hash)

log = logging.getLogger(__name__)

#: Columns every fedbench result file has: a Parquet file without them is not one.
IDENTITY_COLUMNS = (RUN_ID, CONFIG_HASH, STATUS, ROUND)


class UnreadableResult(Exception):
    """A file in ``runs/`` that is not a readable fedbench result; the message says why."""


def to_table(rows: list[Mapping[str, Any]]) -> pa.Table:
    """Build an Arrow table of the result schema from row dicts (missing keys become null).

    Raises
    ------
    KeyError
        If a row has a key that is not a result column (a typo would
        otherwise be dropped silently).

    """
    table_schema = schema()
    for row in rows:
        unknown = set(row) - set(table_schema.names)
        if unknown:
            raise KeyError(f"not result columns: {sorted(unknown)}")
    frame = pd.DataFrame(list(rows), columns=table_schema.names)
    for field in table_schema:
        if pa.types.is_list(field.type):  # a missing list is null, not pandas' NaN
            frame[field.name] = (
                frame[field.name].astype(object).where(frame[field.name].notna(), None)
            )
    if STARTED_AT in frame:
        frame[STARTED_AT] = pd.to_datetime(frame[STARTED_AT], utc=True)
    return pa.Table.from_pandas(frame, schema=table_schema, preserve_index=False)


def write_atomic(table: pa.Table, path: str | os.PathLike) -> Path:
    """Write ``table`` to ``path`` as Parquet atomically (:func:`fedbench.atomic.write_atomic`)."""
    return atomic.write_atomic(path, lambda handle: pq.write_table(table, handle))


def write_run(rows: list[Mapping[str, Any]], results_dir: str | os.PathLike, hash_: str) -> Path:
    """Write one run's rows to its Parquet file atomically and return the path."""
    return write_atomic(to_table(rows), run_path(results_dir, hash_))


def load_runs(results_dir: str | os.PathLike) -> pd.DataFrame:
    """Load every run under ``results_dir`` into one DataFrame (empty with the columns if none).

    The columns are the union of every file's and of the strategies registered now: a
    parameter column written by a strategy this process does not know (registered by
    a plugin elsewhere) is kept, null in the other runs. ``pandas.read_parquet`` on the
    folder takes one file's columns for all and may drop such a column.
    """
    folder = runs_dir(results_dir)
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    tables, skipped = [], []
    for path in files:
        try:
            tables.append(_as_seen(read_result(path), results_dir, path.stem))
        except UnreadableResult as why:
            skipped.append(f"{path.name} ({why})")
    if skipped:
        log.warning(
            "fedbench: skipping %d file(s) in %s that are not readable fedbench results: %s",
            len(skipped),
            folder,
            "; ".join(skipped),
        )
    table_schema = pa.unify_schemas([schema(), *(t.schema for t in tables)])
    return pa.concat_tables(
        [table_schema.empty_table(), *tables], promote_options="default"
    ).to_pandas()


def _as_seen(table: pa.Table, results_dir: str | os.PathLike, hash_: str) -> pa.Table:
    """``table`` with a ``running`` status as a reader sees it: ``running`` or ``killed``."""
    column = table.column(STATUS)
    if not pc.any(pc.equal(column, Status.RUNNING.value)).as_py():
        return table
    seen = seen_status(Status.RUNNING, results_dir, hash_)
    index = table.schema.get_field_index(STATUS)
    running = pc.equal(column, Status.RUNNING.value)
    return table.set_column(index, STATUS, pc.if_else(running, seen, column))


def read_result(path: str | os.PathLike) -> pa.Table:
    """Read one run's result file.

    Raises
    ------
    UnreadableResult
        ``path`` is not a file, cannot be read as Parquet (empty, truncated, corrupt), or
        is a Parquet file of something else: it lacks :data:`IDENTITY_COLUMNS` or types
        one of fedbench's columns differently.

    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableResult("not a file")
    if path.stat().st_size == 0:
        raise UnreadableResult("empty")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise UnreadableResult(f"not Parquet, or truncated: {_last_clause(error)}") from None
    missing = [c for c in IDENTITY_COLUMNS if c not in table.column_names]
    if missing:
        raise UnreadableResult(f"not a fedbench result: no column {', '.join(missing)}")
    try:
        pa.unify_schemas([schema(), table.schema])
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise UnreadableResult(f"not a fedbench result: {_last_clause(error)}") from None
    return table


def _last_clause(error: BaseException) -> str:
    """The last clause of Arrow's message (the cause, after the context it was found in)."""
    lines = str(error).strip().splitlines()
    return lines[0].rsplit(": ", 1)[-1] if lines else type(error).__name__


#: Below this much free space where results land, no run starts: it could not be saved.
MIN_FREE_BYTES = 1 << 20


def check_space(results_dir: str | os.PathLike, hash_: str | None = None) -> None:
    """Refuse to train a run whose result could not be written for want of space.

    Parameters
    ----------
    results_dir
        Where the results land.
    hash_
        The run about to train, as the error names it (``None``: a whole sweep).

    Raises
    ------
    ResultsNotWritable
        Less than :data:`MIN_FREE_BYTES` free where the results land.

    """
    runs = runs_dir(results_dir)
    folder = next(p for p in (runs, *runs.parents) if p.exists())
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        what = f"run {hash_} was not started" if hash_ else "no run was started"
        raise ResultsNotWritable(
            f"{what}: {folder} has {free // 1024} KiB free, less than the "
            f"{MIN_FREE_BYTES >> 10} KiB a result needs; free space there and run the same "
            "command again"
        )
