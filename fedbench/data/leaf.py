"""FEMNIST in LEAF's JSON layout (Caldas et al. 2018, "LEAF: A Benchmark for Federated Settings").

A LEAF ``data/`` folder holds ``train/*.json`` and ``test/*.json``; every file is
``{"users": [...], "num_samples": [...], "user_data": {user: {"x": [[784 floats]],
"y": [int]}}}``. Pixels are ``k / 255`` with **1.0 = background** (inverted on
load). Labels: 0-9 digits, 10-35 upper case, 36-61 lower case.

Writers: ``writer_names`` lists the writers with training data first (sorted),
then writers that appear only in ``test/`` (sorted). Those test-only writers keep
their test examples and their names, but no client is built from them: the
natural partition only uses ``train.writers``. (In the shared FEMNIST subset,
79 of 184 test writers have no train shard.)
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from fedbench.data._common import check_labels, require_dir, require_path, to_unit, writer_table
from fedbench.data.base import FederatedDataset, Split
from fedbench.data.cache import cached_load
from fedbench.errors import DataError, bad_file

NUM_CLASSES = 62
IMAGE_SHAPE = (28, 28)
_WHAT = "a LEAF data folder holding train/ and test/ (or the folder containing data/)"


def _has_splits(folder: Path) -> bool:
    return (folder / "train").is_dir() and (folder / "test").is_dir()


def _suggest(root: Path) -> str:
    """Hint for a folder that is not a LEAF data folder: a nearby one, or an archive to extract."""
    for depth in ("*", "*/*", "*/*/*"):
        hits = sorted(p for p in root.glob(depth) if p.is_dir() and _has_splits(p))
        if hits:
            return f"; did you mean dataset.path={str(hits[0])!r}?"
    archives = sorted(root.glob("*.tar.gz")) + sorted(root.glob("*.tgz"))
    if archives:
        return (
            f"; extract the archive first: tar -xzf {archives[0]} -C <folder>, "
            "then point dataset.path at the data/ folder inside it"
        )
    return ""


def leaf_files(path: str | None = None) -> dict[str, list[Path]]:
    """Locate the JSON shards under ``path``; nothing is read.

    Parameters
    ----------
    path
        The folder holding ``train/`` and ``test/``, or the folder containing ``data/``.

    Returns
    -------
    dict
        ``{"train": [json files], "test": [json files]}``, sorted by name.

    """
    root = require_dir("dataset.path", require_path("dataset.path", path, _WHAT), _WHAT)
    base = next((c for c in (root, root / "data") if _has_splits(c)), None)
    if base is None:
        raise DataError(
            f"dataset.path={str(root)!r}: no train/ and test/ folders here or in data/"
            f"{_suggest(root)}"
        )
    files = {split: sorted((base / split).glob("*.json")) for split in ("train", "test")}
    for split, found in files.items():
        if not found:
            raise DataError(
                f"dataset.path={str(root)!r}: no *.json files in {base / split}; "
                "it is not a LEAF data folder"
            )
    return files


def _read_shard(path: Path) -> list[tuple[str, Any, Any]]:
    """Return ``(writer, x rows, y)`` per user of one LEAF JSON file, checked."""
    try:
        with path.open("rb") as f:
            doc = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(
            bad_file(path, f"not a readable JSON file ({err}); it is truncated or corrupt")
        ) from None
    if not isinstance(doc, dict) or not {"users", "user_data"} <= doc.keys():
        raise DataError(
            bad_file(path, "not a LEAF file: expected keys 'users', 'num_samples', 'user_data'")
        )
    users, user_data = doc["users"], doc["user_data"]
    if not isinstance(users, list) or not isinstance(user_data, dict):
        raise DataError(
            bad_file(path, "not a LEAF file: 'users' must be a list and 'user_data' an object")
        )
    num_samples = doc.get("num_samples")
    if num_samples is not None and (
        not isinstance(num_samples, list) or len(num_samples) != len(users)
    ):
        raise DataError(
            bad_file(path, f"'num_samples' must be a list of {len(users)} counts, one per user")
        )
    repeated = next((u for u, n in Counter(map(str, users)).items() if n > 1), None)
    if repeated is not None:
        raise DataError(bad_file(path, f"user {repeated!r} is listed more than once in 'users'"))
    out = []
    for i, user in enumerate(users):
        data = user_data.get(str(user))
        if not isinstance(data, dict) or "x" not in data or "y" not in data:
            raise DataError(bad_file(path, f"user {user!r} has no 'x' and 'y' in user_data"))
        x, y = data["x"], data["y"]
        if not isinstance(x, list) or not isinstance(y, list):
            raise DataError(bad_file(path, f"user {user!r}: 'x' and 'y' must be lists"))
        if len(x) != len(y):
            raise DataError(
                bad_file(path, f"user {user!r} has {len(x)} x rows but {len(y)} labels")
            )
        if num_samples is not None and num_samples[i] != len(y):
            raise DataError(
                bad_file(
                    path,
                    f"user {user!r}: num_samples says {num_samples[i]}, user_data has {len(y)}",
                )
            )
        out.append((str(user), x, y))
    return out


def _read_split(files: list[Path]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read every shard of a split into (writer per example, images, labels), ordered by writer."""
    by_writer: dict[str, list[tuple[Path, Any, Any]]] = {}
    for path in files:
        for user, x, y in _read_shard(path):
            by_writer.setdefault(user, []).append((path, x, y))
    ids: list[str] = []
    xs, ys = [], []
    size = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
    for user in sorted(by_writer):
        for path, x, y in by_writer[user]:
            if not len(y):
                continue
            try:
                rows = np.asarray(x, dtype=np.float64).reshape(len(y), -1)
            except (ValueError, TypeError):
                raise DataError(
                    bad_file(path, f"user {user!r}: x is not a list of equal-length number lists")
                ) from None
            if rows.shape[1] != size:
                raise DataError(
                    bad_file(
                        path,
                        f"user {user!r}: rows of x have {rows.shape[1]} values, "
                        f"expected {size} (28x28)",
                    )
                )
            xs.append(to_unit(rows.reshape(-1, *IMAGE_SHAPE), invert=True, source=path))
            ys.append(check_labels(np.asarray(y), NUM_CLASSES, path))
            ids.extend([user] * len(y))
    x_all = np.concatenate(xs) if xs else np.zeros((0, *IMAGE_SHAPE), np.float32)
    y_all = np.concatenate(ys) if ys else np.zeros(0, np.int64)
    return ids, x_all, y_all


def load_femnist_leaf(path: str | None = None) -> FederatedDataset:
    """Load FEMNIST from a LEAF ``data/`` folder, keeping writer ids (cached).

    Parameters
    ----------
    path
        The folder holding ``train/`` and ``test/`` (or the folder containing ``data/``).

    Returns
    -------
    FederatedDataset
        28x28 images in ``[0, 1]`` (0 = background), 62 classes, writers on both
        splits; examples ordered by writer (sorted id), then file order.

    """
    files = leaf_files(path)

    def build() -> FederatedDataset:
        train_ids, x_train, y_train = _read_split(files["train"])
        test_ids, x_test, y_test = _read_split(files["test"])
        if not train_ids:
            raise DataError(f"{files['train'][0].parent}: the train/ files hold no examples")
        names, w_train, w_test = writer_table(train_ids, test_ids)
        return FederatedDataset(
            name="femnist_leaf",
            train=Split(x_train, y_train, w_train),
            test=Split(x_test, y_test, w_test),
            num_classes=NUM_CLASSES,
            writer_names=names,
        )

    return cached_load("femnist_leaf", {}, build, [*files["train"], *files["test"]])
