"""Fixtures: the real FEMNIST (LEAF) subset from shared/, untarred once per session."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

FEMNIST_TARBALL = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "femnist-leaf-subset"
    / "femnist-leaf-subset.tar.gz"
)


@pytest.fixture(scope="session")
def femnist_train(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    """Labels and writer indices (writers numbered in sorted-id order) of the train JSON files."""
    if not FEMNIST_TARBALL.exists():
        pytest.skip(f"real FEMNIST subset not found at {FEMNIST_TARBALL}")
    out = tmp_path_factory.mktemp("femnist")
    with tarfile.open(FEMNIST_TARBALL) as tar:
        train = [m for m in tar.getmembers() if m.isfile() and "/train/" in m.name]
        tar.extractall(out, members=train, filter="data")
    labels_of: dict[str, list[int]] = {}
    for path in sorted(out.rglob("*_train_9.json")):
        data = json.loads(path.read_text())
        for writer in data["users"]:
            labels_of.setdefault(writer, []).extend(data["user_data"][writer]["y"])
    writers = sorted(labels_of)
    labels = np.concatenate([np.asarray(labels_of[w], dtype=np.int64) for w in writers])
    writer_ids = np.repeat(np.arange(len(writers)), [len(labels_of[w]) for w in writers])
    return labels, writer_ids
