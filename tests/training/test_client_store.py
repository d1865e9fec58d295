"""The client store: the batches a worker reads by client id are those of the previous path's
round_dataset, and a run through it gives the records of the previous path (datasets
shipped every round, :mod:`tests.training.previous_path`)."""

import dataclasses
import math
import os
import shutil
import socket
import tempfile
from pathlib import Path

import numpy as np
import pytest

from fedbench import seeding
from fedbench.app.job.prepare import prepare
from fedbench.clients import ClientArrays, TrainingData, training_data
from fedbench.errors import ResultsNotWritable
from fedbench.spec import RunSpec
from fedbench.training.client_store import STORE_PREFIX, client_store, write_client_store
from fedbench.training.runtime import tff_worker  # noqa: F401  (releases TFF's context at exit)
from tests.training.previous_path import round_dataset

FEATURES = 3


def _batches(dataset):
    return [(b["x"].numpy(), b["y"].numpy()) for b in dataset]


def _assert_same_batches(got, want):
    assert len(got) == len(want)
    for (gx, gy), (wx, wy) in zip(got, want, strict=True):
        assert gx.dtype == wx.dtype == np.float32 and gy.dtype == wy.dtype == np.int64
        np.testing.assert_array_equal(gx, wx)  # bit for bit
        np.testing.assert_array_equal(gy, wy)


def _clients(rng, sizes, *, on_grid):
    if on_grid:  # how image loaders store pixels: float32 of k / 255
        xs = [(rng.integers(0, 256, (n, FEATURES, 2)) / 255.0).astype(np.float32) for n in sizes]
    else:
        xs = [rng.normal(size=(n, FEATURES, 2)).astype(np.float32) for n in sizes]
    return ClientArrays(train_x=xs, train_y=[rng.integers(0, 5, size=n) for n in sizes])


@pytest.mark.parametrize("on_grid", [True, False], ids=["uint8", "float32"])
@pytest.mark.parametrize("shuffle", [True, False])
def test_a_clients_batches_are_those_of_round_dataset(tmp_path, on_grid, shuffle):
    clients = _clients(np.random.default_rng(0), (5, 0, 7), on_grid=on_grid)
    store = write_client_store(clients, tmp_path)
    assert store.compact == on_grid
    sampled = np.array([0, 1, 2])
    inputs = store.round_input(sampled, 4, local_epochs=2, seed=3, shuffle=shuffle)
    for k, round_input in zip(sampled, inputs, strict=True):
        got = _batches(store.dataset(round_input["client"], round_input["order"], batch_size=2))
        want = round_dataset(
            clients.train_x[k],
            clients.train_y[k],
            batch_size=2,
            local_epochs=2,
            shuffle_rng=seeding.rng(3, seeding.SHUFFLE, 4, int(k)) if shuffle else None,
        )
        _assert_same_batches(got, _batches(want))


def test_a_round_input_is_the_client_id_and_one_seeded_permutation_per_epoch(tmp_path):
    store = write_client_store(_clients(np.random.default_rng(1), (4, 6), on_grid=False), tmp_path)
    (first, second) = store.round_input(np.array([1, 0]), 2, local_epochs=3, seed=9, shuffle=True)
    assert int(first["client"]) == 1 and int(second["client"]) == 0
    assert first["order"].dtype == np.int32 and first["order"].shape == (3, 6)
    # Client 1's epochs are successive draws from its (seed, round, client) stream.
    rng = seeding.rng(9, seeding.SHUFFLE, 2, 1)
    np.testing.assert_array_equal(first["order"], [rng.permutation(6) for _ in range(3)])
    (again,) = store.round_input(np.array([1]), 2, local_epochs=3, seed=9, shuffle=True)
    np.testing.assert_array_equal(again["order"], first["order"])  # any round replays
    (stored,) = store.round_input(np.array([0]), 2, local_epochs=2, seed=9, shuffle=False)
    np.testing.assert_array_equal(stored["order"], [[0, 1, 2, 3], [0, 1, 2, 3]])


def test_one_client_off_the_8_bit_grid_stores_everyone_as_float32(tmp_path):
    rng = np.random.default_rng(2)
    clients = _clients(rng, (3, 3), on_grid=True)
    clients.train_x[1][0, 0, 0] = 0.5  # not k / 255
    store = write_client_store(clients, tmp_path)
    assert not store.compact
    (round_input,) = store.round_input(np.array([0]), 1, local_epochs=1, seed=0, shuffle=False)
    ((x, _),) = _batches(store.dataset(round_input["client"], round_input["order"], 3))
    np.testing.assert_array_equal(x, clients.train_x[0])


def test_examples_of_different_shapes_are_refused(tmp_path):
    clients = ClientArrays(
        train_x=[np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32)],
        train_y=[np.zeros(2, int), np.zeros(2, int)],
    )
    with pytest.raises(ValueError, match="shape"):
        write_client_store(clients, tmp_path)


def test_the_store_is_removed_when_its_block_ends():
    clients = _clients(np.random.default_rng(3), (2,), on_grid=False)
    with client_store(clients) as store:
        directory = Path(store.directory)
        assert sorted(p.name for p in directory.iterdir()) == ["0.bin"]
    assert not directory.exists()


def test_a_killed_runs_store_is_removed_by_the_next_run_on_the_host(tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # TMPDIR for this test
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    dead = int(gone.stdout)  # a process that has exited: its store is an orphan
    host = socket.gethostname()
    orphan = tmp_path / f"{STORE_PREFIX}{dead}-{host}-abc"
    live = tmp_path / f"{STORE_PREFIX}{os.getpid()}-{host}-def"  # a run still going
    elsewhere = tmp_path / f"{STORE_PREFIX}{dead}-otherhost-ghi"  # not this host's to judge
    for directory in (orphan, live, elsewhere):
        directory.mkdir()
    clients = _clients(np.random.default_rng(3), (2,), on_grid=False)
    with client_store(clients) as store:
        assert Path(store.directory).parent == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, elsewhere.name])


def test_a_tmpdir_without_room_stops_before_training(tmp_path, monkeypatch):
    from fedbench.training import client_store as module

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    clients = _clients(np.random.default_rng(3), (2,), on_grid=False)
    full = shutil.disk_usage(tmp_path)._replace(free=10)
    monkeypatch.setattr(module.shutil, "disk_usage", lambda path: full)
    with pytest.raises(ResultsNotWritable, match=f"cannot be written to {tmp_path}.*set TMPDIR"):
        with client_store(clients):
            pytest.fail("the store was written")
    assert list(tmp_path.iterdir()) == []


# --- Same records as the previous path ------------------------------------------------

TIMING = {"round_seconds", "examples_per_second"}


def _fields(records):
    """Every field but the timings, NaN as a string (NaN != NaN)."""
    return [
        {
            k: "nan" if isinstance(v, float) and math.isnan(v) else v
            for k, v in dataclasses.asdict(r).items()
            if k not in TIMING
        }
        for r in records
    ]


def _on_the_8_bit_grid(data: TrainingData) -> TrainingData:
    """Digits moved onto the 8-bit grid (k / 255), so the store holds uint8 codes."""
    snap = lambda x: (np.rint(x * 255) / 255).astype(np.float32)  # noqa: E731
    clients = data.clients
    return dataclasses.replace(
        data,
        clients=ClientArrays(
            [snap(x) for x in clients.train_x],
            clients.train_y,
            [snap(x) for x in clients.holdout_x],
            clients.holdout_y,
        ),
        test_x=snap(data.test_x),
    )


CASES = {
    # Two local epochs, shuffled, per-client held-out data.
    "fedavg": dict(num_clients=10, clients_per_round=4, local_epochs=2, client_holdout=0.2),
    "fedprox": dict(algorithm="fedprox", model="mlp", num_clients=8, clients_per_round=3),
    # Writers as clients, each evaluated on its own test examples.
    "natural": dict(
        dataset="synthetic",
        dataset_options={"num_writers": 12},
        partition="natural",
        num_clients=12,
        clients_per_round=5,
        client_lr=0.02,
    ),
    "uint8 pixels": dict(num_clients=6, clients_per_round=3, client_holdout=0.25),
}


@pytest.mark.tff
@pytest.mark.parametrize("case", list(CASES))
def test_the_store_path_gives_the_records_of_the_previous_path(case, tmp_path):
    from fedbench.training.train import train
    from tests.training.previous_path import previous_rounds

    spec = RunSpec.create(**CASES[case], rounds=3, batch_size=16, execution="per_client")
    data = training_data(spec, prepare(spec).load())
    if case == "uint8 pixels":
        data = _on_the_8_bit_grid(data)
        assert write_client_store(data.clients, tmp_path).compact  # the uint8 path is taken
    with previous_rounds(spec, data) as records:
        previous = list(records)
    current = list(train(spec, data))
    assert [r.round for r in current] == [1, 2, 3]
    assert all(r.evaluated and math.isfinite(r.client_drift) for r in current)
    assert _fields(current) == _fields(previous)  # exactly: same floats, bit for bit


@pytest.mark.tff
def test_a_run_stopped_early_leaves_no_store_behind(monkeypatch):
    from fedbench.training.train import train

    made = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args, **kwargs):
        made.append(Path(real_mkdtemp(*args, **kwargs)))
        return str(made[-1])

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    spec = RunSpec.create(num_clients=4, clients_per_round=2, rounds=5)
    records = train(spec, training_data(spec, prepare(spec).load()))
    try:
        assert next(records).round == 1
        (directory,) = [d for d in made if d.name.startswith("fedbench-clients-")]
        assert sorted(p.name for p in directory.iterdir()) == ["0.bin", "1.bin", "2.bin", "3.bin"]
    finally:
        records.close()  # the caller stops iterating after one round
    assert not directory.exists()
