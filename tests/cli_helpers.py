"""Run fedbench's commands: in this process as the console scripts do, or as a user does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from fedbench.app import cli
from fedbench.app.prepare import PreparedRun

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

    def job(prepared: PreparedRun) -> object:
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


def resumes(logs: str) -> list[tuple[int, int | None]]:
    """``(K, N)`` for each "interrupted: K rows" of a job's log and the "resuming after
    round N" that follows it (``N`` None: no resume line before the next stop or the end)."""
    events = re.findall(r"interrupted: (\d+) rows|resuming after round (\d+)", logs)
    pairs = []
    for index, (saved, _) in enumerate(events):
        if saved:
            after = events[index + 1][1] if index + 1 < len(events) else ""
            pairs.append((int(saved), int(after) if after else None))
    return pairs


def resumed_where_it_stopped(pairs: list[tuple[int, int | None]]) -> bool:
    """Each stop resumed after the round its rows reached (K), or K-1.

    K-1: the signal came after the record of round K reached the job's loop (the rows
    hold it) but before the round loop took it as done, whose state it then saves; the
    requeued job trains round K again (the same numbers: rounds replay exactly). A stop
    before any row (K = 0) has nothing to resume.
    """
    return all(n == k or n == k - 1 or (k == 0 and n is None) for k, n in pairs)
