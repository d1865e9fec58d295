from __future__ import annotations

import collections
import json

import numpy as np
import pytest

from fedbench.data import FederatedDataset, Split, load_dataset
from fedbench.data.export import EXPORTERS, export_leaf_json, export_tff_sql
from fedbench.data.tff_sql import read_split
from tests.data.builders import glyph_f


def _images(n: int, rng) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 28, 28)).astype(np.float32) / np.float32(255)


@pytest.fixture
def natural() -> FederatedDataset:
    """Writers with 4, 3, 2 train and 2, 1, 1 test examples; labels < 10; train[0] is the "F"."""
    rng = np.random.default_rng(0)
    x_train, x_test = _images(9, rng), _images(4, rng)
    x_train[0] = glyph_f().astype(np.float32) / np.float32(255)
    return FederatedDataset(
        name="toy",
        train=Split(x_train, rng.integers(0, 10, 9), np.array([0, 0, 0, 0, 1, 1, 1, 2, 2])),
        test=Split(x_test, rng.integers(0, 10, 4), np.array([0, 0, 1, 2])),
        num_classes=10,
        writer_names=("wa", "wb", "wc"),
    )


def _natural_parts(d: FederatedDataset):
    train = [np.flatnonzero(d.train.writers == k) for k in range(3)]
    test = [np.flatnonzero(d.test.writers == k) for k in range(3)]
    return train, test


def _spec():
    import tensorflow as tf

    return collections.OrderedDict(
        label=tf.TensorSpec((), tf.int32), pixels=tf.TensorSpec((28, 28), tf.float32)
    )


def test_exporters_registered():
    assert EXPORTERS == {"tff_sql": export_tff_sql, "leaf_json": export_leaf_json}


def test_tff_sql_round_trip_with_tff_reader(natural, tmp_path):
    import tensorflow_federated as tff

    train, test = _natural_parts(natural)
    path = EXPORTERS["tff_sql"](natural, train, test, tmp_path)
    assert path == tmp_path / "toy.sqlite" and path.is_file()
    for split_name, split, parts in (("train", natural.train, train), ("test", natural.test, test)):
        cd = tff.simulation.datasets.load_and_parse_sql_client_data(str(path), _spec(), split_name)
        assert cd.client_ids == ["wa", "wb", "wc"]  # a natural partition keeps writer names
        for cid, p in zip(cd.client_ids, parts, strict=True):
            rows = list(cd.create_tf_dataset_for_client(cid).as_numpy_iterator())
            np.testing.assert_array_equal([r["label"] for r in rows], split.y[p])
            # TFF's EMNIST convention: 1.0 = background, exactly (255 - k) / 255.
            stored = np.stack([r["pixels"] for r in rows])
            np.testing.assert_allclose(stored, 1.0 - split.x[p], atol=1e-7)
    assert not list(tmp_path.glob(".tff_sql.*"))  # temporary folder removed


def test_tff_sql_is_an_emnist_file_for_tff_and_for_us(natural, tmp_path):
    import tensorflow_federated as tff

    train, test = _natural_parts(natural)
    path = export_tff_sql(
        natural, train, test, tmp_path, split_names=("digits_only_train", "digits_only_test")
    )
    path.rename(tmp_path / "emnist_all.sqlite")
    tff_train, _ = tff.simulation.datasets.emnist.load_data(
        only_digits=True, cache_dir=str(tmp_path)
    )
    first = next(tff_train.create_tf_dataset_for_client("wa").as_numpy_iterator())
    np.testing.assert_allclose(first["pixels"], 1.0 - natural.train.x[0], atol=1e-7)
    back = load_dataset("emnist", {"cache_dir": str(tmp_path), "only_digits": True})
    assert back.writer_names == natural.writer_names
    for a, b in ((natural.train, back.train), (natural.test, back.test)):
        np.testing.assert_array_equal(a.x, b.x)  # bit for bit: the 8-bit grid survives
        np.testing.assert_array_equal(a.y, b.y)
        np.testing.assert_array_equal(a.writers, b.writers)
    assert back.train.x[0, 5, 18] == 1.0  # the "F" is upright, ink 1.0


def test_tff_sql_pooled_ids_and_no_test(natural, tmp_path):
    parts = [np.array([0, 5]), np.array([1, 8, 2])]  # mixed writers: not natural
    path = export_tff_sql(natural, parts, None, tmp_path)
    ids, _, y = read_split(path, "train", {"pixels": (28, 28)})
    assert ids == ["client_00000"] * 2 + ["client_00001"] * 3
    np.testing.assert_array_equal(y, natural.train.y[[0, 5, 1, 8, 2]])
    with pytest.raises(Exception, match=r"no examples with split_name='test'"):
        read_split(path, "test", {"pixels": (28, 28)})


def test_leaf_json_round_trip_through_the_loader(natural, tmp_path):
    train, test = _natural_parts(natural)
    out = export_leaf_json(natural, train, test, tmp_path / "data")
    doc = json.loads((out / "train" / "toy_train.json").read_text())
    assert doc["users"] == ["wa", "wb", "wc"] and doc["num_samples"] == [4, 3, 2]
    # LEAF's convention: flattened rows, 1.0 = background, float64 k / 255.
    assert len(doc["user_data"]["wa"]["x"][0]) == 784
    # Pixels k / 255 (1 = ink) are written as LEAF's own float64 (255 - k) / 255, exactly.
    k = np.rint(natural.train.x[0].ravel() * 255.0).astype(np.float64)
    np.testing.assert_array_equal(doc["user_data"]["wa"]["x"][0], (255.0 - k) / 255.0)
    back = load_dataset("femnist_leaf", {"path": str(out)})
    assert back.writer_names == natural.writer_names
    for a, b in ((natural.train, back.train), (natural.test, back.test)):
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.y, b.y)
        np.testing.assert_array_equal(a.writers, b.writers)


def test_leaf_json_custom_ids_and_no_test(natural, tmp_path):
    out = export_leaf_json(natural, [np.array([0, 1])], None, tmp_path, client_ids=["me"])
    test_doc = json.loads((out / "test" / "toy_test.json").read_text())
    assert test_doc["users"] == ["me"] and test_doc["num_samples"] == [0]
    with pytest.raises(ValueError, match=r"client_ids must be 1 distinct"):
        export_leaf_json(natural, [np.array([0])], None, tmp_path, client_ids=["a", "b"])
    with pytest.raises(ValueError, match=r"train_parts\[0\] must be a 1-D index array into 9"):
        export_leaf_json(natural, [np.array([9])], None, tmp_path)


def test_tabular_exports_features_as_is(tmp_path):
    d = load_dataset("synthetic", {"num_writers": 3, "data_seed": 5})
    train = [np.flatnonzero(d.train.writers == k) for k in range(3)]
    path = export_tff_sql(d, train, None, tmp_path)
    ids, x, _ = read_split(path, "train", {"x": (60,)})
    order = np.concatenate(train)
    np.testing.assert_array_equal(x, d.train.x[order])
    assert ids[0] == "f_00000"
    out = export_leaf_json(d, train, None, tmp_path / "leaf")
    doc = json.loads((out / "train" / "synthetic_train.json").read_text())
    np.testing.assert_array_equal(np.float32(doc["user_data"]["f_00001"]["x"]), d.train.x[train[1]])
