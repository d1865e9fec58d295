import dataclasses
import datetime as dt
import os
import subprocess
import sys

import pandas as pd
import pyarrow.parquet as pq
import pytest

from fedbench import results as R
from fedbench.app.job.experiment import config_columns
from fedbench.spec import RunSpec


def _row(**overrides):
    row = {
        R.RUN_ID: "abc-1",
        R.CONFIG_HASH: "abc",
        R.STATUS: R.Status.COMPLETED,
        R.DATASET: "digits",
        R.PARTITION: "iid",
        R.ROUND: 1,
        R.TEST_ACCURACY: 0.5,
        R.STARTED_AT: dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    }
    row.update(overrides)
    return row


def test_interface_columns_are_all_in_the_schema():
    # The column list of shared/interface.md, verbatim.
    interface = """run_id, config_hash, status, dataset, partition, model, algorithm, seed,
    num_clients, clients_per_round, rounds, local_epochs, batch_size, client_lr,
    server_lr, alpha, classes_per_client, shards_per_client, sigma, round,
    train_loss, train_accuracy, test_loss, test_accuracy, round_seconds,
    examples_per_second, label_emd, label_jsd, label_hellinger, effective_classes,
    size_cv, fedbench_version, tensorflow_version, tff_version, git_commit, started_at,
    client_accuracy_mean, client_accuracy_p10, client_drift"""
    expected = {c.strip() for c in interface.replace("\n", " ").split(",")}
    assert expected <= set(R.column_names())


def test_files_with_null_and_set_parameters_concatenate(results_dir):
    R.write_run([_row(**{R.ALPHA: None})], results_dir, "h1")
    R.write_run([_row(**{R.ALPHA: 0.5, R.CONFIG_HASH: "h2", R.RUN_ID: "h2-1"})], results_dir, "h2")
    frame = pd.read_parquet(R.runs_dir(results_dir))
    assert sorted(frame[R.ALPHA].fillna(-1).tolist()) == [-1.0, 0.5]
    assert list(R.load_runs(results_dir).columns) == list(R.column_names())


def test_unknown_column_is_an_error_not_a_silent_drop(results_dir):
    with pytest.raises(KeyError, match="test_acuracy"):
        R.write_run([_row(test_acuracy=0.9)], results_dir, "h")


def test_atomic_write_keeps_the_old_file_when_writing_fails(results_dir, monkeypatch):
    path = R.write_run([_row()], results_dir, "h")
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", crash)
    with pytest.raises(OSError, match="disk full"):
        R.write_run([_row(**{R.TEST_ACCURACY: 0.9})], results_dir, "h")
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind


def test_answered_status_counts_completed_and_diverged_but_not_failed(results_dir):
    assert R.answered_status(results_dir, "h", 1) is None
    R.write_run([_row(**{R.STATUS: R.Status.FAILED, R.ROUNDS: 2})], results_dir, "h")
    assert R.answered_status(results_dir, "h", 2) is None  # stopped after round 1 of 2
    R.write_run([_row(**{R.STATUS: R.Status.DIVERGED, R.ROUNDS: 2})], results_dir, "h")
    assert R.answered_status(results_dir, "h", 2) == R.Status.DIVERGED
    R.run_path(results_dir, "h").write_bytes(b"not parquet")
    assert R.answered_status(results_dir, "h", 2) is None


def test_claim_is_exclusive_and_released_on_exit(results_dir):
    with R.claimed(results_dir, "h") as first:
        assert first
        pid = (R.runs_dir(results_dir) / ".h.lock").read_text().splitlines()[0]
        assert pid == str(os.getpid())
        with R.claimed(results_dir, "h") as second:
            assert not second
    assert not (R.runs_dir(results_dir) / ".h.lock").exists()
    with R.claimed(results_dir, "h") as again:
        assert again


_HOLD_CLAIM = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


@pytest.mark.subprocess
def test_a_claim_held_by_another_process_is_respected_even_before_it_names_itself(results_dir):
    # The other process holds the lock on a still-empty file: the moment between
    # creating the claim and writing its pid. That claim must not look stale.
    lock = R.runs_dir(results_dir) / ".h.lock"
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_CLAIM, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert lock.read_text() == ""
        with R.claimed(results_dir, "h") as mine:
            assert not mine
        assert lock.exists()  # a claim that was not ours is left alone
    finally:
        holder.kill()
        holder.wait()
    with R.claimed(results_dir, "h") as mine:  # its owner died: the kernel freed it
        assert mine


def test_a_claim_file_left_by_a_dead_process_is_taken_over(results_dir):
    stale = R.runs_dir(results_dir) / ".h.lock"
    stale.parent.mkdir(parents=True)
    stale.write_text("999999999")  # no lock held on it: whoever wrote it is gone
    with R.claimed(results_dir, "h") as mine:
        assert mine
        assert stale.read_text().splitlines()[0] == str(os.getpid())
    assert not stale.exists()


def test_releasing_a_claim_whose_file_was_removed_leaves_the_new_owners_file(results_dir):
    # Someone deletes runs/.h.lock while A holds it; B then claims a new file. A's
    # release must not unlink B's file, or a third job could claim the run too.
    first = R.RunLock(results_dir, "h")
    assert first.acquire()
    first.path.unlink()
    second = R.RunLock(results_dir, "h")
    assert second.acquire()
    first.release()
    assert second.path.exists()
    assert not R.RunLock(results_dir, "h").acquire()
    second.release()
    assert not second.path.exists()


def test_the_runs_folder_reads_while_a_claim_is_held_or_left_behind(results_dir):
    # The README's reader, pd.read_parquet("results/runs"), must not trip over claims:
    # one held now, and one a killed process left.
    R.write_run([_row()], results_dir, "done")
    (R.runs_dir(results_dir) / ".dead.lock").write_text("999999999")
    with R.claimed(results_dir, "h") as mine:
        assert mine
        assert pd.read_parquet(R.runs_dir(results_dir))[R.RUN_ID].tolist() == ["abc-1"]


def test_config_hash_ignores_where_results_go_but_not_the_seed(tmp_path):
    spec = RunSpec.create(results_dir=str(tmp_path / "a"))
    moved = dataclasses.replace(spec, results_dir=str(tmp_path / "b"), plot=True)
    reseeded = RunSpec.create(results_dir=str(tmp_path / "a"), seed=1)
    assert spec.config_hash == moved.config_hash
    assert spec.config_hash != reseeded.config_hash


def test_registering_a_strategy_changes_no_existing_hash():
    # The identity holds the chosen strategy's parameters only, so another strategy's
    # parameter (a new null column) leaves every existing run's name unchanged.
    spec = RunSpec.create(partition="dirichlet")
    assert spec.identity()["partition"] == {
        "name": "dirichlet",
        "alpha": 0.5,
        "min_client_size": 10,
    }


def test_config_columns_leave_inapplicable_parameters_null():
    row = config_columns(RunSpec.create(clients_per_round=5))
    assert row[R.ALPHA] is None and row[R.SIGMA] is None
    assert row[R.CLIENTS_PER_ROUND] == 5


def test_the_parameter_column_constants_name_registered_parameters():
    from fedbench.partitioning import all_params

    constants = (
        R.ALPHA,
        R.CLASSES_PER_CLIENT,
        R.SHARDS_PER_CLIENT,
        R.SIGMA,
        R.MIN_CLIENT_SIZE,
        R.QUANTITY_ALPHA,
        R.WRITER_MODE,
        R.MAX_DEGREES,
        R.ROTATE_HOLDOUT,
        R.SWAPS,
    )
    assert set(constants) == set(all_params()) == set(R.partition_columns())


def test_a_column_only_some_files_have_is_kept_by_load_runs(results_dir):
    # A plugin's parameter column, in a file written where the plugin was registered.
    import pyarrow as pa
    import pyarrow.parquet as pq

    R.write_run([_row(**{R.CONFIG_HASH: "a"})], results_dir, "a")
    table = R.to_table([_row(**{R.RUN_ID: "b-1", R.CONFIG_HASH: "b"})])
    pq.write_table(table.append_column("stride", pa.array([3])), R.run_path(results_dir, "b"))
    frame = R.load_runs(results_dir).set_index(R.CONFIG_HASH)
    assert frame.loc["b", "stride"] == 3 and pd.isna(frame.loc["a", "stride"])


def test_a_claim_notes_what_its_holder_does(results_dir):
    lock = R.RunLock(results_dir, "h")
    assert lock.acquire("40")
    try:
        assert R.claim_note(results_dir, "h") == "40"
    finally:
        lock.release()
    assert R.claim_note(results_dir, "h") is None


def _foreign_files(results_dir):
    """What a hostile folder holds beside two real runs: each kind of file a reader meets."""
    for seed in (0, 1):
        spec = RunSpec.create(seed=seed, rounds=1)
        hash_ = f"h{seed + 1}"
        row = {**config_columns(spec), R.CONFIG_HASH: hash_, R.RUN_ID: hash_, R.EVALUATED: True}
        R.write_run([_row(**row)], results_dir, hash_)
    runs = R.runs_dir(results_dir)
    (runs / "empty.parquet").touch()
    (runs / "folder.parquet").mkdir()
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_parquet(runs / "other.parquet")
    whole = (runs / "h1.parquet").read_bytes()
    (runs / "cut.parquet").write_bytes(whole[: len(whole) // 2])
    return ["cut.parquet", "empty.parquet", "folder.parquet", "other.parquet"]


@pytest.mark.parametrize("reader", [R.load_runs, R.load_settings], ids=["runs", "settings"])
def test_every_reader_skips_foreign_files_in_one_line_naming_them(results_dir, caplog, reader):
    import warnings

    foreign = _foreign_files(results_dir)
    with warnings.catch_warnings(), caplog.at_level("WARNING"):
        warnings.simplefilter("error")  # no pandas or Arrow warning either
        frame = reader(results_dir)
    assert sorted(frame[R.CONFIG_HASH].unique()) == ["h1", "h2"]
    (record,) = caplog.records
    assert "\n" not in record.getMessage()
    for name in foreign:
        assert f" {name} (" in record.getMessage() or f": {name} (" in record.getMessage()


def test_a_truncated_result_of_a_run_is_set_aside_only_by_the_job_holding_its_claim(
    results_dir, caplog
):
    path = R.write_run([_row()], results_dir, "h1")
    path.write_bytes(path.read_bytes()[:-100])  # its footer lost, as `truncate` leaves it
    assert R.read_progress(results_dir, "h1") is None and path.exists()  # a reader: untouched
    with caplog.at_level("WARNING"):
        assert R.read_progress(results_dir, "h1", reject=True) is None
    (record,) = caplog.records
    assert record.getMessage().startswith(f"result file {path} cannot be read (not Parquet")
    assert not path.exists() and path.with_name("h1.parquet.rejected").exists()


@pytest.mark.subprocess
def test_the_report_skips_foreign_files_in_one_line(results_dir):
    from tests.cli_helpers import fedbench

    foreign = _foreign_files(results_dir)
    done = fedbench(str(results_dir), module="analysis.report")
    assert done.returncode == 0, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"fedbench: skipping 4 file(s) in {R.runs_dir(results_dir)}")
    assert all(name in line for name in foreign)


def test_a_finished_run_is_recorded_in_its_claim_for_the_next_owner(results_dir):
    first = R.RunLock(results_dir, "h")
    assert first.acquire("5") and first.previous is None
    first.record_finished(R.Status.COMPLETED, 5)
    first.release()
    assert first.path.exists()  # kept for the next owner, unlocked
    second = R.RunLock(results_dir, "h")
    assert second.acquire("9") and second.previous == (R.Status.COMPLETED, 5)
    second.release()  # it recorded nothing (e.g. interrupted): removed as before
    assert not second.path.exists()


@pytest.mark.subprocess
def test_a_running_run_reads_running_while_its_owner_lives_and_killed_once_it_is_gone(
    results_dir,
):
    # A file says "running" from its checkpoints until its run's final write: a reader
    # asks the run's claim whether that run's process still lives.
    R.write_run([_row(**{R.STATUS: R.Status.RUNNING, R.ROUNDS: 5})], results_dir, "abc")
    lock = R.runs_dir(results_dir) / ".abc.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_CLAIM, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert R.load_runs(results_dir)[R.STATUS].tolist() == [R.Status.RUNNING]
        assert R.read_progress(results_dir, "abc").status_at(5) == R.Status.RUNNING
    finally:
        holder.kill()  # kill -9: the kernel drops its lock
        holder.wait()
    assert R.load_runs(results_dir)[R.STATUS].tolist() == [R.Status.KILLED]
    assert R.read_progress(results_dir, "abc").status_at(5) == R.Status.KILLED
    assert R.load_settings(results_dir)[R.STATUS].tolist() == [R.Status.KILLED]
    assert R.at_rounds(R.load_runs(results_dir), 5).empty  # no result for the setting yet
    # The process that takes the claim over sees what its predecessor left: killed.
    with R.claimed(results_dir, "abc") as mine:
        assert mine
        assert R.load_runs(results_dir)[R.STATUS].tolist() == [R.Status.KILLED]


def test_other_statuses_read_as_written_whoever_holds_the_claim(results_dir):
    for status in (R.Status.FAILED, R.Status.INTERRUPTED, R.Status.COMPLETED):
        R.write_run([_row(**{R.STATUS: status})], results_dir, "abc")
        assert R.load_runs(results_dir)[R.STATUS].tolist() == [status]
