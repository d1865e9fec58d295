"""Adding a strategy, a model or an algorithm is its function and its record.

The strategy is docs/extending.md's own example (its first ```python block), the model
and the algorithm its second, so the page shows what these tests register, run as
plugin modules and train.
"""

import pandas as pd
import pytest
from hydra.core.config_store import ConfigStore

from fedbench import results as R
from fedbench.app.job import experiment, partition_report
from fedbench.errors import FedbenchError
from fedbench.partitioning import STRATEGIES
from fedbench.records import ALGORITHMS, MODELS
from tests.cli_helpers import run_command
from tests.docs_blocks import ROOT, blocks

#: docs/extending.md's example module: the function ``blocks`` and ``STRATEGY``, registered.
PLUGIN = blocks(ROOT / "docs" / "extending.md", "python")[0][1]
#: Its second: the model ``two_layers`` and the algorithm ``fedyogi``, registered.
METHODS_PLUGIN = blocks(ROOT / "docs" / "extending.md", "python")[1][1]


@pytest.fixture
def registered():
    module: dict = {}
    exec(PLUGIN, module)  # registers the strategy, as importing the plugin module does
    yield module["STRATEGY"]
    del STRATEGIES["blocks"]
    ConfigStore.instance().repo["partition"].pop("blocks.yaml", None)


CLIENTS = ["fl.num_clients=4", "fl.clients_per_round=4"]
#: fedyogi has no sharded builder: it trains on the per-client path.
PER_CLIENT = "fl.execution=per_client"


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
    results = tmp_path / "results"
    args = ["partition=blocks", "partition.stride=3", *CLIENTS, "fl.rounds=1"]
    done = _with_plugin(tmp_path, PLUGIN, module, [*args, f"results_dir={results}"])
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


@pytest.fixture
def methods():
    module: dict = {}
    exec(METHODS_PLUGIN, module)  # registers both, as importing the plugin module does
    yield module["MODEL"], module["ALGORITHM"]
    del MODELS["two_layers"], ALGORITHMS["fedyogi"]
    ConfigStore.instance().repo["model"].pop("two_layers.yaml", None)
    ConfigStore.instance().repo["algorithm"].pop("fedyogi.yaml", None)


def test_a_registered_model_and_algorithm_are_checked_by_their_records(methods, tmp_path):
    (job,) = run_command(["model=two_layers", "algorithm=fedyogi", PER_CLIENT], tmp_path)
    assert dict(job.spec.model.options) == {"width": 32}
    assert dict(job.spec.algorithm.options) == {"tau": 1e-3}
    assert job.spec.fl.server_lr == 0.01  # the record's own server step
    with pytest.raises(FedbenchError) as caught:
        run_command(["algorithm=fedyogi", "algorithm.tau=0", PER_CLIENT], tmp_path)
    assert str(caught.value) == (
        "algorithm.tau=0.0 is invalid: allowed is a float > 0; e.g. algorithm.tau=0.5"
    )
    assert "tau" in R.column_names()
    # No sharded builder: the default fl.execution=sharded is refused before anything runs.
    with pytest.raises(FedbenchError) as caught:
        run_command(["algorithm=fedyogi"], tmp_path)
    assert str(caught.value) == (
        "fl.execution='sharded' is invalid: allowed is one that algorithm=fedyogi has a "
        "builder for: per_client; use fl.execution=per_client"
    )


@pytest.mark.tff
def test_a_registered_model_and_algorithm_train_through_the_command_line(methods, tmp_path):
    results = tmp_path / "results"
    argv = [
        "model=two_layers",
        "model.width=8",
        "algorithm=fedyogi",
        PER_CLIENT,
        *CLIENTS,
        "fl.rounds=2",
        "fl.server_lr=0.1",
        f"results_dir={results}",
    ]
    assert len(run_command(argv, tmp_path / "logs", run=experiment.run)) == 1
    frame = R.load_runs(results)
    assert frame[R.STATUS].tolist() == [R.Status.COMPLETED] * 2
    assert set(frame[R.MODEL]) == {"two_layers"} and set(frame[R.ALGORITHM]) == {"fedyogi"}
    assert frame["tau"].tolist() == [1e-3, 1e-3]
    # Two rounds of Yogi on digits learn something: better than chance (1 in 10 classes).
    assert frame[R.TEST_ACCURACY].iloc[-1] > 0.2


@pytest.mark.subprocess
def test_the_command_loads_a_model_and_an_algorithm_named_in_fedbench_plugins(tmp_path):
    results = tmp_path / "results"
    args = ["model=two_layers", "algorithm=fedyogi", "algorithm.tau=0.01", PER_CLIENT, *CLIENTS]
    done = _with_plugin(
        tmp_path, METHODS_PLUGIN, "fedbench", [*args, "fl.rounds=1", f"results_dir={results}"]
    )
    assert done.returncode == 0, done.stderr[-2000:]
    frame = R.load_runs(results)
    assert frame[R.MODEL].tolist() == ["two_layers"] and frame["tau"].tolist() == [0.01]


def _with_plugin(tmp_path, source, module, args):
    """Run ``python -m <module> <args>`` with ``source`` as the module FEDBENCH_PLUGINS names."""
    import os
    import subprocess
    import sys

    (tmp_path / "a_plugin.py").write_text(source)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "FEDBENCH_PLUGINS": "a_plugin"}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
