"""The round path before the client store (fedbench 0.1.0 at commit 9799ecf), kept as a yardstick.

Each round builds a ``tf.data`` dataset per sampled client with its arrays embedded
(:func:`fedbench.training.loop.client_datasets`), TFF serialises and ships them to the
worker, clients loop with ``DATASET_REDUCE``, and the drift aggregator makes its extra
passes one intrinsic at a time (:class:`PreviousDriftFactory`, a copy of the factory
of that commit). The benchmarks time it against fedbench's path; the identity tests
check that fedbench's path gives the same records.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterator
from unittest import mock

import tensorflow as tf
import tensorflow_federated as tff

from fedbench import seeding
from fedbench.clients import TrainingData
from fedbench.spec import RunSpec
from fedbench.training import algorithms
from fedbench.training.loop import RoundRecord, run_rounds
from fedbench.training.runtime import tff_worker
from fedbench.training.tff_model import initial_keras_model, make_model_fn
from fedbench.training.train import loop_settings, optimizer_settings


def _global_norm(structure):
    leaves = [tf.cast(tf.reshape(t, [-1]), tf.float32) for t in tf.nest.flatten(structure)]
    return tf.norm(tf.concat(leaves, axis=0))


class PreviousDriftFactory(tff.aggregators.WeightedAggregationFactory):
    """The drift aggregator of commit 9799ecf: mean, broadcast, then one intrinsic per term."""

    def __init__(self, inner=None):
        self._inner = inner or tff.aggregators.MeanFactory()

    def create(self, value_type, weight_type):
        inner_process = self._inner.create(value_type, weight_type)

        @tff.tensorflow.computation(value_type, value_type)
        def distance(update, average):
            diff = tf.nest.map_structure(
                lambda a, b: tf.cast(a, tf.float32) - tf.cast(b, tf.float32), update, average
            )
            return _global_norm(diff)

        @tff.tensorflow.computation(value_type)
        def norm(average):
            return _global_norm(average)

        @tff.tensorflow.computation(tf.float32, tf.float32)
        def ratio(mean_distance, average_norm):
            return tf.where(
                average_norm > 0.0,
                mean_distance / tf.maximum(average_norm, 1e-30),
                tf.where(mean_distance > 0.0, float("inf"), 0.0),
            )

        @tff.tensorflow.computation(tf.float32)
        def to_float(weight):
            return tf.cast(weight, tf.float32)

        @tff.tensorflow.computation(tf.float32)
        def to_float64(weight):
            return tf.cast(weight, tf.float64)

        @tff.federated_computation(
            inner_process.next.type_signature.parameter[0],
            tff.FederatedType(value_type, tff.CLIENTS),
            tff.FederatedType(weight_type, tff.CLIENTS),
        )
        def next_fn(state, value, weight):
            output = inner_process.next(state, value, weight)
            average_at_clients = tff.federated_broadcast(output.result)
            distances = tff.federated_map(distance, (value, average_at_clients))
            mean_distance = tff.federated_mean(distances, tff.federated_map(to_float, weight))
            drift = tff.federated_map(
                ratio, (mean_distance, tff.federated_map(norm, output.result))
            )
            weight_total = tff.federated_sum(tff.federated_map(to_float64, weight))
            measurements = tff.federated_zip(
                collections.OrderedDict(
                    inner=output.measurements,
                    client_drift=drift,
                    client_weight_total=weight_total,
                )
            )
            return tff.templates.MeasuredProcessOutput(
                state=output.state, result=output.result, measurements=measurements
            )

        return tff.templates.AggregationProcess(inner_process.initialize, next_fn)


def previous_process(spec: RunSpec, example_shape, num_classes):
    """``spec``'s process and initial model as commit 9799ecf built them (call in a worker)."""
    model, options = spec.model.name, dict(spec.model.options)
    model_fn = make_model_fn(model, options, example_shape, num_classes)
    settings = optimizer_settings(spec)
    with mock.patch.object(algorithms, "DriftMeasuringFactory", PreviousDriftFactory):
        process = algorithms.build_process(
            spec.algorithm.name,
            model_fn,
            settings,
            loop=tff.learning.LoopImplementation.DATASET_REDUCE,
            **dict(spec.algorithm.options),
        )
    init_seed = seeding.int_seed(spec.seed, seeding.MODEL_INIT)
    return process, initial_keras_model(model, options, example_shape, num_classes, init_seed)


@contextlib.contextmanager
def previous_rounds(spec: RunSpec, data: TrainingData) -> Iterator[Iterator[RoundRecord]]:
    """The round records of ``spec`` on ``data`` through the previous path, in a TFF worker."""
    with tff_worker():
        process, model = previous_process(spec, data.example_shape, data.num_classes)
        records = run_rounds(
            process, model, data.clients, data.test_x, data.test_y, loop_settings(spec)
        )
        try:
            yield records
        finally:
            records.close()
