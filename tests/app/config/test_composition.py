"""A job's config, composed once per selection of config groups, is the one Hydra composes."""

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from fedbench.app.config.composition import MemoConfigLoader
from fedbench.errors import FedbenchError
from tests.cli_helpers import REPO, run_command


def _plain(config):
    """Everything a config holds, its ``hydra`` node and struct flag included."""
    return OmegaConf.to_container(config, resolve=False), OmegaConf.is_struct(config)


@pytest.fixture
def compared(monkeypatch):
    """Compose every job whole with Hydra's loader too and compare; keep what was seen."""
    seen = {"jobs": [], "loader": None, "master": None}
    fast = MemoConfigLoader._compose

    def comparing(self, master_config, overrides):
        config = fast(self, master_config, overrides)
        whole = self.inner.load_sweep_config(master_config, list(overrides))
        assert _plain(config) == _plain(whole), overrides
        seen["jobs"].append(overrides)
        seen.update(loader=self, master=master_config)
        return config

    monkeypatch.setattr(MemoConfigLoader, "_compose", comparing)
    return seen


def test_a_sweep_files_jobs_are_composed_as_hydra_composes_them(compared, tmp_path):
    # Four strategies crossed with the values of three parameters (each strategy reads
    # its own: 1 + 2 + 1 + 2 runs); the sweep file also sets fl.* and seed, the command
    # line two of its parameters and results_dir.
    argv = ["-m", "-cd", str(REPO / "sweeps"), "-cn", "feature_concept_skew"]
    grid = ["partition.sigma=0.1,1.0", "partition.max_degrees=90", "partition.swaps=1,5"]
    jobs = run_command([*argv, *grid, f"results_dir={tmp_path / 'r'}"], tmp_path / "logs")
    assert len(compared["jobs"]) == 4 * 2 * 1 * 2
    assert len(jobs) == 1 + 2 + 1 + 2
    # One composition per strategy, not one per job.
    assert compared["loader"].compositions == 4


def test_group_selections_anywhere_among_the_overrides_are_composed_as_hydra_does(
    compared, tmp_path
):
    # Value, group, value, group: Hydra records them in this order, and names the job
    # folder by them sorted. The launcher composes each launched job again, with the
    # sweeper's launch.eval_rounds=[1] added (the 2-round run reports round 1 too).
    argv = [
        "-m",
        "seed=0,1",
        "fl.rounds=1,2",
        "partition=dirichlet",
        "partition.alpha=0.1,1",
        "model=linear,mlp",
        "fl.num_clients=4",
        "fl.clients_per_round=2",
        "hydra.sweep.subdir=${hydra.job.override_dirname}",
        f"results_dir={tmp_path / 'r'}",
    ]
    jobs = run_command(argv, tmp_path / "logs")
    assert len(jobs) == 2 * 2 * 2  # runs: seed x alpha x model, each launched once
    launched = compared["jobs"][2 * len(jobs) :]
    assert len(compared["jobs"]) == 2 * len(jobs) + len(launched)
    assert [job[-1] for job in launched] == ["launch.eval_rounds=[1]"] * len(jobs)
    assert compared["loader"].compositions == 2  # model=linear and model=mlp
    assert [(job.spec.model.name, job.launch.eval_rounds) for job in jobs] == [
        ("linear", (1,)),
        ("mlp", (1,)),
    ] * 4


@pytest.mark.parametrize(
    "bad",
    ["partition.alpha=abc", "partition.alphaa=1", "+seed=3", "~fl.nothing"],
)
def test_a_bad_value_fails_as_it_fails_in_hydras_own_composition(compared, tmp_path, bad):
    run_command(["-m", "seed=0,1", f"results_dir={tmp_path / 'r'}"], tmp_path / "logs")
    loader, master = compared["loader"], compared["master"]
    job = ("partition=dirichlet", "seed=1", bad)
    with pytest.raises(ConfigCompositionException) as fast:
        MemoConfigLoader(loader.inner)._compose(master, job)
    with pytest.raises(ConfigCompositionException) as whole:
        loader.inner.load_sweep_config(master, list(job))
    assert str(fast.value) == str(whole.value)
    assert repr(fast.value.__cause__) == repr(whole.value.__cause__)


def test_a_sweep_with_a_bad_value_in_one_job_ends_in_one_line_naming_it(tmp_path):
    results = tmp_path / "results"
    argv = ["-m", "partition=dirichlet", "partition.alpha=0.1,abc", f"results_dir={results}"]
    with pytest.raises(FedbenchError, match=r"partition\.alpha.*abc") as error:
        run_command(argv, tmp_path / "logs")
    assert "\n" not in str(error.value)
    assert not results.exists()
