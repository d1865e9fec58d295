import numpy as np
import pytest

from fedbench.errors import PartitionError
from fedbench.heterogeneity import heterogeneity
from fedbench.partitioning import partition
from tests.partitioning.helpers import balanced_labels


def test_sizes_differ_by_at_most_one():
    # 1,003 = 10 * 100 + 3: three clients of 101, seven of 100.
    labels = np.arange(1003) % 7
    parts = partition("iid", labels, 10, seed=0)
    assert sorted(len(p) for p in parts) == [100] * 7 + [101] * 3


def test_is_iid_even_when_the_input_is_sorted_by_class():
    # 10 classes x 100, class-sorted. A split by position would give every client one
    # class: label_emd = 1.8 (see test_heterogeneity). A uniform split gives client k
    # a hypergeometric count of class c: mean 10, sd sqrt(100 * .1 * .9 * 900/999) = 2.85,
    # E|X - 10| ~ 2.85 * sqrt(2/pi) = 2.27, so label_emd ~ 10 classes * 2.27 / 100 = 0.23
    # and each client's effective classes ~ exp(H) of a near-uniform 10-way law (~9.6).
    labels = balanced_labels(10, 100)
    metrics = heterogeneity(labels, partition("iid", labels, 10, seed=0))
    assert metrics["label_emd"] < 0.5
    assert metrics["effective_classes"] > 8.5
    assert metrics["size_cv"] == 0.0  # 1,000 / 10 = 100 each


def test_one_client_gets_everything():
    labels = np.array([3, 1, 2, 0, 1])
    (part,) = partition("iid", labels, 1, seed=0)
    assert part.tolist() == [0, 1, 2, 3, 4]


def test_more_clients_than_examples_is_refused():
    with pytest.raises(
        PartitionError, match=r"num_clients=6 .*at most the number of training examples \(5\)"
    ):
        partition("iid", np.zeros(5, dtype=np.int64), 6, seed=0)
