"""Keras layers whose randomness is reproducible inside TFF's worker."""

from __future__ import annotations

from typing import Any

import tensorflow as tf


class InputKeyedDropout(tf.keras.layers.Layer):
    """Inverted dropout whose mask is a pure function of the layer's input batch.

    Keras' ``Dropout`` draws its mask from a stateful random op. TFF serialises
    the client computation into a graph that its worker runs for several clients
    at once; without a graph-level seed such an op is seeded at random, and with
    one its draws would still depend on which client reaches the shared kernel
    first. Either way the same ``seed`` gave different metrics.

    Here the mask is drawn with ``tf.random.stateless_uniform`` keyed by
    ``(salt, the bits of the sum of the input batch)``. The input batch is itself
    determined by the run's seed (initial weights, partition, shuffling) and
    changes with every local step, so masks differ from step to step, client to
    client and seed to seed, while one seed always reproduces them. Each element is
    kept with probability ``1 - rate`` and scaled by ``1 / (1 - rate)``, exactly as
    ``tf.keras.layers.Dropout``; at inference the layer is the identity.

    Parameters
    ----------
    rate
        Fraction of the inputs to drop, in ``[0, 1)``.
    salt
        Distinguishes the masks of several such layers in one model.
    **kwargs
        Passed on to ``tf.keras.layers.Layer``.

    """

    def __init__(self, rate: float, salt: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must lie in [0, 1), got {rate}")
        self.rate = float(rate)
        self.salt = int(salt)

    def call(self, inputs: tf.Tensor, training: bool | tf.Tensor | None = None) -> tf.Tensor:
        """Drop and rescale in training; pass ``inputs`` through otherwise."""
        if training is None:
            training = tf.keras.backend.learning_phase()

        def dropped() -> tf.Tensor:
            key = tf.bitcast(tf.reduce_sum(tf.cast(inputs, tf.float32)), tf.int32)
            seed = tf.stack([tf.constant(self.salt, tf.int32), key])
            keep = tf.random.stateless_uniform(tf.shape(inputs), seed=seed) >= self.rate
            return tf.where(keep, inputs / (1.0 - self.rate), tf.zeros_like(inputs))

        return tf.__internal__.smart_cond.smart_cond(training, dropped, lambda: inputs)

    def get_config(self) -> dict[str, Any]:
        """The layer's constructor arguments (for Keras serialisation)."""
        return {**super().get_config(), "rate": self.rate, "salt": self.salt}
