"""A sweep's round counts per run, as the sweeper tells its jobs (no training)."""

from fedbench.app.sweep import round_groups
from fedbench.spec import RunSpec


def test_only_runs_asked_several_round_counts_form_groups():
    specs = [
        RunSpec.create(rounds=50),
        RunSpec.create(rounds=10),
        RunSpec.create(rounds=100),
        RunSpec.create(rounds=10, seed=1),  # another run, one round count
        RunSpec.create(rounds=10, seed=1),
    ]
    groups = round_groups.round_groups(specs)
    assert groups == {specs[0].config_hash: [10, 50, 100]}
    assert round_groups.eval_rounds(specs[2], groups) == (10, 50)  # the 100-round job's
    assert round_groups.eval_rounds(specs[1], groups) == ()
    assert round_groups.eval_rounds(specs[3], groups) == ()  # a run without a group
    # one job per run is launched: the first asking the most rounds
    assert round_groups.answering_jobs(specs) == [2, 2, 2, 3, 3]


def test_runs_in_different_results_folders_are_answered_separately(tmp_path):
    here = RunSpec.create(rounds=10, results_dir=str(tmp_path / "a"))
    there = RunSpec.create(rounds=20, results_dir=str(tmp_path / "b"))
    assert here.config_hash == there.config_hash
    assert round_groups.answering_jobs([here, there]) == [0, 1]
