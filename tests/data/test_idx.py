from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from fedbench.data import idx, load_dataset
from fedbench.data.idx import read_idx
from fedbench.errors import DataError
from tests.data.builders import (
    MNIST_NAMES,
    glyph_f,
    idx_bytes,
    mnist_like,
    write_idx,
    write_mnist_folder,
)

FMNIST_DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_every_type_code(tmp_path, dtype, compress):
    a = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4)
    a = a.astype(np.uint8) if dtype == np.uint8 else a.astype(dtype)
    out = read_idx(write_idx(tmp_path / "a.idx", a, compress=compress))
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, a)
    assert out.dtype.isnative


def test_folder_loads_upright_with_ink_one(tmp_path):
    arrays = mnist_like(n_train=12, n_test=4)
    write_mnist_folder(tmp_path, arrays)
    d = load_dataset("mnist", {"path": str(tmp_path)})
    assert (len(d.train), len(d.test), d.num_classes) == (12, 4, 10)
    assert not d.has_writers
    assert d.train.x.dtype == np.float32 and d.train.y.dtype == np.int64
    # example 0 is the "F": 255 -> 1.0 (ink), 0 -> 0.0 (background), 128 -> 128/255; not flipped.
    np.testing.assert_array_equal(d.train.x[0], glyph_f().astype(np.float32) / np.float32(255))
    assert d.train.x[0, 5, 18] == 1.0  # top bar reaches right
    assert d.train.x[0, 20, 18] == 0.0  # nothing bottom right
    np.testing.assert_array_equal(d.test.y, [0, 1, 2, 3])


def test_plain_files_accepted(tmp_path):
    arrays = mnist_like()
    names = {role: name.removesuffix(".gz") for role, name in MNIST_NAMES.items()}
    for role, name in names.items():
        write_idx(tmp_path / name, arrays[role], compress=False)
    assert len(load_dataset("mnist", {"path": str(tmp_path)}).train) == 12


def _folder(tmp_path: Path) -> Path:
    return write_mnist_folder(tmp_path / "m", mnist_like())


def test_truncated_gzip_names_the_file(tmp_path):
    folder = _folder(tmp_path)
    f = folder / MNIST_NAMES["train_images"]
    f.write_bytes(f.read_bytes()[:200])
    with pytest.raises(
        DataError, match=r"train-images-idx3-ubyte.gz.*corrupt; replace it with an intact"
    ) as err:
        load_dataset("mnist", {"path": str(folder)})
    assert "\n" not in str(err.value)


def test_truncated_payload_names_the_file(tmp_path):
    folder = _folder(tmp_path)
    f = folder / MNIST_NAMES["train_images"]
    # 12 images x 784 bytes + 16-byte header = 9,424 bytes; cut 100.
    f.write_bytes(gzip.compress(idx_bytes(mnist_like()["train_images"])[:-100]))
    with pytest.raises(DataError, match=r"train-images.*truncated.*9424 bytes\), file has 9324"):
        load_dataset("mnist", {"path": str(folder)})


def test_wrong_format_names_the_file(tmp_path):
    folder = _folder(tmp_path)
    (folder / MNIST_NAMES["test_labels"]).write_bytes(gzip.compress(b"PK\x03\x04 not idx"))
    with pytest.raises(
        DataError, match=r"t10k-labels-idx1-ubyte.gz: not an IDX file .*; replace it"
    ):
        load_dataset("mnist", {"path": str(folder)})


def test_count_mismatch(tmp_path):
    folder = _folder(tmp_path)
    write_idx(folder / MNIST_NAMES["test_labels"], np.zeros(3, np.uint8))
    with pytest.raises(DataError, match=r"has 4 images but .* has 3 labels"):
        load_dataset("mnist", {"path": str(folder)})


def test_label_out_of_range(tmp_path):
    folder = _folder(tmp_path)
    write_idx(folder / MNIST_NAMES["test_labels"], np.array([0, 1, 2, 10], np.uint8))
    with pytest.raises(DataError, match=r"labels must lie in \[0, 10\), found 0..10"):
        load_dataset("mnist", {"path": str(folder)})


def test_missing_file_and_folder(tmp_path):
    folder = _folder(tmp_path)
    (folder / MNIST_NAMES["test_images"]).unlink()
    with pytest.raises(
        DataError, match=f"dataset.path='{folder}': missing t10k-images-idx3-ubyte.gz"
    ):
        load_dataset("mnist", {"path": str(folder)})
    with pytest.raises(
        DataError, match=r"folder not found; allowed is a folder .*; set dataset.path to the folder"
    ):
        load_dataset("mnist", {"path": str(tmp_path / "nope")})


def test_fmnist_search_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(idx, "FMNIST_SEARCH", (str(tmp_path / "a"), str(tmp_path / "b")))
    with pytest.raises(DataError, match=r"apt-get install dataset-fashion-mnist") as err:
        load_dataset("fmnist", {})
    assert str(tmp_path / "a") in str(err.value) and "\n" not in str(err.value)
    write_mnist_folder(tmp_path / "b", mnist_like())
    assert len(load_dataset("fmnist", {}).train) == 12  # found in the second place


@pytest.mark.skipif(
    not FMNIST_DEBIAN.is_dir(),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist():
    d = load_dataset("fmnist", {})
    # Xiao et al. 2017: 60,000 train / 10,000 test 28x28 images, 10 balanced classes.
    assert d.train.x.shape == (60_000, 28, 28) and d.test.x.shape == (10_000, 28, 28)
    np.testing.assert_array_equal(np.bincount(d.train.y), [6_000] * 10)
    np.testing.assert_array_equal(np.bincount(d.test.y), [1_000] * 10)
    assert d.train.x.min() == 0.0 and d.train.x.max() == 1.0
    # Background is 0: the border pixels are (almost) all background.
    assert np.median(d.train.x[:, 0, :]) == 0.0
