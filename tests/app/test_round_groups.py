"""A sweep's round counts per run, as its jobs read them (no training)."""

import json
import os

from fedbench.app import round_groups
from fedbench.spec import RunSpec


def test_only_runs_asked_several_round_counts_form_groups(monkeypatch):
    monkeypatch.setenv(round_groups.ENV_VAR, "{}")  # restored after the test
    specs = [
        RunSpec.create(rounds=50),
        RunSpec.create(rounds=10),
        RunSpec.create(rounds=100),
        RunSpec.create(rounds=10, seed=1),  # another run, one round count
        RunSpec.create(rounds=10, seed=1),
    ]
    groups = round_groups.round_groups(specs)
    assert groups == {specs[0].config_hash: [10, 50, 100]}
    round_groups.publish(specs)
    assert json.loads(os.environ[round_groups.ENV_VAR]) == groups
    assert round_groups.eval_rounds(specs[2]) == [10, 50]  # the 100-round job evaluates there
    assert round_groups.eval_rounds(specs[1]) == []
    # one job per run is launched: the first asking the most rounds
    assert round_groups.answering_jobs(specs) == [2, 2, 2, 3, 3]


def test_a_sweep_without_groups_clears_the_last_ones(monkeypatch):
    monkeypatch.setenv(round_groups.ENV_VAR, json.dumps({"x": [1, 2]}))
    round_groups.publish([RunSpec.create(rounds=5)])
    assert round_groups.ENV_VAR not in os.environ


def test_unreadable_groups_are_no_groups(monkeypatch):
    monkeypatch.setenv(round_groups.ENV_VAR, "{not json")
    spec = RunSpec.create(rounds=5)
    assert round_groups.eval_rounds(spec) == []


def test_runs_in_different_results_folders_are_answered_separately(tmp_path):
    here = RunSpec.create(rounds=10, results_dir=str(tmp_path / "a"))
    there = RunSpec.create(rounds=20, results_dir=str(tmp_path / "b"))
    assert here.config_hash == there.config_hash
    assert round_groups.answering_jobs([here, there]) == [0, 1]
