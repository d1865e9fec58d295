"""Client rows staged in files for the shards: the format both sides read, and its lifetime."""

import numpy as np
import pytest
import tensorflow as tf

from fedbench.training import staged_rows
from fedbench.training.client_table import STAGED_HEADER_BYTES, DiskTable, TableView
from fedbench.training.staged_rows import AFTER, BEFORE, StagedRows, read_row, staged_path

SHAPES = ((3, 2), (2,))  # one row: 8 float32


def _row(seed):
    rng = np.random.default_rng(seed)
    return tuple(rng.normal(size=shape).astype(np.float32) for shape in SHAPES)


def _assert_rows_equal(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert np.asarray(a).dtype == b.dtype and np.array_equal(np.asarray(a), b)


def test_a_row_staged_by_python_is_read_by_tensorflow_and_its_new_row_read_back(tmp_path):
    row = _row(0)
    staged_rows.write_row(staged_path(tmp_path, 7, BEFORE), row, np.float32)
    specs = [tf.TensorSpec(shape, tf.float32) for shape in SHAPES]
    folder, client = tf.constant(str(tmp_path)), tf.constant(7)
    read = staged_rows.read_staged(folder, client, specs)
    _assert_rows_equal([t.numpy() for t in read], row)
    new = [t * 2.0 for t in read]
    staged_rows.write_staged(folder, client, new)
    _assert_rows_equal(
        read_row(staged_path(tmp_path, 7, AFTER), SHAPES, np.float32),
        [leaf * np.float32(2) for leaf in row],
    )
    # A staged file is the row's 8 x 4 bytes and a header within the bound the disk
    # check counts.
    for suffix in (BEFORE, AFTER):
        size = staged_path(tmp_path, 7, suffix).stat().st_size
        assert 8 * 4 < size <= 8 * 4 + STAGED_HEADER_BYTES


def test_a_file_that_is_not_a_row_of_the_layout_is_refused(tmp_path):
    path = staged_path(tmp_path, 0, AFTER)
    staged_rows.write_row(path, _row(0), np.float32)
    with pytest.raises(ValueError, match="not a row of 9 float32"):
        read_row(path, ((3, 3),), np.float32)


def test_staged_rows_are_read_one_client_at_a_time_when_asked_for(tmp_path):
    for k in (4, 1):
        staged_rows.write_row(staged_path(tmp_path, k, AFTER), _row(k), np.float32)
    rows = StagedRows(tmp_path, [4, 1], SHAPES, np.float32)
    assert list(rows) == [1, 4] and len(rows) == 2 and 4 in rows and 2 not in rows
    _assert_rows_equal(rows[4], _row(4))
    staged_path(tmp_path, 1, AFTER).unlink()  # nothing was read ahead
    with pytest.raises(FileNotFoundError):
        rows[1]
    with pytest.raises(KeyError):
        rows[2]


def _table(directory):
    zero = [np.zeros(shape, np.float32) for shape in SHAPES]
    return DiskTable(directory, "h", zero, num_clients=6)


def test_a_rounds_staged_rows_go_to_the_table_and_its_staging_folder_goes(tmp_path):
    table = _table(tmp_path / "t")
    table.reset()
    folder = table.staging(1)
    folder.mkdir(parents=True)
    for k in (2, 5):
        staged_rows.write_row(staged_path(folder, k, AFTER), _row(k), np.float32)
    view = TableView(table, 1, StagedRows(folder, [2, 5], SHAPES, np.float32))
    _assert_rows_equal(view[5], _row(5))  # pending: read from its staged file
    table.settle(view)
    assert table.version == 1 and not folder.exists() and not folder.parent.exists()
    _assert_rows_equal(table.read(5), _row(5))
    _assert_rows_equal(view[2], _row(2))  # now from the table


def test_reset_and_restore_clear_what_a_stopped_run_left_staged(tmp_path):
    table = _table(tmp_path / "t")
    table.reset()
    table.sync()
    table.checkpointed()
    saved = table.describe()
    for round_num in (1, 2):  # a round's rows, and the next one's inputs
        table.staging(round_num).mkdir(parents=True)
        staged_rows.write_row(staged_path(table.staging(round_num), 0, BEFORE), _row(0), np.float32)
    assert table.restore(0, saved) is None
    assert not (table.directory / "staging").exists()
    table.staging(1).mkdir(parents=True)
    table.reset()
    assert not (table.directory / "staging").exists()


@pytest.mark.tff
def test_a_sharded_round_stages_its_rows_and_leaves_only_their_new_values(tmp_path, monkeypatch):
    """On disk: the round's new rows wait in its staging folder; in memory: nothing is left."""
    import tempfile

    from fedbench.app.job.prepare import prepare
    from fedbench.clients import training_data
    from fedbench.seeding import sample_clients
    from fedbench.spec import RunSpec
    from fedbench.training.client_store import client_store
    from fedbench.training.composed import with_disk_table
    from fedbench.training.loop import initial_state
    from fedbench.training.runtime import tff_worker
    from fedbench.training.train import learning_process, loop_settings, round_inputs

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    spec = RunSpec.create(num_clients=6, clients_per_round=3, algorithm="scaffold")
    data = training_data(spec, prepare(spec).load())
    with tff_worker(), client_store(data.clients) as store:
        process, model = learning_process(spec, data.example_shape, data.num_classes, store)
        on_disk = with_disk_table(process, tmp_path / "t", spec.config_hash)
        on_disk.table.reset()
        sampled = sample_clients(spec.seed, 1, 6, 3)
        inputs = round_inputs(store, loop_settings(spec), 2)(sampled, 1)  # shards of 2 and 1
        in_memory = process.next(initial_state(process, model), inputs).state.clients
        assert list(scratch.glob("fedbench-rows-*")) == []  # the temporary folder is gone
        disk = on_disk.next(initial_state(on_disk, model), inputs).state.clients
    folder = on_disk.table.staging(1)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{k}{AFTER}" for k in sampled)
    assert disk.version == 1 and sorted(disk.pending) == sorted(int(k) for k in sampled)
    for k in range(6):
        _assert_rows_equal(disk[k], in_memory[k])
