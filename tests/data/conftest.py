"""Data tests: a private cache folder per test and an empty in-process memo."""

from __future__ import annotations

import pytest

from fedbench.data import cache


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Point FEDBENCH_CACHE_DIR at a fresh folder and start with an empty memo."""
    folder = tmp_path_factory.mktemp("fedbench-cache")
    monkeypatch.setenv(cache.ENV_VAR, str(folder))
    cache.clear_memo()
    yield folder
    cache.clear_memo()
