"""client_drift is ~0 when every client holds the same data and large when clients disagree."""

import numpy as np
import pytest

from fedbench.clients import ClientArrays, TrainingData
from fedbench.data.digits import load_digits
from fedbench.spec import RunSpec
from fedbench.training.train import train

pytestmark = pytest.mark.tff

CLIENTS = 5


def _drift(clients: ClientArrays, test_x, test_y) -> float:
    spec = RunSpec.create(
        rounds=2,
        num_clients=CLIENTS,
        clients_per_round=CLIENTS,
        batch_size=10,
        eval_every=2,
        shuffle_clients=False,
    )
    records = list(train(spec, TrainingData(clients, test_x, test_y, num_classes=10)))
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
