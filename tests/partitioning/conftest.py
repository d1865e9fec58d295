"""Fixtures: labels and writer ids of the real FEMNIST (LEAF) subset, read from its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def femnist_train(femnist_leaf_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Labels and writer indices (writers numbered in sorted-id order) of the train JSON files.

    Read straight from the JSON, not through fedbench.data, so partitioning is tested
    on real labels independently of the loaders.
    """
    labels_of: dict[str, list[int]] = {}
    for path in sorted((femnist_leaf_dir / "train").glob("*.json")):
        data = json.loads(path.read_text())
        for writer in data["users"]:
            labels_of.setdefault(writer, []).extend(data["user_data"][writer]["y"])
    writers = sorted(labels_of)
    labels = np.concatenate([np.asarray(labels_of[w], dtype=np.int64) for w in writers])
    writer_ids = np.repeat(np.arange(len(writers)), [len(labels_of[w]) for w in writers])
    return labels, writer_ids
