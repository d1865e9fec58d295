from __future__ import annotations

import numpy as np
import pytest

from fedbench.data import load_dataset
from fedbench.data.synthetic import load_synthetic
from fedbench.errors import ConfigError


def test_shapes_writers_and_split():
    d = load_synthetic(num_writers=30, test_fraction=0.2, data_seed=0)
    assert d.example_shape == (60,) and d.num_classes == 10 and not d.is_image
    assert d.writer_names == tuple(f"f_{k:05d}" for k in range(30))
    assert d.train.x.dtype == np.float32 and d.train.y.dtype == np.int64
    n_train = np.bincount(d.train.writers, minlength=30)
    n_test = np.bincount(d.test.writers, minlength=30)
    n = n_train + n_test
    assert n.min() >= 50  # int(LogNormal(4, 2)) + 50
    # Writer k trains on int(0.8 n_k) examples, tests on the rest.
    np.testing.assert_array_equal(n_train, (0.8 * n).astype(int))
    assert 0 <= d.train.y.min() and d.train.y.max() < 10


def test_seeded_and_separate_from_run_seed():
    a = load_synthetic(data_seed=3)
    b = load_synthetic(data_seed=3)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    c = load_synthetic(data_seed=4)
    assert len(c.train) != len(a.train) or not np.array_equal(c.train.x, a.train.x)


def test_beta_spreads_feature_means_across_writers():
    """beta is the std of B_k, the mean of writer k's feature mean: larger beta, farther apart."""

    def spread(beta):
        d = load_synthetic(alpha=0.0, beta=beta, num_writers=20, data_seed=1)
        means = [d.train.x[d.train.writers == k].mean() for k in range(20)]
        return np.std(means)

    # Feature means v_kj ~ N(B_k, 1) averaged over 60 dims: std ~ sqrt(beta^2 + 1/60)
    # plus sampling noise; beta 0 -> about 0.13 + noise, beta 2 -> about 2.
    assert spread(0.0) < 0.5 < 1.0 < spread(2.0)


def test_alpha_zero_beta_zero_is_less_skewed_than_one_one():
    """Per-writer label distributions differ more for Synthetic(1, 1) than Synthetic(0, 0)."""

    def skew(alpha, beta):
        d = load_synthetic(alpha=alpha, beta=beta, num_writers=20, data_seed=2)
        p = np.bincount(d.train.y, minlength=10) / len(d.train)
        emd = [
            np.abs(
                np.bincount(d.train.y[d.train.writers == k], minlength=10)
                / (d.train.writers == k).sum()
                - p
            ).sum()
            for k in range(20)
        ]
        return np.mean(emd)

    assert skew(0.0, 0.0) < skew(1.0, 1.0)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("alpha", -1.0),
        ("num_writers", 0),
        ("dim", 0),
        ("num_classes", 1),
        ("test_fraction", 1.0),
        ("data_seed", -1),
    ],
)
def test_bad_values(key, value):
    with pytest.raises(ConfigError, match=f"dataset.{key}={value!r} is invalid"):
        load_dataset("synthetic", {key: value})
