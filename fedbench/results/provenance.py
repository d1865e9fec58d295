"""Versions and source revision stamped on every result row."""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path

import numpy as np

import fedbench
from fedbench.results import columns as R

_REPO = Path(__file__).resolve().parents[2]


@functools.cache
def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(_REPO), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def provenance() -> dict[str, object]:
    """Return the provenance columns: package versions, git commit and whether the tree is dirty.

    ``git_commit`` and ``git_dirty`` are null outside a git checkout.
    """
    import tensorflow as tf
    import tensorflow_federated as tff

    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {
        R.FEDBENCH_VERSION: fedbench.__version__,
        R.TENSORFLOW_VERSION: tf.__version__,
        R.TFF_VERSION: tff.__version__,
        R.NUMPY_VERSION: np.__version__,
        R.PYTHON_VERSION: platform.python_version(),
        R.GIT_COMMIT: commit,
        R.GIT_DIRTY: None if status is None else bool(status),
    }
