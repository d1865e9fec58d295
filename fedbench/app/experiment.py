"""Run one prepared job: skip it if done, claim it, train through TFF, write its Parquet."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fedbench import results as R
from fedbench.app.prepare import PreparedRun
from fedbench.app.threads import job_threads
from fedbench.clients import training_data
from fedbench.errors import ResultsNotWritable
from fedbench.results.provenance import provenance
from fedbench.spec import RunSpec

log = logging.getLogger(__name__)


def config_columns(spec: RunSpec) -> dict[str, Any]:
    """The configuration columns of a result row; parameters that do not apply are null."""
    fl = spec.fl
    row = {
        R.DATASET: spec.dataset.name,
        R.PARTITION: spec.partition.name,
        R.MODEL: spec.model.name,
        R.ALGORITHM: spec.algorithm.name,
        R.SEED: spec.seed,
        R.NUM_CLIENTS: fl.num_clients,
        R.CLIENTS_PER_ROUND: fl.clients_per_round,
        R.ROUNDS: fl.rounds,
        R.LOCAL_EPOCHS: fl.local_epochs,
        R.BATCH_SIZE: fl.batch_size,
        R.CLIENT_LR: fl.client_lr,
        R.SERVER_LR: fl.server_lr,
        R.CLIENT_MOMENTUM: fl.client_momentum,
        R.EVAL_EVERY: fl.eval_every,
        R.CONFIG_JSON: spec.identity_json(),
    }
    row.update({k: spec.partition.options.get(k) for k in R.partition_columns()})
    return row


def run(prepared: PreparedRun) -> str:
    """Run one prepared job unless a finished result for it exists.

    Returns
    -------
    str
        The run's status: ``completed``, ``diverged``, ``failed``, or ``skipped``
        (finished before, or being run by another process right now).

    Raises
    ------
    BaseException
        Whatever stopped the run (also Ctrl-C); its rows so far are written first
        with status ``failed``, so a resumed sweep redoes it.

    """
    spec = prepared.spec
    results_dir, hash_ = spec.results_dir, spec.config_hash
    done = R.finished_status(results_dir, hash_)
    if done:
        log.info("run %s already %s; skipping", hash_, done)
        return "skipped"
    check_space(results_dir, hash_)
    with _claimed(results_dir, hash_) as mine:
        if not mine:
            log.info("run %s is being run by another process; leaving it to that one", hash_)
            return STATUS_ELSEWHERE
        # Another process may have finished it between the look above and the claim.
        done = R.finished_status(results_dir, hash_)
        if done:
            log.info("run %s was %s by another process meanwhile; skipping", hash_, done)
            return "skipped"
        return _train_and_write(prepared, hash_)


#: The outcome of a job whose run another process is training right now.
STATUS_ELSEWHERE = "running elsewhere"
#: Below this much free space where results land, no run starts: it could not be saved.
MIN_FREE_BYTES = 1 << 20


def check_space(results_dir: str, hash_: str | None = None) -> None:
    """Refuse to train a run whose result could not be written for want of space.

    Raises
    ------
    ResultsNotWritable
        Less than :data:`MIN_FREE_BYTES` free where the results land.

    """
    runs = R.runs_dir(results_dir)
    folder = next(p for p in (runs, *runs.parents) if p.exists())
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        what = f"run {hash_} was not started" if hash_ else "no run was started"
        raise ResultsNotWritable(
            f"{what}: {folder} has {free // 1024} KiB free, less than the "
            f"{MIN_FREE_BYTES >> 10} KiB a result needs; free space there and run the same "
            "command again"
        )


@contextlib.contextmanager
def _claimed(results_dir: str, hash_: str) -> Iterator[bool]:
    """:func:`fedbench.results.claimed`, its file-system errors as :class:`ResultsNotWritable`."""
    try:
        claim = R.claimed(results_dir, hash_)
        mine = claim.__enter__()
    except OSError as error:
        raise ResultsNotWritable(
            f"run {hash_} cannot be claimed in {R.runs_dir(results_dir)} ({error.strerror}); "
            "make that folder writable and run the same command again"
        ) from None
    try:
        yield mine
    finally:
        claim.__exit__(None, None, None)


def _write(rows: list[dict[str, Any]], results_dir: str, hash_: str) -> Path:
    """Write the run's rows; a file-system error is :class:`ResultsNotWritable` naming the run."""
    try:
        return R.write_run(rows, results_dir, hash_)
    except OSError as error:
        raise ResultsNotWritable(
            f"run {hash_} trained but its result could not be written to "
            f"{R.run_path(results_dir, hash_)} ({error.strerror}); fix that and run the "
            "same command again"
        ) from None


def _train_and_write(prepared: PreparedRun, hash_: str) -> str:
    from fedbench.training.train import train  # TensorFlow only when a run trains

    spec, data = prepared.spec, prepared.load()
    started_at = dt.datetime.now(dt.UTC)
    base = {
        R.RUN_ID: f"{hash_}-{started_at:%Y%m%dT%H%M%S%f}",
        R.CONFIG_HASH: hash_,
        R.STARTED_AT: started_at,
        **config_columns(spec),
        **provenance(),
        **{k: data.metrics[k] for k in (*R.HETEROGENEITY_METRICS, R.DROPPED_FRACTION)},
    }
    rows: list[dict[str, Any]] = []
    status, error = R.STATUS_FAILED, None
    worker_log = Path(spec.results_dir) / "logs" / "tff-worker.log"
    worker_log.parent.mkdir(parents=True, exist_ok=True)
    try:
        diverged = False
        threads = job_threads(spec)
        for record in train(
            spec, training_data(spec, data), worker_log=worker_log, threads=threads
        ):
            fields = dataclasses.asdict(record)
            diverged = fields.pop("diverged")
            rows.append({**base, **fields})
        status = R.STATUS_DIVERGED if diverged else R.STATUS_COMPLETED
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if not rows:
            rows.append(dict(base))
        for row in rows:
            row[R.STATUS] = status
            row[R.ERROR] = error
        path = _write(rows, spec.results_dir, hash_)
        log.info("run %s %s: %d rows -> %s", hash_, status, len(rows), path)
    return status
