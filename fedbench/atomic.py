"""Atomic file writes: a temporary file in the target's folder, then one rename.

Results, dataset caches and exports all land this way, so a reader (or a resumed
sweep) sees either the previous file or the complete new one, never a partial
file, even if the process dies mid-write.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    """The process umask: read from /proc where it can be (setting it, even back, races threads)."""
    try:
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0)
        os.umask(mask)
        return mask


def give_default_mode(path: str | os.PathLike) -> None:
    """Give ``path`` the mode a plain ``open()`` would have (``0o666`` less the umask).

    Temporary files are created ``0o600``; without this, renamed results, caches and
    exports would be unreadable to everyone but their writer.
    """
    os.chmod(path, 0o666 & ~_umask())


def write_atomic(
    path: str | os.PathLike, write: Callable[[IO[Any]], object], *, mode: str = "wb"
) -> Path:
    """Write a file atomically: ``write(handle)`` into a temporary file, then rename it to ``path``.

    Parameters
    ----------
    path
        The file to create or replace; its folder is created if needed.
    write
        Called once with the open temporary file.
    mode
        ``"wb"`` (binary) or ``"w"`` (text).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    BaseException
        Whatever ``write`` or the file system raised; the temporary file is removed
        and a previous file at ``path`` is left as it was.

    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        give_default_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


#: The suffix of a file moved aside because it cannot be used (a truncated result or checkpoint).
REJECTED_SUFFIX = ".rejected"


def set_aside(path: str | os.PathLike) -> Path:
    """Move ``path`` to ``<path>.rejected`` (replacing an older one) and return the new path.

    A file that cannot be used is kept for a person to look at, out of the way of the
    readers that glob its folder.
    """
    path = Path(path)
    aside = path.with_name(path.name + REJECTED_SUFFIX)
    os.replace(path, aside)
    return aside
