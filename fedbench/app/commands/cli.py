"""Command-line entry points: ``fedbench`` (train) and ``fedbench-partition`` (report).

Both are Hydra apps over ``conf/``. Every job is checked before any runs: a
multirun's jobs by fedbench's sweeper (:mod:`fedbench.app.sweep.sweeper`), a single run
by :class:`fedbench.app.preflight.check.PreflightCallback`. A problem ends the command
with one line on stderr and exit status 2, before any training and without touching
``results_dir``. Set ``FEDBENCH_TRACEBACK=1`` to see the traceback.
"""

from __future__ import annotations

import os

# Before TensorFlow is imported: keep its C++ start-up chatter off stderr, which
# carries fedbench's own one-line errors. Set TF_CPP_MIN_LOG_LEVEL=0 to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import contextlib
import logging
import sys
import traceback
from collections.abc import Callable, Iterator

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from fedbench import results as R
from fedbench.app.commands.warning_line import one_line_warnings
from fedbench.app.config.hydra_errors import one_line
from fedbench.app.config.launch_args import LaunchArgs, without_launch_args
from fedbench.app.config.schemas import CONF_DIR, register_schemas
from fedbench.app.launchers import slurm_job
from fedbench.app.launchers.children import COMMAND_PID_VAR, job_in_child
from fedbench.app.preflight import check as preflight
from fedbench.app.preflight.prepare import PreparedRun, forget_all, recall
from fedbench.app.sweep import sweeper
from fedbench.app.sweep.plugin import register_sweeper
from fedbench.app.sweep.summary import JobOutcome, SweepStopped
from fedbench.errors import FedbenchError, ResultsNotWritable
from fedbench.interrupts import Terminated, exit_code, stop_name
from fedbench.plugins import load_plugins
from fedbench.results.columns import schema

log = logging.getLogger("fedbench")
PRIMARY_CONFIG = "config"
EXIT_USAGE = 2
#: A job failed or was interrupted (the others ran), or the sweep stopped because results
#: cannot be written.
EXIT_FAILED = 1


def _fail(error: BaseException, cause: BaseException | None = None) -> None:
    """End the command with ``error`` in one line (raised instead with ``FEDBENCH_TRACEBACK``)."""
    if os.environ.get("FEDBENCH_TRACEBACK"):
        raise error from cause
    print(f"fedbench: error: {error}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


#: The outcomes of the jobs run in this process (a single run, or the basic launcher's).
_outcomes: list[JobOutcome] = []


def _job(
    run: Callable[[PreparedRun], str], started: list[bool], *, training: bool
) -> Callable[[DictConfig], object]:
    """The Hydra task: the job's prepared run (pre-flight's, or made here) handed to ``run``.

    A launcher that runs the job in another process pickles this closure, so the job
    knows there whether its command trains. A job that fails says so in one line and
    returns its outcome; the other jobs go on.
    """

    def job(cfg: DictConfig) -> object:
        started.append(True)
        with job_in_child():  # in a launcher's child: ends with the sweep's parent
            overrides = list(HydraConfig.get().overrides.task)
            if slurm_job.in_submitit_job():  # a time limit: the run saves, then requeues
                with slurm_job.job_signals():
                    outcome = _outcome(run, cfg, overrides, training)
            else:
                outcome = _outcome(run, cfg, overrides, training)
            _outcomes.append(outcome)
            return outcome.as_dict()

    return job


def _outcome(
    run: Callable[[PreparedRun], str], cfg: DictConfig, overrides: list[str], training: bool
) -> JobOutcome:
    run_id = "?"
    # The sweeper's launch arguments travel among the job's overrides: not the job's own.
    overrides = without_launch_args(overrides)
    try:
        load_plugins()  # a job in another process registers the plugins' strategies too
        plain = OmegaConf.to_container(cfg, resolve=True)
        prepared = recall(overrides)
        if prepared is None:  # a launcher runs this job in another process
            prepared = preflight.prepare_job(plain, overrides, training=training)
        prepared = prepared.launched_with(LaunchArgs.of(plain))
        run_id = prepared.spec.config_hash
        return JobOutcome(tuple(overrides), run_id, run(prepared))
    except ResultsNotWritable as error:
        raise SweepStopped(str(error), run_id) from error
    except Terminated as stop:  # scancel: the job ends with its outcome (not on a requeue)
        if (
            not slurm_job.in_slurm_job()
            or slurm_job.requeue_signalled(stop)
            or slurm_job.being_requeued()
        ):
            raise
        message = f"stopped by {stop_name(stop)} (scancel): run the same command again to resume"
        log.warning("run %s %s", run_id, message)
        return JobOutcome(tuple(overrides), run_id, R.Status.INTERRUPTED, message)
    except Exception as error:
        if os.environ.get("FEDBENCH_TRACEBACK"):
            traceback.print_exc()
        message = (
            str(error) if isinstance(error, FedbenchError) else f"{type(error).__name__}: {error}"
        )
        print(f"fedbench: run {run_id} failed: {message}", file=sys.stderr)
        return JobOutcome(tuple(overrides), run_id, R.Status.FAILED, message)


def _train(prepared: PreparedRun) -> str:
    from fedbench.app.job import experiment

    return experiment.run(prepared)


def _report(prepared: PreparedRun) -> str:
    from fedbench.app.job import partition_report

    partition_report.report(prepared)
    return R.Status.REPORTED


def main(
    run: Callable[[PreparedRun], object],
    *,
    training: bool,
    kept_on_interrupt: str,
    argv: list[str] | None = None,
) -> None:
    """Run a Hydra app whose jobs are checked first; errors and signals end in one line.

    Parameters
    ----------
    run
        What each job does with its prepared run.
    training
        Whether the command trains (the model is checked against the data).
    kept_on_interrupt
        What the Ctrl-C / SIGTERM line says is kept.
    argv
        The command line after the program name (default ``sys.argv[1:]``).

    """
    with _command_process(argv), one_line_warnings():
        _run_command(run, training=training, kept_on_interrupt=kept_on_interrupt)


@contextlib.contextmanager
def _command_process(argv: list[str] | None) -> Iterator[None]:
    """Set what Hydra and launched jobs read from this process; put it back afterwards.

    Hydra parses ``sys.argv``; Hydra's errors reach fedbench with ``HYDRA_FULL_ERROR``;
    a launcher's child tells itself apart from the command by ``COMMAND_PID_VAR`` (the
    children inherit it when they start, during the command).
    """
    saved_argv = sys.argv
    saved_env = {name: os.environ.get(name) for name in ("HYDRA_FULL_ERROR", COMMAND_PID_VAR)}
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    os.environ["HYDRA_FULL_ERROR"] = "1"
    os.environ[COMMAND_PID_VAR] = str(os.getpid())
    try:
        yield
    finally:
        sys.argv = saved_argv
        for restored_key, value in saved_env.items():
            if value is None:
                os.environ.pop(restored_key, None)
            else:
                os.environ[restored_key] = value  # as it was before the command


def _run_command(
    run: Callable[[PreparedRun], object], *, training: bool, kept_on_interrupt: str
) -> None:
    try:
        load_plugins()
        schema()  # a plugin's parameter must not take a result column's name
    except FedbenchError as error:
        _fail(error)
    register_schemas()
    register_sweeper()
    forget_all()
    _outcomes.clear()
    sweeper.forget_summary()
    preflight.set_command(training=training)
    logging.raiseExceptions = False  # a full disk: one line from fedbench, not a trace per record
    app = hydra.main(config_path=str(CONF_DIR), config_name=PRIMARY_CONFIG, version_base="1.3")
    started: list[bool] = []  # whether a job has begun (pre-flight is over)
    try:
        try:
            with _shared_training(training):
                app(_job(run, started, training=training))()
        except preflight.PreflightFailed as failed:
            raise failed.error from None
    except FedbenchError as error:
        _fail(error)
    except (HydraException, OmegaConfBaseException) as error:
        _fail(one_line(error), cause=error)
    except SweepStopped as stopped:
        if os.environ.get("FEDBENCH_TRACEBACK"):
            raise
        print(f"fedbench: error: {stopped}; no further job was started", file=sys.stderr)
        sys.exit(EXIT_FAILED)
    except (KeyboardInterrupt, Terminated) as stop:
        if os.environ.get("FEDBENCH_TRACEBACK"):
            raise
        launched = started or sweeper.launched()
        kept = kept_on_interrupt if launched else " before any job ran: nothing was written"
        print(f"fedbench: stopped by {stop_name(stop)}{kept}", file=sys.stderr)
        sys.exit(exit_code(stop))
    summary = sweeper.last_summary()
    outcomes = [JobOutcome.of(o) for o in summary["outcomes"]] if summary else _outcomes
    if any(outcome.status in R.UNFINISHED_STATUSES for outcome in outcomes):
        sys.exit(EXIT_FAILED)


def _shared_training(training: bool) -> contextlib.AbstractContextManager:
    """The jobs this command trains in its own process share a TFF worker and processes."""
    if not training:
        return contextlib.nullcontext()
    from fedbench.training.session import kept  # no TensorFlow until a job trains

    return kept()


def train_main() -> None:
    """``fedbench``: train every configured run through TFF and write its Parquet."""
    main(
        _train,
        training=True,
        kept_on_interrupt="; finished runs are kept and each interrupted one is saved as "
        "interrupted, as far as it trained: run the same command again to resume",
    )


def partition_main() -> None:
    """``fedbench-partition``: partition, measure and report, without training."""
    main(_report, training=False, kept_on_interrupt="; the reports written so far are kept")
