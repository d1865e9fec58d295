"""Run one prepared job: skip it if done, claim it, train through TFF, write its Parquet."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedbench import results as R
from fedbench.app.job.prepare import PreparedRun
from fedbench.app.launchers.threads import job_threads
from fedbench.clients import training_data
from fedbench.errors import ResultsNotWritable
from fedbench.fl_keys import column_keys
from fedbench.interrupts import Terminated, stop_name
from fedbench.results import trajectory
from fedbench.results.provenance import provenance
from fedbench.results.tensorboard import EventLog
from fedbench.spec import RunSpec

if TYPE_CHECKING:  # TensorFlow only when a run trains
    from fedbench.training.session import TrainingSession

log = logging.getLogger(__name__)


def config_columns(spec: RunSpec) -> dict[str, Any]:
    """The configuration columns of a result row; parameters that do not apply are null."""
    row = {
        R.DATASET: spec.dataset.name,
        R.PARTITION: spec.partition.name,
        R.MODEL: spec.model.name,
        R.ALGORITHM: spec.algorithm.name,
        R.SEED: spec.seed,
        **{key.name: getattr(spec.fl, key.name) for key in column_keys()},
        R.REQUESTED_ROUNDS: [spec.fl.rounds],
        R.CONFIG_JSON: spec.identity_json(),
    }
    row.update({k: spec.partition.options.get(k) for k in R.partition_columns()})
    row.update({k: spec.algorithm.options.get(k) for k in R.algorithm_columns()})
    return row


def run(prepared: PreparedRun, session: TrainingSession | None = None) -> str:
    """Run one prepared job: answer it from the stored trajectory, or train what is missing.

    A run is a trajectory: the job asks it for ``fl.rounds`` and, when its sweep asks
    the same run for fewer rounds too (``launch.eval_rounds``:
    :mod:`fedbench.app.sweep.round_groups`), for those as well. The rules of what the stored
    rows answer and what is left to train are :mod:`fedbench.results.trajectory`'s
    (:func:`~fedbench.results.trajectory.holds`,
    :func:`~fedbench.results.trajectory.next_training`); this function claims the run,
    trains what they say under the claim and writes the rows. ``session``: the TFF
    worker and learning processes that the jobs of this process share (``None``: the
    job starts its own).

    Returns
    -------
    str
        The job's status: ``completed`` or ``diverged`` (trained), ``failed``, or
        ``skipped`` (answered from stored rows); ``running elsewhere`` when
        another process is training the same round count.

    Raises
    ------
    BaseException
        Whatever stopped the run (also Ctrl-C); its rows so far and its checkpoint
        are saved first, so the same command resumes it.

    """
    spec = prepared.spec
    results_dir, hash_, rounds = spec.results_dir, spec.config_hash, spec.fl.rounds
    asks = sorted({rounds, *prepared.launch.eval_rounds})
    progress = R.read_progress(results_dir, hash_)
    if all(trajectory.holds(progress, r, recorded=True) for r in asks):
        log.info("run %s: its %d rounds are already stored; skipping", hash_, rounds)
        return R.Status.SKIPPED
    R.check_space(results_dir, hash_)
    with _claimed(results_dir, hash_, rounds) as lock:
        if not lock.acquired:
            log.info("run %s is being run by another process; leaving it to that one", hash_)
            return R.Status.ELSEWHERE
        status = R.Status.SKIPPED
        for _ in range(2):  # a training pass, then at most one replay to evaluate
            # Read under the claim: another process may have trained it meanwhile.
            progress = _read_recorded(results_dir, hash_, lock.previous)
            training = trajectory.next_training(progress, asks)
            if training is None:
                break
            trained = _train_and_write(prepared, progress, asks, training.replay_to, session)
            if training.replay_to is None:
                status = trained
            elif status == R.Status.SKIPPED:  # a replay evaluated rounds: the job trained
                status = R.Status.COMPLETED
        if status == R.Status.SKIPPED:
            _write(trajectory.with_requests(progress, asks), results_dir, hash_)
            log.info("run %s: %d rounds answered from its stored rows", hash_, rounds)
        written = R.read_progress(results_dir, hash_)
        if written is not None:
            with contextlib.suppress(OSError):  # a hint for other hosts: the result is written
                lock.record_finished(written.status, written.last_round)
        return status


#: How long a job waits to see a result file that the run's claim says was written.
RECORDED_WAIT_SECONDS = 30.0


def _read_recorded(
    results_dir: str, hash_: str, recorded: tuple[str, int] | None
) -> R.Progress | None:
    """The run's stored rows, read under its claim, as far as the claim's record says.

    The last owner of the claim recorded the rounds its result file holds
    (:meth:`fedbench.results.RunLock.record_finished`). A host that does not see them yet
    (NFS lists a file just renamed on another host only once its cache expires) reads
    again, for up to :data:`RECORDED_WAIT_SECONDS`, before it trains them itself.
    """
    deadline = time.monotonic() + RECORDED_WAIT_SECONDS
    while True:
        progress = R.read_progress(results_dir, hash_, reject=recorded is None)
        seen = progress.last_round if progress is not None else 0
        if recorded is None or seen >= recorded[1] or time.monotonic() > deadline:
            if recorded is not None and seen < recorded[1]:
                log.warning(
                    "run %s: its claim records %d rounds written, its result file shows %d; "
                    "training what is missing",
                    hash_,
                    recorded[1],
                    seen,
                )
                progress = R.read_progress(results_dir, hash_, reject=True)
            return progress
        time.sleep(CLAIM_POLL_SECONDS)


#: How often a job waiting for its run's claim looks again.
CLAIM_POLL_SECONDS = 1.0


@contextlib.contextmanager
def _claimed(results_dir: str, hash_: str, rounds: int) -> Iterator[R.RunLock]:
    """Claim run ``hash_`` for ``fl.rounds=rounds``; yield the claim (``acquired``: this process's).

    A run claimed by a process training the same round count is left to it (it answers
    this very request). One training another round count does not answer this one:
    the job waits for it, then extends its trajectory or reads the setting from it.
    File-system errors are :class:`ResultsNotWritable`.
    """
    lock = R.RunLock(results_dir, hash_)
    note = str(rounds)
    try:
        try:
            waiting = False
            while not lock.acquire(note) and R.claim_note(results_dir, hash_) != note:
                if not waiting:
                    log.info("run %s: another process trains other rounds; waiting", hash_)
                    waiting = True
                time.sleep(CLAIM_POLL_SECONDS)
        except OSError as error:
            raise ResultsNotWritable(
                f"run {hash_} cannot be claimed in {R.runs_dir(results_dir)} "
                f"({error.strerror}); make that folder writable and run the same command again"
            ) from None
        yield lock
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
    prepared: PreparedRun,
    progress: R.Progress | None,
    asks: list[int],
    replay_to: int | None,
    session: TrainingSession | None,
) -> str:
    """Train the rounds the stored trajectory lacks and write every row of the run.

    Rows come back as records arrive: a record of round ``k`` replaces the stored row
    of round ``k`` (the same numbers: rounds replay exactly). Before each checkpoint
    the rows through its round are written (status ``running`` short of the largest
    request), so a checkpoint never gets ahead of the rows and a killed run loses at
    most the rounds since the last checkpoint (it then reads ``killed``).

    Parameters
    ----------
    prepared
        The job.
    progress
        What the store holds of the run (``None``: nothing).
    asks
        The round counts the job asks of the run (recorded in ``requested_rounds``,
        each evaluated when trained).
    replay_to
        Train rounds 1..``replay_to`` again from the initial state, without touching the
        checkpoint, to evaluate rounds the trajectory holds unevaluated
        (:class:`fedbench.results.trajectory.Training`); ``None``: train on.
    session
        The training session of this process's jobs, if they share one.

    Returns
    -------
    str
        ``diverged`` if the rounds trained diverged, else ``completed``.

    """
    from fedbench.training.checkpoints import Checkpoints  # TensorFlow only when a run trains
    from fedbench.training.train import train

    spec, data = prepared.spec, prepared.load()
    hash_ = spec.config_hash
    stored = progress.rows.to_dict("records") if progress is not None else []
    requested = trajectory.requested_rounds(progress, asks)
    if replay_to is not None:
        spec = dataclasses.replace(spec, fl=spec.fl.replace(rounds=replay_to))
    eval_rounds = trajectory.rounds_to_evaluate(stored, requested, spec.fl.rounds)
    started_at = dt.datetime.now(dt.UTC)
    run_id = stored[0][R.RUN_ID] if stored else f"{hash_}-{started_at:%Y%m%dT%H%M%S%f}"
    training = training_data(spec, data)
    base = {
        R.RUN_ID: run_id,
        R.CONFIG_HASH: hash_,
        R.STARTED_AT: started_at,
        **config_columns(spec),
        **provenance(),
        **{k: training.metrics[k] for k in (*R.HETEROGENEITY_METRICS, R.DROPPED_FRACTION)},
    }
    rows: list[dict[str, Any]] = list(stored)
    last_round = rows[-1][R.ROUND] if rows else 0

    # Events follow the rows: written once they are in the Parquet file.
    events = EventLog(spec, stored=last_round) if spec.fl.tensorboard else None

    def save_rows(status: str, error: str | None = None) -> Path:
        out = trajectory.stamped(rows or [dict(base)], requested, status, **{R.ERROR: error})
        path = _write(out, spec.results_dir, hash_)
        if events is not None:
            events.add(rows)
        return path

    checkpoints = (
        None if replay_to is not None else Checkpoints(spec.results_dir, hash_, spec.fl.execution)
    )
    error, stopped = None, False
    worker_log = Path(spec.results_dir) / "logs" / "tff-worker.log"
    worker_log.parent.mkdir(parents=True, exist_ok=True)
    records = train(
        spec,
        training,
        worker_log=worker_log,
        threads=job_threads(spec, prepared.launch.threads),
        session=session,
        eval_rounds=eval_rounds,
        checkpoints=checkpoints,
        kept_rounds=last_round,
        before_checkpoint=lambda round_num: save_rows(
            trajectory.final_status(rows, requested[-1], diverged=False, training=True)
        ),
    )
    # A replay ends before the stored trajectory does, which may have diverged later.
    stored_diverged = progress is not None and progress.diverged_at is not None
    diverged, write = False, True
    try:
        with contextlib.closing(records):
            for record in records:
                fields = dataclasses.asdict(record)
                diverged = fields.pop("diverged")
                rows[:] = trajectory.with_round(rows, {**base, **fields})
        if diverged and checkpoints is not None:
            checkpoints.discard()
    except ResultsNotWritable:  # saving the rows at a checkpoint failed: no second try
        write = False
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    except BaseException as exc:  # stopped from outside: a signal, a requeue's exit
        error, stopped = _stopped_by(exc), True
        raise
    finally:
        try:
            if write:  # the largest request's status: an interrupted replay leaves it complete
                status = trajectory.final_status(
                    rows, requested[-1], diverged or stored_diverged, stopped
                )
                own = max(asks)
                answered = max((r[R.ROUND] for r in rows), default=0) >= own
                if status == R.Status.FAILED and error is None and progress is not None:
                    if own < requested[-1] and answered:
                        # This job answered its own, smaller request; a larger one an
                        # earlier job left unfinished keeps its status (interrupted, ...).
                        status = R.Status(progress.status)
                path = save_rows(status, error if status in R.UNFINISHED_STATUSES else None)
                log.info("run %s %s: %d rows -> %s", hash_, status, len(rows), path)
        finally:
            if events is not None:
                events.close()
    return R.Status.DIVERGED if diverged else R.Status.COMPLETED


def _stopped_by(stop: BaseException) -> str:
    """What stopped a run from outside, for its ``error`` column."""
    if isinstance(stop, Terminated) and stop.code == 128 + signal.SIGUSR2:
        return "stopped by SIGUSR2 (a time limit near): submitit requeues the job, which resumes it"
    if isinstance(stop, KeyboardInterrupt | Terminated):
        return f"stopped by {stop_name(stop)}: run the same command again to resume"
    # submitit ends a job it requeued (a Slurm time limit, a pre-emption) with sys.exit.
    return f"stopped ({type(stop).__name__} {stop}): run the same command again to resume"
