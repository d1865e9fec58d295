"""Pre-flight refuses a run whose client table would not fit the disk, in one line."""

import collections
import shutil
import sys

import pytest

from fedbench.app.commands import cli
from fedbench.errors import ConfigError
from fedbench.training import table_space
from tests.app.job.test_experiment import make_config

# digits: 8x8 images, 10 classes; model=linear is one dense layer: d = 64 * 10 + 10 = 650.
D = 64 * 10 + 10
SCAFFOLD = ("algorithm=scaffold", "model=linear", "fl.num_clients=20", "fl.clients_per_round=5")


def _usage(free):
    usage = collections.namedtuple("usage", "total used free")
    return lambda path: usage(10**12, 10**12 - free, free)


def test_the_need_is_every_row_a_full_journal_and_the_staged_rows(tmp_path):
    spec = make_config(tmp_path, *SCAFFOLD, "fl.checkpoint_every=2").spec
    row = 4 * D
    # 20 rows and their filled bytes; the journal holds 5 clients x 2 rounds = 10 entries,
    # each a 24-byte head, a row and a 4-byte checksum; 3 rounds of 5 staged row files,
    # each a row and a header of at most 64 bytes.
    staged = 3 * 5 * (row + 64)
    need = 20 * (row + 1) + 10 * (24 + row + 4) + staged
    assert table_space.table_need(spec, (8, 8), 10) == need
    # Checkpoints only at the end: the journal can hold every row.
    spec = make_config(tmp_path, *SCAFFOLD, "fl.checkpoint_every=0").spec
    need = 20 * (row + 1) + 20 * (24 + row + 4) + staged
    assert table_space.table_need(spec, (8, 8), 10) == need
    # FedAvg keeps no table.
    assert table_space.table_need(make_config(tmp_path).spec, (8, 8), 10) == 0


def test_pre_flight_refuses_a_table_larger_than_the_free_disk(tmp_path, monkeypatch):
    # checkpoint_every=10 > 20 / 5 rounds: a full journal; 3 x 5 staged rows
    need = 20 * (4 * D + 1) + 20 * (24 + 4 * D + 4) + 15 * (4 * D + 64)
    monkeypatch.setattr(shutil, "disk_usage", _usage(need - 1))
    with pytest.raises(ConfigError) as refused:
        make_config(tmp_path / "r", *SCAFFOLD)
    line = str(refused.value)
    assert "\n" not in line and line.startswith("fl.num_clients=20 is invalid")
    assert f"needs 0.00 GB ({need} bytes)" in line and f"({need - 1} bytes) is free" in line
    monkeypatch.setattr(shutil, "disk_usage", _usage(need))
    make_config(tmp_path / "r", *SCAFFOLD)  # exactly enough


def test_the_command_exits_2_in_one_line_before_anything_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "disk_usage", _usage(1000))
    results = tmp_path / "results"
    quiet = ["hydra/job_logging=none", "hydra/hydra_logging=none"]
    argv = ["fedbench", *SCAFFOLD, f"results_dir={results}", f"hydra.run.dir={tmp_path}/h"]
    monkeypatch.setattr(sys, "argv", [*argv, *quiet])
    monkeypatch.delenv("FEDBENCH_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as stop:
        cli.train_main()
    assert stop.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "fl.num_clients=20" in err[0] and "(1000 bytes) is free" in err[0]
    assert not results.exists()
