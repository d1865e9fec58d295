"""The partition report in-process: what its per-client table records."""

import numpy as np
import pandas as pd

from fedbench.app import partition_report
from tests.test_experiment import make_config


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
