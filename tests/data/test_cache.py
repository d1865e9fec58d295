from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from fedbench.data import cache, load_dataset
from fedbench.data import leaf as leaf_module
from tests.data.builders import mnist_like, write_leaf, write_mnist_folder


def _leaf(root):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(3, 28, 28)) / 255.0
    write_leaf(root / "train" / "t.json", {"w": (x, [1, 2, 3])})
    write_leaf(root / "test" / "t.json", {"w": (x[:1], [4])})
    return root


def _no_parsing(monkeypatch):
    def fail(*_a, **_k):
        raise AssertionError("parsed although cached")

    monkeypatch.setattr(leaf_module, "_read_split", fail)


def test_disk_cache_is_reused_bit_for_bit(tmp_path, private_cache, monkeypatch):
    opts = {"path": str(_leaf(tmp_path / "data"))}
    first = load_dataset("femnist_leaf", opts)
    files = list(private_cache.glob("femnist_leaf-*.npz"))
    assert len(files) == 1
    cache.clear_memo()
    _no_parsing(monkeypatch)
    again = load_dataset("femnist_leaf", opts)
    assert again is not first
    for a, b in ((first.train, again.train), (first.test, again.test)):
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.y, b.y)
        np.testing.assert_array_equal(a.writers, b.writers)
    assert again.writer_names == first.writer_names and again.num_classes == 62
    # Pixels on the 8-bit grid are stored as uint8 (1 byte instead of 4).
    with np.load(files[0]) as z:
        assert z["train_x_u8"].dtype == np.uint8 and "train_x" not in z.files


def test_memo_returns_the_same_read_only_object(tmp_path, monkeypatch):
    opts = {"path": str(_leaf(tmp_path / "data"))}
    first = load_dataset("femnist_leaf", opts)
    _no_parsing(monkeypatch)
    assert load_dataset("femnist_leaf", opts) is first
    with pytest.raises(ValueError, match=r"read-only"):
        first.train.x[0, 0, 0] = 1.0


def test_changed_source_is_parsed_again(tmp_path, private_cache):
    root = _leaf(tmp_path / "data")
    load_dataset("femnist_leaf", {"path": str(root)})
    write_leaf(root / "test" / "t.json", {"w": (np.zeros((2, 28, 28)), [5, 6])})
    st = (root / "test" / "t.json").stat()
    os.utime(root / "test" / "t.json", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    d = load_dataset("femnist_leaf", {"path": str(root)})
    np.testing.assert_array_equal(d.test.y, [5, 6])
    assert len(list(private_cache.glob("femnist_leaf-*.npz"))) == 2


def test_a_source_replaced_with_same_size_and_mtime_is_parsed_again(tmp_path, private_cache):
    # cp -p / rsync -a / tar x keep size and mtime; the new inode and ctime give it away.
    root = _leaf(tmp_path / "data")
    target = root / "test" / "t.json"
    load_dataset("femnist_leaf", {"path": str(root)})
    before = target.stat()
    replacement = tmp_path / "t.json"
    text = target.read_text()
    assert text.count('"y": [4]') == 1
    replacement.write_text(text.replace('"y": [4]', '"y": [7]'))  # same size, other label
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(replacement, target)
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (
        before.st_size,
        before.st_mtime_ns,
    )
    d = load_dataset("femnist_leaf", {"path": str(root)})
    np.testing.assert_array_equal(d.test.y, [7])


def test_unreadable_cache_is_rebuilt_with_a_warning(tmp_path, private_cache):
    opts = {"path": str(_leaf(tmp_path / "data"))}
    load_dataset("femnist_leaf", opts)
    (npz,) = private_cache.glob("*.npz")
    npz.write_bytes(b"garbage")
    cache.clear_memo()
    with pytest.warns(UserWarning, match=r"ignoring the unreadable dataset cache"):
        d = load_dataset("femnist_leaf", opts)
    assert len(d.train) == 3
    with np.load(npz) as z:  # rewritten
        assert "train_y" in z.files


def test_unwritable_cache_dir_warns_and_loads(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(cache.ENV_VAR, str(blocker / "sub"))  # a folder under a file: cannot exist
    write_mnist_folder(tmp_path / "m", mnist_like())
    with pytest.warns(UserWarning, match=r"could not write the dataset cache"):
        d = load_dataset("mnist", {"path": str(tmp_path / "m")})
    assert len(d.train) == 12


def test_non_grid_pixels_stored_as_float(tmp_path, private_cache, monkeypatch):
    root = tmp_path / "data"
    x = np.random.default_rng(1).random((2, 28, 28))  # not on the k/255 grid
    write_leaf(root / "train" / "t.json", {"w": (x, [1, 2])})
    write_leaf(root / "test" / "t.json", {"w": (x, [1, 2])})
    first = load_dataset("femnist_leaf", {"path": str(root)})
    cache.clear_memo()
    _no_parsing(monkeypatch)
    again = load_dataset("femnist_leaf", {"path": str(root)})
    np.testing.assert_array_equal(again.train.x, first.train.x)
    np.testing.assert_allclose(first.train.x, x, atol=1e-7)
    (npz,) = private_cache.glob("*.npz")
    with np.load(npz) as z:
        assert z["train_x"].dtype == np.float32


def test_default_dir_and_env(monkeypatch):
    monkeypatch.delenv(cache.ENV_VAR)
    assert str(cache.cache_dir()).endswith(".cache/fedbench")
    monkeypatch.setenv(cache.ENV_VAR, "~/x")
    assert cache.cache_dir() == Path.home() / "x"


def test_no_temp_files_left(tmp_path, private_cache):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_dataset("femnist_leaf", {"path": str(_leaf(tmp_path / "data"))})
    assert [p.name for p in private_cache.iterdir() if p.suffix != ".npz"] == []
