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
from collections.abc import Iterator
from typing import Any

import hydra
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from fedbench import results as R
from fedbench.app.commands.warning_line import one_line_warnings
from fedbench.app.config.hydra_errors import one_line
from fedbench.app.config.schemas import CONF_DIR, register_schemas
from fedbench.app.job.outcome import JobOutcome, SweepStopped
from fedbench.app.job.prepare import PreparedRun
from fedbench.app.job.task import CommandState, Job, RunFunction
from fedbench.app.preflight.check import PreflightFailed
from fedbench.app.sweep.plugin import register_sweeper
from fedbench.errors import FedbenchError
from fedbench.interrupts import Terminated, exit_code, stop_name
from fedbench.plugins import load_plugins
from fedbench.results.columns import schema

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


def _train(prepared: PreparedRun, session: Any) -> str:
    from fedbench.app.job import experiment

    return experiment.run(prepared, session=session)


def _report(prepared: PreparedRun, session: Any) -> str:
    from fedbench.app.job import partition_report

    partition_report.report(prepared)
    return R.Status.REPORTED


def main(
    run: RunFunction,
    *,
    training: bool,
    kept_on_interrupt: str,
    argv: list[str] | None = None,
) -> None:
    """Run a Hydra app whose jobs are checked first; errors and signals end in one line.

    Parameters
    ----------
    run
        What each job does with its prepared run and the training session its
        process shares (``None``: none).
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
    """Set what Hydra reads from this process; put it back afterwards.

    Hydra parses ``sys.argv``; Hydra's errors reach fedbench with ``HYDRA_FULL_ERROR``.
    """
    saved_argv, saved_full_error = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    finally:
        sys.argv = saved_argv
        if saved_full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved_full_error  # as it was before the command


def _run_command(run: RunFunction, *, training: bool, kept_on_interrupt: str) -> None:
    try:
        load_plugins()
        schema()  # a plugin's parameter must not take a result column's name
    except FedbenchError as error:
        _fail(error)
    register_schemas(training=training)
    register_sweeper()
    logging.raiseExceptions = False  # a full disk: one line from fedbench, not a trace per record
    app = hydra.main(config_path=str(CONF_DIR), config_name=PRIMARY_CONFIG, version_base="1.3")
    state = CommandState(training=training)  # what this command keeps across its jobs
    try:
        try:
            with _shared_training(state):
                app(Job(run, state))()
        except PreflightFailed as failed:
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
        launched = state.started or state.launched
        kept = kept_on_interrupt if launched else " before any job ran: nothing was written"
        print(f"fedbench: stopped by {stop_name(stop)}{kept}", file=sys.stderr)
        sys.exit(exit_code(stop))
    summary = state.summary
    outcomes = [JobOutcome.of(o) for o in summary["outcomes"]] if summary else state.outcomes
    if any(outcome.status in R.UNFINISHED_STATUSES for outcome in outcomes):
        sys.exit(EXIT_FAILED)


@contextlib.contextmanager
def _shared_training(state: CommandState) -> Iterator[None]:
    """The jobs this command trains in its own process share a TFF worker and processes."""
    if not state.training:
        yield
        return
    from fedbench.training.session import TrainingSession  # no TensorFlow until a job trains

    state.session = TrainingSession()
    try:
        yield
    finally:
        state.session.close()


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
