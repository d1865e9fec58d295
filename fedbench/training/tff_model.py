"""Wrap a Keras model factory as the ``model_fn`` that ``tff.learning`` builders take."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import tensorflow as tf
import tensorflow_federated as tff

from fedbench.training.client_data import element_spec
from fedbench.training.models import build_model


def make_model_fn(
    name: str, options: Mapping[str, Any], example_shape: tuple[int, ...], num_classes: int
) -> Callable[[], tff.learning.models.VariableModel]:
    """Return a no-argument function building a fresh TFF model of ``name``.

    The weights this creates are placeholders: the run installs its seeded
    initial weights with ``process.set_model_weights`` (see ``initial_keras_model``).
    """
    spec = element_spec(example_shape)

    def model_fn() -> tff.learning.models.VariableModel:
        keras_model = build_model(name, example_shape, num_classes, **options)
        return tff.learning.models.from_keras_model(
            keras_model,
            input_spec=spec,
            loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[tf.keras.metrics.SparseCategoricalAccuracy()],
        )

    return model_fn


def initial_keras_model(
    name: str,
    options: Mapping[str, Any],
    example_shape: tuple[int, ...],
    num_classes: int,
    init_seed: int,
) -> tf.keras.Model:
    """Build the Keras model whose weights start training, seeded by ``init_seed``."""
    tf.keras.utils.set_random_seed(init_seed)
    return build_model(name, example_shape, num_classes, **options)
