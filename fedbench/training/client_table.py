"""A per-client state table on disk (SCAFFOLD's ``c_i``), read and written row by row.

At cross-device scale the table does not fit in memory: 3,400 clients of ``cnn_emnist``
(1.2M float32 parameters) are 16 GB. :class:`DiskTable` keeps it in a folder beside the
run's checkpoint, ``<results_dir>/checkpoints/<config_hash>.table/``:

- ``rows``: ``N x d`` values (``d`` the elements of one row, its leaves flattened), a
  sparse file: a block takes disk space once a row in it is written;
- ``filled``: one byte per client, 1 once its row was written; a row never written is the
  process's initial row (``initial_row``: zeros, or SCAFFOLD's network start), made when
  it is read, so ``control_start`` is exact for clients never sampled;
- ``undo``: the undo journal, one entry per client written since the last checkpoint,
  holding its ``filled`` byte as it was at that checkpoint and, if it was 1, its row;
- ``meta.json``: the run's hash, the layout and an id the checkpoint records;
- ``staging/<round>/``: a round's rows staged for the TFF worker
  (:mod:`fedbench.training.staged_rows`): its clients' rows before the round and their
  new rows, until the rows are written to ``rows``. Scratch: a round's folder goes
  when its rows are written, and every one when the table is reset or restored.

Rows are read and written with ``pread``/``pwrite``, not a memory map: a mapped page
counts in the process's resident memory for as long as it stays mapped, a written page in
the page cache does not.

**Exact resume.** A round's new rows travel in the state it returns (a
:class:`TableView` of the round, the rows pending: in memory, or in their staging
folder, read one at a time as they are written) and reach the file when that state is
used: when the next round starts from it or when it is checkpointed. So the round loop's
states stay whole (the loop checkpoints the state of the last round it yielded when it is
stopped, while the next round may have run), and the table on disk is always the table
of one round. Before rows are written, their old values are appended to the undo journal
(with a checksum) and the journal is synced; a checkpoint of round ``C`` syncs the table,
then writes the checkpoint file (atomically, recording the table's id and ``C``), then
empties the journal. A re-run resuming at ``C`` undoes every journal entry of a round
after ``C``, latest first, whatever point a ``kill -9`` stopped at: between a journal
write and the table write (the torn entry fails its checksum and its rows were not
touched), between table writes, or between the checkpoint file and emptying the journal
(no entry is after ``C`` then). Undoing is idempotent, so a kill during recovery is
recovered from again. A checkpoint writes nothing of size ``N x d``: it syncs what the
rounds since the last one wrote, and the journal holds at most
``min(N, clients_per_round * checkpoint_every)`` rows (see :func:`table_bytes`). An undo
journal rather than a copy per checkpoint (``N x d`` each time) or hard links / reflinks
(a link shares the blocks the next round overwrites in place; reflinks need a
copy-on-write file system): its cost is the rows a round writes, on any file system.

A table that does not match the run (another run's hash, another layout, another id
than its checkpoint's, an unreadable ``meta.json``) is set aside to ``<...>.table.rejected``
with one log line and a new one is made.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import struct
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fedbench import atomic

log = logging.getLogger(__name__)

#: The version of a table folder's layout; a folder of another version is set aside.
FORMAT_VERSION = 1
#: An undo entry's head: round, client, the client's ``filled`` byte before the round.
_HEAD = struct.Struct("<qqB7x")
_CRC = struct.Struct("<I")
#: Bytes a staged row file holds besides its row, at most (its ``TensorProto`` header).
STAGED_HEADER_BYTES = 64
#: Rounds' worth of staged rows on disk at once, at most: during a round, the previous
#: round's new rows (pending), and this round's rows before and after.
STAGED_ROUNDS = 3

Row = tuple[np.ndarray, ...]


def table_dir(checkpoint: str | os.PathLike) -> Path:
    """The table folder of the run whose checkpoint file is ``checkpoint``."""
    path = Path(checkpoint)
    return path.with_name(path.name.removesuffix(".npz") + ".table")


#: Marks a scratch table's folder, ``<hash>.scratch-<token>.table``, and its lock file.
SCRATCH_MARK = ".scratch-"


@contextlib.contextmanager
def scratch_table_dir(checkpoints_dir: str | os.PathLike, hash_: str) -> Iterator[Path]:
    """A folder for the table of a run that keeps no checkpoint, for the block's span.

    The name is the run's own (a random token): two runs of one configuration at once,
    in two processes or two threads, never share a table. The run holds an exclusive
    ``flock`` on ``<name>.lock`` beside it while the block runs, and the folder and the
    lock file go when it ends. A scratch folder whose lock nobody holds belongs to a run
    that was killed (the kernel drops a dead process's locks, on this host or, on a
    shared file system that supports them, another) and is removed here first; where
    the file system has no locks, leftovers stay.
    """
    folder = Path(checkpoints_dir)
    folder.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_scratch(folder)
    name = f"{hash_}{SCRATCH_MARK}{uuid.uuid4().hex[:12]}"
    # Locked under a name the clean-up does not match, then renamed: a lock file is
    # never seen unlocked while its run lives.
    unnamed = folder / f".{name}.locking"
    with open(unnamed, "w") as lock:
        with contextlib.suppress(OSError):
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock_path = unnamed.rename(folder / f"{name}.lock")
        try:
            yield folder / f"{name}.table"
        finally:
            shutil.rmtree(folder / f"{name}.table", ignore_errors=True)
            lock_path.unlink(missing_ok=True)


def _remove_abandoned_scratch(folder: Path) -> None:
    for lock_path in folder.glob(f"*{SCRATCH_MARK}*.lock"):
        try:
            lock = open(lock_path)  # closed by the block below, after the removal
        except OSError:
            continue  # its run just ended
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # held: its run is alive (or the file system has no locks)
            shutil.rmtree(lock_path.with_suffix(".table"), ignore_errors=True)
            lock_path.unlink(missing_ok=True)


def table_bytes(
    num_clients: int,
    row_elements: int,
    itemsize: int,
    journal_rows: int | None = None,
    staged_rows: int = 0,
    staged_overhead: int = 0,
) -> int:
    """Disk bytes a table can take at most: every row written, a full undo journal, staging.

    Parameters
    ----------
    num_clients
        Rows (``N``).
    row_elements
        Elements of one row (``d``: a model's trainable parameters for SCAFFOLD).
    itemsize
        Bytes of one element (4 for float32).
    journal_rows
        Rows the undo journal holds at most (``clients_per_round * checkpoint_every``);
        ``None``: ``N``, as when checkpoints are only written at the end.
    staged_rows
        Row files the staging folders hold at most at once.
    staged_overhead
        Bytes a staged row file holds besides the row.

    Returns
    -------
    int
        ``N * (d * itemsize + 1)`` for the rows and ``filled``, plus the journal and
        the staged rows.

    """
    journal = num_clients if journal_rows is None else min(num_clients, journal_rows)
    row = row_elements * itemsize
    staged = staged_rows * (row + staged_overhead)
    return num_clients * (row + 1) + journal * (_HEAD.size + row + _CRC.size) + staged


@dataclass
class TableView:
    """A process state's client table: the table at round ``version``.

    ``pending`` holds the rows round ``version`` wrote, not yet in the file while the
    table is at ``version - 1``.
    """

    table: DiskTable
    version: int
    pending: Mapping[int, Row] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.table.num_clients

    def __getitem__(self, client: int) -> Row:
        if client in self.pending:
            return self.pending[client]
        if self.table.version not in (self.version, self.version - 1):
            self.table.settle(self)  # raises: the file holds another round
        return self.table.read(client)  # not pending: the same at both rounds

    def __iter__(self) -> Iterator[Row]:
        return (self[k] for k in range(len(self)))


class DiskTable:
    """One run's client table on disk (module docstring).

    Parameters
    ----------
    directory
        The table's folder (:func:`table_dir`).
    config_hash
        The run's hash, recorded in ``meta.json``.
    row
        One row of zeros: the shapes and dtype of a row's leaves (one dtype for all).
    initial_row
        Client index -> its row before it is first written; ``None``: zeros.

    """

    def __init__(
        self,
        directory: str | os.PathLike,
        config_hash: str,
        row: Sequence[np.ndarray],
        initial_row: Callable[[int], Row] | None = None,
        *,
        num_clients: int,
    ) -> None:
        self.directory = Path(directory)
        self.hash = config_hash
        self.shapes = [tuple(np.shape(leaf)) for leaf in row]
        dtypes = {np.asarray(leaf).dtype for leaf in row}
        if len(dtypes) != 1:
            raise ValueError(f"a table row has one dtype, not {sorted(map(str, dtypes))}")
        self.dtype = dtypes.pop()
        self.sizes = [int(np.prod(shape, dtype=np.int64)) for shape in self.shapes]
        self.width = sum(self.sizes)
        self.row_bytes = self.width * self.dtype.itemsize
        self.num_clients = num_clients
        self.initial_row = initial_row
        self.id = ""
        #: The round whose table the file holds (``None``: not opened yet).
        self.version: int | None = None
        self._journaled: set[int] = set()

        self._rows, self._filled, self._undo, self._meta, self._staging = (
            self.directory / name for name in ("rows", "filled", "undo", "meta.json", "staging")
        )

    # -- the folder -----------------------------------------------------------------

    def layout(self) -> dict[str, Any]:
        """What a table of this run is: format, hash, clients, shapes, dtype."""
        return {
            "format": FORMAT_VERSION,
            "config_hash": self.hash,
            "clients": self.num_clients,
            "shapes": [list(shape) for shape in self.shapes],
            "dtype": self.dtype.str,
        }

    def describe(self) -> dict[str, Any]:
        """What a checkpoint records of the table: its layout and id."""
        return {**self.layout(), "id": self.id}

    def reset(self) -> None:
        """Start the table at round 0 (no row written); a folder that does not fit is set aside."""
        problem = self._problem() if self.directory.exists() else None
        if problem is not None:
            self.set_aside(problem)
        self.directory.mkdir(parents=True, exist_ok=True)
        for path, size in ((self._rows, 0), (self._rows, self.num_clients * self.row_bytes)):
            with open(path, "ab") as handle:  # to 0 and back: the old blocks are freed
                handle.truncate(size)
        with open(self._filled, "wb") as handle:
            handle.truncate(self.num_clients)
        open(self._undo, "wb").close()
        shutil.rmtree(self._staging, ignore_errors=True)
        self.id = uuid.uuid4().hex
        atomic.write_atomic(self._meta, lambda h: json.dump(self.describe(), h), mode="w")
        self.version, self._journaled = 0, set()

    def restore(self, round_num: int, saved: Mapping[str, Any]) -> str | None:
        """Bring the table back to round ``round_num``, of the checkpoint that recorded ``saved``.

        Returns
        -------
        str or None
            Why the table cannot serve (then it is set aside), or ``None`` once it holds
            the table of that round.

        """
        problem = self._problem()
        if problem is None and saved.get("id") != self._read_meta().get("id"):
            problem = "it is not the table its checkpoint was saved with"
        if problem is not None:
            if self.directory.exists():
                self.set_aside(problem)
            return problem
        self.id = saved["id"]
        self._undo_after(round_num)
        shutil.rmtree(self._staging, ignore_errors=True)  # rows of rounds not kept
        self.version, self._journaled = round_num, set()
        return None

    def set_aside(self, reason: str) -> Path:
        """Move the folder to ``<folder>.rejected`` (replacing an older one), with one log line."""
        aside = self.directory.with_name(self.directory.name + atomic.REJECTED_SUFFIX)
        shutil.rmtree(aside, ignore_errors=True)
        os.replace(self.directory, aside)
        log.warning("client table %s set aside to %s: %s", self.directory, aside, reason)
        return aside

    def remove(self) -> None:
        """Delete the folder (the run has nothing to resume)."""
        shutil.rmtree(self.directory, ignore_errors=True)
        self.version = None

    def _read_meta(self) -> dict[str, Any]:
        return json.loads(self._meta.read_text())

    def _problem(self) -> str | None:
        if not self.directory.is_dir():
            return "there is no table"
        try:
            meta = self._read_meta()
        except (OSError, ValueError) as error:
            return f"its meta.json cannot be read ({type(error).__name__}: {error})"
        differ = [k for k, v in self.layout().items() if meta.get(k) != v]
        if differ:
            return (
                "it is a table of another run ("
                + ", ".join(f"{k} {meta.get(k)}, not {self.layout()[k]}" for k in differ)
                + ")"
            )
        expected = {self._rows: self.num_clients * self.row_bytes, self._filled: self.num_clients}
        for path, size in expected.items():
            if not path.is_file() or path.stat().st_size != size:
                return f"{path.name} is not {size} bytes"
        return None

    # -- rows -------------------------------------------------------------------------

    def staging(self, round_num: int) -> Path:
        """The folder where round ``round_num``'s rows are staged (module docstring)."""
        return self._staging / str(round_num)

    def view(self) -> TableView:
        """The view of the table at its current round."""
        if self.version is None:
            raise RuntimeError("the client table is not opened (reset or restore it first)")
        return TableView(self, self.version)

    def read(self, client: int) -> Row:
        """Client ``client``'s row at the table's current round."""
        filled, flat = self._read_raw(client)
        if not filled:
            return self._initial(client)
        leaves, start = [], 0
        for shape, size in zip(self.shapes, self.sizes, strict=True):
            leaves.append(flat[start : start + size].reshape(shape).copy())
            start += size
        return tuple(leaves)

    def settle(self, view: TableView) -> None:
        """Make the file hold ``view``'s round: write its pending rows if they are not yet."""
        if self.version == view.version:
            return
        if self.version == view.version - 1:
            self._write(view.version, view.pending)
            view.pending = {}  # in the file now: the view reads them there
            shutil.rmtree(self.staging(view.version), ignore_errors=True)
            with contextlib.suppress(OSError):  # no other round staged: no folder left
                self._staging.rmdir()
            return
        raise RuntimeError(
            f"the client table is at round {self.version}; a state of round {view.version} "
            "cannot be read from it"
        )

    def sync(self) -> None:
        """Flush the rows and ``filled`` to disk (before a checkpoint records this round)."""
        for path in (self._rows, self._filled):
            fd = os.open(path, os.O_RDWR)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def checkpointed(self) -> None:
        """The checkpoint of the current round is written: empty the undo journal."""
        with open(self._undo, "wb") as handle:
            os.fsync(handle.fileno())
        self._journaled = set()

    def _initial(self, client: int) -> Row:
        if self.initial_row is None:
            return tuple(np.zeros(shape, self.dtype) for shape in self.shapes)
        return tuple(np.array(leaf, self.dtype) for leaf in self.initial_row(client))

    def _read_raw(self, client: int) -> tuple[int, np.ndarray]:
        with open(self._filled, "rb") as handle:
            filled = os.pread(handle.fileno(), 1, client)[0]
        with open(self._rows, "rb") as handle:
            data = os.pread(handle.fileno(), self.row_bytes, client * self.row_bytes)
        return filled, np.frombuffer(data, self.dtype)

    def _flat(self, row: Row) -> bytes:
        leaves = [np.asarray(leaf, self.dtype).reshape(-1) for leaf in row]
        if [leaf.size for leaf in leaves] != self.sizes:
            raise ValueError(f"a row of sizes {[leaf.size for leaf in leaves]}, not {self.sizes}")
        return np.concatenate(leaves).tobytes() if leaves else b""

    def _write(self, round_num: int, rows: Mapping[int, Row]) -> None:
        """Write round ``round_num``'s rows, their old values journaled (and synced) first."""
        fresh = [k for k in sorted(rows) if k not in self._journaled]
        if fresh:
            with open(self._undo, "ab") as journal:
                for k in fresh:
                    filled, flat = self._read_raw(k)
                    # A row never written has no old value to keep: its head says so.
                    body = _HEAD.pack(round_num, k, filled) + (flat.tobytes() if filled else b"")
                    journal.write(body + _CRC.pack(zlib.crc32(body)))
                journal.flush()
                os.fsync(journal.fileno())
            self._journaled.update(fresh)
        with open(self._rows, "r+b") as table, open(self._filled, "r+b") as filled_file:
            for k in sorted(rows):
                os.pwrite(table.fileno(), self._flat(rows[k]), k * self.row_bytes)
                os.pwrite(filled_file.fileno(), b"\x01", k)
        self.version = round_num

    def _entries(self) -> list[tuple[int, int, int, bytes]]:
        """The undo journal's whole entries, in order (a torn last one is left out)."""
        entries = []
        with open(self._undo, "rb") as journal:
            while len(head := journal.read(_HEAD.size)) == _HEAD.size:
                round_num, client, filled = _HEAD.unpack(head)
                size = (self.row_bytes if filled else 0) + _CRC.size
                if filled not in (0, 1) or len(rest := journal.read(size)) != size:
                    break
                data, (crc,) = rest[: -_CRC.size], _CRC.unpack(rest[-_CRC.size :])
                if zlib.crc32(head + data) != crc:
                    break
                entries.append((round_num, client, filled, data))
        return entries

    def _undo_after(self, round_num: int) -> None:
        """Undo every journaled write of a round after ``round_num``, latest first; sync."""
        entries = [e for e in self._entries() if e[0] > round_num] if self._undo.exists() else []
        if entries:
            with open(self._rows, "r+b") as table, open(self._filled, "r+b") as filled_file:
                for _, client, filled, data in reversed(entries):
                    if filled:
                        os.pwrite(table.fileno(), data, client * self.row_bytes)
                    os.pwrite(filled_file.fileno(), bytes([filled]), client)
            log.info(
                "client table %s: %d rows written after round %d undone",
                self.directory,
                len(entries),
                round_num,
            )
        self.sync()
        self.checkpointed()
