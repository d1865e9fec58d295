"""What SCAFFOLD and FedNova cost over FedAvg, and how close FedAvg's round is to its floor.

Run with ``make bench`` (or ``.venv/bin/pytest tests/benchmarks/test_algorithm_cost.py -m
benchmark --benchmark-only``). Each group runs the same data, model and clients in each
way in one run, so read them as ratios to the baseline (FedAvg):

- ``round by algorithm, digits, 10 clients, linear``: one whole round of
  :func:`fedbench.training.train.train` with FedAvg, SCAFFOLD (which sends the client
  its control variate and gets the new one back: twice FedAvg's state) and FedNova.
- ``round by algorithm, Fashion-MNIST CNN, 10 clients x 6,000``: the same three, and the
  client arithmetic alone: each client's SGD steps in one compiled ``tf.function`` over
  its batches (no TFF, no evaluation), plus the weighted average, the clients shared
  among one thread per core as TFF's worker runs them concurrently: the floor of a round
  on this CPU.

The timed rounds are not evaluated (``fl.eval_every`` past them), so every case does the
same work: the clients' local steps and the average.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tensorflow as tf

from fedbench.app.job.prepare import prepare
from fedbench.clients import TrainingData, training_data
from fedbench.errors import DataError
from fedbench.spec import RunSpec
from fedbench.training.models import build_model
from fedbench.training.train import train
from tests.benchmarks.test_training_throughput import _timed_rounds

pytestmark = pytest.mark.benchmark

ALGORITHMS = ("fedavg", "scaffold", "fednova")
DIGITS_GROUP = "round by algorithm, digits, 10 clients, linear"
FMNIST_GROUP = "round by algorithm, Fashion-MNIST CNN, 10 clients x 6,000"
DIGITS_ROUNDS, FMNIST_ROUNDS, FMNIST_BATCH, FMNIST_LR = 10, 2, 20, 0.05


def _label(benchmark, group: str, algorithm: str) -> None:
    benchmark.group = group
    benchmark.extra_info["case"] = algorithm
    benchmark.extra_info["baseline"] = algorithm == "fedavg"


#: Past every timed round: only the last, never timed, is evaluated.
NO_EVALUATION = 1000


def _digits_spec(algorithm: str) -> RunSpec:
    return RunSpec.create(
        algorithm=algorithm,
        shuffle_clients=False,
        rounds=DIGITS_ROUNDS + 2,
        eval_every=NO_EVALUATION,
    )


@pytest.fixture(scope="module")
def digits() -> TrainingData:
    spec = _digits_spec("fedavg")
    return training_data(spec, prepare(spec).load())


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_round_by_algorithm_digits(benchmark, digits, algorithm):
    _label(benchmark, DIGITS_GROUP, algorithm)
    _timed_rounds(benchmark, train(_digits_spec(algorithm), digits), DIGITS_ROUNDS)


def _fmnist_spec(algorithm: str) -> RunSpec:
    return RunSpec.create(
        algorithm=algorithm,
        dataset="fmnist",
        model="cnn",
        batch_size=FMNIST_BATCH,
        client_lr=FMNIST_LR,
        rounds=FMNIST_ROUNDS + 2,
        shuffle_clients=False,
        eval_every=NO_EVALUATION,
    )


@pytest.fixture(scope="module")
def fmnist() -> TrainingData:
    spec = _fmnist_spec("fedavg")
    try:
        return training_data(spec, prepare(spec).load())
    except DataError as error:
        pytest.skip(f"Fashion-MNIST not available: {error}")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_round_by_algorithm_fmnist_cnn(benchmark, fmnist, algorithm):
    _label(benchmark, FMNIST_GROUP, algorithm)
    _timed_rounds(benchmark, train(_fmnist_spec(algorithm), fmnist), FMNIST_ROUNDS)


def test_client_arithmetic_alone_fmnist_cnn(benchmark, fmnist):
    """Each client's SGD steps in one compiled graph over its batches, then the average.

    The clients are shared among one thread per core, each with its own model (TensorFlow
    runs a graph without the GIL), as TFF's worker trains the clients of a round at once.
    """
    _label(benchmark, FMNIST_GROUP, "client arithmetic alone")
    workers = os.cpu_count() or 1
    start = [tf.constant(w) for w in build_model("cnn", fmnist.example_shape, 10).get_weights()]
    clients = [
        tf.data.Dataset.from_tensor_slices((x.astype(np.float32), y.astype(np.int64))).batch(
            FMNIST_BATCH
        )
        for x, y in zip(fmnist.clients.train_x, fmnist.clients.train_y, strict=True)
    ]
    sizes = np.array([len(y) for y in fmnist.clients.train_y], np.float32)
    shares = [float(n) for n in sizes / sizes.sum()]
    trainers = [
        _local_steps(build_model("cnn", fmnist.example_shape, 10), start) for _ in range(workers)
    ]

    def one_worker(index: int) -> list[tf.Tensor]:
        total = [tf.zeros_like(v) for v in start]
        for k in range(index, len(clients), workers):
            trained = trainers[index](clients[k])
            total = [t + shares[k] * v for t, v in zip(total, trained, strict=True)]
        return total

    def one_round():
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(one_worker, range(workers)))
        return [tf.add_n(list(leaf)) for leaf in zip(*parts, strict=True)]

    one_round()  # traces and compiles
    benchmark.pedantic(one_round, rounds=FMNIST_ROUNDS, warmup_rounds=0)


def _local_steps(model: tf.keras.Model, start: list[tf.Tensor]):
    """A compiled function: from ``start``, SGD over a client's batches; the final weights."""
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = model.trainable_variables

    @tf.function
    def local_steps(dataset):
        for variable, value in zip(variables, start, strict=True):
            variable.assign(value)
        for x, y in dataset:
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, variables)
            for variable, grad in zip(variables, grads, strict=True):
                variable.assign_sub(FMNIST_LR * grad)
        return [tf.identity(v) for v in variables]

    return local_steps
