"""Shared fixtures: quiet TensorFlow logs, an isolated results dir, and a TFF worker leak check."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import psutil
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
FEMNIST_TARBALL = SHARED / "data" / "femnist-leaf-subset" / "femnist-leaf-subset.tar.gz"


def worker_children() -> list[psutil.Process]:
    """TFF worker_binary processes that are descendants of this test process."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "worker_binary" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.fixture(autouse=True)
def no_leaked_tff_worker():
    """Every test must leave no TFF worker process behind."""
    yield
    leaked = worker_children()
    for process in leaked:  # stop them so one leak does not cascade into every later test
        process.kill()
    assert not leaked, f"TFF worker processes left running: {[p.pid for p in leaked]}"


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    return tmp_path / "results"
