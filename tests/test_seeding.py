import numpy as np

from fedbench import seeding


def test_same_stream_same_numbers_and_seed_zero_is_a_seed():
    a = seeding.rng(0, seeding.SAMPLING, 3).integers(0, 2**31, 5)
    b = seeding.rng(0, seeding.SAMPLING, 3).integers(0, 2**31, 5)
    c = seeding.rng(1, seeding.SAMPLING, 3).integers(0, 2**31, 5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_streams_and_keys_are_independent():
    draws = {
        (stream, key): tuple(seeding.rng(7, stream, key).integers(0, 2**31, 4))
        for stream in (seeding.PARTITION, seeding.SAMPLING, seeding.SHUFFLE)
        for key in (0, 1)
    }
    assert len(set(draws.values())) == len(draws)


def test_int_seed_is_31_bit_and_stable():
    value = seeding.int_seed(5, seeding.MODEL_INIT)
    assert 0 <= value < 2**31
    assert value == seeding.int_seed(5, seeding.MODEL_INIT)
