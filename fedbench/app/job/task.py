"""The one function every launcher runs a job through, and what it is handed.

Hydra's launchers call the task function, a :class:`Job`, with a job's composed config:
in this process (the basic launcher, a single run), or in a launcher's child, which
gets the :class:`Job` pickled with the job (joblib pickles the task function with
each job; submitit pickles the launcher that holds it into the job's payload). What
pre-flight decided travels in it as data:

- :attr:`Job.checked`: each job's checked :class:`~fedbench.spec.RunSpec`, by the
  command's overrides of the job (filled by the sweeper before it launches, or by the
  single run's pre-flight callback);
- the sweeper's launch arguments, among the job's own overrides (``launch.*``:
  :mod:`fedbench.app.config.launch_args`);
- :attr:`CommandState.training` and :attr:`CommandState.process`, where the command runs.

Every job then goes through :func:`run_job` with a :class:`JobInput`, whatever its
launcher. In the command's process the job prepares through the command's
:class:`~fedbench.app.job.prepare.Preparations` (it gets the run pre-flight
prepared); in a child it partitions its data again from the checked spec.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from fedbench import results as R
from fedbench.app.config.launch_args import LaunchArgs, without_launch_args
from fedbench.app.job.outcome import JobOutcome, SweepStopped
from fedbench.app.job.prepare import Preparations, PreparedRun
from fedbench.app.launchers import slurm_job
from fedbench.app.launchers.children import CommandProcess, job_process
from fedbench.errors import FedbenchError, ResultsNotWritable
from fedbench.interrupts import Terminated, stop_name
from fedbench.plugins import load_plugins
from fedbench.spec import RunSpec

log = logging.getLogger("fedbench")

#: What a command does with each job's prepared run, given the training session its
#: process shares (``None``: the job trains on its own): ``fedbench`` trains, ``-partition``
#: reports. Returns the job's status.
RunFunction = Callable[[PreparedRun, Any], object]


@dataclass
class CommandState:
    """What one command keeps across its jobs; the command owns it and passes it down.

    Attributes
    ----------
    training
        Whether the command trains (its jobs' models are checked against the data).
    process
        Where the command runs (a job elsewhere runs in a launcher's child).
    preparations
        What pre-flight prepared, for the jobs run in the command's process.
    outcomes
        The outcomes of the jobs run in the command's process.
    started
        Whether a job has begun (pre-flight is over).
    launched
        Whether the sweeper handed jobs to a launcher.
    summary
        The sweep's summary, once a multirun ended.
    session
        The :class:`~fedbench.training.session.TrainingSession` that the jobs trained in
        the command's process share (``None``: none).

    Only ``training`` and ``process`` travel to a launcher's child; the rest belongs to
    the command's process.

    """

    training: bool
    process: CommandProcess = field(default_factory=CommandProcess.this)
    preparations: Preparations = field(default_factory=Preparations)
    outcomes: list[JobOutcome] = field(default_factory=list)
    started: bool = False
    launched: bool = False
    summary: dict[str, Any] | None = None
    session: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"training": self.training, "process": self.process}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)


@dataclass(frozen=True)
class JobInput:
    """What a job is handed, the same whatever its launcher.

    Attributes
    ----------
    overrides
        The command's overrides of the job (without the sweeper's ``launch.*``).
    spec
        The job's run spec, as pre-flight checked it.
    launch
        What the sweeper told the job (the defaults for a single run).

    """

    overrides: tuple[str, ...]
    spec: RunSpec
    launch: LaunchArgs = field(default_factory=LaunchArgs)


class Job:
    """The Hydra task function of a command: each job's config in, its outcome (a dict) out.

    Parameters
    ----------
    run
        What the command does with each job's prepared run.
    state
        The command's state.

    """

    def __init__(self, run: RunFunction, state: CommandState) -> None:
        self.run = run
        self.state = state
        #: Each job's checked spec, by the command's overrides of the job.
        self.checked: dict[tuple[str, ...], RunSpec] = {}

    def take(self, checked: Mapping[tuple[str, ...], RunSpec], preparations: Preparations) -> None:
        """Receive pre-flight's checked specs and what it prepared (in the command's process)."""
        self.checked.update(checked)
        self.state.preparations = preparations

    def job_input(self, cfg: DictConfig) -> JobInput:
        """The input of the job Hydra composed ``cfg`` for (its overrides name it)."""
        overrides = tuple(without_launch_args(HydraConfig.get().overrides.task))
        spec = self.checked.get(overrides)
        if spec is None:  # a sweeper other than fedbench's is refused before any job
            raise RuntimeError(f"job {' '.join(overrides)!r} was not checked by pre-flight")
        return JobInput(overrides, spec, LaunchArgs.of(OmegaConf.to_container(cfg, resolve=True)))

    def __call__(self, cfg: DictConfig) -> dict[str, Any]:
        """Run the job Hydra composed ``cfg`` for; return its outcome as a dict."""
        self.state.started = True
        with job_process(
            self.state.process, training=self.state.training
        ) as process_session:  # a child: ends with the sweep
            job = self.job_input(cfg)
            session = self.state.session if process_session is None else process_session
            if slurm_job.in_submitit_job():  # a time limit: the run saves, then requeues
                with slurm_job.job_signals():
                    outcome = run_job(self.run, job, self.state, session)
            else:
                outcome = run_job(self.run, job, self.state, session)
        self.state.outcomes.append(outcome)
        return outcome.as_dict()


def run_job(run: RunFunction, job: JobInput, state: CommandState, session: Any) -> JobOutcome:
    """Prepare ``job``'s run and hand it to ``run``; a job that fails says so in one line.

    Every launcher's job comes here. A failed job returns its outcome and the other jobs
    go on; results that cannot be written stop the sweep (:class:`SweepStopped`).
    """
    run_id = job.spec.config_hash
    try:
        load_plugins()  # a job in another process registers the plugins' strategies too
        prepared = state.preparations.prepare(job.spec, training=state.training)
        status = run(prepared.launched_with(job.launch), session)
        return JobOutcome(job.overrides, run_id, status)
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
        return JobOutcome(job.overrides, run_id, R.Status.INTERRUPTED, message)
    except Exception as error:
        if os.environ.get("FEDBENCH_TRACEBACK"):
            traceback.print_exc()
        message = (
            str(error) if isinstance(error, FedbenchError) else f"{type(error).__name__}: {error}"
        )
        print(f"fedbench: run {run_id} failed: {message}", file=sys.stderr)
        return JobOutcome(job.overrides, run_id, R.Status.FAILED, message)
