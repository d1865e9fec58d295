"""Build small data files in every real source format, for the data tests."""

from __future__ import annotations

import collections
import gzip
import json
import sqlite3
from pathlib import Path

import numpy as np

#: IDX type code per numpy dtype (big-endian on disk).
IDX_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(">i2"): 0x0B,
    np.dtype(">i4"): 0x0C,
    np.dtype(">f4"): 0x0D,
    np.dtype(">f8"): 0x0E,
}


def glyph_f(size: int = 28) -> np.ndarray:
    """An upright "F" (uint8, 255 = ink, a grey 128 serif): no symmetry survives a flip or turn."""
    g = np.zeros((size, size), dtype=np.uint8)
    g[4:24, 6:9] = 255  # stem, left
    g[4:7, 6:21] = 255  # top bar, to the right
    g[12:14, 6:16] = 255  # middle bar, shorter
    g[23, 5:10] = 128  # grey foot
    return g


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialize ``array`` in the IDX format (magic, dims big-endian, data big-endian)."""
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    code = IDX_CODES[np.dtype(big.dtype)]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(big).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    data = idx_bytes(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def mnist_like(n_train: int = 12, n_test: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """uint8 images: example 0 of each split is :func:`glyph_f`, the rest noise; labels 0..9."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        x[0] = glyph_f()
        out[f"{split}_images"] = x
        out[f"{split}_labels"] = (np.arange(n) % 10).astype(np.uint8)
    return out


MNIST_NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def write_mnist_folder(folder: Path, arrays: dict[str, np.ndarray], names=MNIST_NAMES) -> Path:
    for role, name in names.items():
        write_idx(folder / name, arrays[role])
    return folder


def leaf_doc(users: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """LEAF JSON for ``{user: (images, 0 = background; labels)}``: x flat, 1.0 = background."""
    return {
        "users": list(users),
        "num_samples": [len(y) for _, y in users.values()],
        "user_data": {
            u: {
                "x": (1.0 - x.astype(np.float64)).reshape(len(x), -1).tolist(),
                "y": [int(v) for v in y],
            }
            for u, (x, y) in users.items()
        },
    }


def write_leaf(path: Path, users: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(leaf_doc(users)))
    return path


def write_tff_sql(path: Path, splits: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]) -> Path:
    """Write ``{split_name: {client: (pixels as stored, labels)}}`` with TFF's own writer.

    ``save_to_sql_client_data`` puts each client id in one split per file, so each
    split goes to its own file and the rows are merged, as TFF's emnist_all.sqlite
    holds every writer in a train and a test split.
    """
    import tensorflow as tf
    import tensorflow_federated as tff

    files = []
    for split_name, clients in splits.items():

        def dataset_fn(cid, clients=clients):
            x, y = clients[cid]
            return tf.data.Dataset.from_tensor_slices(
                collections.OrderedDict(
                    label=np.asarray(y, np.int32), pixels=np.asarray(x, np.float32)
                )
            )

        f = path.with_name(f"{path.stem}.{split_name}.part")
        tff.simulation.datasets.save_to_sql_client_data(
            list(clients),
            dataset_fn,
            str(f),
            allow_overwrite=True,
            split_names_by_client_id=dict.fromkeys(clients, split_name),
        )
        files.append(f)
    con = sqlite3.connect(files[0])
    for other in files[1:]:
        con.execute("ATTACH DATABASE ? AS o", (str(other),))
        con.execute("INSERT INTO examples SELECT * FROM o.examples")
        con.execute("INSERT INTO client_metadata SELECT * FROM o.client_metadata")
        con.commit()
        con.execute("DETACH DATABASE o")
        other.unlink()
    con.close()
    files[0].replace(path)
    return path
