"""Runs stopped from outside resume at their checkpoint: kill -9, and Slurm-style time limits.

Each compares the resumed run's rows with one uninterrupted run of the same command.
"""

import contextlib
import json
import signal
import subprocess
import sys
import time

import pandas as pd
import psutil
import pytest

from fedbench import results as R
from tests.app.job.test_resume import TRAJECTORY
from tests.app.launchers.test_launchers import REPO, _is, fedbench
from tests.cli_helpers import resumed_where_it_stopped, resumes

pytestmark = [pytest.mark.subprocess, pytest.mark.tff, pytest.mark.slow]

# The default digits run, ~0.05-0.1 s a round here: long enough that submitit's signal,
# 30 s into a 1-minute job, comes before the end.
ROUNDS = 800


SCAFFOLD_ROUNDS = 100
SCAFFOLD = [
    "algorithm=scaffold",
    "fl.execution=sharded",
    "partition=dirichlet",
    "partition.alpha=0.3",
    "fl.clients_per_round=3",
    f"fl.rounds={SCAFFOLD_ROUNDS}",
    "fl.checkpoint_every=5",
]


@pytest.fixture(scope="module")
def scaffold_uninterrupted(tmp_path_factory):
    reference = tmp_path_factory.mktemp("scaffold_uninterrupted")
    done = fedbench(*SCAFFOLD, f"results_dir={reference}")
    assert done.returncode == 0, done.stderr[-3000:]
    return R.load_runs(reference)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    results = tmp_path_factory.mktemp("uninterrupted")
    done = fedbench(f"fl.rounds={ROUNDS}", f"results_dir={results}")
    assert done.returncode == 0, done.stderr[-3000:]
    return R.load_runs(results)


def rows_of(frame, rounds, columns=TRAJECTORY):
    cut = R.at_rounds(frame, rounds)
    return cut[columns].sort_values(R.ROUND).reset_index(drop=True)


def _kill_after_round_20_then_resume(results, args, rounds, between=None):
    """Start ``fedbench <args>``, kill -9 it once round 20 or later is stored, run it again.

    ``between(results)``, if given, is called before the re-run; when it returns a text,
    the re-run must log it and train from round 1 instead of resuming.
    Returns the round the killed run kept and what the re-run logged.
    """
    child = subprocess.Popen(
        [sys.executable, "-m", "fedbench", *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    runs = R.runs_dir(results)
    deadline = time.monotonic() + 300
    try:  # rows land with each checkpoint: wait for the one after round 20 or later
        while True:
            assert time.monotonic() < deadline and child.poll() is None, "never reached round 20"
            files = list(runs.glob("*.parquet"))
            if files and len(pd.read_parquet(files[0])) >= 20:
                break
            time.sleep(0.1)
        family = psutil.Process(child.pid).children(recursive=True)
        child.kill()  # kill -9: no handler runs, nothing is saved on the way out
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    deadline = time.monotonic() + 30  # the TFF worker dies with its parent
    while [p for p in family if _is(p, "worker_binary")] and time.monotonic() < deadline:
        time.sleep(0.2)
    for process in family:
        with contextlib.suppress(psutil.Error):
            assert not _is(process, "worker_binary")
    killed = R.load_runs(results)
    kept = int(killed[R.ROUND].max())
    # Written "running" at its checkpoints; its process is gone: it reads killed, not failed.
    assert kept % 5 == 0 and kept < rounds and (killed[R.STATUS] == R.Status.KILLED).all()

    expected = between(results) if between is not None else None
    done = fedbench(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    logged = done.stdout + done.stderr  # Hydra logs to stdout
    trained = [line for line in logged.splitlines() if f"/{rounds}: train_loss" in line]
    if expected is not None:
        assert expected in logged and "resuming after round" not in logged
        assert len(trained) == rounds  # from round 1
        return kept, logged
    # The rows of a round are written just before its checkpoint (a checkpoint never gets
    # ahead of its rows), so a kill in between resumes from the checkpoint before, 5
    # rounds back (fl.checkpoint_every=5), and trains those rounds again.
    resumed = [r for r in (kept, kept - 5) if f"resuming after round {r}" in logged]
    assert len(resumed) == 1, "resumed neither at the last kept round nor at the checkpoint before"
    assert len(trained) == rounds - resumed[0]  # only the rounds after the checkpoint
    return kept, logged


def test_a_run_killed_with_sigkill_resumes_at_its_last_checkpoint(tmp_path, uninterrupted):
    rounds = 40
    args = [f"fl.rounds={rounds}", "fl.checkpoint_every=5", f"results_dir={tmp_path}"]
    _kill_after_round_20_then_resume(tmp_path, args, rounds)
    pd.testing.assert_frame_equal(
        rows_of(R.load_runs(tmp_path), rounds), rows_of(uninterrupted, rounds), check_exact=True
    )


def _another_table(results):
    """Put another table in the killed run's place (its id is not its checkpoint's)."""
    (meta,) = (results / "checkpoints").glob("*.table/meta.json")
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "id": "another"}))
    return "not the table its checkpoint was saved with"


@pytest.mark.parametrize("between", [None, _another_table], ids=["resumed", "table_replaced"])
def test_a_scaffold_run_with_partial_participation_killed_resumes_its_client_states(
    tmp_path_factory, scaffold_uninterrupted, between
):
    # 3 of 10 clients a round on a label-skewed split: every client's control variate
    # c_i differs, and most are carried across rounds in which their client is not
    # sampled, so rows equal to an uninterrupted run's need every c_i restored exactly
    # from the table on disk (a kill -9 lands between its writes and a checkpoint). A
    # table that is not the run's is set aside, and the run trains again from round 1.
    killed = tmp_path_factory.mktemp("scaffold_killed")
    args = [*SCAFFOLD, f"results_dir={killed}"]
    _kill_after_round_20_then_resume(killed, args, SCAFFOLD_ROUNDS, between)
    pd.testing.assert_frame_equal(
        rows_of(R.load_runs(killed), SCAFFOLD_ROUNDS),
        rows_of(scaffold_uninterrupted, SCAFFOLD_ROUNDS),
        check_exact=True,
    )
    aside = list((killed / "checkpoints").glob("*.table.rejected"))
    assert len(aside) == (between is not None)


def _killed_rows_equal_uninterrupted(tmp_path_factory, name, setting, rounds, columns=TRAJECTORY):
    """Run ``setting`` whole and killed at round 20 then resumed: the same ``columns``."""
    reference = tmp_path_factory.mktemp(f"{name}_uninterrupted")
    done = fedbench(*setting, f"results_dir={reference}")
    assert done.returncode == 0, done.stderr[-3000:]
    killed = tmp_path_factory.mktemp(f"{name}_killed")
    _kill_after_round_20_then_resume(killed, [*setting, f"results_dir={killed}"], rounds)
    pd.testing.assert_frame_equal(
        rows_of(R.load_runs(killed), rounds, columns),
        rows_of(R.load_runs(reference), rounds, columns),
        check_exact=True,
    )


def test_a_sigterm_saves_a_checkpoint_at_the_last_round_and_the_rerun_resumes(
    tmp_path, uninterrupted
):
    rounds = 30
    args = [f"fl.rounds={rounds}", "fl.checkpoint_every=0", f"results_dir={tmp_path}"]
    child = subprocess.Popen(
        [sys.executable, "-m", "fedbench", *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for line in child.stdout:
            if f"round 7/{rounds}" in line:
                break
        child.send_signal(signal.SIGTERM)
        child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 143
    kept = int(R.load_runs(tmp_path)[R.ROUND].max())
    # Round 7 was logged, so round 6 was surely kept (7 too, unless the signal landed
    # between its log line and its row); with no periodic checkpoint, the resume below
    # starts from the one saved on SIGTERM, at the last kept row.
    assert kept >= 6
    done = fedbench(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming after round {kept}" in done.stdout + done.stderr
    pd.testing.assert_frame_equal(
        rows_of(R.load_runs(tmp_path), rounds), rows_of(uninterrupted, rounds), check_exact=True
    )


def test_a_timed_out_submitit_job_is_requeued_and_resumes_at_its_checkpoint(
    tmp_path, uninterrupted
):
    # submitit's local executor sends SIGUSR2 30 s before timeout_min, as Slurm does with
    # --signal; its handler asks Hydra's launcher to checkpoint (resubmit the same job)
    # and requeues it. fedbench saves its state on the way out and the requeued job resumes.
    done = fedbench(
        "-m",
        f"fl.rounds={ROUNDS}",
        f"results_dir={tmp_path / 'results'}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=1",
        f"fl.checkpoint_every={ROUNDS}",  # no periodic checkpoint: the save at the signal
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    logs = "".join(p.read_text() for p in (tmp_path / "sweep" / ".submitit").rglob("*_log.*"))
    assert "Requeued job" in logs and "resuming after round" in logs
    pairs = resumes(logs)  # the requeued job resumes after the round its rows reached
    assert any(n for _, n in pairs) and resumed_where_it_stopped(pairs), pairs
    assert "  completed: 1" in done.stderr
    pd.testing.assert_frame_equal(
        rows_of(R.load_runs(tmp_path / "results"), ROUNDS),
        rows_of(uninterrupted, ROUNDS),
        check_exact=True,
    )


def test_a_parallel_sweep_over_round_counts_trains_once(tmp_path):
    # Both jobs start at once under joblib; whichever claims the run first trains, the
    # other waits for it: 6 TFF rounds in all, and round 3 evaluated although eval_every=4.
    done = fedbench(
        "-m",
        "fl.rounds=3,6",
        "fl.eval_every=4",
        f"results_dir={tmp_path / 'results'}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    job_logs = "".join(p.read_text() for p in (tmp_path / "sweep").rglob("*.log"))
    trained = [line for line in job_logs.splitlines() if ": train_loss=" in line]
    assert len(trained) == 6, trained
    settings = R.load_settings(tmp_path / "results")
    last = settings.sort_values(R.ROUND).groupby(R.ROUNDS).last()
    assert last[R.ROUND].to_dict() == {3: 3, 6: 6} and last[R.EVALUATED].all()


def test_a_run_with_stragglers_and_unequal_epochs_killed_resumes_the_same_draws(
    tmp_path_factory,
):
    # Stragglers (partial work) and each client's epochs are drawn from (seed, round,
    # client): after kill -9 the resumed rounds take the uninterrupted run's work.
    rounds = 40
    setting = [
        "algorithm=fedprox",
        "fl.clients_per_round=4",
        "fl.stragglers=0.5",
        "fl.straggler_work=partial",
        "fl.local_epochs=2",
        "fl.local_epochs_min=1",
        f"fl.rounds={rounds}",
        "fl.checkpoint_every=5",
    ]
    columns = [*TRAJECTORY, R.LOCAL_STEPS_MEAN, R.LOCAL_STEPS_STD]
    _killed_rows_equal_uninterrupted(tmp_path_factory, "work", setting, rounds, columns)
