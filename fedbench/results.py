"""Per-run result files: column names, schema, atomic writes, resume lookups.

Each run lands as one Parquet file ``<results_dir>/runs/<config_hash>.parquet`` with
one row per round. ``pandas.read_parquet("<results_dir>/runs")`` loads a whole sweep.
Every file is written with :data:`SCHEMA`, so files from different runs (where a
parameter is null in one and set in another) always concatenate.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fedbench import atomic

RUNS_SUBDIR = "runs"

# --- identity and status
RUN_ID = "run_id"
CONFIG_HASH = "config_hash"
STATUS = "status"
STATUS_COMPLETED = "completed"
STATUS_DIVERGED = "diverged"
STATUS_FAILED = "failed"
#: Statuses a resumed sweep does not redo (divergence is deterministic for a config).
FINISHED_STATUSES = frozenset({STATUS_COMPLETED, STATUS_DIVERGED})

# --- configuration
DATASET = "dataset"
PARTITION = "partition"
MODEL = "model"
ALGORITHM = "algorithm"
SEED = "seed"
NUM_CLIENTS = "num_clients"
CLIENTS_PER_ROUND = "clients_per_round"
ROUNDS = "rounds"
LOCAL_EPOCHS = "local_epochs"
BATCH_SIZE = "batch_size"
CLIENT_LR = "client_lr"
SERVER_LR = "server_lr"
CLIENT_MOMENTUM = "client_momentum"
EVAL_EVERY = "eval_every"
ALPHA = "alpha"
CLASSES_PER_CLIENT = "classes_per_client"
SHARDS_PER_CLIENT = "shards_per_client"
SIGMA = "sigma"
MIN_CLIENT_SIZE = "min_client_size"
QUANTITY_ALPHA = "quantity_alpha"
WRITER_MODE = "writer_mode"
CONFIG_JSON = "config_json"

# --- per round
ROUND = "round"
EVALUATED = "evaluated"
TRAIN_LOSS = "train_loss"
TRAIN_ACCURACY = "train_accuracy"
TEST_LOSS = "test_loss"
TEST_ACCURACY = "test_accuracy"
CLIENT_ACCURACY_MEAN = "client_accuracy_mean"
CLIENT_ACCURACY_P10 = "client_accuracy_p10"
CLIENT_DRIFT = "client_drift"
ROUND_SECONDS = "round_seconds"
EXAMPLES_PER_SECOND = "examples_per_second"
TRAIN_EXAMPLES = "train_examples"

# --- heterogeneity of the partition actually used
LABEL_EMD = "label_emd"
LABEL_JSD = "label_jsd"
LABEL_HELLINGER = "label_hellinger"
EFFECTIVE_CLASSES = "effective_classes"
SIZE_CV = "size_cv"
DROPPED_FRACTION = "dropped_fraction"
HETEROGENEITY_METRICS = (LABEL_EMD, LABEL_JSD, LABEL_HELLINGER, EFFECTIVE_CLASSES, SIZE_CV)

# --- provenance
FEDBENCH_VERSION = "fedbench_version"
TENSORFLOW_VERSION = "tensorflow_version"
TFF_VERSION = "tff_version"
NUMPY_VERSION = "numpy_version"
PYTHON_VERSION = "python_version"
GIT_COMMIT = "git_commit"
GIT_DIRTY = "git_dirty"
STARTED_AT = "started_at"
ERROR = "error"

_STR, _INT, _FLOAT, _BOOL = pa.string(), pa.int64(), pa.float64(), pa.bool_()

#: Column name -> Arrow type, in file order. Parameters that do not apply are null.
SCHEMA = pa.schema(
    [
        (RUN_ID, _STR),
        (CONFIG_HASH, _STR),
        (STATUS, _STR),
        (DATASET, _STR),
        (PARTITION, _STR),
        (MODEL, _STR),
        (ALGORITHM, _STR),
        (SEED, _INT),
        (NUM_CLIENTS, _INT),
        (CLIENTS_PER_ROUND, _INT),
        (ROUNDS, _INT),
        (LOCAL_EPOCHS, _INT),
        (BATCH_SIZE, _INT),
        (CLIENT_LR, _FLOAT),
        (SERVER_LR, _FLOAT),
        (CLIENT_MOMENTUM, _FLOAT),
        (EVAL_EVERY, _INT),
        (ALPHA, _FLOAT),
        (CLASSES_PER_CLIENT, _INT),
        (SHARDS_PER_CLIENT, _INT),
        (SIGMA, _FLOAT),
        (MIN_CLIENT_SIZE, _INT),
        (QUANTITY_ALPHA, _FLOAT),
        (WRITER_MODE, _STR),
        (ROUND, _INT),
        (EVALUATED, _BOOL),
        (TRAIN_LOSS, _FLOAT),
        (TRAIN_ACCURACY, _FLOAT),
        (TEST_LOSS, _FLOAT),
        (TEST_ACCURACY, _FLOAT),
        (CLIENT_ACCURACY_MEAN, _FLOAT),
        (CLIENT_ACCURACY_P10, _FLOAT),
        (CLIENT_DRIFT, _FLOAT),
        (ROUND_SECONDS, _FLOAT),
        (EXAMPLES_PER_SECOND, _FLOAT),
        (TRAIN_EXAMPLES, _INT),
        (LABEL_EMD, _FLOAT),
        (LABEL_JSD, _FLOAT),
        (LABEL_HELLINGER, _FLOAT),
        (EFFECTIVE_CLASSES, _FLOAT),
        (SIZE_CV, _FLOAT),
        (DROPPED_FRACTION, _FLOAT),
        (FEDBENCH_VERSION, _STR),
        (TENSORFLOW_VERSION, _STR),
        (TFF_VERSION, _STR),
        (NUMPY_VERSION, _STR),
        (PYTHON_VERSION, _STR),
        (GIT_COMMIT, _STR),
        (GIT_DIRTY, _BOOL),
        (STARTED_AT, pa.timestamp("us", tz="UTC")),
        (ERROR, _STR),
        (CONFIG_JSON, _STR),
    ]
)
COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)


def config_hash(config: Mapping[str, Any]) -> str:
    """Return a stable 16-hex-digit hash of a run's configuration.

    Parameters
    ----------
    config
        The resolved configuration as plain containers, without keys that do not
        change the result (``results_dir``, ``plot``, ``export``).

    Returns
    -------
    str
        The first 16 hex digits of the SHA-256 of its canonical JSON.

    """
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def runs_dir(results_dir: str | os.PathLike) -> Path:
    """Return the folder holding one Parquet file per run."""
    return Path(results_dir) / RUNS_SUBDIR


def run_path(results_dir: str | os.PathLike, hash_: str) -> Path:
    """Return the Parquet path of the run whose configuration hashes to ``hash_``."""
    return runs_dir(results_dir) / f"{hash_}.parquet"


def finished_status(results_dir: str | os.PathLike, hash_: str) -> str | None:
    """Return the status of a finished (completed or diverged) run, else ``None``.

    A missing, unreadable or ``failed`` file counts as not finished, so a resumed
    sweep redoes it.
    """
    path = run_path(results_dir, hash_)
    if not path.is_file():
        return None
    try:
        statuses = pq.read_table(path, columns=[STATUS]).column(STATUS).to_pylist()
    except (OSError, pa.ArrowInvalid):
        return None
    status = statuses[0] if statuses else None
    return status if status in FINISHED_STATUSES else None


def to_table(rows: list[Mapping[str, Any]]) -> pa.Table:
    """Build an Arrow table with :data:`SCHEMA` from row dicts (missing keys become null).

    Raises
    ------
    KeyError
        If a row has a key that is not a column of :data:`SCHEMA` (a typo would
        otherwise be dropped silently).

    """
    for row in rows:
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise KeyError(f"not result columns: {sorted(unknown)}")
    frame = pd.DataFrame(list(rows), columns=list(COLUMNS))
    if STARTED_AT in frame:
        frame[STARTED_AT] = pd.to_datetime(frame[STARTED_AT], utc=True)
    return pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False)


def write_atomic(table: pa.Table, path: str | os.PathLike) -> Path:
    """Write ``table`` to ``path`` as Parquet atomically (:func:`fedbench.atomic.write_atomic`)."""
    return atomic.write_atomic(path, lambda handle: pq.write_table(table, handle))


def write_run(rows: list[Mapping[str, Any]], results_dir: str | os.PathLike, hash_: str) -> Path:
    """Write one run's rows to its Parquet file atomically and return the path."""
    return write_atomic(to_table(rows), run_path(results_dir, hash_))


def load_runs(results_dir: str | os.PathLike) -> pd.DataFrame:
    """Load every run under ``results_dir`` into one DataFrame (empty with the columns if none)."""
    folder = runs_dir(results_dir)
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        return SCHEMA.empty_table().to_pandas()
    return pa.concat_tables([pq.read_table(f, schema=SCHEMA) for f in files]).to_pandas()


class RunLock:
    """An exclusive claim on one configuration, so parallel jobs never run it twice.

    The claim is an advisory ``flock`` on ``.<config_hash>.lock`` (which also holds the
    owner's pid, for people). The kernel drops the lock when its owner exits, however
    it exits, so a claim left by a dead process is free without guessing from pids,
    and there is no window in which a claim exists but its owner is not yet known.
    The owner unlinks the file while still holding the lock; a process that locked
    the file just before that notices the path now names another file and retries.
    """

    def __init__(self, results_dir: str | os.PathLike, hash_: str) -> None:
        # A leading dot: pyarrow and pandas skip it when reading the runs/ folder.
        self.path = runs_dir(results_dir) / f".{hash_}.lock"
        self._fd: int | None = None

    @property
    def acquired(self) -> bool:
        """Whether this object holds the claim."""
        return self._fd is not None

    def acquire(self) -> bool:
        """Try to take the claim without waiting; return whether this process now holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            if self._still_names(fd):
                break
            os.close(fd)  # the previous owner unlinked it after we opened it: try again
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError:
            self.release()
            raise
        return True

    def _still_names(self, fd: int) -> bool:
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            return False
        held = os.fstat(fd)
        return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)

    def release(self) -> None:
        """Give up the claim (a no-op if it was not acquired)."""
        if self._fd is None:
            return
        if self._still_names(self._fd):  # not a file someone else made after ours was removed
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        os.close(self._fd)  # closing drops the lock
        self._fd = None


@contextlib.contextmanager
def claimed(results_dir: str | os.PathLike, hash_: str) -> Iterator[bool]:
    """Context manager yielding whether the claim on ``hash_`` was acquired; releases it on exit."""
    lock = RunLock(results_dir, hash_)
    try:
        yield lock.acquire()
    finally:
        lock.release()
