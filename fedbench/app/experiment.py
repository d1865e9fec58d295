"""Run one prepared job: skip it if done, claim it, train through TFF, write its Parquet."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fedbench import results as R
from fedbench.app import round_groups
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
        R.REQUESTED_ROUNDS: [fl.rounds],
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
    """Run one prepared job: answer it from the stored trajectory, or train what is missing.

    A run is a trajectory (:mod:`fedbench.results.trajectory`): a job asking for
    ``fl.rounds=r`` is answered from the stored rows when they hold round ``r``
    evaluated; otherwise it resumes from the run's checkpoint (an interrupted run,
    or a longer request extending a finished one) or trains from round 1. A job
    whose round ``r`` was trained but not evaluated (a longer run with
    ``fl.eval_every > 1``) trains rounds 1..``r`` again to evaluate it.

    Returns
    -------
    str
        The job's status: ``completed`` or ``diverged`` (trained), ``failed``, or
        ``skipped`` (answered from stored rows); :data:`STATUS_ELSEWHERE` when
        another process is running it.

    Raises
    ------
    BaseException
        Whatever stopped the run (also Ctrl-C); its rows so far and its checkpoint
        are saved first, status ``failed``, so the same command resumes it.

    """
    spec = prepared.spec
    results_dir, hash_, rounds = spec.results_dir, spec.config_hash, spec.fl.rounds
    if _holds(R.read_progress(results_dir, hash_), rounds, recorded=True):
        log.info("run %s: its %d rounds are already stored; skipping", hash_, rounds)
        return "skipped"
    check_space(results_dir, hash_)
    with _claimed(results_dir, hash_, wait=round_groups.waits_for_claim(spec)) as mine:
        if not mine:
            log.info("run %s is being run by another process; leaving it to that one", hash_)
            return STATUS_ELSEWHERE
        # Read under the claim: another process may have trained it meanwhile.
        progress = R.read_progress(results_dir, hash_)
        if _holds(progress, rounds, recorded=False):
            _write(_with_request(progress, spec), results_dir, hash_)
            log.info("run %s: %d rounds answered from its stored rows", hash_, rounds)
            return "skipped"
        replay = progress is not None and progress.answers(rounds) is not None
        return _train_and_write(prepared, progress, replay=replay)


def _holds(progress: R.Progress | None, rounds: int, *, recorded: bool) -> bool:
    """Whether the stored rows answer ``fl.rounds=rounds`` (and list it, if ``recorded``)."""
    if progress is None:
        return False
    answered = progress.answers(rounds)
    if answered is None or (recorded and rounds not in progress.requested):
        return False
    return answered == R.STATUS_DIVERGED or progress.evaluated(rounds)


def _with_request(progress: R.Progress, spec: RunSpec) -> list[dict[str, Any]]:
    """The stored rows with ``spec``'s round count among the requested ones."""
    requested = sorted({*progress.requested, spec.fl.rounds})
    largest = requested[-1]
    status = progress.answers(largest) or R.STATUS_FAILED
    rows = progress.rows.to_dict("records")
    for row in rows:
        row.update({R.ROUNDS: largest, R.REQUESTED_ROUNDS: requested, R.STATUS: status})
    return rows


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


#: How often a job waiting for its run's claim (:func:`round_groups.waits_for_claim`) looks.
CLAIM_POLL_SECONDS = 1.0


@contextlib.contextmanager
def _claimed(results_dir: str, hash_: str, *, wait: bool = False) -> Iterator[bool]:
    """Claim run ``hash_`` (waiting while another process holds it, if ``wait``).

    Yields whether the claim is this process's; file-system errors are
    :class:`ResultsNotWritable`.
    """
    lock = R.RunLock(results_dir, hash_)
    try:
        try:
            while not lock.acquire() and wait:
                time.sleep(CLAIM_POLL_SECONDS)
        except OSError as error:
            raise ResultsNotWritable(
                f"run {hash_} cannot be claimed in {R.runs_dir(results_dir)} "
                f"({error.strerror}); make that folder writable and run the same command again"
            ) from None
        yield lock.acquired
    finally:
        lock.release()


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


def _train_and_write(
    prepared: PreparedRun, progress: R.Progress | None, *, replay: bool = False
) -> str:
    """Train the rounds the stored trajectory lacks and write every row of the run.

    Rows come back as records arrive: a record of round ``k`` replaces the stored row
    of round ``k`` (the same numbers: rounds replay exactly). Before each checkpoint
    the rows through its round are written (status ``failed`` until the request is
    done), so a checkpoint never gets ahead of the rows and a killed run loses at most
    the rounds since the last checkpoint.

    Parameters
    ----------
    prepared
        The job.
    progress
        What the store holds of the run (``None``: nothing).
    replay
        Train rounds 1..``fl.rounds`` again from the initial state, without touching the
        checkpoint, to evaluate round ``fl.rounds`` (already trained, not evaluated).

    """
    from fedbench.training.checkpoints import Checkpoints  # TensorFlow only when a run trains
    from fedbench.training.train import train

    spec, data = prepared.spec, prepared.load()
    hash_ = spec.config_hash
    stored = progress.rows.to_dict("records") if progress is not None else []
    requested = sorted({*(progress.requested if progress else ()), spec.fl.rounds})
    started_at = dt.datetime.now(dt.UTC)
    run_id = stored[0][R.RUN_ID] if stored else f"{hash_}-{started_at:%Y%m%dT%H%M%S%f}"
    base = {
        R.RUN_ID: run_id,
        R.CONFIG_HASH: hash_,
        R.STARTED_AT: started_at,
        **config_columns(spec),
        **provenance(),
        **{k: data.metrics[k] for k in (*R.HETEROGENEITY_METRICS, R.DROPPED_FRACTION)},
    }
    rows: list[dict[str, Any]] = list(stored)
    last_round = rows[-1][R.ROUND] if rows else 0

    def save_rows(status: str, error: str | None = None) -> Path:
        out = rows or [dict(base)]
        for row in out:
            row.update(
                {
                    R.STATUS: status,
                    R.ERROR: error,
                    R.ROUNDS: requested[-1],
                    R.REQUESTED_ROUNDS: requested,
                }
            )
        return _write(out, spec.results_dir, hash_)

    checkpoints = None if replay else Checkpoints(spec.results_dir, hash_)
    error = None
    worker_log = Path(spec.results_dir) / "logs" / "tff-worker.log"
    worker_log.parent.mkdir(parents=True, exist_ok=True)
    records = train(
        spec,
        training_data(spec, data),
        worker_log=worker_log,
        threads=job_threads(spec),
        eval_rounds=round_groups.eval_rounds(spec),
        checkpoints=checkpoints,
        kept_rounds=last_round,
        before_checkpoint=lambda round_num: save_rows(R.STATUS_FAILED),
    )
    # A replay ends before the stored trajectory does, which may have diverged later.
    stored_diverged = progress is not None and progress.diverged_at is not None
    diverged, write = False, True
    try:
        with contextlib.closing(records):
            for record in records:
                fields = dataclasses.asdict(record)
                diverged = fields.pop("diverged")
                rows[:] = [r for r in rows if r[R.ROUND] != record.round] + [{**base, **fields}]
                rows.sort(key=lambda row: row[R.ROUND])
        if diverged and checkpoints is not None:
            checkpoints.discard()
    except ResultsNotWritable:  # saving the rows at a checkpoint failed: no second try
        write = False
        raise
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if write:  # the largest request's status: an interrupted replay leaves it complete
            status = _final_status(rows, requested[-1], diverged or stored_diverged)
            path = save_rows(status, error if status == R.STATUS_FAILED else None)
            log.info("run %s %s: %d rows -> %s", hash_, status, len(rows), path)
    return R.STATUS_DIVERGED if diverged else R.STATUS_COMPLETED


def _final_status(rows: list[dict[str, Any]], largest: int, diverged: bool) -> str:
    """The file's status: that of its largest request once the rows are complete."""
    if diverged:
        return R.STATUS_DIVERGED
    last = max((r[R.ROUND] for r in rows), default=0)
    return R.STATUS_COMPLETED if last >= largest else R.STATUS_FAILED
