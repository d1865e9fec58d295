"""The partition report in-process: what its per-client table records."""

import json

import numpy as np
import pandas as pd

from fedbench.app.job import partition_report
from tests.app.job.test_experiment import make_config


def test_feature_noise_report_records_each_clients_noise(results_dir, capsys):
    # sigma = 0.3 over 4 clients: client k's features get noise of sd 0.3 * k / 3.
    config = make_config(
        results_dir,
        "partition=feature_noise",
        "partition.sigma=0.3",
        "fl.num_clients=4",
        "fl.clients_per_round=4",
    )
    table = pd.read_parquet(partition_report.report(config))
    np.testing.assert_allclose(table["noise_sigma"], [0.0, 0.1, 0.2, 0.3])
    assert list(table.columns[:4]) == ["client_id", "client_name", "num_examples", "noise_sigma"]
    assert "label_emd" in capsys.readouterr().out


def test_other_strategies_have_no_noise_column(results_dir, capsys):
    config = make_config(results_dir, "fl.num_clients=4", "fl.clients_per_round=4")
    table = pd.read_parquet(partition_report.report(config))
    assert "noise_sigma" not in table.columns and len(table) == 4


def test_rotation_and_concept_shift_reports_record_each_clients_shift(results_dir, capsys):
    # 4 clients, max_degrees 90: client k turns 90 k / 3 degrees.
    four = ("fl.num_clients=4", "fl.clients_per_round=4")
    rotated = make_config(results_dir, "partition=rotation", "partition.max_degrees=90", *four)
    table = pd.read_parquet(partition_report.report(rotated))
    assert table["rotation_degrees"].tolist() == [0.0, 30.0, 60.0, 90.0]
    # Two disjoint swaps per client, written "a<->b c<->d".
    swapped = make_config(results_dir, "partition=concept_shift", "partition.swaps=2", *four)
    path = partition_report.report(swapped)
    table = pd.read_parquet(path)
    assert all(len(s.split()) == 2 and s.count("<->") == 2 for s in table["label_swaps"])
    out = capsys.readouterr().out
    assert "conditional_frechet=" in out and "feature_frechet=" in out
    metrics = json.loads(path.with_name(path.stem + ".metrics.json").read_text())
    assert metrics["conditional_frechet"] > 0 and "calibration" not in metrics
