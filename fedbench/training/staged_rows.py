"""Client state rows staged in files for a round's shards, so they never cross TFF.

A sharded process keeping state per client (SCAFFOLD's ``c_i``) does not send its
clients' rows to the TFF worker as values, nor receive their new rows back: values are
copied at every layer of TFF's executor stack and held there, and a round's rows are
model-sized (20 rows of ``cnn_emnist`` are 96 MB). Instead, before the round, the rows
of the round's clients are written
to a staging folder, one file per client (``<client>.in``); each shard reads its
clients' rows there inside its TensorFlow computation, one client after another, and
writes each one's new row beside it (``<client>.out``). The round's result then names
only how many rows each shard wrote. The round's new rows stay in their files
(:class:`StagedRows`) until the state that holds them is used, as the rows of a round
always did (:mod:`fedbench.training.client_table`).

A file holds one row, its leaves flattened and concatenated, as a serialized
``TensorProto`` (``tf.io.serialize_tensor``'s format, which ``tf.io.parse_tensor``
reads): a row of ``d`` values and a header of at most
:data:`fedbench.training.client_table.STAGED_HEADER_BYTES`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

from fedbench.training.client_table import Row

#: The suffixes of a client's staged row: its row before the round and after it.
BEFORE, AFTER = ".in", ".out"


def staged_path(folder: str | Path, client: int, suffix: str) -> Path:
    """The file of ``client``'s row in ``folder``: before the round or after it (``suffix``)."""
    return Path(folder) / f"{client}{suffix}"


def write_row(path: str | Path, row: Sequence[np.ndarray], dtype: np.dtype) -> None:
    """Write one row (a sequence of arrays) to ``path``, flattened, as ``dtype``."""
    flat = np.concatenate([np.asarray(leaf, dtype).reshape(-1) for leaf in row])
    Path(path).write_bytes(tf.make_tensor_proto(flat).SerializeToString())


def read_row(path: str | Path, shapes: Sequence[tuple[int, ...]], dtype: np.dtype) -> Row:
    """Read one row from ``path``: its leaves, shaped ``shapes``.

    Raises
    ------
    ValueError
        The file does not hold a row of those shapes and dtype.

    """
    proto = tensor_pb2.TensorProto.FromString(Path(path).read_bytes())
    flat = tf.make_ndarray(proto)
    sizes = [int(np.prod(shape, dtype=np.int64)) for shape in shapes]
    if flat.dtype != dtype or flat.shape != (sum(sizes),):
        raise ValueError(
            f"{path} holds {flat.dtype} {flat.shape}, not a row of {sum(sizes)} {np.dtype(dtype)}"
        )
    leaves, start = [], 0
    for shape, size in zip(shapes, sizes, strict=True):
        leaves.append(flat[start : start + size].reshape(shape))
        start += size
    return tuple(leaves)


class StagedRows(Mapping[int, Row]):
    """A round's new rows, read from their staged files when asked for (one at a time).

    Parameters
    ----------
    folder
        The round's staging folder.
    clients
        The clients whose rows the round wrote.
    shapes, dtype
        The leaves of a row.

    """

    def __init__(
        self,
        folder: str | Path,
        clients: Sequence[int],
        shapes: Sequence[tuple[int, ...]],
        dtype: np.dtype,
    ) -> None:
        self.folder = Path(folder)
        self._clients = tuple(sorted(int(k) for k in clients))
        self._shapes, self._dtype = [tuple(s) for s in shapes], np.dtype(dtype)

    def __getitem__(self, client: int) -> Row:
        if client not in self._clients:
            raise KeyError(client)
        return read_row(staged_path(self.folder, client, AFTER), self._shapes, self._dtype)

    def __iter__(self) -> Iterator[int]:
        return iter(self._clients)

    def __len__(self) -> int:
        return len(self._clients)

    def __contains__(self, client: object) -> bool:
        return client in self._clients


def _path_tensor(folder: tf.Tensor, client: tf.Tensor, suffix: str) -> tf.Tensor:
    return tf.strings.join([folder, "/", tf.strings.as_string(client), suffix])


def read_staged(
    folder: tf.Tensor, client: tf.Tensor, specs: Sequence[tf.TensorSpec]
) -> list[tf.Tensor]:
    """Inside a TF computation: ``client``'s row before the round, its leaves shaped ``specs``."""
    dtype = specs[0].dtype
    flat = tf.io.parse_tensor(tf.io.read_file(_path_tensor(folder, client, BEFORE)), dtype)
    sizes = [int(np.prod(spec.shape, dtype=np.int64)) for spec in specs]
    parts = tf.split(tf.reshape(flat, [sum(sizes)]), sizes)
    return [tf.reshape(part, spec.shape) for part, spec in zip(parts, specs, strict=True)]


def write_staged(folder: tf.Tensor, client: tf.Tensor, row: Sequence[tf.Tensor]) -> tf.Operation:
    """Inside a TF computation: write ``client``'s new row (the op that writes it)."""
    flat = tf.concat([tf.reshape(leaf, [-1]) for leaf in row], axis=0)
    return tf.io.write_file(_path_tensor(folder, client, AFTER), tf.io.serialize_tensor(flat))
