"""Run fedbench's commands: in this process as the console scripts do, or as a user does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from fedbench.app.commands import cli
from fedbench.app.job.prepare import PreparedRun

REPO = Path(__file__).resolve().parents[1]


def fedbench(
    *args: str,
    module: str = "fedbench",
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run ``python -m <module> <args>`` from the repository, as a user would; capture it.

    ``env`` (default: this process's) is passed without ``FEDBENCH_TRACEBACK`` and with
    Hydra's full errors off, as a user's shell has them.
    """
    env = {**(os.environ if env is None else env), "HYDRA_FULL_ERROR": "0"}
    env.pop("FEDBENCH_TRACEBACK", None)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def run_command(
    argv: list[str],
    logs: Path,
    run: Callable[[PreparedRun], object] | None = None,
    *,
    training: bool = True,
) -> list[PreparedRun]:
    """Run ``fedbench <argv>`` in-process; return every job's prepared run, in launch order.

    ``run`` is what each job does (default: nothing, so the command only checks and
    prepares). Hydra's own output folders go under ``logs``, not ``results_dir``.
    An invalid command raises its error (``FEDBENCH_TRACEBACK``) instead of exiting.
    """
    jobs: list[PreparedRun] = []

    def job(prepared: PreparedRun, session: object = None) -> object:
        jobs.append(prepared)
        return run(prepared) if run else None

    if not any(a.startswith(("--help", "--cfg")) for a in argv):
        argv = [*argv, *hydra_folders(logs)]
    with (
        mock.patch.dict(os.environ, {"FEDBENCH_TRACEBACK": "1"}),
        mock.patch.object(sys, "argv", [sys.argv[0]]),
    ):
        cli.main(job, training=training, kept_on_interrupt="", argv=argv)
    return jobs


def hydra_folders(logs: Path) -> list[str]:
    """Overrides that put Hydra's own output under ``logs`` and keep its logging off."""
    return [
        f"hydra.run.dir={logs}/run",
        f"hydra.sweep.dir={logs}/sweep",
        # Hydra's logging would hold on to pytest's captured streams past the test.
        "hydra/job_logging=none",
        "hydra/hydra_logging=none",
    ]


def resumes(logs: str) -> list[tuple[int, int]]:
    """``(K, N)`` for each "resuming after round N" of a job's log: K is the rows of the
    "interrupted: K rows" before it (a slot stopped during its start-up, before it
    resumed, saves the same K again)."""
    events = re.findall(r"interrupted: (\d+) rows|resuming after round (\d+)", logs)
    pairs, saved = [], None
    for stopped, resumed in events:
        if stopped:
            saved = int(stopped)
        elif saved is not None:
            pairs.append((saved, int(resumed)))
    return pairs


def resumed_where_it_stopped(pairs: list[tuple[int, int]]) -> bool:
    """Each resume came after the round the rows of the stop before it reached (K), or K-1.

    K-1: the signal came after the record of round K reached the job's loop (the rows
    hold it) but before the round loop took it as done, whose state it then saves; the
    requeued job trains round K again (the same numbers: rounds replay exactly).
    """
    return all(n in (k, k - 1) for k, n in pairs)
