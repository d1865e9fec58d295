"""Per-run result files: hashing, atomic writes, loading.

Each run lands as one Parquet file ``<results_dir>/runs/<config_hash>.parquet`` with
one row per round. ``pandas.read_parquet("<results_dir>/runs")`` loads a whole sweep.
Every file is written with :func:`fedbench.results.columns.schema`, so files from
different runs (where a parameter is null in one and set in another) always concatenate.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fedbench import atomic
from fedbench.results.columns import RUNS_SUBDIR, STARTED_AT, schema
from fedbench.spec import config_hash  # noqa: F401 (re-exported as R.config_hash)


def runs_dir(results_dir: str | os.PathLike) -> Path:
    """Return the folder holding one Parquet file per run."""
    return Path(results_dir) / RUNS_SUBDIR


def run_path(results_dir: str | os.PathLike, hash_: str) -> Path:
    """Return the Parquet path of the run whose configuration hashes to ``hash_``."""
    return runs_dir(results_dir) / f"{hash_}.parquet"


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
    table_schema = pa.unify_schemas([schema(), *(pq.read_schema(f) for f in files)])
    if not files:
        return table_schema.empty_table().to_pandas()
    return pa.concat_tables([pq.read_table(f, schema=table_schema) for f in files]).to_pandas()
