"""Pre-flight through Hydra: composed once per group selection, checked and partitioned once."""

import sys

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl  # only to count compositions

from fedbench import results as R
from fedbench.app.job import experiment, prepare
from fedbench.spec import RunSpec
from tests.cli_helpers import run_command


@pytest.fixture
def counts(monkeypatch):
    """Count Hydra's job compositions, run specs built and partitions drawn."""
    seen = {"compositions": 0, "specs": 0, "partitions": 0}
    compose, build, draw = (
        ConfigLoaderImpl.load_sweep_config,
        RunSpec.from_config.__func__,
        prepare.partition,
    )

    def counting_compose(self, *args, **kwargs):
        seen["compositions"] += 1
        return compose(self, *args, **kwargs)

    def counting_build(cls, config):
        seen["specs"] += 1
        return build(cls, config)

    def counting_draw(*args, **kwargs):
        seen["partitions"] += 1
        return draw(*args, **kwargs)

    monkeypatch.setattr(ConfigLoaderImpl, "load_sweep_config", counting_compose)
    monkeypatch.setattr(RunSpec, "from_config", classmethod(counting_build))
    monkeypatch.setattr(prepare, "partition", counting_draw)
    return seen


SMALL = ["fl.rounds=1", "fl.num_clients=4", "fl.clients_per_round=2"]


@pytest.mark.tff
def test_a_sweep_composes_checks_and_partitions_each_job_once(counts, tmp_path):
    results = tmp_path / "results"
    argv = ["-m", "seed=0,1", "model=linear,mlp", *SMALL, f"results_dir={results}"]
    jobs = run_command(argv, tmp_path / "logs", run=experiment.run)
    assert len(jobs) == 4
    # Hydra composes once per model (the seeds are values applied to a copy), and each
    # job's spec is built once, although its launcher composes the job again.
    assert counts["compositions"] == 2 and counts["specs"] == 4
    # One partition per job at most: the two models of a seed share that seed's.
    assert counts["partitions"] == 2
    assert len(R.load_runs(results).groupby(R.CONFIG_HASH)) == 4  # and all four trained


def test_a_single_run_is_checked_and_partitioned_once(counts, tmp_path):
    (job,) = run_command([*SMALL, f"results_dir={tmp_path / 'r'}"], tmp_path / "logs")
    assert counts["specs"] == 1 and counts["partitions"] == 1
    assert job.spec.fl.num_clients == 4 and len(job.partition.parts) == 4


def test_a_job_checked_by_pre_flight_gets_the_very_run_pre_flight_prepared(tmp_path, monkeypatch):
    made = []
    real = prepare.prepare

    def recording(spec, **kwargs):
        made.append(real(spec, **kwargs))
        return made[-1]

    monkeypatch.setattr(prepare, "prepare", recording)  # what the command's Preparations call
    jobs = run_command(["-m", "seed=0,1", f"results_dir={tmp_path / 'r'}"], tmp_path / "logs")
    assert [id(job) for job in jobs] == [id(run) for run in made]


def test_ctrl_c_while_the_jobs_are_checked_is_one_line_and_exit_130(monkeypatch, capsys):
    # Pre-flight loads and partitions every job's data: on EMNIST that takes a while.
    from fedbench.app.commands import cli

    def interrupted(spec, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare, "load_dataset", interrupted)
    # Hydra would reconfigure logging (closing handlers bound to the captured streams).
    quiet = ["hydra/job_logging=none", "hydra/hydra_logging=none"]
    monkeypatch.setattr(sys, "argv", ["fedbench", "fl.rounds=1", *quiet])
    monkeypatch.delenv("FEDBENCH_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as stop:
        cli.train_main()
    assert stop.value.code == 130
    err = capsys.readouterr().err
    assert err == "fedbench: stopped by Ctrl-C before any job ran: nothing was written\n"
