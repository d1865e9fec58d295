"""Write a partitioned dataset in TensorFlow Federated's SqlClientData format or LEAF's JSON.

Both exporters take the dataset, one index array per client into ``dataset.train``
(and optionally into ``dataset.test``) and an output folder, and return what they
wrote. Client ids are ``client_ids`` when given; else the writer name when every
client holds exactly one writer and no two clients share one (a natural
partition); else ``client_00000``, ``client_00001``, ...

Pixels go back to the sources' convention, **1.0 = background** (the inverse of
fedbench's), as TFF's federated EMNIST and LEAF's FEMNIST store them. Values on
the 8-bit grid are written as exactly ``(255 - k) / 255``. Tabular data
(``synthetic``) is written as is, under the feature name ``x``.

``test_parts=None`` writes no test data: ``tff_sql`` has no test split then, and
``leaf_json`` lists every client in ``test/`` with 0 samples (LEAF's layout
always has both folders). For natural data, pass each client's writers' own test
examples (``fedbench.training.client_data.writer_test_parts``).
"""

from __future__ import annotations

import collections
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fedbench.atomic import give_default_mode, write_atomic
from fedbench.data._common import unit_from_u8
from fedbench.data.base import FederatedDataset, Split

#: ``split_name`` values of the two splits in an exported SQLite file.
SQL_SPLIT_NAMES = ("train", "test")


def client_names(
    dataset: FederatedDataset, train_parts: list[np.ndarray], client_ids: list[str] | None = None
) -> list[str]:
    """Return the id of each client (see the module docstring for the rule).

    Raises
    ------
    ValueError
        ``client_ids`` has the wrong length, duplicates or empty ids.

    """
    if client_ids is not None:
        ids = [str(c) for c in client_ids]
        if len(ids) != len(train_parts) or len(set(ids)) != len(ids) or not all(ids):
            raise ValueError(
                f"client_ids must be {len(train_parts)} distinct non-empty ids, got {len(ids)} "
                f"({len(set(ids))} distinct)"
            )
        return ids
    if dataset.has_writers and dataset.writer_names is not None:
        writers = [np.unique(dataset.train.writers[p]) for p in train_parts]
        if all(len(w) == 1 for w in writers):
            ids = [dataset.writer_names[int(w[0])] for w in writers]
            if len(set(ids)) == len(ids):
                return ids
    return [f"client_{i:05d}" for i in range(len(train_parts))]


def _check_parts(split: Split, parts: list[np.ndarray], what: str, count: int) -> list[np.ndarray]:
    if len(parts) != count:
        raise ValueError(f"{what} has {len(parts)} clients, expected {count}")
    out = []
    for i, p in enumerate(parts):
        p = np.asarray(p, dtype=np.int64)
        if p.ndim != 1 or (p.size and (p.min() < 0 or p.max() >= len(split))):
            raise ValueError(f"{what}[{i}] must be a 1-D index array into {len(split)} examples")
        out.append(p)
    return out


def _source_features(x: np.ndarray, image: bool) -> np.ndarray:
    """Features as the sources store them: images inverted (1.0 = background), exact on the grid."""
    if not image:
        return x.astype(np.float32)
    q = np.rint(x * 255.0).astype(np.int64)
    if x.size and np.array_equal(unit_from_u8(np.clip(q, 0, 255).astype(np.uint8)), x):
        return unit_from_u8((255 - q).astype(np.uint8))
    return (1.0 - x).astype(np.float32)


def _splits(
    dataset: FederatedDataset, train_parts: list[np.ndarray], test_parts: list[np.ndarray] | None
) -> list[tuple[int, Split, list[np.ndarray] | None]]:
    """``(split index, split, parts)`` for train and test, checked (``None``: no test data)."""
    train = _check_parts(dataset.train, train_parts, "train_parts", len(train_parts))
    test = None
    if test_parts is not None:
        test = _check_parts(dataset.test, test_parts, "test_parts", len(train_parts))
    return [(0, dataset.train, train), (1, dataset.test, test)]


def export_tff_sql(
    dataset: FederatedDataset,
    train_parts: list[np.ndarray],
    test_parts: list[np.ndarray] | None,
    out_dir: Path,
    *,
    client_ids: list[str] | None = None,
    split_names: tuple[str, str] = SQL_SPLIT_NAMES,
) -> Path:
    """Write ``<out_dir>/<dataset.name>.sqlite`` with TFF's own ``save_to_sql_client_data``.

    Each client is one ``client_id`` in split ``split_names[0]`` (train) and,
    with ``test_parts``, in ``split_names[1]`` (test). Elements are
    ``OrderedDict(label=int32, pixels=float32[H, W])`` with 1.0 = background, as in
    TFF's federated EMNIST (``OrderedDict(label, x=float32[d])`` for tabular data).
    Read it back with ``tff.simulation.datasets.load_and_parse_sql_client_data(path,
    element_spec, split_name)``; with ``split_names=("digits_only_train",
    "digits_only_test")`` and 28x28 images it is also a valid ``emnist_all.sqlite``.

    ``save_to_sql_client_data`` gives each client id one split per file, so each
    split is written to its own file and the rows are then merged with SQLite.

    Parameters
    ----------
    dataset
        The dataset the parts index.
    train_parts, test_parts
        Index arrays into ``dataset.train`` / ``dataset.test``, one per client.
    out_dir
        Output folder (created); the file is written to a temporary name, then moved.
    client_ids
        Optional client ids, one per part.
    split_names
        ``split_name`` of the train and test rows.

    Returns
    -------
    pathlib.Path
        The SQLite file.

    """
    import tensorflow as tf  # slow imports: only when exporting
    import tensorflow_federated as tff

    splits = _splits(dataset, train_parts, test_parts)
    ids = client_names(dataset, splits[0][2], client_ids)
    image = dataset.is_image
    feature = "pixels" if image else "x"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"{dataset.name}.sqlite"
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".tff_sql.") as tmp:
        files = []
        for which, split, parts in splits:
            if parts is None:
                continue
            by_id = dict(zip(ids, parts, strict=True))

            def dataset_fn(cid: str, split: Split = split, by_id: dict = by_id) -> tf.data.Dataset:
                p = by_id[cid]
                return tf.data.Dataset.from_tensor_slices(
                    collections.OrderedDict(
                        [
                            ("label", split.y[p].astype(np.int32)),
                            (feature, _source_features(split.x[p], image)),
                        ]
                    )
                )

            db = Path(tmp) / f"{split_names[which]}.sqlite"
            tff.simulation.datasets.save_to_sql_client_data(
                ids,
                dataset_fn,
                str(db),
                split_names_by_client_id=dict.fromkeys(ids, split_names[which]),
            )
            files.append(db)
        _merge_sqlite(files[0], files[1:])
        give_default_mode(files[0])
        os.replace(files[0], final)
    return final


def _merge_sqlite(into: Path, others: list[Path]) -> None:
    """Append the rows of ``others``' two tables to ``into``'s (same schema, TFF's writer)."""
    con = sqlite3.connect(into)
    try:
        for other in others:
            con.execute("ATTACH DATABASE ? AS other", (str(other),))
            for table in ("examples", "client_metadata"):
                con.execute(f"INSERT INTO main.{table} SELECT * FROM other.{table}")
            con.commit()
            con.execute("DETACH DATABASE other")
    finally:
        con.close()


def export_leaf_json(
    dataset: FederatedDataset,
    train_parts: list[np.ndarray],
    test_parts: list[np.ndarray] | None,
    out_dir: Path,
    *,
    client_ids: list[str] | None = None,
) -> Path:
    """Write LEAF's layout: ``<out_dir>/{train,test}/<dataset.name>_{train,test}.json``.

    Each file is ``{"users": [...], "num_samples": [...], "user_data": {user: {"x":
    [[flattened features]], "y": [int]}}}``; images are flattened row by row with
    1.0 = background, like LEAF's FEMNIST. ``dataset=femnist_leaf
    dataset.path=<out_dir>`` reads a 28x28 export back.

    Parameters
    ----------
    dataset
        The dataset the parts index.
    train_parts, test_parts
        Index arrays into ``dataset.train`` / ``dataset.test``, one per client.
    out_dir
        Output folder (created); each file is written to a temporary name, then moved.
    client_ids
        Optional client ids, one per part.

    Returns
    -------
    pathlib.Path
        ``out_dir``, the folder holding ``train/`` and ``test/``.

    """
    splits = _splits(dataset, train_parts, test_parts)
    ids = client_names(dataset, splits[0][2], client_ids)
    width = int(np.prod(dataset.example_shape))
    out_dir = Path(out_dir)
    for which, split, parts in splits:
        name = ("train", "test")[which]
        doc: dict = {"users": ids, "num_samples": [], "user_data": {}}
        for i, cid in enumerate(ids):
            p = np.zeros(0, np.int64) if parts is None else parts[i]
            x = _source_features(split.x[p], dataset.is_image).reshape(len(p), width)
            doc["num_samples"].append(len(p))
            doc["user_data"][cid] = {"x": _float_lists(x), "y": split.y[p].tolist()}
        write_atomic(
            out_dir / name / f"{dataset.name}_{name}.json",
            lambda f, doc=doc: json.dump(doc, f),
            mode="w",
        )
    return out_dir


def _float_lists(x: np.ndarray) -> list[list[float]]:
    """Rows as Python floats; values on the 8-bit grid as the float64 ``k / 255`` LEAF writes."""
    q = np.rint(x * 255.0)
    if x.size and np.array_equal(unit_from_u8(np.clip(q, 0, 255).astype(np.uint8)), x):
        return (q.astype(np.float64) / 255.0).tolist()
    return x.astype(np.float64).tolist()


#: Export format name (the ``export=`` config value) -> exporter.
EXPORTERS: dict[str, Callable[..., Path]] = {
    "tff_sql": export_tff_sql,
    "leaf_json": export_leaf_json,
}
