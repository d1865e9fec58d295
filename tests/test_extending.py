"""Adding a strategy is its function and its record: nothing else in fedbench changes.

The README's "Extending" section walks through this example.
"""

import numpy as np
import pandas as pd
import pytest
from hydra.core.config_store import ConfigStore

from fedbench import results as R
from fedbench.app import experiment, partition_report
from fedbench.errors import FedbenchError
from fedbench.partitioning import STRATEGIES, Param, Strategy, register
from fedbench.partitioning.spec import POSITIVE_INT
from tests.cli_helpers import run_command


def blocks(labels, num_clients, rng, *, stride: int = 2):
    """Deal the shuffled examples to the clients ``stride`` at a time, round robin."""
    client_of = np.empty(len(labels), dtype=np.int64)
    client_of[rng.permutation(len(labels))] = (np.arange(len(labels)) // stride) % num_clients
    return [np.flatnonzero(client_of == k) for k in range(num_clients)]


BLOCKS = Strategy(
    "blocks",
    blocks,
    (Param("stride", POSITIVE_INT, "Shuffled examples dealt to a client at a time.", label="s"),),
)


@pytest.fixture
def registered():
    register(BLOCKS)
    yield BLOCKS
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
    assert frame[R.STATUS].tolist() == [R.STATUS_COMPLETED]
    assert frame["stride"].tolist() == [2]  # the function's default
    assert frame[R.ALPHA].isna().all()


def test_a_registered_strategys_parameter_is_checked_by_its_rule(registered, tmp_path):
    with pytest.raises(FedbenchError) as caught:
        run_command(["partition=blocks", "partition.stride=0"], tmp_path)
    assert str(caught.value) == (
        "partition.stride=0 is invalid: allowed is an integer >= 1; e.g. partition.stride=2"
    )
