"""The evaluation batch: bounded by the model's widest layer output, the logits unchanged."""

import numpy as np
import pytest
import tensorflow as tf

from fedbench.training import evaluation
from fedbench.training.models import build_model

IMAGE = (28, 28)


@pytest.mark.parametrize(
    ("name", "options", "widest"),
    [
        ("linear", {}, 28 * 28 * 4),  # the flattened input, 784 float32
        ("mlp", {"hidden": 200}, 28 * 28 * 4),  # the flattened input is wider than 200
        ("cnn", {}, 24 * 24 * 6 * 4),  # first convolution: 6 maps of 24 x 24
        ("cnn_emnist", {}, 24 * 24 * 64 * 4),  # second convolution: 64 maps of 24 x 24
    ],
)
def test_the_widest_output_is_read_off_the_layers(name, options, widest):
    assert evaluation.widest_output_bytes(build_model(name, IMAGE, 10, **options)) == widest


def test_narrow_models_keep_the_largest_batch_and_wide_ones_fit_the_budget():
    for name, options in [("linear", {}), ("mlp", {"hidden": 200}), ("cnn", {})]:
        assert evaluation.batch_size(build_model(name, IMAGE, 10, **options)) == 4096
    # cnn_emnist: 64 MiB / 147,456 B = 455.1 examples; the power of two below is 256.
    assert evaluation.batch_size(build_model("cnn_emnist", IMAGE, 10)) == 256


def test_a_model_without_known_shapes_takes_the_largest_batch():
    class Subclassed(tf.keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = tf.keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    assert evaluation.widest_output_bytes(Subclassed()) == 0
    assert evaluation.batch_size(Subclassed()) == evaluation.MAX_BATCH


def test_an_example_wider_than_the_budget_is_evaluated_one_at_a_time():
    wide = tf.keras.Sequential(
        [tf.keras.layers.InputLayer(input_shape=(4,)), tf.keras.layers.Dense(17 * 2**20)]
    )  # 68 MiB an example
    assert evaluation.batch_size(wide) == 1


def test_logits_come_in_batches_of_the_batch_size_and_in_order(monkeypatch):
    seen = []  # the examples of each call of the compiled forward pass
    compiled = evaluation._forward

    def counting(model, x):
        forward = compiled(model, x)
        return lambda batch: (seen.append(len(batch)), forward(batch))[1]

    monkeypatch.setattr(evaluation, "_forward", counting)
    model = tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer(input_shape=(4,)),
            tf.keras.layers.Lambda(lambda t: tf.tile(t, [1, 2**19])),  # 8 MiB an example
            tf.keras.layers.Lambda(lambda t: t[:, :4]),
        ]
    )
    x = np.random.default_rng(0).normal(size=(19, 4)).astype(np.float32)
    logits = evaluation.predict_logits(model, x)
    assert seen == [8, 8, 3]  # 64 MiB / 8 MiB a batch
    np.testing.assert_array_equal(logits, x)  # tiled and cut back: each example, in order


@pytest.mark.parametrize("name", ["linear", "mlp", "cnn"])
def test_the_compiled_forward_pass_gives_the_eager_models_logits_bit_for_bit(name):
    model = build_model(name, (28, 28), 10)
    x = np.random.default_rng(0).random((50, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(
        evaluation.predict_logits(model, x), model(x, training=False).numpy()
    )


def test_a_models_compiled_forward_pass_goes_with_the_model():
    import gc
    import weakref

    model = build_model("linear", (8, 8), 10)
    evaluation.predict_logits(model, np.zeros((3, 8, 8), np.float32))
    assert model in evaluation._FORWARD
    held = weakref.ref(model)
    del model
    gc.collect()
    assert held() is None  # the cache did not keep it alive
