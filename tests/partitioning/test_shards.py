import numpy as np
import pytest

from fedbench.errors import PartitionError
from fedbench.heterogeneity import label_counts
from fedbench.partitioning import partition
from tests.partitioning.helpers import balanced_labels


def test_mcmahan_layout_two_single_class_shards_per_client():
    # 10 classes x 60 = 600 examples, 10 clients x 2 = 20 shards of 600 / 20 = 30.
    # Sorted by label, each class fills exactly 2 shards, so every shard is one class:
    # every client has 60 examples from at most 2 classes, in multiples of 30.
    labels = np.random.default_rng(0).permutation(balanced_labels(10, 60))
    parts = partition("shards", labels, 10, seed=0, shards_per_client=2)
    counts = label_counts(labels, parts, 10)
    assert counts.sum(axis=1).tolist() == [60] * 10
    assert ((counts > 0).sum(axis=1) <= 2).all()
    assert (counts % 30 == 0).all()


def test_remainder_examples_are_assigned_not_dropped():
    # 605 = 20 shards * 30 + 5: the first 5 shards hold 31, so a client (2 shards) holds
    # 60, 61 or 62 examples and all 605 are assigned.
    labels = np.arange(605) % 10
    parts = partition("shards", labels, 10, seed=0, shards_per_client=2)
    sizes = [len(p) for p in parts]
    assert sum(sizes) == 605
    assert set(sizes) <= {60, 61, 62}


def test_fewer_examples_than_shards_is_refused():
    # 10 clients x 4 shards = 40 shards > 30 examples; at most 30 // 10 = 3 per client.
    with pytest.raises(PartitionError, match=r"shards_per_client=4 .*at most 3"):
        partition("shards", np.arange(30) % 3, 10, seed=0, shards_per_client=4)
