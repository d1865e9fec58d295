"""The CNN learns through TFF as fast as a plain Keras FedAvg loop on the same setup (issue 5).

Fashion-MNIST, IID, 10 clients all sampled, 3 rounds, one local epoch, batch 64,
client SGD lr 0.01, with and without momentum 0.9.
"""

import numpy as np
import pytest

from fedbench import results as R
from fedbench.app.job import experiment
from fedbench.data import load_dataset
from fedbench.errors import DataError
from fedbench.partitioning import partition
from tests.app.job.test_experiment import make_config, read_run
from tests.training.keras_fedavg import keras_fedavg

pytestmark = [pytest.mark.slow, pytest.mark.tff]


@pytest.fixture(scope="module")
def fmnist():
    try:
        return load_dataset("fmnist", {})
    except DataError as error:
        pytest.skip(f"Fashion-MNIST not available: {error}")


@pytest.mark.parametrize(("momentum", "reference"), [(0.0, 0.68), (0.9, 0.77)])
def test_cnn_matches_a_plain_keras_fedavg_loop(fmnist, results_dir, momentum, reference):
    config = make_config(
        results_dir,
        "dataset=fmnist",
        "model=cnn",
        "fl.num_clients=10",
        "fl.clients_per_round=10",
        "fl.rounds=3",
        "fl.batch_size=64",
        "fl.client_lr=0.01",
        f"fl.client_momentum={momentum}",
    )
    assert experiment.run(config) == R.Status.COMPLETED
    ours = read_run(config)[R.TEST_ACCURACY].tolist()

    parts = partition("iid", fmnist.train.y, 10, seed=0)
    theirs = keras_fedavg(
        "cnn",
        [fmnist.train.x[p] for p in parts],
        [fmnist.train.y[p] for p in parts],
        fmnist.test.x,
        fmnist.test.y,
        rounds=3,
        batch_size=64,
        lr=0.01,
        momentum=momentum,
    )
    print(f"momentum={momentum}: fedbench {np.round(ours, 3)}, keras {np.round(theirs, 3)}")
    # Same algorithm, different random init and batch order: after 3 rounds the two
    # differ by run-to-run noise (measured: 0.658 vs 0.650, and 0.776 vs 0.773); the
    # issue's reference loop reached ~`reference`. Learning "as fast" = final accuracy
    # within 0.05 of the Keras loop and no more than 0.05 below the reference.
    assert abs(ours[-1] - theirs[-1]) < 0.05
    assert ours[-1] > reference - 0.05
