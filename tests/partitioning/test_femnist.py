"""The real FEMNIST (LEAF) subset from shared/: 105 writers, 14,708 train examples, 62 classes."""

import numpy as np
import pytest

from fedbench.heterogeneity import heterogeneity, label_counts
from fedbench.partitioning import partition


def test_natural_gives_one_client_per_writer(femnist_train):
    labels, writers = femnist_train
    parts = partition("natural", labels, 105, seed=0, writer_mode="sample", writer_ids=writers)
    assert len(parts) == 105
    assert sum(len(p) for p in parts) == 14_708
    sizes = sorted(len(p) for p in parts)
    assert sizes[0] == 4 and sizes[-1] == 165  # per writer min / max from the data README
    assert all(len(set(writers[p].tolist())) == 1 for p in parts)


def test_natural_merge_into_ten_silos(femnist_train):
    # 105 writers into 10 silos: 105 = 10 * 10 + 5, so five silos of 11 writers, five of 10.
    labels, writers = femnist_train
    parts = partition("natural", labels, 10, seed=0, writer_mode="merge", writer_ids=writers)
    assert sorted(len(set(writers[p].tolist())) for p in parts) == [10] * 5 + [11] * 5
    assert sum(len(p) for p in parts) == 14_708


def test_pathological_on_femnist_labels(femnist_train):
    # 105 clients x 2 classes of 62: clients 0..61 start with classes 0..61, so every class
    # is held and nothing is dropped; no client holds more than 2 classes.
    labels, _ = femnist_train
    assert int(labels.max()) + 1 == 62
    parts = partition("pathological", labels, 105, seed=0, classes_per_client=2)
    counts = label_counts(labels, parts, 62)
    assert counts.sum() == 14_708
    assert ((counts > 0).sum(axis=1) <= 2).all()
    assert heterogeneity(labels, parts, 62)["effective_classes"] <= 2.0


def test_dirichlet_on_femnist_labels_is_more_skewed_than_iid(femnist_train):
    labels, _ = femnist_train
    iid = heterogeneity(labels, partition("iid", labels, 105, seed=0), 62)
    skewed_parts = partition("dirichlet", labels, 105, seed=0, alpha=0.1, min_client_size=10)
    skewed = heterogeneity(labels, skewed_parts, 62)
    assert min(len(p) for p in skewed_parts) >= 10
    assert skewed["label_emd"] > iid["label_emd"]
    assert skewed["effective_classes"] < iid["effective_classes"]
    assert skewed["dropped_fraction"] == iid["dropped_fraction"] == 0.0


@pytest.mark.parametrize("strategy", ["iid", "shards", "quantity"])
def test_other_strategies_cover_femnist(femnist_train, strategy):
    labels, _ = femnist_train
    params = {
        "iid": {},
        "shards": {"shards_per_client": 2},
        "quantity": {"alpha": 1.0, "min_client_size": 10},
    }
    parts = partition(strategy, labels, 105, seed=0, **params[strategy])
    flat = np.concatenate(parts)
    assert len(flat) == len(np.unique(flat)) == 14_708
