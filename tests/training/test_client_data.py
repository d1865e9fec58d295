"""A client's round data: epoch orders, exact 8-bit pixel decoding, and the reference path's
datasets built from them (epoch-aligned batches, seeded shuffles)."""

import numpy as np
import pytest
import tensorflow as tf

from fedbench import seeding
from fedbench.data._common import u8_codes, unit_from_u8
from fedbench.training.client_data import decode_pixels, epoch_orders, shuffle_rng
from tests.training.previous_path import round_dataset


def _batches(dataset):
    return [(b["x"].numpy(), b["y"].numpy()) for b in dataset]


@pytest.fixture
def pixels():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, size=(7, 4, 4))
    # How every image loader stores pixels: float32 of k / 255.
    return (codes / 255.0).astype(np.float32), rng.integers(0, 3, size=7)


def test_pixels_on_the_8_bit_grid_ship_as_uint8_and_decode_bit_for_bit(pixels):
    x, y = pixels
    codes = u8_codes(x)
    assert codes is not None and codes.dtype == np.uint8
    compact = _batches(round_dataset(x, y, batch_size=3, local_epochs=1, shuffle_rng=None))
    plain = _batches(
        round_dataset(x, y, batch_size=3, local_epochs=1, shuffle_rng=None, compact=False)
    )
    for (xc, yc), (xp, yp) in zip(compact, plain, strict=True):
        assert xc.dtype == np.float32
        np.testing.assert_array_equal(xc, xp)  # exact, not approximately equal
        np.testing.assert_array_equal(yc, yp)


@pytest.mark.parametrize(
    "values",
    [
        np.array([0.5, 0.25], np.float32),  # 0.5 is not k/255
        np.array([0.1, 1.2], np.float32),  # out of [0, 1]
        np.array([-0.2, 0.0], np.float32),
    ],
)
def test_data_off_the_grid_ships_as_float32(values):
    assert u8_codes(values) is None


def test_batches_never_straddle_epochs():
    x, y = np.zeros((5, 2), np.float32), np.arange(5)
    batches = _batches(round_dataset(x, y, batch_size=2, local_epochs=2, shuffle_rng=None))
    # 5 examples in batches of 2: [2, 2, 1] per epoch, twice.
    assert [len(b[1]) for b in batches] == [2, 2, 1, 2, 2, 1]
    assert [b[1].tolist() for b in batches] == [[0, 1], [2, 3], [4], [0, 1], [2, 3], [4]]


def test_each_epoch_is_a_seeded_permutation():
    x, y = np.zeros((20, 2), np.float32), np.arange(20)

    def order(seed):
        dataset = round_dataset(
            x, y, batch_size=20, local_epochs=2, shuffle_rng=np.random.default_rng(seed)
        )
        return [b[1].tolist() for b in _batches(dataset)]

    first, second = order(1)
    assert sorted(first) == sorted(second) == list(range(20))  # each epoch sees all, once
    assert first != second  # and reshuffles
    assert order(1) == [first, second]
    assert order(2) != [first, second]


def test_decoding_in_the_graph_gives_the_pixels_of_numpy_for_every_code():
    codes = np.arange(256, dtype=np.uint8)
    decoded = decode_pixels(tf.constant(codes)).numpy()
    assert decoded.dtype == np.float32
    np.testing.assert_array_equal(decoded, unit_from_u8(codes))  # bit for bit
    assert u8_codes(decoded).tolist() == codes.tolist()  # and back


def test_epoch_orders_are_successive_draws_of_the_stream_or_the_stored_order():
    orders = epoch_orders(5, 3, np.random.default_rng(4))
    assert orders.shape == (3, 5) and orders.dtype == np.int64
    rng = np.random.default_rng(4)
    np.testing.assert_array_equal(orders, [rng.permutation(5) for _ in range(3)])
    np.testing.assert_array_equal(epoch_orders(3, 2, None), [[0, 1, 2], [0, 1, 2]])
    assert epoch_orders(0, 2, np.random.default_rng(4)).shape == (2, 0)  # an empty client


def test_a_clients_stream_is_keyed_on_seed_round_and_client_and_only_when_shuffling():
    a = shuffle_rng(5, 3, np.int64(2), shuffle=True).permutation(10)
    b = seeding.rng(5, seeding.SHUFFLE, 3, 2).permutation(10)
    np.testing.assert_array_equal(a, b)
    assert shuffle_rng(5, 3, 2, shuffle=False) is None
