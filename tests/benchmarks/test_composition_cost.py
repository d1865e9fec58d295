"""What composing a sweep's jobs costs before pre-flight checks them.

Run with ``make bench`` or
``.venv/bin/pytest tests/benchmarks/test_composition_cost.py -m benchmark --benchmark-only``.
Both cases compose every job of the NIID-Bench FMNIST grid (``sweeps/niid_bench_fmnist``,
180 jobs, 7 selections of config groups) in the same run, from the same master config:
``whole`` as Hydra's loader does for each job, ``per_selection`` as fedbench's sweeper
does (:class:`fedbench.app.config.composition.MemoConfigLoader`, a fresh one per round so that
each round composes its selections again). Read them as a ratio.
"""

from __future__ import annotations

import pytest

from fedbench.app.config.composition import MemoConfigLoader
from fedbench.app.sweep.sweeper import CheckingSweeper
from tests.cli_helpers import REPO, run_command


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """Hydra's loader, the master config and every job's overrides of the NIID-Bench grid."""
    seen = {}

    def record(self, arguments):
        seen.update(inner=self.loader.inner, master=self.config, jobs=self.jobs(arguments))
        return []

    where = tmp_path_factory.mktemp("grid")
    argv = ["-m", "-cd", str(REPO / "sweeps"), "-cn", "niid_bench_fmnist"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CheckingSweeper, "sweep", record)
        run_command([*argv, f"results_dir={where / 'results'}"], where)
    return seen


@pytest.mark.benchmark(group="composition-niid_bench_fmnist")
@pytest.mark.parametrize("case", ["whole", "per_selection"])
def test_composition_cost(benchmark, grid, case):
    inner, master, jobs = grid["inner"], grid["master"], grid["jobs"]

    def whole():
        return [inner.load_sweep_config(master, list(job)) for job in jobs]

    def per_selection():
        loader = MemoConfigLoader(inner)
        return [loader.composed(master, job) for job in jobs]

    configs = benchmark.pedantic(
        whole if case == "whole" else per_selection, rounds=3, iterations=1
    )
    benchmark.extra_info["jobs"] = len(jobs)
    assert len(configs) == len(jobs) == 180
