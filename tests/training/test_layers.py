import numpy as np
import pytest
import tensorflow as tf

from fedbench.training.layers import InputKeyedDropout


def test_training_drops_about_rate_and_rescales_the_rest():
    # 100,000 ones at rate 0.25: the dropped share has sd sqrt(0.25 * 0.75 / 1e5) =
    # 0.0014, so 0.25 +- 0.01 is +-7 sd; kept values are 1 / 0.75.
    layer = InputKeyedDropout(0.25, salt=1)
    out = layer(tf.ones((100, 1000)), training=True).numpy()
    assert abs(np.mean(out == 0.0) - 0.25) < 0.01
    np.testing.assert_allclose(out[out != 0.0], 1.0 / 0.75, rtol=1e-6)


def test_inference_is_the_identity():
    x = tf.random.stateless_normal((4, 8), seed=[0, 1])
    np.testing.assert_array_equal(InputKeyedDropout(0.5, salt=1)(x, training=False), x)


def test_the_mask_is_a_function_of_the_input_and_the_salt():
    x = tf.random.stateless_normal((64, 32), seed=[0, 1])
    mask = lambda layer, v: layer(v, training=True).numpy() != 0  # noqa: E731
    first, second = InputKeyedDropout(0.5, salt=1), InputKeyedDropout(0.5, salt=2)
    np.testing.assert_array_equal(mask(first, x), mask(InputKeyedDropout(0.5, salt=1), x))
    assert not np.array_equal(mask(first, x), mask(second, x))
    assert not np.array_equal(mask(first, x), mask(first, x * 1.001))  # next step, new mask


def test_inside_a_traced_graph_the_same_input_gives_the_same_output():
    layer = InputKeyedDropout(0.5, salt=3)
    step = tf.function(lambda v: layer(v, training=True))
    x = tf.random.stateless_normal((16, 16), seed=[2, 3])
    np.testing.assert_array_equal(step(x), step(x))


def test_rate_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match=r"rate must lie in \[0, 1\), got 1.0"):
        InputKeyedDropout(1.0, salt=1)
