"""Run claims: an exclusive ``flock`` per configuration, so parallel jobs never run it twice."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from fedbench.results.paths import runs_dir
from fedbench.results.status import Status


class RunLock:
    """An exclusive claim on one configuration, so parallel jobs never run it twice.

    The claim is an advisory ``flock`` on ``.<config_hash>.lock`` (which also holds the
    owner's pid, for people, and a note on what it is doing: :func:`claim_note`). The
    kernel drops the lock when its owner exits, however it exits, so a claim left by a
    dead process is free without guessing from pids,
    and there is no window in which a claim exists but its owner is not yet known.
    The owner unlinks the file while still holding the lock; a process that locked
    the file just before that notices the path now names another file and retries.

    An owner that finished the run records so in the file, under the lock
    (:meth:`record_finished`), and leaves the file in place: the next owner reads the
    record (:attr:`previous`) before writing its own. On NFS a host may not yet list a
    result file another host has just renamed into place, but reads the claim file's
    content fresh once it holds the lock; the record tells it the result is there.
    """

    def __init__(self, results_dir: str | os.PathLike, hash_: str) -> None:
        # A leading dot: pyarrow and pandas skip it when reading the runs/ folder.
        self.path = runs_dir(results_dir) / f".{hash_}.lock"
        self._fd: int | None = None
        self._finished = False
        #: What the last owner recorded (:meth:`record_finished`): ``(status, rounds)``.
        self.previous: tuple[str, int] | None = None

    @property
    def acquired(self) -> bool:
        """Whether this object holds the claim."""
        return self._fd is not None

    def acquire(self, note: str = "") -> bool:
        """Try to take the claim without waiting; return whether this process now holds it.

        ``note`` (one line) is written beside the pid for :func:`claim_note`. A reader
        asking whether the owner lives (:func:`claimed_elsewhere`) holds the lock for an
        instant: a lock found taken is tried again a few times within
        :data:`PROBE_RETRY_SECONDS` before the claim counts as another process's.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + PROBE_RETRY_SECONDS
        while True:
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() >= deadline:
                    return False
                time.sleep(PROBE_RETRY_SECONDS / 5)
                continue
            if self._still_names(fd):
                break
            os.close(fd)  # the previous owner unlinked it after we opened it: try again
        self._fd = fd
        _held.add(_key(self.path))
        self._finished = False
        try:
            self.previous = _finished_record(os.pread(fd, 4096, 0).decode(errors="replace"))
            self._write(note)
        except OSError:
            self.release()
            raise
        return True

    def _write(self, note: str) -> None:
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n{note}".encode(), 0)

    def record_finished(self, status: str, rounds: int) -> None:
        """Record, under the lock, that the run's result file now holds ``rounds`` rounds.

        The file is kept when the claim is released, so that the next owner reads it.
        """
        self._write(f"{FINISHED} {status} {rounds}")
        os.fsync(self._fd)  # type: ignore[arg-type]
        self._finished = True

    def _still_names(self, fd: int) -> bool:
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            return False
        held = os.fstat(fd)
        return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)

    def release(self) -> None:
        """Give up the claim (a no-op if it was not acquired)."""
        if self._fd is None:
            return
        # The file is removed unless it records a finished run (a claim file of the
        # process that made it: not one someone else made after ours was removed).
        if not self._finished and self._still_names(self._fd):
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        os.close(self._fd)  # closing drops the lock
        self._fd = None
        _held.discard(_key(self.path))


#: How long :meth:`RunLock.acquire` tries again a lock that a reader's probe may hold.
PROBE_RETRY_SECONDS = 0.05
#: The claim files this process holds (a probe of its own claim would find it taken).
_held: set[str] = set()


def _key(path: Path) -> str:
    return os.path.abspath(path)


#: The first word of a claim's note that records a finished run.
FINISHED = "finished"


def _finished_record(text: str) -> tuple[str, int] | None:
    """``(status, rounds)`` from a claim file's text, if it records a finished run."""
    words = text.split("\n", 1)[-1].split() if "\n" in text else []
    if len(words) == 3 and words[0] == FINISHED and words[2].isdigit():
        return words[1], int(words[2])
    return None


@contextlib.contextmanager
def claimed(results_dir: str | os.PathLike, hash_: str) -> Iterator[bool]:
    """Context manager yielding whether the claim on ``hash_`` was acquired; releases it on exit."""
    lock = RunLock(results_dir, hash_)
    try:
        yield lock.acquire()
    finally:
        lock.release()


def claimed_elsewhere(results_dir: str | os.PathLike, hash_: str) -> bool:
    """Whether another process holds the claim on ``hash_`` right now (it is training it).

    The kernel drops a ``flock`` when its owner exits however it exits (on NFS, once the
    server sees the owner's host gone), so a claim held means a live owner.
    """
    lock = RunLock(results_dir, hash_)
    if _key(lock.path) in _held or not lock.path.exists():
        return False
    try:
        fd = os.open(lock.path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken here
    return False


def seen_status(stored: str, results_dir: str | os.PathLike, hash_: str) -> str:
    """The status a reader sees of run ``hash_`` whose result file says ``stored``.

    A file says ``running`` while its run trains (written at each checkpoint); it still
    says so when the process was killed before its final write. While another live
    process holds the run's claim the run is ``running``; once none does, ``killed``.
    Any other status is what the file says.
    """
    if stored == Status.RUNNING and not claimed_elsewhere(results_dir, hash_):
        return Status.KILLED
    return stored


def claim_holder(results_dir: str | os.PathLike, hash_: str) -> int | None:
    """The pid written in the claim on ``hash_`` (:meth:`RunLock.acquire`); ``None`` if unreadable.

    Only a live claim (:func:`claimed_elsewhere`) names a process that holds it.
    """
    try:
        first = RunLock(results_dir, hash_).path.read_text().split("\n", 1)[0]
    except (OSError, UnicodeDecodeError):
        return None
    return int(first) if first.isdigit() else None


def claim_note(results_dir: str | os.PathLike, hash_: str) -> str | None:
    """The note of the claim on ``hash_`` (:meth:`RunLock.acquire`); ``None`` if unreadable.

    A claim just taken may not have written its note yet: ``None`` then too.
    """
    try:
        lines = RunLock(results_dir, hash_).path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    return lines[1] if len(lines) > 1 else None
