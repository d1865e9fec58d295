"""Every model and every algorithm trains through TFF on small 28x28 images."""

import inspect
import itertools

import numpy as np
import pytest

from fedbench.clients import ClientArrays, TrainingData
from fedbench.records import ALGORITHMS as ALGORITHM_RECORDS
from fedbench.records import MODELS as MODEL_RECORDS
from fedbench.records import resolve
from fedbench.spec import RunSpec
from fedbench.training.train import train

pytestmark = pytest.mark.tff

SHAPE, CLASSES, CLIENTS = (28, 28), 4, 3


@pytest.fixture(scope="module")
def images():
    """Class c is a bright horizontal bar at rows 6c..6c+4 plus noise: learnable in a round."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, CLASSES, size=CLIENTS * 40 + 40)
    x = rng.uniform(0, 0.3, size=(len(y), *SHAPE)).astype(np.float32)
    for c in range(CLASSES):
        x[y == c, 6 * c : 6 * c + 4, :] += 0.7
    train = np.array_split(np.arange(CLIENTS * 40), CLIENTS)
    clients = ClientArrays(train_x=[x[i] for i in train], train_y=[y[i] for i in train])
    return clients, x[-40:], y[-40:]


def _train(images, model, algorithm, rounds=2):
    clients, test_x, test_y = images
    spec = RunSpec.create(
        model=model,
        algorithm=algorithm,
        rounds=rounds,
        num_clients=CLIENTS,
        clients_per_round=CLIENTS,
        batch_size=10,
        client_lr=0.05,
    )
    return list(train(spec, TrainingData(clients, test_x, test_y, CLASSES)))


def _keyword_only(fn):
    return {
        name: p.default
        for name, p in inspect.signature(fn).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


@pytest.mark.parametrize("name", sorted(ALGORITHM_RECORDS))
def test_each_algorithm_builder_takes_its_records_options_without_defaults_of_its_own(name):
    options = _keyword_only(ALGORITHM_RECORDS[name].builder_for("per_client"))
    assert set(options) == set(ALGORITHM_RECORDS[name].defaults)
    # The record alone holds the defaults: the run spec fills every option.
    assert all(default is inspect.Parameter.empty for default in options.values())


@pytest.mark.parametrize("name", sorted(ALGORITHM_RECORDS))
def test_each_sharded_builder_takes_its_records_options_without_defaults_of_its_own(name):
    options = _keyword_only(ALGORITHM_RECORDS[name].builder_for("sharded"))
    assert set(options) == set(ALGORITHM_RECORDS[name].defaults)
    assert all(default is inspect.Parameter.empty for default in options.values())


@pytest.mark.parametrize("name", sorted(MODEL_RECORDS))
def test_each_model_builder_takes_its_records_options_without_defaults_of_its_own(name):
    options = _keyword_only(resolve(MODEL_RECORDS[name].factory))
    assert set(options) == set(MODEL_RECORDS[name].defaults)
    assert all(default is inspect.Parameter.empty for default in options.values())


def test_every_record_names_a_builder_that_exists():
    # One registry per kind: a record's builder is found from the record itself.
    assert all(callable(resolve(m.factory)) for m in MODEL_RECORDS.values())
    assert all(callable(a.builder_for("per_client")) for a in ALGORITHM_RECORDS.values())
    assert all(callable(a.builder_for("sharded")) for a in ALGORITHM_RECORDS.values())


FAST_GRID = [(m, "fedavg") for m in MODEL_RECORDS] + [
    ("linear", a) for a in ALGORITHM_RECORDS if a != "fedavg"
]
FULL_GRID = [
    pytest.param(m, a, marks=pytest.mark.slow)
    for m, a in itertools.product(MODEL_RECORDS, ALGORITHM_RECORDS)
    if (m, a) not in FAST_GRID
]


@pytest.mark.parametrize(("model", "algorithm"), FAST_GRID + FULL_GRID)
def test_model_and_algorithm_train_for_two_rounds(images, model, algorithm):
    records = _train(images, model, algorithm)
    assert [r.round for r in records] == [1, 2]
    assert all(np.isfinite(r.train_loss) and not r.diverged for r in records)
    # 120 training examples per round, all clients sampled, one epoch.
    assert all(r.train_examples == CLIENTS * 40 for r in records)
    # The bars are easy to separate: after one round the clients' training loss is lower.
    assert records[1].train_loss < records[0].train_loss
    assert np.isfinite(records[-1].client_drift)
