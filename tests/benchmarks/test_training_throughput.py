"""Training throughput: one FedAvg round through TFF vs the same round as a plain Keras loop.

Run with ``make bench`` (or ``.venv/bin/pytest tests/benchmarks/test_training_throughput.py
-m benchmark --benchmark-only``). Both cases train the same clients on the same data in
the same run, so compare them as a ratio; absolute times drift on a shared machine.
The Keras loop is the yardstick: it pays no serialization or gRPC, so the ratio is
what TFF's execution costs fedbench per round.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from fedbench.clients import build_client_arrays
from fedbench.data.digits import load_digits
from fedbench.partitioning import partition
from fedbench.spec import RunSpec
from fedbench.training.client_data import round_dataset
from fedbench.training.loop import initial_state
from fedbench.training.models import build_model
from fedbench.training.runtime import tff_worker
from fedbench.training.train import learning_process

pytestmark = pytest.mark.benchmark
CLIENTS, BATCH, LR = 10, 20, 0.1


@pytest.fixture(scope="module")
def clients():
    dataset = load_digits()
    parts = partition("iid", dataset.train.y, CLIENTS, seed=0)
    return build_client_arrays(dataset, parts, seed=0), dataset.example_shape


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_tff_round(benchmark, clients, model):
    arrays, shape = clients
    benchmark.group = f"one FedAvg round, digits, {CLIENTS} clients, {model}"
    benchmark.extra_info["case"] = "TFF"
    spec = RunSpec.create(model=model, client_lr=LR)
    with tff_worker():
        process, init = learning_process(spec, shape, 10)
        state = initial_state(process, init)
        process.next(state, _datasets(arrays))  # the first call traces and compiles

        def one_round():
            return process.next(state, _datasets(arrays))

        output = benchmark.pedantic(one_round, rounds=10, warmup_rounds=1)
    examples = int(output.metrics["client_work"]["train"]["num_examples"])
    benchmark.extra_info["examples_per_second"] = examples / benchmark.stats["median"]


def _datasets(arrays, compact=True):
    return [
        round_dataset(x, y, batch_size=BATCH, local_epochs=1, shuffle_rng=None, compact=compact)
        for x, y in zip(arrays.train_x, arrays.train_y, strict=True)
    ]


@pytest.fixture(scope="module")
def fmnist_clients():
    from fedbench.data import load_dataset
    from fedbench.errors import DataError

    try:
        dataset = load_dataset("fmnist", {})
    except DataError as error:
        pytest.skip(f"Fashion-MNIST not available: {error}")
    parts = partition("iid", dataset.train.y, CLIENTS, seed=0)
    return build_client_arrays(dataset, parts, seed=0)


@pytest.mark.parametrize("compact", [True, False], ids=["uint8", "float32"])
def test_tff_round_fmnist_pixel_shipping(benchmark, fmnist_clients, compact):
    """60,000 28x28 images to the worker per round: 8-bit codes vs float32."""
    benchmark.group = f"one FedAvg round, Fashion-MNIST, {CLIENTS} clients, linear: pixels as"
    benchmark.extra_info["case"] = "uint8" if compact else "float32"
    spec = RunSpec.create(client_lr=0.01)
    with tff_worker():
        process, init = learning_process(spec, (28, 28), 10)
        state = initial_state(process, init)
        process.next(state, _datasets(fmnist_clients, compact))
        benchmark.pedantic(
            lambda: process.next(state, _datasets(fmnist_clients, compact)), rounds=3
        )


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_keras_round(benchmark, clients, model):
    arrays, shape = clients
    benchmark.group = f"one FedAvg round, digits, {CLIENTS} clients, {model}"
    benchmark.extra_info["case"] = "plain Keras"
    keras_model = build_model(model, shape, 10)
    keras_model.compile(
        optimizer=tf.keras.optimizers.SGD(LR),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    start = keras_model.get_weights()
    sizes = np.array([len(y) for y in arrays.train_y], float)

    def one_round():
        weights = []
        for x, y in zip(arrays.train_x, arrays.train_y, strict=True):
            keras_model.set_weights(start)
            keras_model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
            weights.append(keras_model.get_weights())
        return [
            np.tensordot(sizes / sizes.sum(), np.stack(w), axes=1)
            for w in zip(*weights, strict=True)
        ]

    one_round()
    benchmark.pedantic(one_round, rounds=10, warmup_rounds=1)
    benchmark.extra_info["examples_per_second"] = sizes.sum() / benchmark.stats["median"]
