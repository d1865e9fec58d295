"""``fedbench-partition ... calibrate=<strategy>``: the matching parameter, printed and kept."""

import json
import re

import pytest

from fedbench.app.job import partition_report
from fedbench.app.job.prepare import prepare
from tests.app.job.test_experiment import make_config
from tests.cli_helpers import fedbench


def test_calibrate_recovers_alpha_from_a_dirichlet_split_of_digits(results_dir, capsys):
    # Digits, 10 clients, Dir(0.3): calibration over 5 seeds lands within a factor 1.5
    # (the tolerance tests/test_calibration.py measures).
    prepared = make_config(
        results_dir, "partition=dirichlet", "partition.alpha=0.3", "calibrate=dirichlet"
    )
    path = partition_report.report(prepared)
    out = capsys.readouterr().out
    alpha = float(re.search(r"dirichlet alpha matching this partition's label_emd: (\S+)", out)[1])
    assert 0.2 < alpha < 0.45
    stored = json.loads(path.with_name(path.stem + ".metrics.json").read_text())["calibration"]
    assert stored["value"] == pytest.approx(alpha, rel=1e-3) and stored["parameter"] == "alpha"
    assert stored["target"] == pytest.approx(stored["achieved"], abs=stored["spread"] + 0.01)


@pytest.mark.subprocess
def test_calibrate_dirichlet_on_femnist_writers_prints_an_alpha(results_dir, femnist_leaf_dir):
    done = fedbench(
        "dataset=femnist_leaf",
        f"dataset.path={femnist_leaf_dir}",
        "partition=natural",
        "fl.num_clients=105",
        "fl.clients_per_round=10",
        "calibrate=dirichlet",
        f"results_dir={results_dir}",
        module="fedbench.partition",
    )
    assert done.returncode == 0, done.stderr
    match = re.search(r"dirichlet alpha matching this partition's label_emd: (\S+)", done.stdout)
    assert match and float(match[1]) > 0, done.stdout


@pytest.mark.subprocess
def test_an_unreachable_target_exits_2_before_writing(results_dir):
    done = fedbench(
        "partition=dirichlet",
        "partition.alpha=0.1",
        "calibrate=quantity",
        f"results_dir={results_dir}",
        module="fedbench.partition",
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "calibrate='quantity' is invalid" in lines[0], done.stderr
    assert not results_dir.exists()


def test_the_calibration_is_kept_with_the_prepared_run(results_dir):
    prepared = make_config(results_dir, "calibrate=pathological")
    # IID digits: clients holding nearly every class (#C=9 balances classes a little
    # better than IID draws, so it can match as well as #C=10).
    again = prepare(prepared.spec, training=False)
    assert again.calibration == prepared.calibration
    assert prepared.calibration.value in (9, 10)
