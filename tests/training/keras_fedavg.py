"""A plain Keras FedAvg loop (no TFF): the yardstick fedbench's engine is compared against.

Each round every client starts from the global weights, runs ``model.fit`` for one
epoch of shuffled mini-batches with SGD, and the server replaces the global weights
with the example-weighted average of the clients' weights (FedAvg, server lr 1).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from fedbench.training.models import build_model


def keras_fedavg(
    model_name: str,
    client_x: list[np.ndarray],
    client_y: list[np.ndarray],
    test_x: np.ndarray,
    test_y: np.ndarray,
    *,
    rounds: int,
    batch_size: int,
    lr: float,
    momentum: float = 0.0,
    seed: int = 0,
) -> list[float]:
    """Train with plain Keras FedAvg and return the test accuracy after each round."""
    tf.keras.utils.set_random_seed(seed)
    num_classes = int(max(y.max() for y in client_y)) + 1
    shape = client_x[0].shape[1:]
    model = build_model(model_name, shape, num_classes)
    model.compile(
        optimizer=tf.keras.optimizers.SGD(lr, momentum=momentum),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    global_weights = model.get_weights()
    sizes = np.array([len(y) for y in client_y], dtype=float)
    accuracies = []
    for _ in range(rounds):
        client_weights = []
        for x, y in zip(client_x, client_y, strict=True):
            model.set_weights(global_weights)
            # A fresh optimizer state per client, as each TFF client starts from scratch.
            model.optimizer = tf.keras.optimizers.SGD(lr, momentum=momentum)
            model.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"])
            model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)
            client_weights.append(model.get_weights())
        global_weights = [
            np.tensordot(sizes / sizes.sum(), np.stack(layer), axes=1)
            for layer in zip(*client_weights, strict=True)
        ]
        model.set_weights(global_weights)
        accuracies.append(float(model.evaluate(test_x, test_y, verbose=0, batch_size=2048)[1]))
    return accuracies
