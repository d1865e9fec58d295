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

Each client's terms (w_k * ||Δ_k - Δ̄||, w_k) come from one computation after the
average is broadcast, and are summed in one aggregation with the float64 weight.

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


def _terms(distance: tf.Tensor, weight: tf.Tensor) -> collections.OrderedDict:
    """A client's (or summed clients') terms: ``w * ||Δ - Δ̄||``, ``w`` and ``w`` in float64."""
    return collections.OrderedDict(
        weighted_distance=distance * weight,
        weight=weight,
        weight64=tf.cast(weight, tf.float64),
    )


def stacked_terms(
    updates: tf.Tensor, weights: tf.Tensor, average: object
) -> collections.OrderedDict:
    """The drift terms of a shard's clients, summed (the same terms as one client's each).

    Parameters
    ----------
    updates
        ``float32[m, d]``: each client's update, flattened as :func:`_global_norm` flattens.
    weights
        ``float32[m]``: each client's weight.
    average
        The round's weighted mean update (a structure like one update).

    Returns
    -------
    collections.OrderedDict
        ``weighted_distance``, ``weight`` and ``weight64``, each a sum over the ``m`` clients.

    """
    flat = tf.concat(
        [tf.reshape(tf.cast(t, tf.float32), [-1]) for t in tf.nest.flatten(average)], 0
    )
    distances = tf.norm(updates - flat[tf.newaxis, :], axis=1)
    weights = tf.cast(weights, tf.float32)
    return collections.OrderedDict(
        weighted_distance=tf.reduce_sum(distances * weights),
        weight=tf.reduce_sum(weights),
        weight64=tf.reduce_sum(tf.cast(weights, tf.float64)),
    )


def drift_measurements(sums: object, average: object) -> collections.OrderedDict:
    """``client_drift`` and ``client_weight_total`` from the summed terms and the mean update."""
    mean_distance = sums["weighted_distance"] / sums["weight"]
    average_norm = _global_norm(average)
    drift = tf.where(
        average_norm > 0.0,
        mean_distance / tf.maximum(average_norm, 1e-30),
        tf.where(mean_distance > 0.0, float("inf"), 0.0),
    )
    return collections.OrderedDict(client_drift=drift, client_weight_total=sums["weight64"])


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

        @tff.tensorflow.computation(value_type, value_type, weight_type)
        def client_terms(update: object, average: object, weight: tf.Tensor) -> object:
            # One pass per client: its weighted distance to the average and its weight,
            # summed in one aggregation (a weighted mean is sum(w * d) / sum(w)).
            diff = tf.nest.map_structure(
                lambda a, b: tf.cast(a, tf.float32) - tf.cast(b, tf.float32), update, average
            )
            return _terms(_global_norm(diff), tf.cast(weight, tf.float32))

        @tff.tensorflow.computation(client_terms.type_signature.result, value_type)
        def finish(sums: object, average: object) -> object:
            return drift_measurements(sums, average)

        @tff.federated_computation(
            inner_process.next.type_signature.parameter[0],
            tff.FederatedType(value_type, tff.CLIENTS),
            tff.FederatedType(weight_type, tff.CLIENTS),
        )
        def next_fn(state: object, value: object, weight: object) -> object:
            output = inner_process.next(state, value, weight)
            average_at_clients = tff.federated_broadcast(output.result)
            terms = tff.federated_map(client_terms, (value, average_at_clients, weight))
            drift = tff.federated_map(finish, (tff.federated_sum(terms), output.result))
            measurements = tff.federated_zip(
                collections.OrderedDict(
                    inner=output.measurements,
                    client_drift=drift.client_drift,
                    client_weight_total=drift.client_weight_total,
                )
            )
            return tff.templates.MeasuredProcessOutput(
                state=output.state, result=output.result, measurements=measurements
            )

        return tff.templates.AggregationProcess(inner_process.initialize, next_fn)
