"""What a sweep's jobs came to: the outcome of a job that did not report one, the summary.

Each job returns its :class:`~fedbench.app.job.outcome.JobOutcome`. After every
multirun, whatever the launcher, fedbench's sweeper prints one line per status, the
wall time, where results landed and each failed job's error, and writes the same as
``sweep-summary.json`` in the sweep's log folder. A job whose outcome never came back
(killed, timed out, lost by its launcher) is read from its result file, or counted as
failed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fedbench import atomic
from fedbench.app.job.outcome import JobOutcome
from fedbench.results.status import FINISHED_STATUSES, UNFINISHED_STATUSES, Status

SUMMARY_FILE = "sweep-summary.json"


def lost_outcome(overrides: Sequence[str], run: str, status: str | None, why: str) -> JobOutcome:
    """The outcome of a job that did not report one: its result file's status, or failed.

    ``status`` is the job's setting's status in its result file (``None``: no file).
    """
    if status in FINISHED_STATUSES or status == Status.SKIPPED:
        return JobOutcome(tuple(overrides), run, status)
    if status == Status.INTERRUPTED:
        return JobOutcome(
            tuple(overrides),
            run,
            status,
            f"stopped from outside ({why}); run the same command again to resume",
        )
    if status == Status.KILLED:
        return JobOutcome(
            tuple(overrides),
            run,
            status,
            f"its process ended without a word (kill -9, out of memory, a node failure: {why}); "
            "its rows through its last checkpoint are kept: run the same command again to "
            "resume",
        )
    if status == Status.RUNNING:  # another live process trains it
        return JobOutcome(tuple(overrides), run, Status.ELSEWHERE)
    return JobOutcome(tuple(overrides), run, Status.FAILED, f"no finished result: {why}")


def cancelled_outcome(overrides: Sequence[str], run: str, job_id: str) -> JobOutcome:
    """The outcome of a Slurm job ``job_id`` cancelled before it started."""
    return JobOutcome(
        tuple(overrides),
        run,
        Status.CANCELLED,
        f"cancelled before it started (Slurm job {job_id}); run the same command again to "
        "launch it",
    )


def summarize(
    outcomes: Sequence[JobOutcome],
    seconds: float,
    results_dir: str,
    relaunched: Sequence[JobOutcome] = (),
) -> dict[str, Any]:
    """The sweep's summary: counts per status, wall time, results folder, unfinished jobs.

    ``relaunched``: the jobs the sweep launched once more after its launcher lost them,
    each with why (its ``error``: killed, or no result), whatever their outcome then.
    """
    counts = Counter(outcome.status for outcome in outcomes)
    return {
        "jobs": len(outcomes),
        "statuses": dict(sorted(counts.items())),
        "seconds": round(seconds, 1),
        "results_dir": str(results_dir),
        **{
            str(status): [o.as_dict() for o in outcomes if o.status == status]
            for status in sorted(UNFINISHED_STATUSES)
        },
        RELAUNCHED: [o.as_dict() for o in relaunched],
        "outcomes": [o.as_dict() for o in outcomes],
    }


#: The summary's key (and line) of the jobs launched once more after their launcher lost them.
RELAUNCHED = "relaunched"


def relaunched_outcome(
    overrides: Sequence[str], run: str, status: str | None, last: int
) -> JobOutcome:
    """Why a lost job is launched once more: its run was ``killed``, or it left no result."""
    if status == Status.KILLED:
        why = (
            f"killed after round {last} (its process ended without a word: kill -9, out of "
            "memory, a node failure); launched once more, it resumes there"
        )
    else:
        why = "its launcher lost it without a result; launched once more"
    return JobOutcome(tuple(overrides), run, RELAUNCHED, why)


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The summary as the lines printed after a multirun."""
    lines = [
        f"fedbench: {summary['jobs']} jobs in {summary['seconds']:.1f} s; "
        f"results in {summary['results_dir']}"
    ]
    lines += [f"  {status}: {count}" for status, count in summary["statuses"].items()]
    lines += [
        f"  {status}: {' '.join(job['overrides']) or '(no overrides)'}: {job['error']}"
        for status in [*sorted(UNFINISHED_STATUSES), RELAUNCHED]
        for job in summary.get(status, [])
    ]
    return lines


def write_summary(summary: dict[str, Any], folder: str | Path) -> Path:
    """Write ``sweep-summary.json`` into ``folder`` atomically; return its path."""
    text = json.dumps(summary, indent=2) + "\n"
    return atomic.write_atomic(Path(folder) / SUMMARY_FILE, lambda h: h.write(text), mode="w")
