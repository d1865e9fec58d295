"""Checkpoint files: what is saved, what is read back, and what is set aside (no training)."""

import json
import logging
from collections import OrderedDict

import numpy as np
import pytest
import tensorflow_federated as tff

from fedbench.training.checkpoints import FORMAT_VERSION, Checkpoints, checkpoint_path


def _state(width=3, momentum=0.5):
    """A state shaped as a learning process's: weights and an optimizer's slots."""
    weights = tff.learning.models.ModelWeights(
        trainable=[
            np.arange(width * 2, dtype=np.float32).reshape(width, 2),
            np.ones(2, np.float32),
        ],
        non_trainable=[],
    )
    finalizer = OrderedDict(
        learning_rate=np.float32(1.0),
        momentum=[np.full((width, 2), momentum, np.float32), np.zeros(2, np.float32)],
    )
    return tff.learning.templates.LearningAlgorithmState(
        global_model_weights=weights,
        distributor=(),
        client_work=OrderedDict(learning_rate=np.float32(0.1)),
        aggregator=OrderedDict(),
        finalizer=finalizer,
    )


def _leaves(state):
    import tensorflow as tf

    return [np.asarray(x) for x in tf.nest.flatten(state)]


def test_a_saved_state_reads_back_exactly_in_the_templates_structure(results_dir):
    saved = _state(momentum=0.25)
    Checkpoints(results_dir, "h").save(7, saved)
    restored = Checkpoints(results_dir, "h").load(_state(momentum=0.0), max_round=7)
    assert restored.round == 7
    assert type(restored.state) is type(saved)
    for got, want in zip(_leaves(restored.state), _leaves(saved), strict=True):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    # the server optimizer's slots too (not reset to the template's zeros)
    assert np.all(restored.state.finalizer["momentum"][0] == 0.25)


def test_a_later_save_replaces_the_earlier_one(results_dir):
    checkpoints = Checkpoints(results_dir, "h")
    checkpoints.save(2, _state(momentum=0.1))
    checkpoints.save(4, _state(momentum=0.2))
    assert list(checkpoint_path(results_dir, "h").parent.iterdir()) == [checkpoints.path]
    assert checkpoints.load(_state(), max_round=4).round == 4


def _rejected(results_dir, caplog, template, *, max_round=10, hash_="h"):
    with caplog.at_level(logging.WARNING, logger="fedbench.training.checkpoints"):
        restored = Checkpoints(results_dir, hash_).load(template, max_round=max_round)
    path = checkpoint_path(results_dir, hash_)
    lines = [r.getMessage() for r in caplog.records]
    return restored, path, lines


@pytest.mark.parametrize(
    "damage",
    ["truncate", "flip_bytes", "not_a_zip"],
)
def test_a_corrupt_checkpoint_is_set_aside_with_one_line(results_dir, caplog, damage):
    path = Checkpoints(results_dir, "h").save(3, _state())
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip_bytes":  # inside the first array's values (after its 128-byte header)
        middle = data.index(b"leaf_0.npy") + len(b"leaf_0.npy") + 128 + 4
        path.write_bytes(
            data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 8]) + data[middle + 8 :]
        )
    else:
        path.write_bytes(b"garbage")
    restored, path, lines = _rejected(results_dir, caplog, _state())
    assert restored is None
    assert not path.exists() and path.with_name(path.name + ".rejected").exists()
    assert len(lines) == 1 and "set aside" in lines[0] and "cannot be read" in lines[0]


def test_a_checkpoint_of_another_model_shape_is_set_aside(results_dir, caplog):
    Checkpoints(results_dir, "h").save(3, _state(width=3))
    restored, _, lines = _rejected(results_dir, caplog, _state(width=4))
    assert restored is None
    assert len(lines) == 1 and "does not match this run's model and algorithm" in lines[0]


def test_a_checkpoint_of_another_state_layout_is_set_aside(results_dir, caplog):
    # Same leaves, another nesting (as a changed algorithm or fedbench version would give).
    state = _state()
    other = state._replace(aggregator=OrderedDict(extra=()))
    Checkpoints(results_dir, "h").save(3, other)
    restored, _, lines = _rejected(results_dir, caplog, state)
    assert restored is None and "does not match" in lines[0]


def test_a_checkpoint_of_another_format_or_run_is_set_aside(results_dir, caplog):
    path = Checkpoints(results_dir, "other").save(3, _state())
    path.rename(checkpoint_path(results_dir, "h"))
    restored, _, lines = _rejected(results_dir, caplog, _state())
    assert restored is None and "belongs to run other" in lines[0]
    caplog.clear()
    checkpoints = Checkpoints(results_dir, "h")
    checkpoints.save(3, _state())
    with np.load(checkpoints.path) as archive:
        arrays = dict(archive)
    meta = json.loads(arrays["meta"].tobytes())
    meta["format"] = FORMAT_VERSION + 1
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(checkpoints.path, "wb") as handle:
        np.savez(handle, **arrays)
    restored, _, lines = _rejected(results_dir, caplog, _state())
    assert restored is None and f"format {FORMAT_VERSION + 1}" in lines[0]


def test_a_checkpoint_ahead_of_the_kept_rows_is_set_aside(results_dir, caplog):
    Checkpoints(results_dir, "h").save(6, _state())
    restored, _, lines = _rejected(results_dir, caplog, _state(), max_round=5)
    assert restored is None and "rounds 1-5 only" in lines[0]


def test_no_checkpoint_is_no_resume_and_no_log(results_dir, caplog):
    restored, _, lines = _rejected(results_dir, caplog, _state())
    assert restored is None and lines == []


def _composed(clients=4, control=0.0):
    """A composed process's state: the server's, and a client-state table (SCAFFOLD's c_i)."""
    from fedbench.training.composed import ComposedState

    server = OrderedDict(
        model=_state().global_model_weights, control=[np.zeros((3, 2), np.float32)]
    )
    table = tuple(
        (np.full((3, 2), control, np.float32), np.zeros(2, np.float32)) for _ in range(clients)
    )
    return ComposedState(server, table)


def test_a_client_state_table_is_saved_and_read_back_exactly(results_dir):
    saved = _composed(control=0.75)
    own = (np.arange(6, dtype=np.float32).reshape(3, 2), np.ones(2, np.float32))
    saved = saved._replace(clients=(*saved.clients[:2], own, *saved.clients[3:]))
    Checkpoints(results_dir, "h").save(3, saved)
    restored = Checkpoints(results_dir, "h").load(_composed(), max_round=3)
    for got, want in zip(_leaves(restored.state), _leaves(saved), strict=True):
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_a_checkpoint_whose_client_table_does_not_fit_the_run_is_set_aside(results_dir, caplog):
    Checkpoints(results_dir, "h").save(3, _composed(clients=4))
    with caplog.at_level(logging.WARNING):
        assert Checkpoints(results_dir, "h").load(_composed(clients=5), max_round=3) is None
    assert "does not match this run's model and algorithm" in caplog.text
    assert checkpoint_path(results_dir, "h").with_suffix(".npz.rejected").is_file()
    # A table where the run keeps none (another algorithm's state) is set aside the same way.
    Checkpoints(results_dir, "g").save(3, _composed())
    assert Checkpoints(results_dir, "g").load(_state(), max_round=3) is None


def _on_disk(results_dir, hash_="h", clients=1000):
    """A composed state whose client table (rows of 3x2 and 2 float32) is on disk."""
    from fedbench.training.client_table import DiskTable, table_dir
    from fedbench.training.composed import ComposedState

    row = [np.zeros((3, 2), np.float32), np.zeros(2, np.float32)]
    table = DiskTable(
        table_dir(checkpoint_path(results_dir, hash_)), hash_, row, num_clients=clients
    )
    return table, ComposedState(_composed().server, None)


def _row(value):
    return (np.full((3, 2), value, np.float32), np.full(2, value, np.float32))


def test_a_client_table_on_disk_stays_out_of_the_checkpoint_and_returns_at_its_round(
    results_dir,
):
    from fedbench.training.client_table import TableView

    table, state = _on_disk(results_dir)
    table.reset()
    after_1 = state._replace(clients=TableView(table, 1, {5: _row(1.5)}))
    checkpoints = Checkpoints(results_dir, "h")
    checkpoints.save(1, after_1)
    # The file holds the server state only: 1,000 rows of 8 float32 would be 32,000 bytes.
    assert checkpoints.path.stat().st_size < 8_000
    # Round 2 writes clients 5 and 7, then the process is killed (no checkpoint).
    table.settle(TableView(table, 2, {5: _row(2.5), 7: _row(2.75)}))

    again, template = _on_disk(results_dir)
    restored = Checkpoints(results_dir, "h").load(
        template._replace(clients=TableView(again, 0)), max_round=2
    )
    assert restored.round == 1
    rows = restored.state.clients
    assert [float(rows[k][0][0, 0]) for k in (5, 7, 0)] == [1.5, 0.0, 0.0]
    for got, want in zip(_leaves(restored.state.server), _leaves(after_1.server), strict=True):
        assert np.array_equal(got, want)


def test_a_checkpoint_whose_table_on_disk_is_another_is_set_aside_with_it(results_dir, caplog):
    from fedbench.training.client_table import TableView

    table, state = _on_disk(results_dir)
    table.reset()
    Checkpoints(results_dir, "h").save(1, state._replace(clients=TableView(table, 1, {})))
    table.reset()  # another table in its place (a new id)
    again, template = _on_disk(results_dir)
    with caplog.at_level(logging.WARNING):
        restored = Checkpoints(results_dir, "h").load(
            template._replace(clients=TableView(again, 0)), max_round=1
        )
    assert restored is None
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 2  # the table, then the checkpoint
    assert "not the table its checkpoint was saved with" in lines[0]
    assert "client table cannot serve" in lines[1]
    assert checkpoint_path(results_dir, "h").with_suffix(".npz.rejected").is_file()
    assert checkpoint_path(results_dir, "h").with_suffix(".table.rejected").is_dir()
