"""Helpers shared by the loaders: paths, one-line errors, pixels, writer tables."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fedbench.errors import ConfigError, DataError, invalid

#: 8-bit sources store ``k / 255``; values this close to that grid are snapped onto it.
_GRID_TOLERANCE = 1e-6
_LEVELS = np.float32(255.0)


def expand(path: str | os.PathLike[str]) -> Path:
    """Expand ``~`` and environment variables in ``path`` (no resolution of links)."""
    return Path(os.path.expandvars(os.path.expanduser(os.fspath(path))))


def require_path(key: str, value: Any, what: str) -> Path:
    """Return the expanded ``value`` of config key ``key``; it must be a non-empty path.

    Raises
    ------
    ConfigError
        ``value`` is ``None`` or empty.

    """
    if value is None or not str(value).strip():
        raise ConfigError(invalid(key, value, what, f"set {key}=<{what}>"))
    return expand(value)


def require_dir(key: str, folder: Path, what: str) -> Path:
    """Check that ``folder`` is an existing folder, else raise a one-line :class:`DataError`."""
    if not folder.exists():
        raise DataError(
            f"{key}={str(folder)!r}: folder not found; allowed is {what}; "
            f"set {key} to the folder that holds them"
        )
    if not folder.is_dir():
        raise DataError(
            f"{key}={str(folder)!r} is a file, not a folder; allowed is {what}; "
            f"set {key} to its parent folder"
        )
    return folder


def unit_from_u8(q: np.ndarray) -> np.ndarray:
    """Map 8-bit intensities ``0..255`` to float32 ``k / 255`` (the only place this is done)."""
    return q.astype(np.float32) / _LEVELS


def u8_codes(x: np.ndarray) -> np.ndarray | None:
    """Return ``k`` as uint8 if float32 ``x`` is exactly :func:`unit_from_u8` ``(k)`` throughout.

    ``None`` when ``x`` is empty, not float32, or off the 8-bit grid (feature noise,
    digits' ``k / 16``, synthetic features). The check is the decoding itself, so
    ``unit_from_u8(u8_codes(x))`` gives back ``x`` bit for bit.
    """
    if x.dtype != np.float32 or not x.size or x.min() < 0.0 or x.max() > 1.0:
        return None
    codes = np.rint(x * 255.0).astype(np.uint8)
    return codes if np.array_equal(unit_from_u8(codes), x) else None


def to_unit(x: np.ndarray, *, invert: bool, source: Path | str) -> np.ndarray:
    """Convert float pixels in ``[0, 1]`` to fedbench's convention (float32, 0 = background).

    Values within ``1e-6`` of the 8-bit grid ``k / 255`` (LEAF and TFF store such
    values) are snapped onto it exactly, so a result is the same whether it was
    parsed or read back from the compact ``uint8`` cache. Snapping is per element:
    the result does not depend on how a reader chunks its input.

    Parameters
    ----------
    x
        Pixels as stored in the source; float32 input is processed in float32
        (its rounding error, < 1e-4 of a grey level, is far below the tolerance).
    invert
        ``True`` for sources that store 1.0 = background (LEAF, TFF EMNIST).
    source
        The file the pixels came from, named in the error.

    Returns
    -------
    numpy.ndarray
        float32 array of ``x``'s shape.

    Raises
    ------
    DataError
        A value lies outside ``[0, 1]`` (beyond the tolerance) or is not finite.

    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    if x.size:
        lo, hi = x.min(), x.max()  # NaN fails both comparisons below
        if not (lo >= -_GRID_TOLERANCE and hi <= 1.0 + _GRID_TOLERANCE):
            raise DataError(
                f"{source}: pixel values must lie in [0, 1], found "
                f"{np.nanmin(x):g}..{np.nanmax(x):g}; the file is not in the expected format"
            )
    scaled = (1.0 - x if invert else x) * 255.0
    q = np.rint(scaled)
    on_grid = np.abs(q - scaled) <= 255.0 * _GRID_TOLERANCE
    snapped = unit_from_u8(np.clip(q, 0, 255).astype(np.uint8))
    if on_grid.all():  # the usual case: an 8-bit source
        return snapped
    return np.where(on_grid, snapped, np.clip(scaled / 255.0, 0.0, 1.0).astype(np.float32))


def check_labels(y: np.ndarray, num_classes: int, source: Path | str) -> np.ndarray:
    """Return ``y`` as int64 after checking every label is an integer in ``[0, num_classes)``."""
    y = np.asarray(y)
    if y.size and y.dtype.kind not in "iuf":
        raise DataError(
            f"{source}: labels must be integers, found {y.flat[0]!r} ({y.dtype}); "
            "the file is not in the expected format"
        )
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.array_equal(y, np.round(y)):
            raise DataError(f"{source}: labels must be integers, found {y[y != np.round(y)][0]!r}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise DataError(
            f"{source}: labels must lie in [0, {num_classes}), found {y.min()}..{y.max()}; "
            "the file is not in the expected format"
        )
    return y


def writer_table(
    train_ids: Sequence[str], test_ids: Sequence[str]
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Index writer ids: train writers first (sorted), then writers seen only in test (sorted).

    Keeping train writers at indices ``0 .. n_train_writers - 1`` means writers
    with no training data sit at the end of ``writer_names``; a natural partition
    built from ``train.writers`` never sees them.

    Parameters
    ----------
    train_ids, test_ids
        The writer id of every train (test) example.

    Returns
    -------
    tuple
        ``(writer_names, train_writer_index, test_writer_index)``; the indices are int64.

    """
    train_names = sorted(set(train_ids))
    test_only = sorted(set(test_ids) - set(train_names))
    names = (*train_names, *test_only)
    index = {name: i for i, name in enumerate(names)}
    train_idx = np.fromiter((index[w] for w in train_ids), dtype=np.int64, count=len(train_ids))
    test_idx = np.fromiter((index[w] for w in test_ids), dtype=np.int64, count=len(test_ids))
    return names, train_idx, test_idx
