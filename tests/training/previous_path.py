"""The round path before the client store (fedbench 0.1.0 at commit 9799ecf), kept as a yardstick.

Each round builds a ``tf.data`` dataset per sampled client with its arrays embedded
(:func:`client_datasets`, :func:`round_dataset`), TFF serialises and ships them to the
worker, clients loop with ``DATASET_REDUCE``, and the drift aggregator makes its extra
passes one intrinsic at a time (:class:`PreviousDriftFactory`, a copy of the factory
of that commit). The epoch orders, the 8-bit pixel decoding and the batches' gather
are fedbench's own (:mod:`fedbench.training.client_data`), as the client store's.
The benchmarks time this path against fedbench's; the identity tests check that
fedbench's path gives the same records.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterator
from unittest import mock

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff

from fedbench import seeding
from fedbench.clients import ClientArrays, TrainingData
from fedbench.data._common import u8_codes
from fedbench.spec import RunSpec
from fedbench.training import algorithms, client_data
from fedbench.training.client_data import epoch_orders, gather_batch
from fedbench.training.loop import LoopSettings, RoundRecord, run_rounds
from fedbench.training.runtime import tff_worker
from fedbench.training.tff_model import initial_keras_model, make_model_fn
from fedbench.training.train import loop_settings, optimizer_settings


def round_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    local_epochs: int,
    shuffle_rng: np.random.Generator | None,
    compact: bool = True,
) -> tf.data.Dataset:
    """One client's data for one round: ``local_epochs`` passes of mini-batches.

    Each epoch's order is :func:`fedbench.training.client_data.epoch_orders` drawn from
    ``shuffle_rng``; batches never straddle two epochs. The client's arrays are
    embedded in the dataset once and batches gathered by index. With ``compact``
    (default), pixels on the 8-bit grid are embedded as uint8 codes and decoded in the
    graph: the batches are bit for bit the same, and 4x smaller to ship.
    """
    codes = u8_codes(x) if compact else None
    compact = codes is not None
    features = tf.constant(codes, tf.uint8) if compact else tf.constant(x, tf.float32)
    labels = tf.constant(y, dtype=tf.int64)
    orders = epoch_orders(len(y), local_epochs, shuffle_rng)
    indices = tf.data.Dataset.from_tensor_slices(orders[0]).batch(batch_size)
    for order in orders[1:]:
        indices = indices.concatenate(tf.data.Dataset.from_tensor_slices(order).batch(batch_size))
    return indices.map(lambda idx: gather_batch(features, labels, idx, compact=compact))


def client_datasets(
    clients: ClientArrays, sampled: np.ndarray, settings: LoopSettings, round_num: int
) -> list[tf.data.Dataset]:
    """The sampled clients' :func:`round_dataset` of round ``round_num``, in ``sampled``'s order.

    With ``settings.shuffle_clients``, client ``k``'s epochs are drawn from
    :func:`fedbench.training.client_data.shuffle_rng` of (seed, round, ``k``), as the
    client store draws them.
    """
    return [
        round_dataset(
            clients.train_x[k],
            clients.train_y[k],
            batch_size=settings.batch_size,
            local_epochs=settings.local_epochs,
            shuffle_rng=client_data.shuffle_rng(
                settings.seed, round_num, k, shuffle=settings.shuffle_clients
            ),
        )
        for k in sampled
    ]


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
    """``spec``'s process and initial model as commit 9799ecf built them (call in a worker).

    fedbench's builder, with that commit's drift aggregator and TFF's default client
    loop (``DATASET_REDUCE``); the process takes :func:`client_datasets`.
    """
    model, options = spec.model.name, dict(spec.model.options)
    model_fn = make_model_fn(model, options, example_shape, num_classes)
    settings = optimizer_settings(spec)
    with (
        mock.patch.object(algorithms, "DriftMeasuringFactory", PreviousDriftFactory),
        mock.patch.object(algorithms, "LOOP", tff.learning.LoopImplementation.DATASET_REDUCE),
    ):
        process = algorithms.build_process(
            spec.algorithm.name, model_fn, settings, **dict(spec.algorithm.options)
        )
    init_seed = seeding.int_seed(spec.seed, seeding.MODEL_INIT)
    return process, initial_keras_model(model, options, example_shape, num_classes, init_seed)


@contextlib.contextmanager
def previous_rounds(spec: RunSpec, data: TrainingData) -> Iterator[Iterator[RoundRecord]]:
    """The round records of ``spec`` on ``data`` through the previous path, in a TFF worker."""
    settings = loop_settings(spec)

    def datasets(sampled: np.ndarray, round_num: int, epochs: np.ndarray) -> list[tf.data.Dataset]:
        assert (epochs == settings.local_epochs).all(), "the previous path trains equal epochs"
        return client_datasets(data.clients, sampled, settings, round_num)

    with tff_worker():
        process, model = previous_process(spec, data.example_shape, data.num_classes)
        records = run_rounds(process, model, datasets, data, settings)
        try:
            yield records
        finally:
            records.close()
