import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from fedbench.heterogeneity import (
    FEATURE_METRICS,
    heterogeneity,
    heterogeneity_from_counts,
    label_counts,
)

ONE_CLASS_EACH = (np.repeat(np.arange(10), 5), [np.arange(5) + 5 * c for c in range(10)])


def test_one_class_per_client_hand_derived():
    # 10 balanced classes, client k holds only class k: p_k one-hot, p uniform (0.1 each).
    labels, parts = ONE_CLASS_EACH
    m = heterogeneity(labels, parts)
    # EMD: sum_c |p_k - p| = |1 - 0.1| + 9 * |0 - 0.1| = 0.9 + 0.9 = 1.8 for every client.
    assert m["label_emd"] == pytest.approx(1.8)
    # exp(entropy(one-hot)) = exp(0) = 1.
    assert m["effective_classes"] == pytest.approx(1.0)
    # JS: M = (p_k + p)/2 is 0.55 on class k, 0.05 elsewhere.
    # KL(p_k||M) = log2(1/0.55); KL(p||M) = 0.1 log2(0.1/0.55) + 9 * 0.1 log2(0.1/0.05)
    # = 0.1 log2(0.1/0.55) + 0.9. JS = (KL(p_k||M) + KL(p||M)) / 2 = 0.7583.
    js = 0.5 * (math.log2(1 / 0.55) + 0.1 * math.log2(0.1 / 0.55) + 0.9)
    assert m["label_jsd"] == pytest.approx(js)
    # Hellinger: sum_c sqrt(p_k p) = sqrt(0.1), H = sqrt(1 - sqrt(0.1)) = 0.8269.
    assert m["label_hellinger"] == pytest.approx(math.sqrt(1 - math.sqrt(0.1)))
    assert m["size_cv"] == 0.0
    assert (m["num_clients"], m["num_examples"], m["dropped_fraction"]) == (10, 50, 0.0)


def test_equal_proportions_are_zero():
    # Every client holds 2 examples of each of 3 classes: p_k = p for all k.
    labels = np.tile(np.arange(3), 8)  # 24 examples
    parts = [np.arange(6 * k, 6 * k + 6) for k in range(4)]
    m = heterogeneity(labels, parts)
    assert m["label_emd"] == m["label_jsd"] == m["label_hellinger"] == 0.0
    assert m["effective_classes"] == pytest.approx(3.0)  # exp(ln 3)
    assert m["size_cv"] == 0.0


def test_two_clients_two_classes_hand_computed():
    # labels 0,0,1,1; client 0 gets the 0s, client 1 the 1s. p = (1/2, 1/2), p_0 = (1, 0).
    # M = (3/4, 1/4). KL(p_0||M) = log2(4/3) = 2 - log2 3;
    # KL(p||M) = 1/2 log2(2/3) + 1/2 log2 2 = 1 - log2(3)/2. JS = 3/2 - 3/4 log2 3 = 0.3113,
    # the same for client 1 by symmetry. Hellinger: sum sqrt(p_0 p) = sqrt(1/2),
    # H = sqrt(1 - 1/sqrt 2) = 0.5412. EMD: |1 - 1/2| + |0 - 1/2| = 1.
    m = heterogeneity(np.array([0, 0, 1, 1]), [np.array([0, 1]), np.array([2, 3])])
    assert m["label_jsd"] == pytest.approx(1.5 - 0.75 * math.log2(3))
    assert m["label_hellinger"] == pytest.approx(math.sqrt(1 - 1 / math.sqrt(2)))
    assert m["label_emd"] == pytest.approx(1.0)


def test_clients_weigh_by_size():
    # labels 0,0,0,1; client 0 = {0} (n=1), client 1 = {1,2,3} (n=3). p = (3/4, 1/4).
    # client 0 (1, 0): |1/4| + |1/4| = 1/2, weight 1/4; client 1 (2/3, 1/3): 1/12 + 1/12 =
    # 1/6, weight 3/4. EMD = 1/8 + 1/8 = 1/4. Sizes (1, 3): mean 2, population sd 1, cv 1/2.
    # Effective classes: client 0: 1; client 1: exp(-(2/3 ln 2/3 + 1/3 ln 1/3)) = 3 / 2^(2/3).
    m = heterogeneity(np.array([0, 0, 0, 1]), [np.array([0]), np.array([1, 2, 3])])
    assert m["label_emd"] == pytest.approx(0.25)
    assert m["size_cv"] == pytest.approx(0.5)
    assert m["effective_classes"] == pytest.approx((1 + 3 / 2 ** (2 / 3)) / 2)


def test_reference_distribution_is_that_of_assigned_examples():
    # labels 0,0,0,1 with example 2 unassigned: assigned p = (2/3, 1/3), not (3/4, 1/4).
    # client 0 = {0,1} (1, 0): 1/3 + 1/3 = 2/3, weight 2/3; client 1 = {3} (0, 1):
    # 2/3 + 2/3 = 4/3, weight 1/3. EMD = 4/9 + 4/9 = 8/9 (with all labels it would be 5/6).
    m = heterogeneity(np.array([0, 0, 0, 1]), [np.array([0, 1]), np.array([3])])
    assert m["label_emd"] == pytest.approx(8 / 9)
    assert m["dropped_fraction"] == pytest.approx(0.25)  # 1 of 4
    assert m["num_examples"] == 3


def test_empty_clients_weigh_nothing_but_count_in_size_cv():
    labels = np.array([0, 0, 1, 1])
    base = heterogeneity(labels, [np.array([0, 1]), np.array([2, 3])])
    m = heterogeneity(labels, [np.array([0, 1]), np.array([2, 3]), np.array([], dtype=np.int64)])
    for name in ("label_emd", "label_jsd", "label_hellinger", "effective_classes"):
        assert m[name] == pytest.approx(base[name]), name  # n_k = 0 weight; left out of the mean
    # Sizes (2, 2, 0): mean 4/3, population sd sqrt(((2/3)^2 * 2 + (4/3)^2) / 3) = sqrt(8/9);
    # cv = sqrt(8/9) / (4/3) = 1/sqrt(2).
    assert m["size_cv"] == pytest.approx(1 / math.sqrt(2))
    assert m["num_clients"] == 3


def test_nothing_assigned_gives_nan_metrics():
    m = heterogeneity(np.array([0, 1]), [np.array([], dtype=np.int64)] * 2)
    assert all(
        math.isnan(m[k])
        for k in ("label_emd", "label_jsd", "label_hellinger", "effective_classes", "size_cv")
    )
    assert (m["dropped_fraction"], m["num_clients"], m["num_examples"]) == (1.0, 2, 0)


def test_label_counts_table():
    labels = np.array([2, 0, 1, 1, 2])
    counts = label_counts(labels, [np.array([0, 1]), np.array([2, 3, 4])], num_classes=4)
    assert counts.dtype == np.int64
    assert counts.tolist() == [[1, 0, 1, 0], [0, 2, 1, 0]]


def test_label_counts_rejects_labels_outside_the_classes():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        label_counts(np.array([0, 1, 2]), [np.array([0, 2])], num_classes=2)


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        # Index 3 appears twice: 8 "examples" of 4, and dropped_fraction would be -1.
        ([[0, 1, 3], [2, 3]], r"index 3 is in more than one place"),
        ([[0, 1], [2, 4]], r"parts must index the 4 labels \(0\.\.3\), got 0\.\.4"),
        ([[-1, 0], [1]], r"got -1\.\.1"),  # -1 would silently mean the last label
    ],
)
def test_parts_that_are_not_a_partition_are_refused(parts, message):
    with pytest.raises(ValueError, match=message):
        heterogeneity(np.array([0, 0, 1, 1]), [np.array(p) for p in parts])


def test_from_counts_matches():
    labels, parts = ONE_CLASS_EACH
    counts = label_counts(labels, parts, 10)
    from_counts = heterogeneity_from_counts(counts, len(labels))
    # Without features the feature metrics are NaN (NaN != NaN: compare them apart).
    assert all(math.isnan(from_counts.pop(m)) for m in FEATURE_METRICS)
    assert from_counts == {
        k: v for k, v in heterogeneity(labels, parts, 10).items() if k not in FEATURE_METRICS
    }


@st.composite
def random_partitions(draw):
    num_classes = draw(st.integers(1, 6))
    n = draw(st.integers(1, 60))
    labels = np.array(draw(st.lists(st.integers(0, num_classes - 1), min_size=n, max_size=n)))
    num_clients = draw(st.integers(1, 6))
    owner = np.array(draw(st.lists(st.integers(-1, num_clients - 1), min_size=n, max_size=n)))
    return labels, [np.flatnonzero(owner == k) for k in range(num_clients)], num_classes


@settings(max_examples=200, deadline=None)
@given(random_partitions())
def test_metrics_stay_in_range_and_jsd_matches_scipy(case):
    labels, parts, num_classes = case
    m = heterogeneity(labels, parts, num_classes)
    if m["num_examples"] == 0:
        return
    assert 0 <= m["label_emd"] <= 2 + 1e-12
    assert 0 <= m["label_jsd"] <= 1
    assert 0 <= m["label_hellinger"] <= 1
    assert 1 - 1e-12 <= m["effective_classes"] <= num_classes + 1e-12
    # Independent check: scipy's Jensen-Shannon *distance* squared is the divergence.
    counts = label_counts(labels, parts, num_classes)
    sizes = counts.sum(axis=1)
    p = counts.sum(axis=0) / sizes.sum()
    expected = sum(
        (n_k / sizes.sum()) * jensenshannon(row / n_k, p, base=2) ** 2
        for row, n_k in zip(counts, sizes, strict=True)
        if n_k
    )
    assert m["label_jsd"] == pytest.approx(expected, abs=1e-9)
