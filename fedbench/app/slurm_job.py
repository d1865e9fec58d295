"""A fedbench job inside a Slurm allocation (submitit's Slurm executor): cancel and requeue.

Slurm stops a job in two ways fedbench must tell apart:

- **requeue** (a time limit reached, a pre-emption): Slurm sends ``SIGUSR2``
  ``signal_delay_s`` before the limit; submitit's handler resubmits the job, requeues
  it and exits. The job's rows are saved as ``interrupted`` and no outcome is
  returned: the requeued job returns it when it finishes.
- **cancellation** (``scancel``): Slurm sends ``SIGTERM``, then ``SIGKILL`` after its
  ``KillWait``. submitit would only log it; :func:`job_signals` turns it into
  :class:`~fedbench.interrupts.Terminated` anywhere in the job, so the run's rows are
  saved as ``interrupted`` and the job returns its outcome (submitit writes it as the
  job's result, and the sweep's summary names the job at once).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from types import FrameType

from fedbench.interrupts import catching_signals

#: What submitit's sbatch script exports for its Slurm jobs.
_EXECUTOR_VAR, _SLURM = "SUBMITIT_EXECUTOR", "slurm"

_requeue_signalled = False


def in_slurm_job() -> bool:
    """Whether this process runs a job of submitit's Slurm executor."""
    return os.environ.get(_EXECUTOR_VAR) == _SLURM


def requeue_signalled() -> bool:
    """Whether Slurm signalled this job to requeue (its time limit, a pre-emption)."""
    return _requeue_signalled


@contextlib.contextmanager
def job_signals() -> Iterator[None]:
    """Within a Slurm job: SIGTERM raises ``Terminated``; ``SIGUSR2`` is noted, then handled.

    submitit's own ``SIGUSR2`` handler (checkpoint, requeue, exit) still runs; this only
    remembers that it was called, so that the ``SIGTERM`` Slurm sends when it requeues
    the job is not taken for a cancellation.
    """
    global _requeue_signalled
    _requeue_signalled = False
    submitit_handler = signal.getsignal(signal.SIGUSR2)

    def note_requeue(signum: int, frame: FrameType | None) -> None:
        global _requeue_signalled
        _requeue_signalled = True
        if callable(submitit_handler):
            submitit_handler(signum, frame)

    signal.signal(signal.SIGUSR2, note_requeue)
    try:
        with catching_signals():
            yield
    finally:
        signal.signal(signal.SIGUSR2, submitit_handler)
