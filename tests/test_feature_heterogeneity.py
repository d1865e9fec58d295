"""The feature metrics against hand-derived values on tiny constructed inputs."""

import math

import numpy as np
import pytest

from fedbench.heterogeneity import (
    FEATURE_METRICS,
    MAX_CLIENT_EXAMPLES,
    feature_heterogeneity,
    heterogeneity,
)

ZEROS = np.zeros(4, dtype=np.int64)
SHIFT = np.array([4.0, 0.0])


def test_identical_clients_are_zero():
    # Every client holds the same 4 rows: its mean, covariance and histograms are the pooled ones.
    rows = np.array([[0.0, 1.0], [2.0, 5.0], [3.0, -1.0], [7.0, 2.0]])
    m = feature_heterogeneity([rows, rows.copy(), rows.copy()], [np.arange(4) % 2] * 3)
    assert m == pytest.approx(dict.fromkeys(FEATURE_METRICS, 0.0), abs=1e-9)


def test_identical_clients_are_zero_through_the_projection():
    # 100 features > 32: the projected features are identical too.
    rows = np.random.default_rng(0).normal(size=(40, 100))
    m = feature_heterogeneity([rows, rows.copy()], [np.arange(40) % 3] * 2)
    assert m == pytest.approx(dict.fromkeys(FEATURE_METRICS, 0.0), abs=1e-9)


def test_a_known_shift_gives_the_known_frechet_value():
    # Client A: the 4 corners (+-1, +-1): mean 0, covariance I. Client B: the same + s,
    # s = (4, 0). Pooled mean (2, 0); pooled covariance I + diag((s/2)^2) = diag(5, 1).
    # FD_A = |(-2, 0)|^2 + tr(I + diag(5, 1) - 2 diag(sqrt 5, 1)) = 4 + (6 - 2 sqrt 5) + 0
    # = 10 - 2 sqrt 5, and FD_B the same; divided by tr(pooled) = 6.
    corners = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    m = feature_heterogeneity([corners, corners + SHIFT], [ZEROS, ZEROS])
    assert m["feature_frechet"] == pytest.approx((10 - 2 * math.sqrt(5)) / 6)
    # One class: conditional_frechet is feature_frechet.
    assert m["conditional_frechet"] == pytest.approx(m["feature_frechet"])


def test_frechet_does_not_change_with_the_scale_of_the_features():
    rng = np.random.default_rng(1)
    x = [rng.normal(size=(30, 5)), rng.normal(1.0, 2.0, size=(20, 5))]
    y = [np.arange(30) % 2, np.arange(20) % 2]
    base, scaled = feature_heterogeneity(x, y), feature_heterogeneity([7.0 * v for v in x], y)
    assert scaled == pytest.approx(base)


def test_hellinger_of_clients_in_disjoint_bins():
    # One feature; client A holds 0s, client B 1s. Pooled range [0, 1]: 0 falls in the first
    # bin, 1 in the last; pooled histogram (1/2, 1/2). Each client's histogram is one-hot:
    # affinity sqrt(1 * 1/2), Hellinger sqrt(1 - 1/sqrt 2) for both.
    m = feature_heterogeneity([np.zeros((2, 1)), np.ones((2, 1))], [ZEROS[:2], ZEROS[:2]])
    assert m["feature_hellinger"] == pytest.approx(math.sqrt(1 - 1 / math.sqrt(2)))


def test_a_label_swap_raises_conditional_frechet_only():
    # One feature: class 0 at {-1, 1} (mean 0, var 1), class 1 at {9, 11} (mean 10, var 1).
    # Both clients hold the same 4 values; client B swaps labels 0 and 1.
    x = np.array([[-1.0], [1.0], [9.0], [11.0]])
    labels = np.array([0, 0, 1, 1])
    same = feature_heterogeneity([x, x], [labels, labels])
    swapped = feature_heterogeneity([x, x], [labels, 1 - labels])
    assert same["conditional_frechet"] == pytest.approx(0.0, abs=1e-12)
    # Pooled class 0 = {-1, 1, 9, 11}: mean 5, var 1 + 25 = 26; each of the four cells
    # (a client's class) is mean 0 or 10, var 1: FD = 25 + (1 - sqrt 26)^2 = 52 - 2 sqrt 26.
    # All 8 values: var 26. conditional_frechet = (52 - 2 sqrt 26) / 26.
    assert swapped["conditional_frechet"] == pytest.approx((52 - 2 * math.sqrt(26)) / 26)
    assert swapped["feature_frechet"] == same["feature_frechet"] == pytest.approx(0, abs=1e-12)
    # The label counts do not move: label_emd is the same 0 for both.
    all_x, all_y = np.concatenate([x, x]), np.concatenate([labels, 1 - labels])
    parts = [np.arange(4), np.arange(4, 8)]
    assert heterogeneity(all_y, parts, features=all_x)["label_emd"] == 0.0
    assert heterogeneity(all_y, parts, features=all_x)["conditional_frechet"] == pytest.approx(
        swapped["conditional_frechet"]
    )


def test_clients_too_small_for_a_covariance_are_left_out():
    # Client C has 1 example: no covariance, left out; A and B as in the known-shift test.
    corners = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    two = feature_heterogeneity([corners, corners + SHIFT], [ZEROS, ZEROS])
    three = feature_heterogeneity(
        [corners, corners + SHIFT, np.array([[2.0, 0.0]])], [ZEROS, ZEROS, ZEROS[:1]]
    )
    # C is left out of the weights but not of the pooled features. Pooled of 9 points: mean
    # (2, 0); x deviations A: -3, -3, -1, -1; B: 1, 1, 3, 3; C: 0 -> var_x = 40/9; y: eight
    # +-1 -> var_y = 8/9; tr = 48/9. A (covariance I, mean diff (-2, 0)) and B alike:
    # FD = 4 + 2 + 48/9 - 2 (sqrt(40/9) + sqrt(8/9)); divided by 48/9:
    expected = (34 - 2 * (math.sqrt(40) + math.sqrt(8))) / 16
    assert three["feature_frechet"] == pytest.approx(expected)
    assert two["feature_frechet"] != pytest.approx(expected)
    lone = feature_heterogeneity([np.array([[1.0]]), np.array([[2.0]])], [ZEROS[:1], ZEROS[:1]])
    assert math.isnan(lone["feature_frechet"]) and math.isnan(lone["conditional_frechet"])
    # Histograms need no covariance: two one-example clients in disjoint bins (as above).
    assert lone["feature_hellinger"] == pytest.approx(math.sqrt(1 - 1 / math.sqrt(2)))


def test_without_features_the_feature_metrics_are_nan():
    m = heterogeneity(np.array([0, 1]), [np.array([0]), np.array([1])])
    assert all(math.isnan(m[name]) for name in FEATURE_METRICS)


def test_features_must_match_the_labels():
    with pytest.raises(ValueError, match="one row per label"):
        heterogeneity(np.array([0, 1]), [np.array([0, 1])], features=np.zeros((3, 2)))


def test_a_sampled_large_client_still_weighs_all_its_examples():
    # A: 1,000 zeros (more than MAX_CLIENT_EXAMPLES: 500 are read, each standing for 2);
    # B: 250 twos. Pooled over all 1,250: p = 0.2 of twos, mean 0.4, variance
    # 4 p (1 - p) = 0.64, sd 0.8. FD_A = 0.4^2 + 0.8^2 = 0.8; FD_B = 1.6^2 + 0.8^2 = 3.2;
    # weights 0.8 and 0.2: 0.64 + 0.64 = 1.28, divided by 0.64 -> 2.0. (Reading A's 500
    # rows as 500 examples would give a pooled p of 1/3 and 1.8.)
    assert MAX_CLIENT_EXAMPLES == 500
    x = [np.zeros((1000, 1)), np.full((250, 1), 2.0)]
    m = feature_heterogeneity(x, [np.zeros(1000, int), np.zeros(250, int)])
    assert m["feature_frechet"] == pytest.approx(2.0)
    # Histograms: pooled (0.8, 0.2) over the first and last bins; A one-hot on the first:
    # H_A = sqrt(1 - sqrt 0.8), H_B = sqrt(1 - sqrt 0.2); weighted 0.8 and 0.2.
    expected = 0.8 * math.sqrt(1 - math.sqrt(0.8)) + 0.2 * math.sqrt(1 - math.sqrt(0.2))
    assert m["feature_hellinger"] == pytest.approx(expected)
    # The same through heterogeneity() with the features of every example.
    labels = np.zeros(1250, int)
    full = heterogeneity(labels, [np.arange(1000), np.arange(1000, 1250)], features=np.vstack(x))
    assert full["feature_frechet"] == pytest.approx(2.0)
