"""What became of a run or of a job: the one definition of every status fedbench writes.

A run's ``status`` column holds one of :data:`STORED_STATUSES`; a job of a command (a line of a
sweep's summary, ``sweep-summary.json``) ends in one of those or in one that says why
it trained nothing (:attr:`Status.SKIPPED`, :attr:`Status.ELSEWHERE`,
:attr:`Status.REPORTED`). The members are strings (``Status.COMPLETED == "completed"``),
so Parquet files, JSON and comparisons with what was read back see the plain words.
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
    #: A run stopped from outside to be resumed (a Slurm requeue or cancellation,
    #: SIGTERM, Ctrl-C): its rows so far and its checkpoint are kept; the same command
    #: resumes it.
    INTERRUPTED = "interrupted"
    #: A job whose setting the stored rows already held (nothing trained). Never stored.
    SKIPPED = "skipped"
    #: A job whose run another process is training right now. Never stored.
    ELSEWHERE = "running elsewhere"
    #: A ``fedbench-partition`` job that wrote its report. Never stored.
    REPORTED = "reported"


#: Statuses a result file's ``status`` column holds.
STORED_STATUSES = frozenset({Status.COMPLETED, Status.DIVERGED, Status.FAILED, Status.INTERRUPTED})
#: Statuses a resumed sweep does not redo (divergence is deterministic for a config).
FINISHED_STATUSES = frozenset({Status.COMPLETED, Status.DIVERGED})
#: Statuses of a run that stopped short of its rounds (the same command resumes it); a
#: command with a job ending so exits non-zero.
UNFINISHED_STATUSES = frozenset({Status.FAILED, Status.INTERRUPTED})
