"""Read TensorFlow Federated's ``SqlClientData`` files directly (sqlite3 + ``tf.io.parse_example``).

The format is what ``tff.simulation.datasets.save_to_sql_client_data`` writes and
``SqlClientData`` reads (TFF 0.87, ``sql_client_data.py``): a table
``examples(split_name, client_id, serialized_example_proto)`` with one serialized
``tf.train.Example`` per row, and ``client_metadata(client_id, split_name,
num_examples)``. Floating features are ``float_list``s, integer ones ``int64_list``s.
Reading it here avoids TFF's ``ClientData`` (one ``tf.data`` pipeline per client)
and any TFF computation: rows are scanned once and parsed in large batches.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fedbench.errors import DataError, bad_file

_SQLITE_HEADER = b"SQLite format 3\x00"
_REQUIRED = {
    "examples": {"split_name", "client_id", "serialized_example_proto"},
    "client_metadata": {"client_id", "split_name", "num_examples"},
}
_BATCH = 8192


def connect(path: Path) -> sqlite3.Connection:
    """Open ``path`` read-only after checking it is an SQLite file with TFF's two tables.

    Raises
    ------
    DataError
        Missing file, not SQLite, or tables/columns missing.

    """
    try:
        with path.open("rb") as f:
            header = f.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({err}); check its permissions") from None
    if header != _SQLITE_HEADER:
        raise DataError(
            bad_file(
                path,
                "not an SQLite database (TFF's SqlClientData format); "
                "the file is corrupt or of another kind",
            )
        )
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        for table, needed in _REQUIRED.items():
            columns = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
            if not needed <= columns:
                con.close()
                have = f"columns {sorted(columns)}" if columns else "no such table"
                raise DataError(
                    bad_file(
                        path,
                        f"not TFF's SqlClientData format: table {table!r} needs columns "
                        f"{sorted(needed)} ({have})",
                    )
                )
    except sqlite3.DatabaseError as err:
        raise DataError(
            bad_file(path, f"unreadable SQLite database ({err}); it is truncated or corrupt")
        ) from None
    return con


def read_split(
    path: Path,
    split_name: str,
    features: dict[str, tuple[int, ...]],
    convert: Callable[[np.ndarray], np.ndarray] | None = None,
    label: str = "label",
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read every example of one split.

    Parameters
    ----------
    path
        The SQLite file.
    split_name
        Value of the ``split_name`` column, e.g. ``"digits_only_train"``.
    features
        ``{feature name: shape}`` of the one float feature, e.g. ``{"pixels": (28, 28)}``.
    convert
        Applied to each parsed float batch (e.g. inversion to 0 = background);
        must return float32 of the same shape.
    label
        Name of the integer label feature.

    Returns
    -------
    tuple
        ``(client id per example, features float32 (n, *shape), labels int64 (n,))``,
        in row order.

    Raises
    ------
    DataError
        The split is empty or absent, or an example does not parse with ``features``.

    """
    import tensorflow as tf  # slow import: only when parsing

    ((key, shape),) = features.items()
    spec = {
        key: tf.io.FixedLenFeature(shape=shape, dtype=tf.float32),
        label: tf.io.FixedLenFeature(shape=(), dtype=tf.int64),
    }
    con = connect(path)
    try:
        (n,) = con.execute(
            "SELECT COUNT(*) FROM examples WHERE split_name = ?", (split_name,)
        ).fetchone()
        if n == 0:
            present = sorted(r[0] for r in con.execute("SELECT DISTINCT split_name FROM examples"))
            raise DataError(
                bad_file(
                    path, f"no examples with split_name={split_name!r} (the file has {present})"
                )
            )
        ids: list[str] = []
        x = np.empty((n, *shape), dtype=np.float32)
        y = np.empty(n, dtype=np.int64)
        cursor = con.execute(
            "SELECT client_id, serialized_example_proto FROM examples "
            "WHERE split_name = ? ORDER BY rowid",
            (split_name,),
        )
        start = 0
        while rows := cursor.fetchmany(_BATCH):
            batch_ids, protos = zip(*rows, strict=True)
            try:
                parsed = tf.io.parse_example(tf.constant(protos, dtype=tf.string), spec)
            except (tf.errors.InvalidArgumentError, ValueError) as err:
                first = str(err).strip().splitlines()[0][:200]
                raise DataError(
                    bad_file(
                        path,
                        f"split {split_name!r} has examples that are not "
                        f"{{{key}: float32{list(shape)}, {label}: int}} ({first})",
                    )
                ) from None
            values = parsed[key].numpy()
            stop = start + len(rows)
            x[start:stop] = values if convert is None else convert(values)
            y[start:stop] = parsed[label].numpy()
            ids.extend(batch_ids)
            start = stop
    except sqlite3.DatabaseError as err:
        raise DataError(
            bad_file(path, f"unreadable SQLite database ({err}); it is truncated or corrupt")
        ) from None
    finally:
        con.close()
    return ids, x, y
