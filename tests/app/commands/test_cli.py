"""The real commands, as a user types them: exit codes, one-line errors, results untouched."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fedbench import results as R
from tests.cli_helpers import REPO, fedbench

pytestmark = pytest.mark.subprocess


def _snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["partition=dirchlet"], "partition='dirchlet' is invalid"),
        (["fl.rouns=3"], "fl.rouns is not a config key"),
        (["fl.clients_per_round=11"], "fl.clients_per_round=11 is invalid"),
        (["-m", "fl.rounds=3,0"], "fl.rounds=0 is invalid"),
        (["dataset=fmnist", "dataset.path=/nonexistent/fmnist"], "/nonexistent/fmnist"),
        (["partition=natural"], "partition='natural' is invalid"),
        (["-m", "model=mlp,cnn", "fl.rounds=1"], "model='cnn' is invalid"),  # mlp must not train
        (["dataset=synthetic", "partition=rotation"], "partition='rotation' is invalid"),
        (  # zeros must not train
            ["-m", "algorithm=scaffold", "algorithm.control_start=zeros,random"],
            "algorithm.control_start='random' is invalid: allowed is zeros or network",
        ),
        (["calibrate=iid"], "calibrate='iid' is invalid"),
        (["partition=concept_shift", "partition.swaps=6"], "partition.swaps=6 is invalid"),
        # issue 34, clients' work: every new key, and keys that contradict each other
        (["-m", "fl.stragglers=0,1.5"], "fl.stragglers=1.5 is invalid: allowed is a float in"),
        (["fl.straggler_work=wait"], "fl.straggler_work='wait' is invalid"),
        (["fl.local_epochs_min=0"], "fl.local_epochs_min=0 is invalid"),
        (["fl.local_epochs_min=3"], "fl.local_epochs_min=3 is invalid: allowed is at most"),
        (
            ["fl.clients_per_round=1", "fl.stragglers=0.9"],
            "fl.stragglers=0.9 is invalid: allowed is a share that leaves a client training",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line_and_leaves_results_alone(results_dir, argv, fragment):
    existing = R.write_run(
        [{R.RUN_ID: "x", R.CONFIG_HASH: "x", R.STATUS: "completed"}], results_dir, "x"
    )
    runs = R.runs_dir(results_dir)
    os.utime(runs, ns=(10**18, 10**18))  # in the past: any entry made or removed there moves it
    before = _snapshot(results_dir)
    done = fedbench(*argv, f"results_dir={results_dir}")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("fedbench: error: ") and fragment in lines[0]
    assert "Traceback" not in done.stderr
    assert _snapshot(results_dir) == before and existing.exists()
    assert runs.stat().st_mtime_ns == 10**18  # runs/ untouched, its modification time too


def test_help_lists_the_group_options_without_the_schema_groups():
    done = fedbench("--help")
    assert done.returncode == 0, done.stderr
    groups = done.stdout.split("== Configuration groups ==")[1].split("== Config ==")[0]
    assert "model: cnn, cnn_emnist, linear, mlp" in groups
    assert "schema" not in groups


def test_a_run_writes_its_parquet_and_a_second_run_skips_it(results_dir):
    args = [
        "fl.rounds=2",
        "fl.num_clients=4",
        "fl.clients_per_round=2",
        f"results_dir={results_dir}",
    ]
    first = fedbench(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    files = sorted(R.runs_dir(results_dir).glob("*.parquet"))
    assert len(files) == 1
    frame = pd.read_parquet(R.runs_dir(results_dir))
    assert frame[R.ROUND].tolist() == [1, 2]
    stamp = files[0].stat().st_mtime_ns
    second = fedbench(*args)
    assert second.returncode == 0
    assert files[0].stat().st_mtime_ns == stamp


def test_partition_command_prints_a_summary_and_writes_the_client_table(results_dir):
    done = fedbench(
        "partition=pathological",
        "partition.classes_per_client=1",
        f"results_dir={results_dir}",
        "plot=true",
        module="fedbench.partition",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    tables = sorted((results_dir / "partitions").glob("*.parquet"))
    assert len(tables) == 1
    table = pd.read_parquet(tables[0])
    assert list(table.columns[:3]) == ["client_id", "client_name", "num_examples"]
    assert [c for c in table.columns if c.startswith("count_")] == [f"count_{c}" for c in range(10)]
    # #C=1 with 10 clients over 10 classes: client i holds exactly class i.
    counts = table.filter(like="count_").to_numpy()
    assert ((counts > 0).sum(axis=1) == 1).all()
    assert "label_emd" in done.stdout
    assert tables[0].with_suffix(".png").is_file()


def test_a_warning_that_reaches_the_user_is_one_line(results_dir):
    # natural with 10 of synthetic's 30 writers leaves examples out: a warning, not an error.
    done = fedbench(
        "partition=natural",
        "dataset=synthetic",
        f"results_dir={results_dir}",
        module="fedbench.partition",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("fedbench: warning: the natural strategy: ")
    assert "partition.writer_mode='sample' keeps 10 of 30 writers" in line
    assert ".py:" not in done.stderr and "Warning" not in done.stderr


def test_a_warning_line_names_a_foreign_category():
    from fedbench.app.commands.warning_line import format_warning

    assert format_warning(DeprecationWarning("old\n  api"), DeprecationWarning) == (
        "fedbench: warning: DeprecationWarning: old api"
    )


@pytest.mark.parametrize(
    ("signame", "error", "exit_code"),
    [
        ("SIGINT", "stopped by Ctrl-C", 130),
        ("SIGTERM", "stopped by SIGTERM", 143),
        # The ssh session went away: the same handler as SIGTERM's, so in the slow tier.
        pytest.param("SIGHUP", "stopped by SIGHUP", 129, marks=pytest.mark.slow),
    ],
)
def test_a_signal_during_training_stops_the_worker_and_keeps_the_rounds_so_far(
    results_dir, signame, error, exit_code
):
    import signal
    import time

    import psutil

    child = subprocess.Popen(
        [sys.executable, "-m", "fedbench", "fl.rounds=500", f"results_dir={results_dir}"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        for line in child.stdout:  # Hydra logs each round
            if "round 3/500" in line:
                break
        workers = [
            p
            for p in psutil.Process(child.pid).children(recursive=True)
            if "worker_binary" in " ".join(p.cmdline())
        ]
        assert len(workers) == 1
        child.send_signal(getattr(signal, signame))
        rest = child.communicate(timeout=60)[0]  # returns: nothing holds the pipe open
        assert child.returncode == exit_code, rest  # 128 + the signal, as shells expect
        assert "Traceback" not in rest
        assert rest.strip().splitlines()[-1].startswith("fedbench: stopped by ")
        deadline = time.monotonic() + 10
        while workers[0].is_running() and workers[0].status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "worker_binary survived Ctrl-C"
            time.sleep(0.1)
    finally:
        if child.poll() is None:
            child.kill()
    frame = pd.read_parquet(R.runs_dir(results_dir))
    assert (frame[R.STATUS] == R.Status.INTERRUPTED).all()
    # Round 3 was logged, so rounds 1 and 2 were surely kept (3 too, unless the signal
    # landed between its log line and its row).
    assert frame[R.ROUND].min() == 1 and 2 <= frame[R.ROUND].max() < 500
    assert frame[R.ERROR].str.contains(error).all()


def test_real_femnist_writers_round_trip_through_tff_emnist_sqlite(results_dir, femnist_leaf_dir):
    """LEAF JSON -> natural partition -> TFF's SqlClientData with EMNIST's split names ->
    read by TFF itself and by dataset=emnist with a natural partition: the same writers
    with the same label counts come back."""
    import collections
    import shutil

    import tensorflow as tf
    import tensorflow_federated as tff

    common = ["partition=natural", "fl.num_clients=10", "fl.clients_per_round=10"]
    leaf_dir, emnist_dir = results_dir / "from_leaf", results_dir / "from_emnist"
    done = fedbench(
        "dataset=femnist_leaf",
        f"dataset.path={femnist_leaf_dir}",
        *common,
        "export=tff_sql",
        "export_split_names=[all_train,all_test]",
        f"results_dir={leaf_dir}",
        module="fedbench.partition",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (leaf_table,) = (leaf_dir / "partitions").glob("*.parquet")
    leaf = pd.read_parquet(leaf_table).set_index("client_name")
    assert len(leaf) == 10  # a seeded sample of 10 of the 105 writers

    (sqlite,) = (leaf_dir / "partitions").rglob("*.sqlite")
    spec = collections.OrderedDict(
        label=tf.TensorSpec([], tf.int32), pixels=tf.TensorSpec([28, 28], tf.float32)
    )
    train = tff.simulation.datasets.load_and_parse_sql_client_data(str(sqlite), spec, "all_train")
    assert sorted(train.client_ids) == sorted(leaf.index)  # the writers' own ids
    sizes = {c: sum(1 for _ in train.create_tf_dataset_for_client(c)) for c in train.client_ids}
    assert sizes == leaf["num_examples"].to_dict()

    tff_cache = results_dir / "tff_cache"
    tff_cache.mkdir()
    shutil.copy(sqlite, tff_cache / "emnist_all.sqlite")
    done = fedbench(
        "dataset=emnist",
        f"dataset.cache_dir={tff_cache}",
        "dataset.only_digits=false",
        *common,
        f"results_dir={emnist_dir}",
        module="fedbench.partition",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (emnist_table,) = (emnist_dir / "partitions").glob("*.parquet")
    emnist = pd.read_parquet(emnist_table).set_index("client_name")
    columns = ["num_examples", *[f"count_{c}" for c in range(62)]]
    pd.testing.assert_frame_equal(emnist.loc[leaf.index, columns], leaf[columns])


@pytest.mark.slow
def test_two_sweeps_started_together_share_the_work_without_duplicates(results_dir):
    import time

    sweep = ["-m", "seed=0,1,2,3", "fl.rounds=2", f"results_dir={results_dir}"]
    env = {**os.environ}
    children = []
    for _ in range(2):
        children.append(
            subprocess.Popen(
                [sys.executable, "-m", "fedbench", *sweep],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                env=env,
            )
        )
        time.sleep(1.0)
    outputs = [c.communicate(timeout=600)[0] for c in children]
    assert [c.returncode for c in children] == [0, 0], outputs
    frame = pd.read_parquet(R.runs_dir(results_dir))
    # 4 seeds -> 4 runs of 2 rounds, each trained once: one file per run, no duplicate rows.
    assert frame.groupby(R.CONFIG_HASH)[R.RUN_ID].nunique().tolist() == [1, 1, 1, 1]
    assert len(frame) == 8 and (frame[R.STATUS] == R.Status.COMPLETED).all()
    trained = sum(len(re.findall(r"run \w+ completed: \d+ rows", o)) for o in outputs)
    assert trained == 4, outputs
    # No claim is left but the record of each finished run, for the next owner.
    claims = sorted(p.read_text().splitlines()[1] for p in R.runs_dir(results_dir).glob(".*.lock"))
    assert claims == ["finished completed 2"] * 4
