import numpy as np
import pytest

from fedbench.errors import PartitionError
from fedbench.heterogeneity import heterogeneity, label_counts
from fedbench.partitioning import UnassignedExamplesWarning, partition
from tests.partitioning.helpers import balanced_labels

LABELS = balanced_labels(10, 100)  # 10 classes x 100


def test_one_class_each_gives_client_i_class_i():
    # k = 1: client i holds only its first class, i mod 10 = i; it is the only holder,
    # so it gets all 100 examples of class i.
    parts = partition("pathological", LABELS, 10, seed=0, classes_per_client=1)
    assert np.array_equal(label_counts(LABELS, parts, 10), 100 * np.eye(10, dtype=np.int64))


@pytest.mark.parametrize("seed", range(3))
def test_each_client_holds_k_classes_including_its_first(seed):
    num_clients, k = 25, 3
    parts = partition("pathological", LABELS, num_clients, seed=seed, classes_per_client=k)
    counts = label_counts(LABELS, parts, 10)
    holds = counts > 0
    # 25 clients x 3 classes, each class split into <= 25 pieces of >= 100 // 25 = 4
    # examples, so every held class gives its holder at least one example.
    assert holds.sum(axis=1).tolist() == [k] * num_clients
    assert all(holds[i, i % 10] for i in range(num_clients))
    for c in range(10):
        held = counts[holds[:, c], c]
        assert held.sum() == 100  # every class is held (clients 0..9 start with 0..9)
        assert held.max() - held.min() <= 1  # split evenly (numpy.array_split)


def test_every_class_to_everyone_is_iid_in_labels():
    # k = C = 10 on 4 clients: each class of 100 splits 25/25/25/25, so every client's
    # label distribution equals the global one and label_emd = 0.
    parts = partition("pathological", LABELS, 4, seed=0, classes_per_client=10)
    assert np.all(label_counts(LABELS, parts, 10) == 25)
    assert heterogeneity(LABELS, parts)["label_emd"] == 0.0


def test_classes_no_client_holds_are_reported_not_silent():
    # 3 clients x 1 class: clients hold classes 0, 1, 2; classes 3..9 (700 examples) are
    # unassigned, dropped_fraction = 700 / 1,000 = 0.7.
    with pytest.warns(UnassignedExamplesWarning, match=r"700 of 1000 examples \(70\.0%\)"):
        parts = partition("pathological", LABELS, 3, seed=0, classes_per_client=1)
    assert sum(len(p) for p in parts) == 300
    assert heterogeneity(LABELS, parts)["dropped_fraction"] == pytest.approx(0.7)


def test_more_classes_per_client_than_classes_is_refused():
    with pytest.raises(
        PartitionError,
        match=r"classes_per_client=11 .*at most the number of classes present \(10\)",
    ):
        partition("pathological", LABELS, 10, seed=0, classes_per_client=11)


def test_class_ids_with_no_example_are_not_classes_a_client_can_hold():
    # Ids 0 and 5 only: C = 2 present classes, not max + 1 = 6. Client i starts with the
    # (i mod 2)-th present class, so 6 clients split as 3 holders of 50 per class:
    # 17/17/16 each, nobody empty, nothing lost.
    labels = np.repeat([0, 5], 50)
    parts = partition("pathological", labels, 6, seed=0, classes_per_client=1)
    counts = label_counts(labels, parts, 6)
    assert counts[:, 0].tolist() == [17, 0, 17, 0, 16, 0]
    assert counts[:, 5].tolist() == [0, 17, 0, 17, 0, 16]
    with pytest.raises(PartitionError, match=r"classes_per_client=3 .*classes present \(2\)"):
        partition("pathological", labels, 6, seed=0, classes_per_client=3)


def test_a_class_with_fewer_examples_than_holders_is_refused_not_an_empty_client():
    # Classes 0 (1 example) and 1 (99) over 4 clients with k = 1: clients 0 and 2 hold
    # class 0, whose single example leaves one of them with nothing.
    labels = np.array([0] + [1] * 99)
    with pytest.raises(
        PartitionError,
        match=r"1 of 4 clients would get no examples \(class 0 has 1 examples for 2 clients"
        r".*lower num_clients",
    ):
        partition("pathological", labels, 4, seed=0, classes_per_client=1)


def test_zero_classes_per_client_is_refused():
    with pytest.raises(PartitionError, match=r"classes_per_client=0 .*an integer >= 1"):
        partition("pathological", LABELS, 10, seed=0, classes_per_client=0)


def test_the_warning_points_at_the_caller():
    with pytest.warns(UnassignedExamplesWarning) as record:
        partition("pathological", LABELS, 3, seed=0, classes_per_client=1)
    assert record[0].filename == __file__
