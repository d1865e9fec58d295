"""A fedbench job run by submitit (on Slurm, or submitit_local): time limits, requeues, scancel.

submitit runs a job in a process of its own and installs a ``SIGUSR2`` handler there:
the signal says the job's time is nearly up (Slurm sends it ``signal_delay_s`` before
the time limit, or at a pre-emption; submitit_local's controller likewise), and the
handler asks Hydra's launcher to checkpoint the job, requeues it (``scontrol requeue``;
submitit_local: exit status 144, which its controller starts again) and exits at once,
wherever the job was. On Slurm the requeue itself sends the job ``SIGTERM``, which would
cut short whatever the job was still saving.

:func:`job_signals` puts the save first. Inside it:

- ``SIGUSR2`` raises :class:`~fedbench.interrupts.Terminated` like ``SIGTERM``: the run
  unwinds, saving its rows and the training state of the last finished round (the
  round in flight is dropped: the requeued job trains it again). Only then is
  submitit's handler called, which requeues the job and exits; the requeued job
  resumes after that round.
- ``SIGTERM`` (``scancel``, ``scontrol requeue``, a pre-emption that requeues) raises
  :class:`~fedbench.interrupts.Terminated` too and the run saves the same way. Slurm
  counts a job's restarts when it requeues it: :func:`being_requeued` tells a requeue
  (the job ends without a result, and its next start resumes the run) from a
  cancellation (the job returns its outcome, ``interrupted``, and the sweep's summary
  names it at once).
- A second signal while the first one's save runs is ignored (Slurm signals a job
  more than once: ``SIGCONT``/``SIGTERM`` to the step, ``srun`` forwarding).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Iterator

from fedbench.interrupts import Terminated, catching_signals

#: What submitit exports for its jobs: the executor's name.
_EXECUTOR_VAR = "SUBMITIT_EXECUTOR"
_SLURM, _LOCAL = "slurm", "local"
#: The exit status of a job that ``SIGUSR2`` stopped (128 + the signal's number).
REQUEUE_CODE = 128 + signal.SIGUSR2
#: How long ``scontrol`` may take to say whether the job is being requeued.
_SCONTROL_TIMEOUT_S = 5.0


def in_slurm_job() -> bool:
    """Whether this process runs a job of submitit's Slurm executor."""
    return os.environ.get(_EXECUTOR_VAR) == _SLURM


def in_submitit_job() -> bool:
    """Whether this process runs a job of submitit (its Slurm or its local executor)."""
    return os.environ.get(_EXECUTOR_VAR) in (_SLURM, _LOCAL)


def requeue_signalled(stop: BaseException) -> bool:
    """Whether ``stop`` is the exception of a ``SIGUSR2`` (the job's time is nearly up)."""
    return isinstance(stop, Terminated) and stop.code == REQUEUE_CODE


@contextlib.contextmanager
def job_signals() -> Iterator[None]:
    """Within a submitit job: ``SIGUSR2`` and ``SIGTERM`` end the run, saved; then requeue.

    On ``SIGUSR2``, once the block has unwound (the run's rows and state are saved),
    submitit's own handler runs: it checkpoints the job (Hydra's launcher resubmits the
    same job), requeues it and exits (``SystemExit``), or raises submitit's
    ``UncompletedJobError`` when the job has used up its requeues.
    """
    requeue = signal.getsignal(signal.SIGUSR2)  # submitit's (process_job installed it)
    try:
        with catching_signals(raise_again=False, also=(signal.SIGUSR2,)):
            yield
    except Terminated as stop:
        if requeue_signalled(stop) and callable(requeue):
            requeue(signal.SIGUSR2, None)
        raise


def being_requeued() -> bool:
    """Whether Slurm is requeuing this job (``scontrol requeue``, a pre-emption), not ending it.

    Slurm adds one to a job's ``Restarts`` when it requeues it, before it signals the
    job; the job started with ``SLURM_RESTART_COUNT`` restarts (unset: none). ``False``
    outside a Slurm job, or when ``scontrol`` does not answer.
    """
    job = os.environ.get("SLURM_JOB_ID")
    if not in_slurm_job() or not job:
        return False
    try:
        done = subprocess.run(
            ["scontrol", "show", "job", "-o", job],
            capture_output=True,
            text=True,
            timeout=_SCONTROL_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return restarts(done.stdout) > int(os.environ.get("SLURM_RESTART_COUNT") or 0)


def restarts(scontrol_line: str) -> int:
    """The ``Restarts=`` count of a ``scontrol show job -o`` line (0 if it has none)."""
    found = re.search(r"(?:^|\s)Restarts=(\d+)", scontrol_line)
    return int(found.group(1)) if found else 0
