"""Every model and every algorithm trains through TFF on small 28x28 images."""

import itertools

import numpy as np
import pytest

from fedbench.config.algorithm import ALGORITHM_SCHEMAS
from fedbench.config.model import MODEL_SCHEMAS
from fedbench.training.algorithms import OptimizerSettings, build_process
from fedbench.training.client_data import ClientArrays
from fedbench.training.loop import LoopSettings, run_rounds
from fedbench.training.models import MODELS
from fedbench.training.runtime import tff_worker
from fedbench.training.tff_model import initial_keras_model, make_model_fn

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
    options = {k: v.default for k, v in ALGORITHM_SCHEMAS[algorithm].__dataclass_fields__.items()}
    options.pop("name")
    server_lr = 0.01 if algorithm == "fedadam" else 1.0
    settings = LoopSettings(rounds, CLIENTS, 1, 10, 1, True, 0)
    with tff_worker():
        process = build_process(
            algorithm,
            make_model_fn(model, {}, SHAPE, CLASSES),
            OptimizerSettings(0.05, 0.0, server_lr),
            **options,
        )
        init = initial_keras_model(model, {}, SHAPE, CLASSES, init_seed=0)
        return list(run_rounds(process, init, clients, test_x, test_y, settings))


def test_the_registries_and_schemas_agree():
    assert set(MODELS) == set(MODEL_SCHEMAS)


FAST_GRID = [(m, "fedavg") for m in MODEL_SCHEMAS] + [
    ("linear", a) for a in ALGORITHM_SCHEMAS if a != "fedavg"
]
FULL_GRID = [
    pytest.param(m, a, marks=pytest.mark.slow)
    for m, a in itertools.product(MODEL_SCHEMAS, ALGORITHM_SCHEMAS)
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
