"""What one job came to (:class:`JobOutcome`), or :class:`SweepStopped`, which ends its sweep.

A job returns its outcome as a dict, so that any launcher can ship it back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class SweepStopped(BaseException):
    """A job's result could not be written: no further job may train runs it cannot save.

    A ``BaseException``, so that Hydra's launchers do not record it as one failed job
    and go on. ``run`` is the ``config_hash`` of the run that could not be saved, if known.
    """

    def __init__(self, message: str, run: str | None = None) -> None:
        super().__init__(message, run)  # both in args: a launcher pickles it back
        self.run = run

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class JobOutcome:
    """One job's outcome.

    Attributes
    ----------
    overrides
        The job's command-line overrides (what tells jobs apart).
    run
        The run's ``config_hash``.
    status
        ``completed``, ``diverged``, ``failed``, ``interrupted`` (stopped from outside,
        e.g. ``scancel``: the same command resumes it), ``killed`` (its process ended
        without a word), ``cancelled`` (a Slurm job cancelled before it started),
        ``skipped`` (finished before, or by another process), ``running elsewhere`` or
        ``reported`` (``fedbench-partition``).
    error
        The one-line error of a failed job, or what stopped an interrupted one.

    """

    overrides: tuple[str, ...]
    run: str
    status: str
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The outcome as plain containers (what a job returns to its launcher)."""
        return {**asdict(self), "overrides": list(self.overrides)}

    @classmethod
    def of(cls, value: Any) -> JobOutcome | None:
        """The outcome a job returned, or ``None`` if the value is not one."""
        if isinstance(value, dict) and {"overrides", "run", "status"} <= set(value):
            return cls(tuple(value["overrides"]), value["run"], value["status"], value.get("error"))
        return None
