"""What became of a run or of a job: the one definition of every status fedbench writes.

A run's ``status`` column holds one of :data:`STORED_STATUSES`; a job of a command (a line of a
sweep's summary, ``sweep-summary.json``) ends in one of those or in one that says why
it trained nothing (:attr:`Status.SKIPPED`, :attr:`Status.ELSEWHERE`,
:attr:`Status.REPORTED`, :attr:`Status.CANCELLED`). The members are strings
(``Status.COMPLETED == "completed"``), so Parquet files, JSON and comparisons with what
was read back see the plain words.

A file says :attr:`Status.RUNNING` while its run trains; readers see it as
:attr:`Status.KILLED` once no live process holds the run's claim
(:func:`fedbench.results.lock.seen_status`).
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A run's status (the ``status`` column) or a job's outcome."""

    #: The run trained every round asked of it.
    COMPLETED = "completed"
    #: The run's loss became non-finite; its rows end at that round (a finished result:
    #: divergence is deterministic for a config).
    DIVERGED = "diverged"
    #: The run stopped short of its rounds on an error; the same command resumes it.
    FAILED = "failed"
    #: A run stopped from outside to be resumed (a Slurm time limit, requeue or
    #: cancellation, SIGTERM, Ctrl-C): its rows so far and the training state after its
    #: last row's round are kept; the same command resumes it there.
    INTERRUPTED = "interrupted"
    #: A run still training: its rows through its last checkpoint, written at that
    #: checkpoint. Read as such while a live process holds the run's claim
    #: (:mod:`fedbench.results.lock`); once none does, it reads :attr:`KILLED`.
    RUNNING = "running"
    #: A run whose process ended without a word (kill -9, the out-of-memory killer, a
    #: node failure): the file says :attr:`RUNNING` and no live process holds the run's
    #: claim. Its rows and training state through its last checkpoint are kept; the same
    #: command resumes it there.
    KILLED = "killed"
    #: A job whose setting the stored rows already held (nothing trained). Never stored.
    SKIPPED = "skipped"
    #: A job whose run another process is training right now. Never stored.
    ELSEWHERE = "running elsewhere"
    #: A ``fedbench-partition`` job that wrote its report. Never stored.
    REPORTED = "reported"
    #: A Slurm job cancelled before it started (``scancel`` of a pending job): it trained
    #: nothing, and the sweep does not launch it again; the same command does. Never stored.
    CANCELLED = "cancelled"


#: Statuses a result file's ``status`` column holds.
STORED_STATUSES = frozenset(
    {
        Status.COMPLETED,
        Status.DIVERGED,
        Status.FAILED,
        Status.INTERRUPTED,
        Status.RUNNING,
        Status.KILLED,
    }
)
#: Statuses a resumed sweep does not redo (divergence is deterministic for a config).
FINISHED_STATUSES = frozenset({Status.COMPLETED, Status.DIVERGED})
#: Statuses of a run (or job) short of its rounds: the same command resumes it. A command
#: with a job ending so exits non-zero; a setting with such a status holds no result yet.
UNFINISHED_STATUSES = frozenset(
    {Status.FAILED, Status.INTERRUPTED, Status.RUNNING, Status.KILLED, Status.CANCELLED}
)
