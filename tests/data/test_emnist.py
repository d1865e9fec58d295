from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from fedbench.data import load_dataset
from fedbench.data.emnist import FILE_NAME
from fedbench.errors import ConfigError, DataError
from tests.data.builders import glyph_f, write_tff_sql


def _stored(images_u8: np.ndarray) -> np.ndarray:
    """TFF's EMNIST convention: float32, 1.0 = background."""
    return 1.0 - images_u8.astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def tff_cache(tmp_path_factory):
    """An emnist_all.sqlite written by TFF's own writer with the split names TFF's emnist uses.

    Writers w0, w1, w2 in the digits splits (labels 0..9); w0..w3 in the all-class
    splits (labels up to 61). Train sizes 3, 2, 1 (+ 2 for w3); one test example each.
    The first train example of w1 is the "F" glyph.
    """
    folder = tmp_path_factory.mktemp("tff")
    rng = np.random.default_rng(0)

    def client(n, high):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        return x, rng.integers(0, high, size=n)

    train = {"w0": client(3, 10), "w1": client(2, 10), "w2": client(1, 10)}
    train["w1"][0][0] = glyph_f()
    test = {w: client(1, 10) for w in train}
    all_train = {**train, "w3": (client(2, 62)[0], np.array([61, 36]))}
    all_test = {**test, "w3": client(1, 62)}
    as_stored = lambda d: {w: (_stored(x), y) for w, (x, y) in d.items()}  # noqa: E731
    write_tff_sql(
        folder / FILE_NAME,
        {
            "digits_only_train": as_stored(train),
            "digits_only_test": as_stored(test),
            "all_train": as_stored(all_train),
            "all_test": as_stored(all_test),
        },
    )
    return folder, train, test


def test_digits_only(tff_cache):
    folder, train, test = tff_cache
    d = load_dataset("emnist", {"cache_dir": str(folder), "only_digits": True})
    assert d.writer_names == ("w0", "w1", "w2") and d.num_classes == 10
    assert (len(d.train), len(d.test)) == (3 + 2 + 1, 3)
    # The writer index is shared: each writer's test example carries its index.
    np.testing.assert_array_equal(np.bincount(d.train.writers), [3, 2, 1])
    np.testing.assert_array_equal(np.bincount(d.test.writers), [1, 1, 1])
    for k, w in enumerate(d.writer_names):
        np.testing.assert_array_equal(d.train.y[d.train.writers == k], train[w][1])
        np.testing.assert_array_equal(d.test.y[d.test.writers == k], test[w][1])
    # Inverted back: the glyph's ink is 1.0, upright.
    f = d.train.x[d.train.writers == 1][0]
    np.testing.assert_array_equal(f, glyph_f().astype(np.float32) / np.float32(255))
    assert f[5, 18] == 1.0 and f[20, 18] == 0.0


def test_all_classes(tff_cache):
    folder, _, _ = tff_cache
    d = load_dataset("emnist", {"cache_dir": str(folder), "only_digits": False})
    assert d.writer_names == ("w0", "w1", "w2", "w3") and d.num_classes == 62
    assert (len(d.train), len(d.test)) == (8, 4)
    np.testing.assert_array_equal(d.train.y[d.train.writers == 3], [61, 36])
    assert 0.0 <= d.train.x.min() and d.train.x.max() <= 1.0


def test_missing_file_says_where_and_how(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("emnist", {"cache_dir": str(tmp_path)})
    message = str(err.value)
    assert "\n" not in message
    assert f"{FILE_NAME} not found" in message and f"in {tmp_path}" in message
    assert f"tff.simulation.datasets.emnist.load_data(cache_dir='{tmp_path}')" in message
    assert "dataset.download=true" in message


def test_download_true_lets_tff_fetch_a_missing_file(tff_cache, tmp_path, monkeypatch):
    # TFF's load_data, standing in for the network: it leaves emnist_all.sqlite in cache_dir.
    import shutil

    import tensorflow_federated as tff

    source, train, _ = tff_cache
    calls = []

    def fetch(only_digits, cache_dir):
        calls.append((only_digits, cache_dir))
        shutil.copy(source / FILE_NAME, cache_dir)

    monkeypatch.setattr(tff.simulation.datasets.emnist, "load_data", fetch)
    folder = tmp_path / "fresh"
    d = load_dataset("emnist", {"cache_dir": str(folder), "download": True})
    # TFF downloads into a temporary folder inside cache_dir; the file is moved out whole.
    assert len(calls) == 1 and calls[0][0] is True and Path(calls[0][1]).parent == folder
    assert [p.name for p in folder.iterdir()] == [FILE_NAME]
    assert (folder / FILE_NAME).is_file() and len(d.train) == sum(len(y) for _, y in train.values())
    load_dataset("emnist", {"cache_dir": str(folder), "download": True})
    assert len(calls) == 1  # present now: not fetched again


def test_a_failed_download_is_one_line_naming_the_folder(tmp_path, monkeypatch):
    import urllib.error

    import tensorflow_federated as tff

    def offline(only_digits, cache_dir):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tff.simulation.datasets.emnist, "load_data", offline)
    with pytest.raises(DataError) as err:
        load_dataset("emnist", {"cache_dir": str(tmp_path), "download": True})
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"dataset.download=true: TFF could not download {FILE_NAME} into")
    assert "URLError" in message and "place the file there yourself" in message


def test_an_interrupted_download_leaves_no_file_that_looks_complete(tmp_path, monkeypatch):
    # TFF decompresses straight into <cache_dir>/emnist_all.sqlite: a download cut off
    # halfway must not leave that truncated file in dataset.cache_dir.
    import tensorflow_federated as tff

    def cut_off(only_digits, cache_dir):
        (Path(cache_dir) / FILE_NAME).write_bytes(b"SQLite format 3\x00 and then nothing")
        raise ConnectionResetError("[Errno 104] Connection reset by peer")

    monkeypatch.setattr(tff.simulation.datasets.emnist, "load_data", cut_off)
    with pytest.raises(DataError, match="ConnectionResetError"):
        load_dataset("emnist", {"cache_dir": str(tmp_path), "download": True})
    assert list(tmp_path.iterdir()) == []


def test_bad_options():
    with pytest.raises(ConfigError, match=r"dataset.only_digits='yes' is invalid"):
        load_dataset("emnist", {"only_digits": "yes"})
    with pytest.raises(ConfigError, match=r"dataset.download='no' is invalid"):
        load_dataset("emnist", {"download": "no"})


def test_not_sqlite_names_the_file(tmp_path):
    (tmp_path / FILE_NAME).write_bytes(b"\x00" * 64)
    with pytest.raises(DataError, match=f"{FILE_NAME}: not an SQLite database"):
        load_dataset("emnist", {"cache_dir": str(tmp_path)})


def test_truncated_sqlite_names_the_file(tff_cache, tmp_path):
    data = (tff_cache[0] / FILE_NAME).read_bytes()
    (tmp_path / FILE_NAME).write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match=f"{FILE_NAME}: .*(truncated or corrupt|not TFF's)") as err:
        load_dataset("emnist", {"cache_dir": str(tmp_path)})
    assert "\n" not in str(err.value)


def test_sqlite_of_another_kind(tmp_path):
    con = sqlite3.connect(tmp_path / FILE_NAME)
    con.execute("CREATE TABLE t (a INTEGER)")
    con.close()
    with pytest.raises(DataError, match=r"not TFF's SqlClientData format: table 'examples'"):
        load_dataset("emnist", {"cache_dir": str(tmp_path)})


def test_wrong_split_names_and_shapes(tmp_path):
    # Written by TFF's writer, but not with EMNIST's split names / pixel shape.
    x = np.zeros((2, 8, 8), np.float32)
    write_tff_sql(tmp_path / FILE_NAME, {"train": {"a": (x, [0, 1])}})
    with pytest.raises(
        DataError,
        match=r"no examples with split_name='digits_only_train' \(the file has \['train'\]\)",
    ):
        load_dataset("emnist", {"cache_dir": str(tmp_path)})
    write_tff_sql(tmp_path / FILE_NAME, {"digits_only_train": {"a": (x, [0, 1])}})
    with pytest.raises(
        DataError,
        match=r"split 'digits_only_train' has examples that are not \{pixels: float32\[28, 28\]",
    ):
        load_dataset("emnist", {"cache_dir": str(tmp_path)})
