"""Training throughput: fedbench's round side by side with the previous path, raw TFF and Keras.

Run with ``make bench`` (or ``.venv/bin/pytest tests/benchmarks/test_training_throughput.py
-m benchmark --benchmark-only --benchmark-group-by=group``). Every group does the same
work in several ways in the same run, so compare them as ratios (the throughput
figure does); absolute times drift on a shared machine.

- ``round, synthetic (1,000 writers, natural), linear, K clients/round`` for K = 10,
  100, 300: one whole round of fedbench (:func:`fedbench.training.train.train`: client
  input, the TFF round, evaluation, the record) against the same round through the
  previous path (:mod:`tests.training.previous_path`: a ``tf.data`` dataset per client
  shipped every round) and against raw TFF, ``build_weighted_fed_avg`` with TFF's
  defaults on datasets built once and reused (no evaluation, no drift).
- ``round, digits, 10 clients, <model>``: fedbench's whole round against a plain Keras
  ``fit`` loop, and against the client arithmetic alone (the same SGD steps and the
  average, unrolled in one compiled ``tf.function``: no TFF, no data pipeline, no
  evaluation): fedbench's fixed cost per round is the difference, reported as
  ``extra_info["fixed_overhead_ms"]`` of its case.
- ``round, Fashion-MNIST CNN, 10 clients x 6,000``: compute-bound; fedbench, the
  previous path and the plain Keras FedAvg loop.
- ``one FedAvg round, Fashion-MNIST, 10 clients, linear: pixels as``: the previous
  path's datasets with 8-bit codes or float32 pixels (what shipping data cost).

Each case runs its first round (tracing, compiling) before it is timed. The throughput
figure draws each group over its baseline (``extra_info["baseline"]``): the previous
path for the synthetic rounds, plain Keras for digits and Fashion-MNIST.
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_federated as tff

from fedbench.app.job.prepare import prepare
from fedbench.clients import TrainingData, build_client_arrays, training_data
from fedbench.data.digits import load_digits
from fedbench.partitioning import partition
from fedbench.spec import RunSpec
from fedbench.training.loop import initial_state
from fedbench.training.models import build_model
from fedbench.training.runtime import tff_worker
from fedbench.training.tff_model import make_model_fn
from fedbench.training.train import train
from tests.training.previous_path import previous_process, previous_rounds, round_dataset

pytestmark = pytest.mark.benchmark
CLIENTS, BATCH, LR = 10, 20, 0.1
#: Timed rounds per case (after the first): few, the slowest cases take seconds a round.
ROUNDS = {10: 5, 100: 3, 300: 3}
FMNIST_ROUNDS = 2


def _timed_rounds(benchmark, records, rounds):
    """Time ``rounds`` calls of ``next(records)`` (one whole round each) after the first."""
    try:
        first = next(records)
        last = benchmark.pedantic(lambda: next(records), rounds=rounds, warmup_rounds=0)
    finally:
        records.close()
    return first, last


# --- Many small clients ------------------------------------------------------------------


def _synthetic_spec(per_round: int) -> RunSpec:
    return RunSpec.create(
        dataset="synthetic",
        dataset_options={"num_writers": 1000},
        partition="natural",
        num_clients=1000,
        clients_per_round=per_round,
        client_lr=0.01,
        rounds=ROUNDS[per_round] + 2,
    )


@pytest.fixture(scope="module")
def synthetic() -> TrainingData:
    spec = _synthetic_spec(10)
    return training_data(spec, prepare(spec).load())


def _group(per_round: int) -> str:
    return f"round, synthetic (1,000 writers, natural), linear, {per_round:>3} clients/round"


EXECUTIONS = {"sharded": "fedbench (sharded)", "per_client": "fedbench (per-client)"}


@pytest.mark.parametrize("execution", list(EXECUTIONS))
@pytest.mark.parametrize("per_round", [10, 100, 300])
def test_fedbench_round_many_clients(benchmark, synthetic, per_round, execution):
    benchmark.group = _group(per_round)
    benchmark.extra_info["case"] = EXECUTIONS[execution]
    spec = dataclasses.replace(
        _synthetic_spec(per_round),
        fl=_synthetic_spec(per_round).fl.replace(execution=execution),
    )
    _timed_rounds(benchmark, train(spec, synthetic), ROUNDS[per_round])


@pytest.mark.parametrize("per_round", [10, 100, 300])
def test_client_arithmetic_many_clients(benchmark, synthetic, per_round):
    """The floor: round 1's sampled clients' SGD steps, one after another, in one graph."""
    from fedbench.seeding import sample_clients

    benchmark.group = _group(per_round)
    benchmark.extra_info["case"] = "client arithmetic alone"
    spec = _synthetic_spec(per_round)
    sampled = sample_clients(spec.seed, 1, synthetic.clients.num_clients, per_round)
    arrays = synthetic.clients
    one_round = _arithmetic(
        build_model("linear", synthetic.example_shape, synthetic.num_classes),
        [arrays.train_x[k] for k in sampled],
        [arrays.train_y[k] for k in sampled],
        spec.fl.client_lr,
    )
    one_round()
    benchmark.pedantic(one_round, rounds=ROUNDS[per_round], warmup_rounds=0)


def _arithmetic(keras_model, xs, ys, lr):
    """One compiled graph: each client's SGD steps from the start, then the weighted average."""
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = keras_model.trainable_variables
    start = [tf.constant(v.numpy()) for v in variables]
    batches = [
        [
            (tf.constant(np.asarray(x[i : i + BATCH], np.float32)), tf.constant(y[i : i + BATCH]))
            for i in range(0, len(y), BATCH)
        ]
        for x, y in zip(xs, ys, strict=True)
    ]
    sizes = np.array([len(y) for y in ys], np.float32)
    shares = [float(n) for n in sizes / max(sizes.sum(), 1.0)]

    @tf.function
    def one_round():
        average = [tf.zeros_like(v) for v in start]
        for share, client in zip(shares, batches, strict=True):
            for variable, value in zip(variables, start, strict=True):
                variable.assign(value)
            for x, y in client:
                with tf.GradientTape() as tape:
                    loss = loss_fn(y, keras_model(x, training=True))
                grads = tape.gradient(loss, variables)
                for variable, grad in zip(variables, grads, strict=True):
                    variable.assign_sub(lr * grad)
            average = [a + share * v for a, v in zip(average, variables, strict=True)]
        return average

    return one_round


@pytest.mark.parametrize("per_round", [10, 100, 300])
def test_previous_round_many_clients(benchmark, synthetic, per_round):
    benchmark.group = _group(per_round)
    benchmark.extra_info["case"] = "previous path"
    benchmark.extra_info["baseline"] = True
    spec = _synthetic_spec(per_round)
    with previous_rounds(spec, synthetic) as records:
        _timed_rounds(benchmark, records, ROUNDS[per_round])


def _prebuilt(x: np.ndarray, y: np.ndarray) -> tf.data.Dataset:
    """A client dataset as a TFF tutorial builds it: the arrays, batched."""
    return tf.data.Dataset.from_tensor_slices(
        collections.OrderedDict(x=x.astype(np.float32), y=y.astype(np.int64))
    ).batch(BATCH)


@pytest.mark.parametrize("per_round", [10, 100, 300])
def test_raw_tff_round_many_clients(benchmark, synthetic, per_round):
    """``build_weighted_fed_avg`` with TFF's defaults, every client's dataset built once."""
    from fedbench.seeding import sample_clients

    benchmark.group = _group(per_round)
    benchmark.extra_info["case"] = "raw TFF, prebuilt datasets"
    spec = _synthetic_spec(per_round)
    clients = synthetic.clients
    datasets = [_prebuilt(x, y) for x, y in zip(clients.train_x, clients.train_y, strict=True)]
    with tff_worker():
        process = tff.learning.algorithms.build_weighted_fed_avg(
            make_model_fn("linear", {}, synthetic.example_shape, synthetic.num_classes),
            client_optimizer_fn=tff.learning.optimizers.build_sgdm(spec.fl.client_lr),
            server_optimizer_fn=tff.learning.optimizers.build_sgdm(1.0),
        )
        state = process.initialize()
        round_num = 0

        def one_round():
            nonlocal state, round_num
            round_num += 1
            sampled = sample_clients(spec.seed, round_num, clients.num_clients, per_round)
            state = process.next(state, [datasets[k] for k in sampled]).state

        one_round()
        benchmark.pedantic(one_round, rounds=ROUNDS[per_round], warmup_rounds=0)


# --- Digits: fixed cost per round ------------------------------------------------------


@pytest.fixture(scope="module")
def clients():
    dataset = load_digits()
    parts = partition("iid", dataset.train.y, CLIENTS, seed=0)
    return build_client_arrays(dataset, parts, seed=0), dataset.example_shape


def _digits_group(model: str) -> str:
    return f"round, digits, {CLIENTS} clients, {model}"


#: Median seconds of the client arithmetic per model, for the fixed overhead of fedbench's round.
_ARITHMETIC: dict[str, float] = {}


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_client_arithmetic_round(benchmark, clients, model):
    """The round's SGD steps and average alone: one compiled graph, every step unrolled."""
    arrays, shape = clients
    benchmark.group = _digits_group(model)
    benchmark.extra_info["case"] = "client arithmetic alone"
    keras_model = build_model(model, shape, 10)
    one_round = _arithmetic(keras_model, arrays.train_x, arrays.train_y, LR)
    one_round()
    # A round of a few milliseconds: many of them, so a scheduling hiccup does not move
    # the median (ten gave medians of 3.5 and 6.3 ms in two quiet runs).
    benchmark.pedantic(one_round, rounds=50, warmup_rounds=5)
    if benchmark.stats is not None:  # None with --benchmark-disable: nothing was timed
        _ARITHMETIC[model] = benchmark.stats["median"]


@pytest.mark.parametrize("execution", list(EXECUTIONS))
@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_fedbench_round(benchmark, clients, model, execution):
    arrays, _ = clients
    benchmark.group = _digits_group(model)
    benchmark.extra_info["case"] = EXECUTIONS[execution]
    spec = RunSpec.create(
        model=model,
        client_lr=LR,
        batch_size=BATCH,
        shuffle_clients=False,
        rounds=12,
        execution=execution,
    )
    test = load_digits().test
    data = TrainingData(arrays, test.x, test.y, 10)
    _, last = _timed_rounds(benchmark, train(spec, data), rounds=10)
    if benchmark.stats is None:  # --benchmark-disable: nothing was timed
        return
    examples = last.train_examples
    benchmark.extra_info["examples_per_second"] = examples / benchmark.stats["median"]
    if model in _ARITHMETIC:
        overhead = benchmark.stats["median"] - _ARITHMETIC[model]
        benchmark.extra_info["fixed_overhead_ms"] = 1000 * overhead


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_keras_round(benchmark, clients, model):
    arrays, shape = clients
    benchmark.group = _digits_group(model)
    benchmark.extra_info["case"] = "plain Keras"
    benchmark.extra_info["baseline"] = True
    keras_model = build_model(model, shape, 10)
    keras_model.compile(
        optimizer=tf.keras.optimizers.SGD(LR),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    benchmark.pedantic(_keras_round(keras_model, arrays), rounds=10, warmup_rounds=1)


def _keras_round(keras_model, arrays):
    """One plain Keras FedAvg round: ``fit`` one epoch per client, average by examples."""
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

    return one_round


# --- Fashion-MNIST: compute-bound ------------------------------------------------------

FMNIST_GROUP = f"round, Fashion-MNIST CNN, {CLIENTS} clients x 6,000"


def _fmnist_spec() -> RunSpec:
    return RunSpec.create(
        dataset="fmnist",
        model="cnn",
        num_clients=CLIENTS,
        clients_per_round=CLIENTS,
        batch_size=BATCH,
        client_lr=0.05,
        rounds=FMNIST_ROUNDS + 2,
        shuffle_clients=False,
    )


@pytest.fixture(scope="module")
def fmnist() -> TrainingData:
    from fedbench.errors import DataError

    spec = _fmnist_spec()
    try:
        return training_data(spec, prepare(spec).load())
    except DataError as error:
        pytest.skip(f"Fashion-MNIST not available: {error}")


@pytest.mark.parametrize("execution", list(EXECUTIONS))
def test_fedbench_round_fmnist_cnn(benchmark, fmnist, execution):
    benchmark.group = FMNIST_GROUP
    benchmark.extra_info["case"] = EXECUTIONS[execution]
    spec = _fmnist_spec()
    spec = dataclasses.replace(spec, fl=spec.fl.replace(execution=execution))
    _timed_rounds(benchmark, train(spec, fmnist), FMNIST_ROUNDS)


def test_previous_round_fmnist_cnn(benchmark, fmnist):
    benchmark.group = FMNIST_GROUP
    benchmark.extra_info["case"] = "previous path"
    with previous_rounds(_fmnist_spec(), fmnist) as records:
        _timed_rounds(benchmark, records, FMNIST_ROUNDS)


def test_keras_round_fmnist_cnn(benchmark, fmnist):
    benchmark.group = FMNIST_GROUP
    benchmark.extra_info["case"] = "plain Keras"
    benchmark.extra_info["baseline"] = True
    keras_model = build_model("cnn", fmnist.example_shape, 10)
    keras_model.compile(
        optimizer=tf.keras.optimizers.SGD(0.05),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    one_round = _keras_round(keras_model, fmnist.clients)
    one_round()
    benchmark.pedantic(one_round, rounds=FMNIST_ROUNDS, warmup_rounds=0)


# --- What shipping data cost the previous path -------------------------------------------


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


def _datasets(arrays, compact=True):
    return [
        round_dataset(x, y, batch_size=BATCH, local_epochs=1, shuffle_rng=None, compact=compact)
        for x, y in zip(arrays.train_x, arrays.train_y, strict=True)
    ]


@pytest.mark.parametrize("compact", [True, False], ids=["uint8", "float32"])
def test_tff_round_fmnist_pixel_shipping(benchmark, fmnist_clients, compact):
    """60,000 28x28 images to the worker per round: 8-bit codes vs float32."""
    benchmark.group = f"one FedAvg round, Fashion-MNIST, {CLIENTS} clients, linear: pixels as"
    benchmark.extra_info["case"] = "uint8" if compact else "float32"
    spec = RunSpec.create(client_lr=0.01)
    with tff_worker():
        process, init = previous_process(spec, (28, 28), 10)
        state = initial_state(process, init)
        process.next(state, _datasets(fmnist_clients, compact))
        benchmark.pedantic(
            lambda: process.next(state, _datasets(fmnist_clients, compact)), rounds=3
        )
