from __future__ import annotations

import json

import numpy as np
import pytest

from fedbench.data import load_dataset
from fedbench.errors import ConfigError, DataError
from tests.data.builders import glyph_f, leaf_doc, write_leaf


def _img(value: int, n: int = 1) -> np.ndarray:
    """n images in fedbench's convention, filled with value/255."""
    return np.full((n, 28, 28), value / 255.0)


def _small_leaf(root):
    """Two train shards (3 writers), one test shard with a test-only writer "f9".

    Train: f2 has 2 examples (first is the "F" glyph), f1 has 1, f3 has 3 -> 6.
    Test: f1 1, f2 1, f9 2 -> 4; f9 has no train data.
    """
    f = glyph_f()[None].astype(np.float64) / 255.0
    write_leaf(
        root / "train" / "a_train.json",
        {
            "f2": (np.concatenate([f, _img(10)]), [7, 61]),
            "f1": (_img(20), [0]),
        },
    )
    write_leaf(root / "train" / "b_train.json", {"f3": (_img(30, 3), [1, 2, 3])})
    write_leaf(
        root / "test" / "a_test.json",
        {
            "f1": (_img(40), [4]),
            "f2": (_img(50), [5]),
            "f9": (_img(60, 2), [8, 9]),
        },
    )
    return root


def test_writers_labels_and_upright_ink(tmp_path):
    d = load_dataset("femnist_leaf", {"path": str(_small_leaf(tmp_path / "data"))})
    # Train writers sorted first, then the test-only writer.
    assert d.writer_names == ("f1", "f2", "f3", "f9")
    assert (len(d.train), len(d.test), d.num_classes) == (6, 4, 62)
    # Examples are ordered by writer: f1 (1), f2 (2), f3 (3).
    np.testing.assert_array_equal(d.train.writers, [0, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(d.train.y, [0, 7, 61, 1, 2, 3])
    np.testing.assert_array_equal(d.test.writers, [0, 1, 3, 3])
    # Inverted back to 0 = background: stored 1 - 255/255 = 0 for ink -> 1.0.
    np.testing.assert_array_equal(d.train.x[1], glyph_f().astype(np.float32) / np.float32(255))
    assert d.train.x[1, 5, 18] == 1.0 and d.train.x[1, 20, 18] == 0.0
    # Flat images filled with k/255 come back exactly.
    assert d.train.x[0, 0, 0] == np.float32(20) / np.float32(255)
    assert d.train.x.dtype == np.float32 and d.train.y.dtype == np.int64


def test_parent_of_data_accepted(tmp_path):
    _small_leaf(tmp_path / "femnist" / "data")
    d = load_dataset("femnist_leaf", {"path": str(tmp_path / "femnist")})
    assert len(d.train) == 6


def test_missing_and_wrong_folders(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset.path=None is invalid"):
        load_dataset("femnist_leaf", {})
    with pytest.raises(DataError, match=r"folder not found"):
        load_dataset("femnist_leaf", {"path": str(tmp_path / "nope")})
    _small_leaf(tmp_path / "deep" / "x" / "data")
    with pytest.raises(
        DataError, match=r"no train/ and test/ .*did you mean dataset.path=.*deep/x/data"
    ):
        load_dataset("femnist_leaf", {"path": str(tmp_path)})
    (tmp_path / "tarred").mkdir()
    (tmp_path / "tarred" / "subset.tar.gz").write_bytes(b"")
    with pytest.raises(DataError, match=r"extract the archive first: tar -xzf"):
        load_dataset("femnist_leaf", {"path": str(tmp_path / "tarred")})


def test_truncated_json_names_the_file(tmp_path):
    root = _small_leaf(tmp_path / "data")
    f = root / "train" / "b_train.json"
    f.write_text(f.read_text()[:500])
    with pytest.raises(
        DataError, match=r"b_train.json: not a readable JSON .*corrupt; replace it with an intact"
    ) as err:
        load_dataset("femnist_leaf", {"path": str(root)})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ('{"users": ["u"]}', "not a LEAF file"),
        (
            '{"users": ["u"], "user_data": {"u": {"x": [[0.5]], "y": [1]}}}',
            "rows of x have 1 values, expected 784",
        ),
        ('{"users": ["u"], "user_data": {"u": {"x": [], "y": [1]}}}', "0 x rows but 1 labels"),
        ('{"users": ["u"], "user_data": {}}', "user 'u' has no 'x' and 'y'"),
        ("[1, 2]", "not a LEAF file"),
        ('{"users": ["u"], "user_data": [1, 2]}', "'user_data' an object"),
        ('{"users": "u", "user_data": {}}', "'users' must be a list"),
        ('{"users": ["u"], "user_data": {"u": {"x": null, "y": [1]}}}', "must be lists"),
        ('{"users": ["u"], "user_data": {"u": {"x": [[0.5]], "y": 5}}}', "must be lists"),
        (
            '{"users": ["u", "u"], "user_data": {"u": {"x": [], "y": []}}}',
            "user 'u' is listed more than once",
        ),
        (
            '{"users": ["u"], "num_samples": [2], "user_data": {"u": {"x": [], "y": []}}}',
            "num_samples says 2, user_data has 0",
        ),
        ('{"users": ["u"], "num_samples": 2, "user_data": {}}', "'num_samples' must be a list"),
    ],
)
def test_wrong_format_names_the_file(tmp_path, doc, message):
    root = _small_leaf(tmp_path / "data")
    (root / "test" / "z_test.json").write_text(doc)
    with pytest.raises(DataError, match=f"z_test.json.*{message}"):
        load_dataset("femnist_leaf", {"path": str(root)})


def test_pixels_or_labels_out_of_range(tmp_path):
    root = _small_leaf(tmp_path / "data")
    write_leaf(root / "test" / "z_test.json", {"u": (_img(0) + 2.0, [1])})  # stored 1 - 2 = -1
    with pytest.raises(DataError, match=r"z_test.json: pixel values must lie in \[0, 1\]"):
        load_dataset("femnist_leaf", {"path": str(root)})
    write_leaf(root / "test" / "z_test.json", {"u": (_img(0), [62])})
    with pytest.raises(DataError, match=r"z_test.json: labels must lie in \[0, 62\)"):
        load_dataset("femnist_leaf", {"path": str(root)})
    doc = leaf_doc({"u": (_img(0), [1])})
    doc["user_data"]["u"]["y"] = ["1"]
    (root / "test" / "z_test.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"z_test.json: labels must be integers, found '1'"):
        load_dataset("femnist_leaf", {"path": str(root)})


def test_real_femnist_leaf_dir(femnist_leaf_dir):
    d = load_dataset("femnist_leaf", {"path": str(femnist_leaf_dir)})
    # Subset README: train 105 writers / 14,708 examples; test 184 writers / 4,088
    # examples; all 105 train writers have test data, 79 writers appear only in test.
    assert len(d.train) == 14_708 and len(d.test) == 4_088
    assert len(np.unique(d.train.writers)) == 105
    assert len(np.unique(d.test.writers)) == 184
    assert len(d.writer_names) == 105 + 79
    assert d.train.writers.max() == 104  # train writers come first
    sizes = np.bincount(d.train.writers)
    assert (sizes.min(), int(np.median(sizes)), sizes.max()) == (4, 152, 165)
    assert 0 <= d.train.y.min() and d.train.y.max() <= 61 and d.num_classes == 62
    assert d.train.x.min() == 0.0 and d.train.x.max() == 1.0
    # Ink is 1.0: strokes cover a minority of pixels, so the typical pixel is background 0.
    assert np.median(d.train.x) == 0.0 and d.train.x.mean() < 0.2
