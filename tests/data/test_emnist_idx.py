from __future__ import annotations

import numpy as np
import pytest

from fedbench.data import load_dataset
from fedbench.data.emnist_idx import NUM_CLASSES
from fedbench.errors import ConfigError, DataError
from tests.data.builders import glyph_f, write_mnist_folder


def _names(split: str) -> dict[str, str]:
    stem = f"emnist-{split}"
    return {
        "train_images": f"{stem}-train-images-idx3-ubyte.gz",
        "train_labels": f"{stem}-train-labels-idx1-ubyte.gz",
        "test_images": f"{stem}-test-images-idx3-ubyte.gz",
        "test_labels": f"{stem}-test-labels-idx1-ubyte.gz",
    }


def _write_nist(folder, split: str, labels: list[int]):
    """Write a split as NIST does: every image transposed; example 0 is the "F"."""
    n = len(labels)
    rng = np.random.default_rng(1)
    upright = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    upright[0] = glyph_f()
    arrays = {}
    for part in ("train", "test"):
        arrays[f"{part}_images"] = upright.transpose(0, 2, 1).copy()
        arrays[f"{part}_labels"] = np.asarray(labels, np.uint8)
    write_mnist_folder(folder, arrays, names=_names(split))
    return upright


def test_images_come_out_upright(tmp_path):
    upright = _write_nist(tmp_path, "digits", [3, 1, 4, 1, 5])
    d = load_dataset("emnist_idx", {"path": str(tmp_path), "split": "digits"})
    np.testing.assert_array_equal(d.train.x, upright.astype(np.float32) / np.float32(255))
    f = d.train.x[0]
    assert f[5, 18] == 1.0 and f[18, 5] == 0.0  # the top bar runs right, not down
    assert d.train.x.flags.c_contiguous
    np.testing.assert_array_equal(d.train.y, [3, 1, 4, 1, 5])
    assert d.num_classes == 10 and not d.has_writers


def test_letters_shift_to_zero_based(tmp_path):
    _write_nist(tmp_path, "letters", [1, 2, 26, 13])  # a, b, z, m in NIST's 1..26
    d = load_dataset("emnist_idx", {"path": str(tmp_path), "split": "letters"})
    np.testing.assert_array_equal(d.train.y, [0, 1, 25, 12])
    assert d.num_classes == 26


def test_letters_zero_label_is_refused(tmp_path):
    _write_nist(tmp_path, "letters", [0, 1])
    with pytest.raises(DataError, match=r"emnist-letters-train-labels.*\[0, 26\), found -1"):
        load_dataset("emnist_idx", {"path": str(tmp_path), "split": "letters"})


def test_num_classes_per_split():
    # EMNIST paper, Table II.
    assert NUM_CLASSES == {
        "balanced": 47,
        "byclass": 62,
        "bymerge": 47,
        "digits": 10,
        "letters": 26,
        "mnist": 10,
    }


def test_gzip_subfolder_accepted(tmp_path):
    _write_nist(tmp_path / "gzip", "balanced", [46, 0])
    d = load_dataset("emnist_idx", {"path": str(tmp_path), "split": "balanced"})
    assert d.num_classes == 47 and d.train.y.max() == 46


def test_bad_split_and_missing_files(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset.split='digitz' is invalid"):
        load_dataset("emnist_idx", {"path": str(tmp_path), "split": "digitz"})
    with pytest.raises(DataError, match=r"missing emnist-byclass-train-images-idx3-ubyte.gz"):
        load_dataset("emnist_idx", {"path": str(tmp_path), "split": "byclass"})
    with pytest.raises(ConfigError, match=r"dataset.path=None is invalid"):
        load_dataset("emnist_idx", {})
