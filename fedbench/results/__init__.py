"""Results: column names, per-run Parquet files, run claims and provenance.

``from fedbench import results as R`` gives the column constants (``R.TEST_ACCURACY``)
and the store's functions (``R.load_runs``, ``R.write_run``, ``R.claimed``, ...).
"""

from fedbench.results.columns import *  # noqa: F403 (the column constants are the API)
from fedbench.results.columns import algorithm_columns, column_names, partition_columns, schema
from fedbench.results.lock import RunLock, claim_note, claimed
from fedbench.results.store import (
    check_space,
    config_hash,
    load_runs,
    run_path,
    runs_dir,
    to_table,
    write_atomic,
    write_run,
)
from fedbench.results.trajectory import (
    Progress,
    answered_status,
    at_rounds,
    load_settings,
    read_progress,
)

__all__ = [
    "Progress",
    "RunLock",
    "algorithm_columns",
    "answered_status",
    "at_rounds",
    "check_space",
    "claim_note",
    "claimed",
    "column_names",
    "config_hash",
    "load_runs",
    "load_settings",
    "partition_columns",
    "read_progress",
    "run_path",
    "runs_dir",
    "schema",
    "to_table",
    "write_atomic",
    "write_run",
]
