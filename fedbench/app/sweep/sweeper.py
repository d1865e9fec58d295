"""Pre-flight as a Hydra sweeper: every job is checked before any is launched.

:class:`CheckingSweeper` wraps Hydra's own basic sweeper. It expands the sweep
exactly as the basic sweeper does, composes each job's config, builds its
:class:`~fedbench.spec.RunSpec` and prepares its data and partition; only when
every job passes does the basic sweeper launch them, through whichever launcher is
configured. Hydra composes each selection of config groups once
(:class:`~fedbench.app.config.composition.MemoConfigLoader`), for pre-flight, the basic
sweeper's own validation and an in-process launcher alike. The checked specs travel to
the jobs in the command's task function (:class:`fedbench.app.job.task.Job`), and what
the sweep comes to goes to the command's state (:class:`~fedbench.app.job.task.CommandState`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fedbench import results as R
from fedbench.app.config.composition import MemoConfigLoader
from fedbench.app.config.hydra_internals import skip_batch_validation
from fedbench.app.config.launch_args import LaunchArgs
from fedbench.app.job.outcome import JobOutcome, SweepStopped
from fedbench.app.job.task import Job
from fedbench.app.launchers.children import stop_children
from fedbench.app.launchers.threads import launcher_threads
from fedbench.app.preflight.check import check_job
from fedbench.app.sweep import round_groups
from fedbench.app.sweep.summary import (
    cancelled_outcome,
    lost_outcome,
    relaunched_outcome,
    summarize,
    summary_lines,
    write_summary,
)
from fedbench.errors import ConfigError, invalid
from fedbench.interrupts import on_stop
from fedbench.results.lock import claimed_elsewhere
from fedbench.results.status import Status
from fedbench.results.store import check_space
from fedbench.results.trajectory import answered_status, read_progress

log = logging.getLogger(__name__)


class CheckingSweeper(Sweeper):
    """Hydra's basic sweeper, after every job of the sweep passes the job check.

    Parameters
    ----------
    max_batch_size, params
        As for Hydra's basic sweeper (``hydra.sweeper.params`` holds a sweep file's grid).

    """

    def __init__(self, max_batch_size: int | None = None, params: dict | None = None) -> None:
        self.max_batch_size = max_batch_size
        self.params = dict(params or {})
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Any = None
        self.loader: MemoConfigLoader | None = None
        self.inner: Sweeper | None = None
        self.job: Job | None = None
        self.launch_args: dict[tuple[str, ...], LaunchArgs] = {}
        #: The jobs launched once more after the launcher lost them, with why.
        self.relaunched: list[JobOutcome] = []

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        """Set up the basic sweeper (and through it the launcher) over a memoising loader."""
        if not isinstance(task_function, Job):
            raise TypeError(f"fedbench's sweeper runs fedbench's jobs, not {task_function!r}")
        self.job = task_function
        self.config = config
        self.loader = MemoConfigLoader(hydra_context.config_loader)
        self.hydra_context = HydraContext(
            config_loader=self.loader, callbacks=hydra_context.callbacks
        )
        basic = ConfigStore.instance().load("hydra/sweeper/basic.yaml").node
        self.inner = instantiate(basic, max_batch_size=self.max_batch_size, params=self.params)
        # Its check that every job composes is pre-flight's (sweep), done before launching.
        skip_batch_validation(self.inner)
        self.inner.setup(
            hydra_context=self.hydra_context, task_function=task_function, config=config
        )
        self.launcher = self.inner.launcher

    def jobs(self, arguments: Sequence[str]) -> list[list[str]]:
        """Every job's overrides, in launch order, as the basic sweeper expands them."""
        assert self.inner is not None and self.loader is not None
        parser = OverridesParser.create(config_loader=self.loader)
        grid = [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        batches = type(self.inner).split_arguments(parser.parse_overrides(grid), None)
        return [list(job) for batch in batches for job in batch]

    def sweep(self, arguments: list[str]) -> Any:
        """Check every job and the launcher, launch them all, then summarise the sweep.

        A launcher that loses jobs (joblib stops the pool when one worker is killed;
        submitit stops waiting at the first job without a result) does not lose the
        sweep: fedbench waits for the runs other processes still hold, launches once
        more the jobs left without a finished result, and summarises from the result
        files what the launcher did not report. Ctrl-C or SIGTERM end it without a
        summary, once the jobs training in the launcher's children have saved their
        state (:func:`fedbench.app.launchers.children.stop_children`).
        """
        assert self.inner is not None and self.loader is not None and self.config is not None
        assert self.job is not None
        state = self.job.state
        started, since = time.monotonic(), time.time()
        self.relaunched = []
        jobs = self.jobs(arguments)
        runs = [
            check_job(
                self.loader.composed(self.config, job),
                training=state.training,
                preparations=state.preparations,
            )
            for job in jobs
        ]
        launcher = OmegaConf.to_container(self.config.hydra.launcher, resolve=True)
        check_launcher(
            launcher, OmegaConf.select(self.config, "hydra.runtime.choices")["hydra/launcher"]
        )
        for results_dir in sorted({run.spec.results_dir for run in runs}):
            check_space(results_dir)
        if _is_slurm(launcher):
            from fedbench.app.launchers import slurm

            slurm.follow_without_accounting()
        # A training command launches one job per run; a partition report, every job.
        answering = (
            round_groups.answering_jobs([run.spec for run in runs])
            if state.training
            else list(range(len(jobs)))
        )
        launching = [job for index, job in enumerate(jobs) if answering[index] == index]
        self.launch_args = _launch_args(
            jobs, runs, launcher_threads(launcher, len(launching)), training=state.training
        )
        # The checked specs travel to the jobs in the task function, as data.
        self.job.take(
            {tuple(job): run.spec for job, run in zip(jobs, runs, strict=True)},
            state.preparations,
        )
        launching_only = _LaunchingOnly(
            self.launcher, launching, self.launch_args, _slurm_job_folder(launcher)
        )
        self.inner.launcher = launching_only
        state.launched = True
        returns: list[Any] = []
        cancelled: dict[tuple[str, ...], str] = {}
        lost = "its launcher did not report it"
        lost_runs: dict[str, str] = {}  # a reason of its own for some runs
        held = [(run.spec.results_dir, run.spec.config_hash) for run in runs]
        try:
            # Ctrl-C or SIGTERM: the jobs in the launcher's children save their state
            # before the launcher tears them down.
            with on_stop(lambda signum: stop_children(held)):
                returns = [r for batch in self.inner.sweep(arguments) for r in batch]
        except SweepStopped as stopped:
            lost, lost_runs = _stopped(stopped, runs, since)
            raise
        except Exception as error:  # a launcher that lost jobs (killed, timed out, ...)
            if isinstance(error, OSError) and error.errno in _UNWRITABLE:
                raise SweepStopped(f"results cannot be written ({error})") from error
            lost = f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
            cancelled = _cancelled_before_start(launching_only.submitted)
            returns = self._recover(jobs, runs, cancelled)
        except BaseException:  # Ctrl-C, SIGTERM: the command says so in one line
            runs = []
            raise
        finally:
            if runs:
                outcomes = _outcomes(jobs, runs, returns, lost, answering, lost_runs, cancelled)
                summary = summarize(
                    outcomes,
                    time.monotonic() - started,
                    runs[0].spec.results_dir,
                    self.relaunched,
                )
                state.summary = summary
                _finish(summary, self.config)
        return returns

    def _recover(
        self, jobs: list[list[str]], runs: list[Any], cancelled: dict[tuple[str, ...], str]
    ) -> list[Any]:
        """Wait for runs still held elsewhere, then launch once more the jobs left unfinished.

        A run stopped from outside (``scancel``, Ctrl-C) and a Slurm job ``cancelled``
        before it started are left for the same command to resume or launch.
        """
        _wait_for_claims(runs)
        missing = [
            job
            for job, run in zip(jobs, runs, strict=True)
            if _stored_status(run.spec) is None
            and _file_status(run.spec) != Status.INTERRUPTED
            and tuple(job) not in cancelled
        ]
        if not missing:
            return []
        for job in missing:
            spec = runs[jobs.index(job)].spec
            progress = read_progress(spec.results_dir, spec.config_hash)
            self.relaunched.append(
                relaunched_outcome(
                    job,
                    spec.config_hash,
                    None if progress is None else progress.status,
                    0 if progress is None else progress.last_round,
                )
            )
        log.warning("the launcher lost %d jobs; launching them once more", len(missing))
        try:
            relaunched = [_with_args(job, self.launch_args) for job in missing]
            returns = list(self.launcher.launch(relaunched, initial_job_idx=len(jobs)))
        except Exception as error:  # lost again: the summary says which
            log.warning("the second launch failed too: %s", error)
            returns = []
        _wait_for_claims(runs)
        return returns


#: errno values that mean results cannot be written where they should land.
_UNWRITABLE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def _stopped(stopped: SweepStopped, runs: list[Any], since: float) -> tuple[str, dict[str, str]]:
    """Why each unfinished job of a sweep that ``stopped`` has no result.

    The run that could not be saved gets the error. A run whose rows were written since
    the sweep began (``since``, a ``time.time()``), or that another process holds, was
    training: its rows through its last checkpoint are kept (a launcher such as joblib
    has already stopped it). Every other job never started.
    """
    why = {}
    for run in runs:
        spec = run.spec
        path = R.run_path(spec.results_dir, spec.config_hash)
        written = path.is_file() and path.stat().st_mtime >= since
        if written or claimed_elsewhere(spec.results_dir, spec.config_hash):
            why[spec.config_hash] = (
                "was training when the sweep stopped; its rows through its last checkpoint "
                "are kept: run the same command again to resume it"
            )
    if stopped.run is not None:
        why[stopped.run] = str(stopped)
    return "not started: the sweep stopped", why


def _wait_for_claims(runs: list[Any], poll_seconds: float = 2.0) -> None:
    """Wait while another process (a job the launcher stopped watching) holds a run's claim."""
    while any(claimed_elsewhere(run.spec.results_dir, run.spec.config_hash) for run in runs):
        time.sleep(poll_seconds)


def _launch_args(
    jobs: list[list[str]], runs: list[Any], threads: int, *, training: bool
) -> dict[tuple[str, ...], LaunchArgs]:
    """What the sweeper tells each job: its run's shorter round counts, the thread budget.

    A partition report (``training`` false) evaluates nothing: its jobs get the thread
    budget only.
    """
    groups = round_groups.round_groups(run.spec for run in runs) if training else {}
    return {
        tuple(job): LaunchArgs(round_groups.eval_rounds(run.spec, groups), threads)
        for job, run in zip(jobs, runs, strict=True)
    }


def _with_args(job: Sequence[str], launch_args: dict[tuple[str, ...], LaunchArgs]) -> list[str]:
    """``job``'s overrides followed by those carrying its launch arguments."""
    return [*job, *launch_args[tuple(job)].overrides()]


class _LaunchingOnly:
    """A launcher that launches only the given jobs of each batch handed to it.

    Each job it launches carries its launch arguments (:mod:`fedbench.app.config.launch_args`)
    among its overrides. The sweep's other jobs are answered by those
    (:func:`round_groups.answering_jobs`). With a Slurm launcher's ``job_folder`` (where
    submitit makes one folder per job), :attr:`submitted` maps each launched job to its
    job's folder: submitit's array tasks are the batch's jobs in order.
    """

    def __init__(
        self,
        launcher: Any,
        jobs: list[list[str]],
        launch_args: dict[tuple[str, ...], LaunchArgs],
        job_folder: Path | None = None,
    ) -> None:
        self.launcher = launcher
        self.jobs = {tuple(job) for job in jobs}
        self.launch_args = launch_args
        self.job_folder = job_folder
        self.submitted: dict[tuple[str, ...], Path] = {}

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Any:
        """Launch the jobs of ``job_overrides`` that are to run; return their results."""
        chosen = [tuple(job) for job in job_overrides if tuple(job) in self.jobs]
        if not chosen:
            return []
        kept = [_with_args(job, self.launch_args) for job in chosen]
        if self.job_folder is None:
            return self.launcher.launch(kept, initial_job_idx=initial_job_idx)
        from fedbench.app.launchers import slurm  # imports submitit: only for a Slurm launcher

        before = slurm.job_folders(self.job_folder)
        try:
            return self.launcher.launch(kept, initial_job_idx=initial_job_idx)
        finally:
            made = sorted(slurm.job_folders(self.job_folder) - before, key=slurm.task_order)
            if len(made) == len(chosen):
                self.submitted.update(zip(chosen, made, strict=True))


def _slurm_job_folder(launcher: dict[str, Any]) -> Path | None:
    """Where a Slurm launcher's submitit makes its job folders (``None``: not Slurm)."""
    folder = str(launcher.get("submitit_folder") or "")
    if not _is_slurm(launcher) or not folder.endswith("%j"):
        return None
    return Path(folder).parent


def _cancelled_before_start(submitted: dict[tuple[str, ...], Path]) -> dict[tuple[str, ...], str]:
    """The Slurm jobs of ``submitted`` cancelled before they started: overrides -> job id.

    Waits first until none of them is pending or running (a launcher that lost one job
    stops waiting for the others). A job that never started (Slurm opened no log file
    for it) and that Slurm lists as cancelled, or no longer lists, was cancelled while
    it was pending.
    """
    if not submitted:
        return {}
    from fedbench.app.launchers import slurm

    states = slurm.wait_until_ended([folder.name for folder in submitted.values()])
    return {
        job: folder.name
        for job, folder in submitted.items()
        if not slurm.started(folder) and states.get(folder.name) in ("CANCELLED", "GONE")
    }


def _outcomes(
    jobs: list[list[str]],
    runs: list[Any],
    returns: list[Any],
    lost: str,
    answering: list[int],
    lost_runs: dict[str, str] | None = None,
    cancelled: dict[tuple[str, ...], str] | None = None,
) -> list[JobOutcome]:
    """Each job's outcome: what it returned, else what its result file says.

    ``lost`` says why a job did not report an outcome; ``lost_runs`` says it instead for
    some runs (by ``config_hash``). A job of ``cancelled`` (a Slurm job cancelled before
    it started: overrides -> job id) is ``cancelled``, unless the stored rows answer it.

    A job answered by another job of the sweep (the same run, as many rounds or
    fewer) is ``skipped`` when the run's rows hold its setting; otherwise it shares
    the outcome of the job that answers it (failed, or running elsewhere).
    """
    returned = {}
    for job_return in returns:
        if job_return.status == JobStatus.COMPLETED:
            outcome = JobOutcome.of(job_return.return_value)
            if outcome is not None:
                returned[outcome.overrides] = outcome
    outcomes = []
    for index, (job, prepared) in enumerate(zip(jobs, runs, strict=True)):
        spec = prepared.spec
        outcome = returned.get(tuple(job))
        if outcome is None and answering[index] != index:
            trainer = jobs[answering[index]]
            outcome = _answered(job, spec, returned.get(tuple(trainer)), trainer, lost)
        if outcome is None and tuple(job) in (cancelled or {}):
            if _stored_status(spec) is None:
                outcome = cancelled_outcome(job, spec.config_hash, cancelled[tuple(job)])
            else:
                outcome = JobOutcome(tuple(job), spec.config_hash, Status.SKIPPED)
        if outcome is None:
            why = (lost_runs or {}).get(spec.config_hash, lost)
            outcome = lost_outcome(job, spec.config_hash, _file_status(spec), why)
        outcomes.append(outcome)
    return outcomes


def _answered(
    job: list[str], spec: Any, trainer: JobOutcome | None, trainer_job: list[str], lost: str
) -> JobOutcome:
    """The outcome of a job answered by ``trainer_job``, which trained (or held) its run."""
    if _stored_status(spec) is not None:
        return JobOutcome(tuple(job), spec.config_hash, Status.SKIPPED)
    if trainer is not None and trainer.status != Status.FAILED:
        return JobOutcome(tuple(job), spec.config_hash, trainer.status)
    why = trainer.error if trainer is not None else lost
    return JobOutcome(
        tuple(job),
        spec.config_hash,
        Status.FAILED,
        f"answered by the job {' '.join(trainer_job)}, which failed: {why}",
    )


def _stored_status(spec: Any) -> str | None:
    """The status of ``spec``'s setting in its stored trajectory, ``None`` if not there."""
    return answered_status(spec.results_dir, spec.config_hash, spec.fl.rounds)


def _file_status(spec: Any) -> str | None:
    """The status of ``spec``'s setting in its result file, also short of it; ``None``: no file."""
    progress = read_progress(spec.results_dir, spec.config_hash)
    return None if progress is None else progress.status_at(spec.fl.rounds)


def _finish(summary: dict[str, Any], config: DictConfig) -> None:
    """Print the summary and write ``sweep-summary.json``."""
    for line in summary_lines(summary):
        print(line, file=sys.stderr)
    with contextlib.suppress(OSError):  # a full disk was already reported by the jobs
        path = write_summary(summary, config.hydra.sweep.dir)
        print(f"  summary: {path}", file=sys.stderr)


def check_launcher(launcher: dict[str, Any], choice: str = "submitit_slurm") -> None:
    """Refuse launcher settings that would fail only once jobs are handed over.

    Parameters
    ----------
    launcher
        The ``hydra.launcher`` config.
    choice
        Its ``hydra/launcher=`` name, as the error names it.

    Raises
    ------
    ConfigError
        ``hydra.launcher.n_jobs=0`` for joblib, or a Slurm launcher whose jobs the
        cluster would not run (:func:`fedbench.app.launchers.slurm.check_cluster`).

    """
    target = str(launcher.get("_target_", ""))
    if "joblib" in target.lower() and launcher.get("n_jobs") == 0:
        raise ConfigError(
            invalid(
                "hydra.launcher.n_jobs",
                0,
                "a number of parallel jobs >= 1, or -1 for one per core",
                "e.g. hydra.launcher.n_jobs=2",
            )
        )
    if _is_slurm(launcher):
        from fedbench.app.launchers import slurm  # imports submitit: only for a Slurm launcher

        slurm.check_cluster(launcher, choice)


def _is_slurm(launcher: dict[str, Any]) -> bool:
    """Whether ``launcher`` submits to Slurm (submitit's Slurm launcher, or a preset of it)."""
    return "slurm" in str(launcher.get("_target_", "")).lower()
