"""Where a run's files live under a results folder."""

from __future__ import annotations

import os
from pathlib import Path

from fedbench.results.columns import RUNS_SUBDIR


def runs_dir(results_dir: str | os.PathLike) -> Path:
    """Return the folder holding one Parquet file per run."""
    return Path(results_dir) / RUNS_SUBDIR


def run_path(results_dir: str | os.PathLike, hash_: str) -> Path:
    """Return the Parquet path of the run whose configuration hashes to ``hash_``."""
    return runs_dir(results_dir) / f"{hash_}.parquet"
