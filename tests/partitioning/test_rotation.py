"""partition=rotation: IID parts; client k's images rotated by max_degrees * k / (K - 1)."""

import numpy as np
import pytest

from fedbench.errors import PartitionError
from fedbench.partitioning import STRATEGIES, ShiftContext
from fedbench.partitioning.shift import client_ramp, rotate_images


def test_angles_ramp_from_zero_to_max_degrees():
    shifts = STRATEGIES["rotation"].client_shift(
        {"max_degrees": 90.0, "rotate_holdout": False}, ShiftContext(4, 0, 10, (8, 8))
    )
    # 90 * k / 3 for k = 0..3.
    assert [s.rotation_degrees for s in shifts] == [0.0, 30.0, 60.0, 90.0]
    assert all(s.shift_holdout is False and s.noise_sigma is None for s in shifts)
    assert client_ramp(90.0, 1).tolist() == [0.0]


@pytest.mark.parametrize("shape", [(60,), (2, 3, 4, 5)])
def test_examples_that_are_not_images_are_refused(shape):
    with pytest.raises(PartitionError, match=r"a dataset of images.*\(60,\)|a dataset of images"):
        STRATEGIES["rotation"].client_shift(
            {"max_degrees": 90.0, "rotate_holdout": True}, ShiftContext(4, 0, 10, shape)
        )


def test_quarter_turns_permute_pixels_exactly():
    images = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    # numpy's rot90 turns counter-clockwise (first row goes to the left column).
    np.testing.assert_allclose(rotate_images(images, 90), np.rot90(images, 1, axes=(1, 2)))
    np.testing.assert_allclose(rotate_images(images, 180), np.rot90(images, 2, axes=(1, 2)))
    np.testing.assert_allclose(rotate_images(images, -90), np.rot90(images, 3, axes=(1, 2)))
    assert np.array_equal(rotate_images(images, 360), images)
    assert rotate_images(images, 45).dtype == np.float32


def test_channels_rotate_alike():
    images = np.random.default_rng(1).random((2, 6, 6, 3))
    np.testing.assert_allclose(rotate_images(images, 90), np.rot90(images, 1, axes=(1, 2)))


def test_a_half_quarter_turn_interpolates_and_fills_background():
    # 3x3 image, centre (1, 1). Output pixel at offset (dy, dx) from the centre reads the
    # input at (cos t dy + sin t dx, -sin t dy + cos t dx) + centre, t = 45 degrees.
    dot = np.zeros((1, 3, 3))
    dot[0, 1, 1] = 1.0
    turned = rotate_images(dot, 45)[0]
    # Centre reads the centre: 1. Edge neighbour (-1, 0) reads (1 - 1/sqrt 2, 1 + 1/sqrt 2):
    # bilinear weight of (1, 1) is (1 - 1/sqrt 2)^2. Corner (-1, -1) reads (1 - sqrt 2, 1):
    # between row -1 (outside) and row 0, both of them 0 in column 1.
    assert turned[1, 1] == pytest.approx(1.0)
    assert turned[0, 1] == pytest.approx((1 - 1 / np.sqrt(2)) ** 2)
    assert turned[0, 0] == pytest.approx(0.0)
    # All ink: the corner's source (1 - sqrt 2, 1) is sqrt 2 - 1 of a row outside the
    # image (background 0) and 2 - sqrt 2 of a row inside.
    ink = rotate_images(np.ones((1, 3, 3)), 45)[0]
    assert ink[0, 0] == pytest.approx(2 - np.sqrt(2))
    assert ink[1, 1] == pytest.approx(1.0)
