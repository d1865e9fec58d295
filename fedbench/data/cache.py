"""Parsed datasets cached on disk (compact ``.npz``) and in memory.

Parsing LEAF JSON or TFF's SQLite takes seconds to minutes; a sweep loads the
same data for every job. :func:`cached_load` therefore keeps

* an **in-process memo** (the last :data:`MEMO_SIZE` datasets, least recently
  used dropped first), so the jobs of a sweep run in one process parse nothing;
* a **disk cache** under :func:`cache_dir` (``$FEDBENCH_CACHE_DIR``, default
  ``~/.cache/fedbench``): one ``<dataset>-<key>.npz`` per source, written to a
  temporary file and moved into place with ``os.replace`` (readers never see a
  partial file; concurrent writers of the same key both write the same content).

The key is a SHA-256 over the loader's name and options, :data:`CACHE_FORMAT`,
and each source file's **identity**: resolved path, size and modification time
(ns). Not a content hash: hashing the 1.5 GB of ``emnist_all.sqlite`` would cost
more than the cache saves, and an edit that keeps both size and mtime is not
something data files undergo. Replacing or touching a source changes the key,
so a stale entry is never read (it stays on disk; delete the folder to reclaim
space). Bump :data:`CACHE_FORMAT` whenever a parser's output changes.

Pixels on the 8-bit grid (``k / 255``, true for every image source here) are
stored as ``uint8`` and restored bit for bit; anything else is stored as is.
Arrays of a cached dataset are read-only: the memo hands the same object to
every caller, so an in-place edit would leak into the next job.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fedbench.atomic import write_atomic
from fedbench.data._common import expand, u8_codes, unit_from_u8
from fedbench.data.base import FederatedDataset, Split

#: Environment variable that overrides the cache folder.
ENV_VAR = "FEDBENCH_CACHE_DIR"
#: Default cache folder.
DEFAULT_DIR = "~/.cache/fedbench"
#: Part of every key: bump it when a parser's output changes.
CACHE_FORMAT = 1
#: Datasets kept in memory at most (a full EMNIST is 2.3 GB of float32).
MEMO_SIZE = 4

_MEMO: OrderedDict[str, FederatedDataset] = OrderedDict()


def cache_dir() -> Path:
    """Return the disk cache folder: ``$FEDBENCH_CACHE_DIR`` or ``~/.cache/fedbench``."""
    return expand(os.environ.get(ENV_VAR) or DEFAULT_DIR)


def source_identity(files: Iterable[Path]) -> list[tuple[str, int, int, int, int]]:
    """Return ``(resolved path, size, mtime_ns, inode, ctime_ns)`` of each file, in order.

    Size and mtime alone miss a file replaced by one of the same size with its mtime
    kept (``cp -p``, ``rsync -a``, unpacking an archive); the inode and the status
    change time, which no user call can set back, catch those.
    """
    out = []
    for f in files:
        st = Path(f).stat()
        identity = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
        out.append((str(Path(f).resolve()), *identity))
    return out


def cache_key(name: str, options: Mapping[str, Any], files: Iterable[Path] = ()) -> str:
    """Return the hex key of a dataset built by loader ``name`` from ``options`` and ``files``."""
    payload = {
        "format": CACHE_FORMAT,
        "name": name,
        "options": {k: options[k] for k in sorted(options)},
        "files": source_identity(files),
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def clear_memo() -> None:
    """Forget every dataset held in memory (the disk cache is untouched)."""
    _MEMO.clear()


def cached_load(
    name: str,
    options: Mapping[str, Any],
    build: Callable[[], FederatedDataset],
    files: Iterable[Path] = (),
    *,
    disk: bool = True,
) -> FederatedDataset:
    """Return the dataset for ``(name, options, files)`` from memory, disk, or ``build()``.

    Parameters
    ----------
    name
        The dataset's name (first part of the cache file name).
    options
        Everything besides the files that changes the result (loader keyword arguments).
    build
        Parses the sources; called only on a miss of both caches.
    files
        The source files; their identity is part of the key.
    disk
        Also use the disk cache (off for data that is cheap to rebuild).

    Returns
    -------
    FederatedDataset
        With read-only arrays.

    """
    key = f"{name}-{cache_key(name, options, files)}"
    if key in _MEMO:
        _MEMO.move_to_end(key)
        return _MEMO[key]
    path = cache_dir() / f"{key}.npz"
    dataset = _read(path) if disk else None
    if dataset is None:
        dataset = build()
        if disk:
            _write(dataset, path)
    dataset = _freeze(dataset)
    _MEMO[key] = dataset
    while len(_MEMO) > MEMO_SIZE:
        _MEMO.popitem(last=False)
    return dataset


def _freeze(dataset: FederatedDataset) -> FederatedDataset:
    for split in (dataset.train, dataset.test):
        for a in (split.x, split.y, split.writers):
            if a is not None:
                a.flags.writeable = False
    return dataset


def _compact(x: np.ndarray) -> tuple[str, np.ndarray]:
    """Return ``("x_u8", uint8)`` if ``x`` is exactly ``k / 255`` throughout, else ``("x", x)``."""
    codes = u8_codes(x)
    return ("x", x) if codes is None else ("x_u8", codes)


def _arrays(dataset: FederatedDataset) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {
        "name": np.array(dataset.name),
        "num_classes": np.array(dataset.num_classes, dtype=np.int64),
    }
    if dataset.writer_names is not None:
        arrays["writer_names"] = np.array(dataset.writer_names, dtype=str)
    for prefix, split in (("train", dataset.train), ("test", dataset.test)):
        field, x = _compact(split.x)
        arrays[f"{prefix}_{field}"] = x
        arrays[f"{prefix}_y"] = split.y
        if split.writers is not None:
            arrays[f"{prefix}_writers"] = split.writers
    return arrays


def _write(dataset: FederatedDataset, path: Path) -> None:
    """Write ``dataset`` to ``path`` atomically; warn (do not fail) when that is impossible."""
    try:
        write_atomic(path, lambda handle: np.savez(handle, **_arrays(dataset)))
    except OSError as err:
        warnings.warn(
            f"fedbench: could not write the dataset cache {path} ({err}); the data is "
            f"parsed again next time. Set {ENV_VAR} to a writable folder to cache it.",
            stacklevel=3,
        )


def _split(z: Mapping[str, np.ndarray], prefix: str) -> Split:
    x = unit_from_u8(z[f"{prefix}_x_u8"]) if f"{prefix}_x_u8" in z else z[f"{prefix}_x"]
    writers = z.get(f"{prefix}_writers")
    return Split(x, z[f"{prefix}_y"], writers)


def _read(path: Path) -> FederatedDataset | None:
    """Return the dataset cached at ``path``, or ``None`` if absent or unreadable (warns)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            z = {k: npz[k] for k in npz.files}
        names = z.get("writer_names")
        return FederatedDataset(
            name=str(z["name"]),
            train=_split(z, "train"),
            test=_split(z, "test"),
            num_classes=int(z["num_classes"]),
            writer_names=None if names is None else tuple(str(n) for n in names),
        )
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        warnings.warn(
            f"fedbench: ignoring the unreadable dataset cache {path} ({err}); parsing the source",
            stacklevel=3,
        )
        return None
