"""client_drift is ~0 when every client holds the same data and large when clients disagree."""

import numpy as np
import pytest

from fedbench.data.digits import load_digits
from fedbench.training.algorithms import OptimizerSettings, build_process
from fedbench.training.client_data import ClientArrays
from fedbench.training.loop import LoopSettings, run_rounds
from fedbench.training.runtime import tff_worker
from fedbench.training.tff_model import initial_keras_model, make_model_fn

CLIENTS = 5


def _drift(clients: ClientArrays, test_x, test_y) -> float:
    settings = LoopSettings(
        rounds=2,
        clients_per_round=CLIENTS,
        local_epochs=1,
        batch_size=10,
        eval_every=2,
        shuffle_clients=False,
        seed=0,
    )
    shape = clients.train_x[0].shape[1:]
    with tff_worker():
        process = build_process(
            "fedavg", make_model_fn("linear", {}, shape, 10), OptimizerSettings(0.1, 0.0, 1.0)
        )
        model = initial_keras_model("linear", {}, shape, 10, init_seed=0)
        records = list(run_rounds(process, model, clients, test_x, test_y, settings))
    return records[-1].client_drift


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_identical_clients_have_no_drift_and_single_class_clients_drift(digits):
    x, y = digits.train.x, digits.train.y
    same = ClientArrays(train_x=[x[:100]] * CLIENTS, train_y=[y[:100]] * CLIENTS)
    # Client k holds only classes 2k and 2k+1: their updates pull in different directions.
    by_class = [np.flatnonzero((y == 2 * k) | (y == 2 * k + 1))[:100] for k in range(CLIENTS)]
    skewed = ClientArrays(train_x=[x[i] for i in by_class], train_y=[y[i] for i in by_class])
    identical_drift = _drift(same, digits.test.x, digits.test.y)
    skewed_drift = _drift(skewed, digits.test.x, digits.test.y)
    assert identical_drift == pytest.approx(0.0, abs=1e-5)
    # Disjoint label sets: K equal-length, mutually orthogonal updates would give
    # ||u|| sqrt(1 - 1/K) / (||u|| / sqrt(K)) = sqrt(K - 1) = 2; opposing components
    # make it larger still (measured ~4.0 on this data).
    assert skewed_drift > 1.0
