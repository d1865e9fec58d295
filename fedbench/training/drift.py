"""``client_drift``: how far client updates spread around their weighted average.

Definition (recorded per round, inside the TFF computation)::

    client_drift = ( sum_k w_k * ||Δ_k - Δ̄|| / sum_k w_k ) / ||Δ̄||

where Δ_k is client k's model update this round (all trainable weights flattened
into one vector), w_k its aggregation weight (its number of training examples,
as FedAvg weighs it) and Δ̄ = sum_k w_k Δ_k / sum_k w_k the weighted average that
FedAvg applies. It is 0 when every client sends the same update and grows as
updates disagree; 1 means clients stray from the average by as much as the
average's own length. When ||Δ̄|| = 0 it is reported as 0 if all updates are 0
and +inf otherwise.

The aggregator also reports ``client_weight_total`` = sum_k w_k (float64). TFF
gives a client whose update is not finite weight 0 and drops it without a word;
the round loop compares this total with the examples the sampled clients hold to
notice that and end the run as diverged.
"""

from __future__ import annotations

import collections

import tensorflow as tf
import tensorflow_federated as tff


def _global_norm(structure: object) -> tf.Tensor:
    leaves = [tf.cast(tf.reshape(t, [-1]), tf.float32) for t in tf.nest.flatten(structure)]
    return tf.norm(tf.concat(leaves, axis=0))


class DriftMeasuringFactory(tff.aggregators.WeightedAggregationFactory):
    """Wrap a weighted aggregation factory; add ``client_drift`` and ``client_weight_total``.

    Parameters
    ----------
    inner
        The factory that computes the weighted average (default: ``tff.aggregators.MeanFactory()``).

    """

    def __init__(self, inner: tff.aggregators.WeightedAggregationFactory | None = None) -> None:
        self._inner = inner or tff.aggregators.MeanFactory()

    def create(
        self, value_type: tff.types.Type, weight_type: tff.types.Type
    ) -> tff.templates.AggregationProcess:
        """Build the aggregation process (see :mod:`fedbench.training.drift` for the definition)."""
        inner_process = self._inner.create(value_type, weight_type)

        @tff.tensorflow.computation(value_type, value_type)
        def distance(update: object, average: object) -> tf.Tensor:
            diff = tf.nest.map_structure(
                lambda a, b: tf.cast(a, tf.float32) - tf.cast(b, tf.float32), update, average
            )
            return _global_norm(diff)

        @tff.tensorflow.computation(value_type)
        def norm(average: object) -> tf.Tensor:
            return _global_norm(average)

        @tff.tensorflow.computation(tf.float32, tf.float32)
        def ratio(mean_distance: tf.Tensor, average_norm: tf.Tensor) -> tf.Tensor:
            return tf.where(
                average_norm > 0.0,
                mean_distance / tf.maximum(average_norm, 1e-30),
                tf.where(mean_distance > 0.0, float("inf"), 0.0),
            )

        @tff.federated_computation(
            inner_process.next.type_signature.parameter[0],
            tff.FederatedType(value_type, tff.CLIENTS),
            tff.FederatedType(weight_type, tff.CLIENTS),
        )
        def next_fn(state: object, value: object, weight: object) -> object:
            output = inner_process.next(state, value, weight)
            average_at_clients = tff.federated_broadcast(output.result)
            distances = tff.federated_map(distance, (value, average_at_clients))
            mean_distance = tff.federated_mean(distances, tff.federated_map(_to_float, weight))
            drift = tff.federated_map(
                ratio, (mean_distance, tff.federated_map(norm, output.result))
            )
            weight_total = tff.federated_sum(tff.federated_map(_to_float64, weight))
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


@tff.tensorflow.computation(tf.float32)
def _to_float(weight: tf.Tensor) -> tf.Tensor:
    return tf.cast(weight, tf.float32)


@tff.tensorflow.computation(tf.float32)
def _to_float64(weight: tf.Tensor) -> tf.Tensor:
    return tf.cast(weight, tf.float64)
