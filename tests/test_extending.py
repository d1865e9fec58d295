"""Adding a strategy is its function and its record: nothing else in fedbench changes.

The strategy is docs/extending.md's own example (its first ```python block), so the
page shows what these tests register, run as a plugin module and train.
"""

import pandas as pd
import pytest
from hydra.core.config_store import ConfigStore

from fedbench import results as R
from fedbench.app import experiment, partition_report
from fedbench.errors import FedbenchError
from fedbench.partitioning import STRATEGIES
from tests.cli_helpers import run_command
from tests.docs_blocks import ROOT, blocks

#: docs/extending.md's example module: the function ``blocks`` and ``STRATEGY``, registered.
PLUGIN = blocks(ROOT / "docs" / "extending.md", "python")[0][1]


@pytest.fixture
def registered():
    module: dict = {}
    exec(PLUGIN, module)  # registers the strategy, as importing the plugin module does
    yield module["STRATEGY"]
    del STRATEGIES["blocks"]
    ConfigStore.instance().repo["partition"].pop("blocks.yaml", None)


CLIENTS = ["fl.num_clients=4", "fl.clients_per_round=4"]


def test_a_registered_strategy_partitions_through_fedbench_partition(registered, tmp_path):
    results = tmp_path / "results"
    (job,) = run_command(
        ["partition=blocks", "partition.stride=3", *CLIENTS, f"results_dir={results}"],
        tmp_path / "logs",
        run=partition_report.report,
        training=False,
    )
    assert job.spec.partition.options == {"stride": 3}
    (table,) = (results / "partitions").glob("*.parquet")
    # digits' 1,437 training examples are 479 blocks of 3, dealt round robin to 4
    # clients: 120, 120, 120 and 119 blocks.
    assert pd.read_parquet(table)["num_examples"].tolist() == [360, 360, 360, 357]


@pytest.mark.tff
@pytest.mark.smoke  # the one TFF run of `make test-fast`
def test_a_registered_strategy_trains_and_its_parameter_is_a_result_column(registered, tmp_path):
    results = tmp_path / "results"
    argv = ["partition=blocks", *CLIENTS, "fl.rounds=1", f"results_dir={results}"]
    assert len(run_command(argv, tmp_path / "logs", run=experiment.run)) == 1
    frame = R.load_runs(results)
    assert frame[R.STATUS].tolist() == [R.Status.COMPLETED]
    assert frame["stride"].tolist() == [2]  # the function's default
    assert frame[R.ALPHA].isna().all()


def test_a_registered_strategys_parameter_is_checked_by_its_rule(registered, tmp_path):
    with pytest.raises(FedbenchError) as caught:
        run_command(["partition=blocks", "partition.stride=0"], tmp_path)
    assert str(caught.value) == (
        "partition.stride=0 is invalid: allowed is an integer >= 1; e.g. partition.stride=2"
    )


@pytest.mark.subprocess
@pytest.mark.parametrize("module", ["fedbench.partition", "fedbench"])
def test_the_commands_load_a_strategy_named_in_fedbench_plugins(tmp_path, module):
    import os
    import subprocess
    import sys

    (tmp_path / "blocks_plugin.py").write_text(PLUGIN)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "FEDBENCH_PLUGINS": "blocks_plugin"}
    results = tmp_path / "results"
    args = ["partition=blocks", "partition.stride=3", *CLIENTS, "fl.rounds=1"]
    done = subprocess.run(
        [sys.executable, "-m", module, *args, f"results_dir={results}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    if module == "fedbench":
        assert R.load_runs(results)["stride"].tolist() == [3]
    else:
        (table,) = (results / "partitions").glob("*.parquet")
        assert pd.read_parquet(table)["num_examples"].tolist() == [360, 360, 360, 357]


@pytest.mark.subprocess
def test_a_plugin_that_cannot_be_imported_is_one_line(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "FEDBENCH_PLUGINS": "no_such_plugin"}
    done = subprocess.run(
        [sys.executable, "-m", "fedbench.partition", f"results_dir={tmp_path}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "fedbench: error: FEDBENCH_PLUGINS='no_such_plugin' is invalid: allowed is names of "
        "importable modules, separated by commas; ModuleNotFoundError: No module named "
        "'no_such_plugin'; check the name and PYTHONPATH"
    ]
