"""Data tests: a private cache folder per test, an empty in-process memo, the FEMNIST subset."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from fedbench.data import cache

#: ``../shared`` beside the repository (tests/data/conftest.py -> repo root is parents[2]).
REPO = Path(__file__).resolve().parents[2]
FEMNIST_TARBALL = REPO.parent / "shared/data/femnist-leaf-subset/femnist-leaf-subset.tar.gz"


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Point FEDBENCH_CACHE_DIR at a fresh folder and start with an empty memo."""
    folder = tmp_path_factory.mktemp("fedbench-cache")
    monkeypatch.setenv(cache.ENV_VAR, str(folder))
    cache.clear_memo()
    yield folder
    cache.clear_memo()


@pytest.fixture(scope="session")
def femnist_subset(tmp_path_factory) -> Path:
    """The shared real FEMNIST subset, untarred once per session; skips when absent."""
    if not FEMNIST_TARBALL.is_file():
        pytest.skip(f"shared FEMNIST subset not found at {FEMNIST_TARBALL}")
    root = tmp_path_factory.mktemp("femnist-subset")
    with tarfile.open(FEMNIST_TARBALL) as tar:
        tar.extractall(root, filter="data")
    return root / "data" / "femnist" / "data"
