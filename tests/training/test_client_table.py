"""The on-disk client table: lazy initial rows, pending rows, undo journal, exact restore.

Rows here are a function of (round, client) (:func:`_row`), so the table of any round is
known without the code under test: :func:`_expected` replays which clients each round
wrote. A ``kill -9`` is real: a child process writes rounds and sends itself SIGKILL at a
chosen write (:data:`_CHILD`), then the parent restores the table at the checkpoint.
"""

import logging
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from fedbench.training.client_table import (
    DiskTable,
    TableView,
    scratch_table_dir,
    table_bytes,
    table_dir,
)

SHAPES = ((3, 2), (2,))  # one row: 8 float32
CLIENTS = 6
#: The clients each round writes (round r writes WRITES[r - 1]); client 5 is never written.
WRITES = ([0, 1], [1, 2], [0, 3], [4, 2])


def _row(round_num, client):
    """A row no other (round, client) has: (round * 100 + client) + 0.5 * element index."""
    base = np.float32(round_num * 100 + client)
    return tuple(
        base + np.arange(np.prod(shape), dtype=np.float32).reshape(shape) * np.float32(0.5)
        for shape in SHAPES
    )


def _start(client):
    """The initial row (a network start): -client - 1 everywhere."""
    return tuple(np.full(shape, -client - 1, np.float32) for shape in SHAPES)


def _expected(round_num):
    """Every client's row after ``round_num`` rounds: its last write, else its start."""
    rows = [_start(k) for k in range(CLIENTS)]
    for r in range(1, round_num + 1):
        for k in WRITES[r - 1]:
            rows[k] = _row(r, k)
    return rows


def _table(directory, initial_row=_start, clients=CLIENTS, hash_="h"):
    zero = [np.zeros(shape, np.float32) for shape in SHAPES]
    return DiskTable(directory, hash_, zero, initial_row, num_clients=clients)


def _run(table, rounds, checkpoint_at=()):
    """Write ``rounds`` rounds as the round loop does: each round's rows pending in its view."""
    view = table.view()
    for r in range(1, rounds + 1):
        table.settle(view)
        view = TableView(table, r, {k: _row(r, k) for k in WRITES[r - 1]})
        if r in checkpoint_at:
            table.settle(view)
            table.sync()
            table.checkpointed()
    return view


def _assert_table(view, rows):
    for k, want in enumerate(rows):
        got = view[k]
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def test_rows_never_written_read_as_their_start_and_written_rows_read_back(tmp_path):
    table = _table(tmp_path / "t")
    table.reset()
    view = _run(table, 3)
    _assert_table(view, _expected(3))  # round 3's rows from the view, others from the file
    assert table.version == 2  # round 3's rows are still pending in its view
    table.settle(view)
    assert table.version == 3
    _assert_table(table.view(), _expected(3))
    # Zeros when there is no start hook.
    zeros = _table(tmp_path / "z", initial_row=None)
    zeros.reset()
    assert all(not np.any(leaf) for row in zeros.view() for leaf in row)


def test_the_rows_file_is_sparse_and_the_journal_holds_one_entry_per_client(tmp_path):
    table = _table(tmp_path / "t", clients=4096)
    table.reset()
    row_bytes = 8 * 4
    rows = table.directory / "rows"
    assert rows.stat().st_size == 4096 * row_bytes
    view = _run(table, 2)
    table.settle(view)
    # Rounds 1-2 wrote clients 0, 1, 2 (1 twice), none written before: 3 entries of a
    # head (24 bytes) and a checksum (4), no old row.
    assert (table.directory / "undo").stat().st_size == 3 * (24 + 4)
    table.checkpointed()
    table.settle(TableView(table, 3, {k: _row(3, k) for k in (0, 3)}))
    # Round 3: client 0 had a row (24 + 32 + 4), client 3 had none (24 + 4).
    assert (table.directory / "undo").stat().st_size == (24 + row_bytes + 4) + (24 + 4)
    assert table_bytes(4096, 8, 4, journal_rows=3) == 4096 * (row_bytes + 1) + 3 * 60
    assert table_bytes(4096, 8, 4) == 4096 * (row_bytes + 1) + 4096 * 60


@pytest.mark.parametrize("rounds", [2, 3, 4])
def test_a_table_ahead_of_its_checkpoint_is_restored_to_it_exactly(tmp_path, rounds):
    table = _table(tmp_path / "t")
    table.reset()
    view = _run(table, rounds, checkpoint_at=(1,))
    table.settle(view)
    saved = table.describe()
    again = _table(tmp_path / "t")
    assert again.restore(1, saved) is None
    _assert_table(again.view(), _expected(1))
    # Restoring twice (a kill during recovery) gives the same table.
    assert _table(tmp_path / "t").restore(1, saved) is None
    _assert_table(again.view(), _expected(1))


def test_a_torn_journal_entry_is_left_out(tmp_path):
    table = _table(tmp_path / "t")
    table.reset()
    table.settle(_run(table, 1, checkpoint_at=(1,)))
    with open(table.directory / "undo", "ab") as journal:
        journal.write(b"\x02" * 30)  # a kill in the middle of an entry, before any row write
    assert _table(tmp_path / "t").restore(1, table.describe()) is None


_CHILD = """
import os, signal, sys
sys.path.insert(0, {repo!r})
from tests.training import test_client_table as t
table = t._table({directory!r})
table.reset()
real, calls = os.pwrite, [0]
def pwrite(fd, data, offset):
    calls[0] += 1
    if calls[0] == {kill_at}:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(fd, data, offset)
os.pwrite = pwrite
print(table.describe()["id"], flush=True)
{body}
"""


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("kill_at", "checkpoint_round"),
    [
        # Each round's rows: one pwrite of the row, one of its filled byte; the checkpoint
        # of round 1 wrote 4 (clients 0, 1). Round 2 writes 1, 2; round 3 writes 0, 3.
        (5, 1),  # before round 2's first row: only its journal entries are on disk
        (6, 1),  # between round 2's first row and its filled byte
        (8, 1),  # round 2's second row half written
        (11, 1),  # round 3, after round 2 was whole: two rounds to undo
    ],
)
def test_kill_9_between_a_journal_write_and_a_checkpoint_restores_the_checkpoint(
    tmp_path, kill_at, checkpoint_round
):
    directory = tmp_path / "t"
    repo = os.getcwd()
    body = "t._run(table, 4, checkpoint_at=(1,))\ntable.settle(t.TableView(table, 0))"
    script = _CHILD.format(repo=repo, directory=str(directory), kill_at=kill_at, body=body)
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr
    saved = {**_table(directory).layout(), "id": child.stdout.split()[0]}
    table = _table(directory)
    assert table.restore(checkpoint_round, saved) is None
    _assert_table(table.view(), _expected(checkpoint_round))


def test_a_kill_after_the_checkpoint_file_before_the_journal_is_emptied(tmp_path):
    # The checkpoint of round 2 is written (table synced first) but the journal still holds
    # rounds 1-2's entries: restoring at 2 undoes none of them.
    table = _table(tmp_path / "t")
    table.reset()
    view = _run(table, 2)
    table.settle(view)
    table.sync()
    assert (table.directory / "undo").stat().st_size > 0
    again = _table(tmp_path / "t")
    assert again.restore(2, table.describe()) is None
    _assert_table(again.view(), _expected(2))


@pytest.mark.parametrize(
    ("other", "reason"),
    [
        ({"hash_": "g"}, "another run (config_hash h, not g)"),
        ({"clients": CLIENTS + 1}, f"another run (clients {CLIENTS}, not {CLIENTS + 1})"),
        ({}, "not the table its checkpoint was saved with"),
    ],
)
def test_a_table_that_does_not_match_the_run_is_set_aside_in_one_line(
    tmp_path, caplog, other, reason
):
    table = _table(tmp_path / "t")
    table.reset()
    table.settle(_run(table, 2, checkpoint_at=(2,)))
    saved = table.describe()
    if not other:
        saved = {**saved, "id": "another"}
    run = _table(tmp_path / "t", **other)
    with caplog.at_level(logging.WARNING):
        problem = run.restore(2, saved)
    assert problem is not None and reason in problem
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and reason in lines[0] and "set aside" in lines[0]
    assert not (tmp_path / "t").exists() and (tmp_path / "t.rejected" / "rows").is_file()
    # A fresh start makes a new table in its place.
    run.reset()
    _assert_table(run.view(), [_start(k) for k in range(run.num_clients)])


def test_a_stale_view_cannot_be_read(tmp_path):
    table = _table(tmp_path / "t")
    table.reset()
    view = _run(table, 3)
    table.settle(view)
    with pytest.raises(RuntimeError, match="at round 3; a state of round 1"):
        TableView(table, 1)[5]


def test_table_dir_sits_beside_the_checkpoint(tmp_path):
    assert table_dir(tmp_path / "checkpoints" / "abc.npz") == tmp_path / "checkpoints" / "abc.table"


def test_two_runs_of_one_configuration_get_their_own_scratch_tables(tmp_path):
    with scratch_table_dir(tmp_path, "abc") as first, scratch_table_dir(tmp_path, "abc") as second:
        assert first != second
        assert first.parent == second.parent == tmp_path
        assert first.name.startswith("abc.scratch-") and first.name.endswith(".table")
        first.mkdir()
        assert sorted(p.name for p in tmp_path.glob("*.lock")) == sorted(
            [first.with_suffix(".lock").name, second.with_suffix(".lock").name]
        )
    assert list(tmp_path.iterdir()) == []  # both folders and their locks are gone


def test_a_scratch_table_whose_lock_nobody_holds_is_removed_and_a_held_one_kept(tmp_path):
    # A run killed outright leaves its folder and its lock file, and the kernel dropped
    # its lock; a running run holds its lock.
    abandoned = tmp_path / "abc.scratch-0123456789ab.table"
    abandoned.mkdir()
    (abandoned / "rows").write_bytes(b"x")
    abandoned.with_suffix(".lock").touch()
    checkpointed = tmp_path / "abc.table"  # a run with checkpoints: never scratch
    checkpointed.mkdir()
    with scratch_table_dir(tmp_path, "abc") as running:
        running.mkdir()
        with scratch_table_dir(tmp_path, "def") as newcomer:
            assert not abandoned.exists() and not abandoned.with_suffix(".lock").exists()
            assert running.is_dir() and running.with_suffix(".lock").is_file()
            assert checkpointed.is_dir()
            assert newcomer.parent == tmp_path
