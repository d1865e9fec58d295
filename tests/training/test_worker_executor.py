"""The worker's executor: a computation sent once, a call's arguments in one request."""

import collections

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_federated as tff

from fedbench.training import worker_executor
from fedbench.training.runtime import tff_worker

pytestmark = pytest.mark.tff

REQUESTS = ("create_value", "create_struct", "create_call", "create_selection", "compute")


@tff.tensorflow.computation(np.float32, np.float32)
def _scaled(x, factor):
    return x * factor


@tff.federated_computation(
    tff.FederatedType(np.float32, tff.SERVER),
    tff.FederatedType(np.float32, tff.CLIENTS),
)
def _scaled_sum(factor, values):
    """sum_k values_k * factor, the factor broadcast: a call with a struct of two arguments."""
    scaled = tff.federated_map(_scaled, (values, tff.federated_broadcast(factor)))
    return tff.federated_sum(scaled)


@pytest.fixture
def requests(monkeypatch):
    """Count the gRPC requests every executor sends, by kind."""
    counts = collections.Counter()
    for name in REQUESTS:
        original = getattr(tff.framework.RemoteExecutorGrpcStub, name)

        def counted(self, request, _name=name, _original=original):
            counts[_name] += 1
            return _original(self, request)

        monkeypatch.setattr(tff.framework.RemoteExecutorGrpcStub, name, counted)
    return counts


def test_a_call_sends_its_arguments_in_one_request_and_its_computation_once(requests):
    values = [np.float32(v) for v in (1.0, 2.0, 4.0)]
    with tff_worker():
        assert _scaled_sum(np.float32(3.0), values) == pytest.approx(21.0)
        first = dict(requests)
        requests.clear()
        assert _scaled_sum(np.float32(0.5), values) == pytest.approx(3.5)
        again = dict(requests)
    # The first call: the computation, the two arguments as one struct, the call, the fetch.
    assert first == {"create_value": 2, "create_call": 1, "compute": 1}
    # The next call finds the computation on the worker.
    assert again == {"create_value": 1, "create_call": 1, "compute": 1}


def test_results_equal_those_of_tffs_own_executor(monkeypatch):
    # A learning round: nested state, client datasets, a federated result.
    def keras():
        return tf.keras.Sequential(
            [tf.keras.layers.Dense(3, kernel_initializer="ones", input_shape=(4,))]
        )

    spec = collections.OrderedDict(
        x=tf.TensorSpec([None, 4], tf.float32), y=tf.TensorSpec([None], tf.int32)
    )
    process = tff.learning.algorithms.build_weighted_fed_avg(
        lambda: tff.learning.models.from_keras_model(
            keras(),
            input_spec=spec,
            loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ),
        client_optimizer_fn=tff.learning.optimizers.build_sgdm(0.1),
    )
    rng = np.random.default_rng(0)
    clients = [
        tf.data.Dataset.from_tensor_slices(
            collections.OrderedDict(
                x=rng.normal(size=(6, 4)).astype(np.float32),
                y=rng.integers(0, 3, 6).astype(np.int32),
            )
        ).batch(2)
        for _ in range(3)
    ]

    def two_rounds():
        state = process.initialize()
        for _ in range(2):
            state = process.next(state, clients).state
        return [np.asarray(w) for w in process.get_model_weights(state).trainable]

    with tff_worker():
        ours = two_rounds()
    monkeypatch.setattr(  # TFF's own RemoteExecutor
        "fedbench.training.runtime.worker_executor_class",
        lambda tff_module, grpc: tff_module.framework.RemoteExecutor,
    )
    with tff_worker():
        theirs = two_rounds()
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(mine, reference)


def test_the_computations_kept_on_the_worker_are_bounded(monkeypatch):
    monkeypatch.setattr(worker_executor, "COMPUTATIONS_KEPT", 2)
    computations = [_adding(k) for k in range(4)]
    with tff_worker():
        for k, add in enumerate(computations):
            assert add(10) == 10 + k
        (executor,) = _executors()
        assert len(executor._computations) == 2
        assert computations[0](1) == 1  # evicted, and sent again


def _adding(k: int) -> tff.Computation:
    @tff.tensorflow.computation(np.int32)
    def add(x):
        return x + k

    return add


def _executors() -> list:
    from tensorflow_federated.python.core.impl.context_stack import context_stack_impl

    factory = context_stack_impl.context_stack.current._executor_factory
    return list(factory._executors.values())
