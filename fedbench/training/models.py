"""fedbench's Keras model factories; shapes adapt to the dataset's examples and classes.

Every model outputs logits (no softmax layer); the loss is sparse categorical
cross-entropy from logits. Each factory is named by its record in
:data:`fedbench.records.MODELS`, where :func:`build_model` finds it (a plugin's too).
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from fedbench.checks import check_model_fits
from fedbench.records import record, resolve
from fedbench.training.layers import InputKeyedDropout

ModelFactory = Callable[[tuple[int, ...], int], tf.keras.Model]


def linear(input_shape: tuple[int, ...], num_classes: int) -> tf.keras.Model:
    """Softmax regression on flattened features, as in TFF's image-classification tutorial."""
    return tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer(input_shape=input_shape),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(num_classes, kernel_initializer="zeros"),
        ],
        name="linear",
    )


def mlp(input_shape: tuple[int, ...], num_classes: int, *, hidden: int) -> tf.keras.Model:
    """Flatten -> Dense(hidden, relu) -> Dense(num_classes)."""
    return tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer(input_shape=input_shape),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(hidden, activation="relu"),
            tf.keras.layers.Dense(num_classes),
        ],
        name="mlp",
    )


def _image_input(input_shape: tuple[int, ...], model: str) -> list:
    """Input layers adding a channel axis; a clear error for non-images or too-small ones."""
    check_model_fits(model, input_shape)
    return [
        tf.keras.layers.InputLayer(input_shape=input_shape),
        tf.keras.layers.Reshape((*input_shape, 1)),
    ]


def cnn(input_shape: tuple[int, ...], num_classes: int) -> tf.keras.Model:
    """NIID-Bench's simple CNN (Li et al., ICDE 2022), a LeNet-5 variant.

    conv 6@5x5 (relu) -> maxpool 2 -> conv 16@5x5 (relu) -> maxpool 2 -> Dense 120 (relu)
    -> Dense 84 (relu) -> Dense C. Valid padding as in the reference; needs images of
    at least 12x12.
    """
    layers = _image_input(input_shape, "cnn")
    return tf.keras.Sequential(
        [
            *layers,
            tf.keras.layers.Conv2D(6, 5, activation="relu"),
            tf.keras.layers.MaxPool2D(2),
            tf.keras.layers.Conv2D(16, 5, activation="relu"),
            tf.keras.layers.MaxPool2D(2),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(120, activation="relu"),
            tf.keras.layers.Dense(84, activation="relu"),
            tf.keras.layers.Dense(num_classes),
        ],
        name="cnn",
    )


def cnn_emnist(input_shape: tuple[int, ...], num_classes: int) -> tf.keras.Model:
    """The EMNIST CNN of TFF's baselines and Reddi et al. 2021 ("Adaptive Federated Optimization").

    conv 32@3x3 (relu) -> conv 64@3x3 (relu) -> maxpool 2 -> dropout 0.25 -> Dense 128
    (relu) -> dropout 0.5 -> Dense C. Needs images of at least 6x6. The dropout layers
    are :class:`~fedbench.training.layers.InputKeyedDropout` (Keras' own draws masks
    that the same seed does not reproduce under TFF).
    """
    layers = _image_input(input_shape, "cnn_emnist")
    return tf.keras.Sequential(
        [
            *layers,
            tf.keras.layers.Conv2D(32, 3, activation="relu"),
            tf.keras.layers.Conv2D(64, 3, activation="relu"),
            tf.keras.layers.MaxPool2D(2),
            InputKeyedDropout(0.25, salt=1),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(128, activation="relu"),
            InputKeyedDropout(0.5, salt=2),
            tf.keras.layers.Dense(num_classes),
        ],
        name="cnn_emnist",
    )


def build_model(
    name: str, input_shape: tuple[int, ...], num_classes: int, **options: object
) -> tf.keras.Model:
    """Build the Keras model registered as ``name``.

    Parameters
    ----------
    name
        A model of :data:`fedbench.records.MODELS` (the ``model=`` config value).
    input_shape
        One example's shape, e.g. ``(28, 28)`` or ``(60,)``.
    num_classes
        Number of output logits.
    **options
        The model's options (e.g. ``hidden`` for ``mlp``); those left out take their
        record's defaults.

    Returns
    -------
    tf.keras.Model

    """
    model = record("model", name)
    factory = resolve(model.factory)
    return factory(tuple(input_shape), num_classes, **{**model.defaults, **options})
