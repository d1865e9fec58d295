"""What a job costs beside its rounds, inside one sweep process; and ``make run``'s sweep.

Run with ``.venv/bin/pytest tests/benchmarks/test_job_cost.py -m benchmark --benchmark-only``
(``make bench`` runs it too).

- ``a sweep of N one-round digits jobs``: the whole command (``fedbench -m``, the basic
  launcher) with 1 and with 8 jobs; a job's fixed cost inside the sweep process is the
  difference over 7, ``extra_info["seconds_per_job"]`` of the 8-job case. The jobs share
  the TFF worker and the built learning process (:mod:`fedbench.training.session`).
- ``two CNN jobs at once``: one Fashion-MNIST CNN command (10 clients x 6,000, two
  rounds) alone, and two identical ones started together; ``extra_info["each_at_once"]``
  of the pair is the alone time over the pair's time (0.5 when two jobs share two cores
  without fighting over them; the issue's floor is 0.4).
- ``make run's default sweep``: ``sweeps/default.yaml`` from an empty results folder;
  ``extra_info`` holds the sum of its rounds' ``round_seconds`` and the ratio of the
  command's wall time to it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.benchmark

ROOT = Path(__file__).resolve().parents[2]
_SECONDS: dict[int, float] = {}


def _command(results: Path, *overrides: str) -> list[str]:
    """``fedbench -m`` with ``overrides``, writing into ``results``."""
    return [
        sys.executable,
        "-m",
        "fedbench",
        "-m",
        *overrides,
        f"results_dir={results}",
        f"hydra.sweep.dir={results / 'multirun'}",
    ]


def _sweep(results: Path, *overrides: str) -> float:
    """Run ``fedbench -m`` with ``overrides`` into ``results``; its wall time."""
    started = time.perf_counter()
    subprocess.run(_command(results, *overrides), cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def _together(*commands: list[str]) -> float:
    """Start ``commands`` at once; the wall time until the last has finished."""
    started = time.perf_counter()
    children = [
        subprocess.Popen(c, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for c in commands
    ]
    try:
        for child in children:
            _, err = child.communicate()
            assert child.returncode == 0, err.decode()[-2000:]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    return time.perf_counter() - started


@pytest.mark.parametrize("jobs", [1, 8])
def test_a_sweep_of_one_round_jobs(benchmark, tmp_path, jobs):
    benchmark.group = "a sweep of N one-round digits jobs"
    benchmark.extra_info["case"] = f"{jobs} job{'s' if jobs > 1 else ''}"
    benchmark.extra_info["baseline"] = jobs == 1
    seeds = ",".join(str(s) for s in range(jobs))
    counter = iter(range(100))

    def one_sweep() -> float:
        return _sweep(tmp_path / f"r{next(counter)}", f"seed={seeds}", "fl.rounds=1")

    benchmark.pedantic(one_sweep, rounds=1, iterations=1, warmup_rounds=0)
    if benchmark.stats is None:
        return
    _SECONDS[jobs] = benchmark.stats["median"]
    if 1 in _SECONDS and jobs > 1:
        benchmark.extra_info["seconds_per_job"] = (_SECONDS[jobs] - _SECONDS[1]) / (jobs - 1)


CNN_JOB = (
    "dataset=fmnist",
    "model=cnn",
    "fl.num_clients=10",
    "fl.clients_per_round=10",
    "fl.rounds=2",
)
_CNN_SECONDS: dict[int, float] = {}


@pytest.fixture(scope="module")
def fmnist_available() -> None:
    from fedbench.data import load_dataset
    from fedbench.errors import DataError

    try:
        load_dataset("fmnist")
    except DataError as error:
        pytest.skip(f"Fashion-MNIST not available: {error}")


@pytest.mark.parametrize("jobs", [1, 2])
def test_cnn_jobs_at_once(benchmark, tmp_path, fmnist_available, jobs):
    benchmark.group = "two CNN jobs at once"
    benchmark.extra_info["case"] = "one job alone" if jobs == 1 else "two jobs started together"
    benchmark.extra_info["baseline"] = jobs == 1
    commands = [_command(tmp_path / f"r{i}", *CNN_JOB) for i in range(jobs)]
    benchmark.pedantic(lambda: _together(*commands), rounds=1, iterations=1, warmup_rounds=0)
    if benchmark.stats is None:
        return
    _CNN_SECONDS[jobs] = benchmark.stats["median"]
    if jobs == 2 and 1 in _CNN_SECONDS:
        benchmark.extra_info["each_at_once"] = _CNN_SECONDS[1] / _CNN_SECONDS[2]


def test_make_run_default_sweep(benchmark, tmp_path):
    benchmark.group = "make run's default sweep"
    benchmark.extra_info["case"] = "fedbench -m -cd sweeps -cn default"
    results = tmp_path / "results"
    benchmark.pedantic(
        lambda: _sweep(results, "-cd", "sweeps", "-cn", "default"),
        rounds=1,
        iterations=1,
        warmup_rounds=0,
    )
    if benchmark.stats is None:
        return
    rounds = pd.read_parquet(results / "runs")["round_seconds"].sum()
    benchmark.extra_info["sum_of_round_seconds"] = float(rounds)
    benchmark.extra_info["wall_over_rounds"] = benchmark.stats["median"] / float(rounds)
