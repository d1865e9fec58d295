"""Sweeps through Hydra's launchers: the same results as in one process, faults, Slurm."""

import contextlib
import functools
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from omegaconf import OmegaConf

from fedbench import results as R
from fedbench.results.lock import claim_holder, claimed_elsewhere
from tests import cli_helpers
from tests.app.launchers import fake_slurm
from tests.cli_helpers import REPO

pytestmark = [pytest.mark.subprocess, pytest.mark.tff]

# 4 jobs: two partitions x two seeds, small enough for a few seconds each.
SWEEP = [
    "-m",
    "partition=iid,dirichlet",
    "seed=0,1",
    "partition.min_client_size=5",
    "fl.rounds=2",
    "fl.num_clients=4",
    "fl.clients_per_round=2",
]
METRICS = [R.TRAIN_LOSS, R.TEST_ACCURACY, R.CLIENT_DRIFT, R.TRAIN_EXAMPLES]


#: The commands here run sweeps: a longer limit than a single command's.
fedbench = functools.partial(cli_helpers.fedbench, timeout=600)


def metrics(results_dir):
    frame = R.load_runs(results_dir).sort_values([R.CONFIG_HASH, R.ROUND])
    return frame[[R.CONFIG_HASH, R.ROUND, *METRICS]].reset_index(drop=True)


@pytest.fixture(scope="module")
def basic(tmp_path_factory):
    results = tmp_path_factory.mktemp("basic")
    done = fedbench(*SWEEP, f"results_dir={results}")
    assert done.returncode == 0, done.stderr[-3000:]
    return results, done


def test_every_multirun_ends_with_its_summary(basic):
    results, done = basic
    assert "fedbench: 4 jobs in " in done.stderr and "  completed: 4" in done.stderr
    (summary_file,) = (results / "logs" / "multirun").rglob("sweep-summary.json")
    summary = json.loads(summary_file.read_text())
    assert summary["statuses"] == {"completed": 4} and summary["failed"] == []
    assert {len(o["overrides"]) for o in summary["outcomes"]} == {7}


@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher",
    [
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
        ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"],
    ],
    ids=["joblib", "submitit_local"],
)
def test_a_parallel_launcher_gives_the_metrics_of_one_process(basic, tmp_path, launcher):
    done = fedbench(*SWEEP, *launcher, f"results_dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "  completed: 4" in done.stderr
    # Threads change how TensorFlow sums in parallel: equal to float32 rounding.
    pd.testing.assert_frame_equal(metrics(tmp_path), metrics(basic[0]), rtol=1e-5)


@pytest.mark.slow
def test_a_joblib_job_gets_its_eval_rounds_and_threads_through_its_overrides(tmp_path):
    # No fedbench variable in the command's environment, and fedbench sets none for its
    # jobs: what a job in a loky worker needs reaches it among its overrides.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDBENCH_")}
    small = ["fl.num_clients=4", "fl.clients_per_round=2", "fl.eval_every=5"]
    joblib = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    argv = ["-m", "fl.rounds=2,3", "seed=0,1", *small, *joblib, f"results_dir={tmp_path}"]
    done = fedbench(*argv, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "  completed: 2" in done.stderr and "  skipped: 2" in done.stderr
    runs = R.load_runs(tmp_path)
    # eval_every=5: a 3-round run alone evaluates its last round only; asked for 2
    # rounds in the same sweep, its one launched job evaluates round 2 as well.
    evaluated = runs[runs[R.EVALUATED]].groupby(R.CONFIG_HASH)[R.ROUND].apply(list)
    assert evaluated.tolist() == [[2, 3], [2, 3]]
    # The thread budget: joblib runs the 2 launched jobs at once, so each gets half the
    # cores (launcher_threads), at least one.
    expected = max(1, len(os.sched_getaffinity(0)) // 2)
    saved = sorted((tmp_path / "logs" / "multirun").rglob(".hydra/config.yaml"))
    launch = [OmegaConf.to_container(OmegaConf.load(path).launch) for path in saved]
    assert launch == [{"eval_rounds": [2], "threads": expected}] * 2


@pytest.mark.slow
def test_slurm_through_a_stand_in_sbatch(basic, tmp_path):
    env = fake_slurm.install(tmp_path / "bin", tmp_path / "slurm")
    results = tmp_path / "results"
    done = fedbench(
        *SWEEP,
        "hydra/launcher=submitit_slurm",
        "hydra.launcher.partition=cpu",
        "hydra.launcher.timeout_min=7",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=2",
        f"results_dir={results}",
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (script,) = (tmp_path / "slurm" / "submitted").iterdir()
    flags = fake_slurm.sbatch_flags(script.read_text())
    assert flags["partition"] == "cpu" and flags["time"] == "7"
    assert flags["cpus-per-task"] == "1" and flags["mem"] == "2GB"
    assert flags["array"].startswith("0-3")  # the four jobs, one array
    assert "submitit.core._submit" in script.read_text()
    pd.testing.assert_frame_equal(metrics(results), metrics(basic[0]), rtol=1e-5)


def _is(process, what):
    """Whether a live (not zombie) process's command line holds ``what``."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE and what in " ".join(process.cmdline())
    except psutil.Error:  # gone meanwhile
        return False


#: A parallel sweep long enough to be interrupted while it trains.
LONG_ROUNDS = 200  # ~0.05-0.1 s a round: a run trains for seconds, the sweep for longer
LONG_PARALLEL = [
    *SWEEP,
    f"fl.rounds={LONG_ROUNDS}",
    "hydra/launcher=joblib",
    "hydra.launcher.n_jobs=2",
]


def _start(results_dir, **popen):
    """Start ``fedbench <LONG_PARALLEL>`` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "fedbench", *LONG_PARALLEL, f"results_dir={results_dir}"],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        **popen,
    )


def _workers_of(pid):
    try:
        return [p for p in psutil.Process(pid).children(recursive=True) if _is(p, "worker_binary")]
    except psutil.NoSuchProcess:
        return []


@pytest.mark.slow
def test_a_parallel_sweep_killed_with_sigkill_resumes_without_redoing_finished_runs(tmp_path):
    child = _start(
        tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    runs = R.runs_dir(tmp_path)
    deadline = time.monotonic() + 300
    # Rows land at each checkpoint too: wait for a run that completed.
    while not any(R.answered_status(tmp_path, p.stem, LONG_ROUNDS) for p in runs.glob("*.parquet")):
        assert time.monotonic() < deadline and child.poll() is None, "no run finished"
        time.sleep(0.2)
    family = psutil.Process(child.pid).children(recursive=True)
    assert [p for p in family if _is(p, "LokyProcess")], "no joblib worker to watch"
    child.kill()  # kill -9 the parent sweep, as a scheduler or the OOM killer would
    child.wait()
    # Each joblib worker notices its parent is gone: a busy one saves its rows as
    # failed, stops its TFF worker and exits; an idle one exits at once. Nothing of
    # the sweep is left 30 s later (loky's resource trackers end with their clients).
    deadline = time.monotonic() + 30
    while [p for p in family if _is(p, "")] and time.monotonic() < deadline:
        time.sleep(0.5)
    left = [p for p in family if _is(p, "")]
    for process in family:
        with contextlib.suppress(psutil.Error):
            process.kill()
    assert not left, [" ".join(p.cmdline())[:120] for p in left]
    finished = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.parquet")}
    finished = {
        name: stamp
        for name, stamp in finished.items()
        if pd.read_parquet(runs / name)[R.STATUS].iloc[0] == R.Status.COMPLETED
    }
    assert finished
    done = fedbench(*LONG_PARALLEL, f"results_dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-3000:]
    # The re-run trains exactly the runs that had not finished, and skips the others.
    assert f"  skipped: {len(finished)}\n" in done.stderr
    assert f"  completed: {4 - len(finished)}\n" in done.stderr or len(finished) == 4
    frame = R.load_runs(tmp_path)
    assert frame[R.CONFIG_HASH].nunique() == 4 and (frame[R.STATUS] == R.Status.COMPLETED).all()
    for name, stamp in finished.items():  # finished runs were not trained again
        assert (runs / name).stat().st_mtime_ns == stamp
    assert not _workers_of(os.getpid())


def _last_logged_round(log_file):
    """The last ``round k/N`` a job's log shows it trained (0: none)."""
    rounds = re.findall(r" - round (\d+)/\d+: ", log_file.read_text())
    return int(rounds[-1]) if rounds else 0


def _checkpoint_round(results_dir, hash_):
    with np.load(Path(results_dir) / "checkpoints" / f"{hash_}.npz") as archive:
        return json.loads(archive["meta"].tobytes().decode())["round"]


@pytest.mark.slow
def test_sigterm_to_a_parallel_sweep_saves_every_running_job_in_one_line(tmp_path):
    child = _start(tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    runs = R.runs_dir(tmp_path)
    deadline = time.monotonic() + 300
    # Both jobs train (their first rows land at round 10's checkpoint), then more rounds.
    while len(list(runs.glob("*.parquet"))) < 2:
        assert time.monotonic() < deadline and child.poll() is None, "the jobs did not train"
        time.sleep(0.2)
    time.sleep(random.Random(22).uniform(0.5, 2.0))  # somewhere between checkpoints
    child.send_signal(signal.SIGTERM)
    err = child.communicate(timeout=300)[1]
    lines = [line for line in err.splitlines() if "][" not in line]  # Hydra's log lines
    assert child.returncode == 143, err[-2000:]
    assert len(lines) == 1 and lines[0].startswith("fedbench: stopped by SIGTERM"), lines
    assert not _workers_of(os.getpid())
    # Every job that was training saved its rows and its state after the last round
    # it trained (its log's last round), not only at its last checkpoint.
    stopped = {}
    for log_file in (tmp_path / "logs" / "multirun").rglob("fedbench.log"):
        hashes = set(re.findall(r"run ([0-9a-f]{16}) interrupted", log_file.read_text()))
        if hashes:
            (hash_,) = hashes
            stopped[hash_] = _last_logged_round(log_file)
    assert len(stopped) == 2, stopped
    for hash_, last in stopped.items():
        frame = pd.read_parquet(R.run_path(tmp_path, hash_))
        assert frame[R.ROUND].max() == last and _checkpoint_round(tmp_path, hash_) == last
    done = fedbench(*LONG_PARALLEL, f"results_dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-3000:]
    logs = "".join(p.read_text() for p in (tmp_path / "logs" / "multirun").rglob("*.log"))
    for hash_, last in stopped.items():
        assert f"run {hash_}: resuming after round {last}\n" in logs
    frame = R.load_runs(tmp_path)
    assert frame[R.CONFIG_HASH].nunique() == 4 and (frame[R.STATUS] == R.Status.COMPLETED).all()


def _single_run(results_dir, rounds):
    return subprocess.Popen(
        [sys.executable, "-m", "fedbench", f"fl.rounds={rounds}", f"results_dir={results_dir}"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        # As a terminal's foreground job: SIGINT not ignored (a shell's & would ignore it).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


#: How many instants of start-up the Ctrl-C test interrupts.
INSTANTS = 8


@pytest.mark.slow
def test_ctrl_c_at_any_instant_of_start_up_ends_the_command_in_one_line(tmp_path):
    # Start-up's length on this machine, now: from launch to the first round's log line.
    began = time.monotonic()
    calibration = _single_run(tmp_path / "calibration", 2)
    while not any(
        " - round 1/" in log.read_text() for log in (tmp_path / "calibration").rglob("*.log")
    ):
        assert calibration.poll() is None, calibration.communicate()[1][-2000:]
        time.sleep(0.05)
    start_up = time.monotonic() - began
    err = calibration.communicate(timeout=300)[1]
    assert calibration.returncode == 0, err[-2000:]
    # Before any of fedbench's code runs, the interpreter starts (its site-packages' .pth
    # files): a signal then gets Python's own handling. Three times its time, measured now.
    began = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True, cwd=REPO)
    interpreter = 3 * (time.monotonic() - began)
    # Seeded instants spread over the rest (imports, Hydra, pre-flight, the TFF worker,
    # the first round), the earliest ones denser: fedbench's first steps are short.
    rng = random.Random(22)
    instants = sorted(
        interpreter + (start_up - interpreter) * rng.random() ** 2 for _ in range(INSTANTS)
    )
    for index, seconds in enumerate(instants):
        results = tmp_path / str(index)
        child = _single_run(results, 40)
        time.sleep(seconds)
        child.send_signal(signal.SIGINT)
        err = child.communicate(timeout=300)[1]
        lines = [line for line in err.splitlines() if "][" not in line]  # Hydra's log lines
        at = f"Ctrl-C at {seconds:.2f} s of {start_up:.1f} s"
        # Exit status 130, or ended by SIGINT itself: a shell reports both as 130.
        assert child.returncode in (130, -signal.SIGINT), (at, err[-2000:])
        assert len(lines) == 1 and lines[0].startswith("fedbench: stopped by Ctrl-C"), (at, lines)
        frame = R.load_runs(results)
        assert frame.empty or (frame[R.STATUS] == R.Status.INTERRUPTED).all(), at
        assert np.all(frame[R.ROUND].dropna() < 40), at


@pytest.mark.slow
def test_a_killed_joblib_job_does_not_stop_the_sweep(tmp_path):
    # joblib stops its whole pool when one worker dies; fedbench launches the lost jobs
    # once more, so the sweep still finishes every run.
    child = _start(tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not _workers_of(child.pid):
        assert time.monotonic() < deadline and child.poll() is None, "no job started"
        time.sleep(0.2)
    trainer = _workers_of(child.pid)[0]
    trainer.parent().kill()  # the job's process (a joblib worker), as the OOM killer would
    err = child.communicate(timeout=600)[1]
    assert "fedbench: 4 jobs in " in err
    frame = R.load_runs(tmp_path)
    assert frame[R.CONFIG_HASH].nunique() == 4 and (frame[R.STATUS] == R.Status.COMPLETED).all()
    assert child.returncode == 0, err[-3000:]


def _kill_the_trainer(results_dir, other_than, min_rows, child, deadline):
    """kill -9 the process training the one run under ``results_dir`` once its file holds
    ``min_rows`` rows and says ``running``; a process other than ``other_than``.

    Returns the killed pid and the last round its rows hold.
    """
    while True:
        if child.poll() is not None:
            raise AssertionError(f"the sweep ended: {child.communicate()[1][-3000:]}")
        assert time.monotonic() < deadline, "no trainer to kill"
        files = list(R.runs_dir(results_dir).glob("*.parquet"))
        if files:
            pid = claim_holder(results_dir, files[0].stem)
            stored = pd.read_parquet(files[0])
            alive = pid is not None and pid != other_than and psutil.pid_exists(pid)
            if alive and len(stored) >= min_rows and claimed_elsewhere(results_dir, files[0].stem):
                break
        time.sleep(0.2)
    assert (stored[R.STATUS] == R.Status.RUNNING).all()  # what the file says while it trains
    assert (R.load_runs(results_dir)[R.STATUS] == R.Status.RUNNING).all()  # its owner lives
    os.kill(pid, signal.SIGKILL)  # as the OOM killer would: nothing is saved on the way out
    with contextlib.suppress(psutil.Error):
        psutil.Process(pid).wait(timeout=30)
    return pid, int(pd.read_parquet(files[0])[R.ROUND].max())


@pytest.mark.slow
def test_a_killed_run_reads_killed_in_load_runs_the_report_and_the_summary(tmp_path):
    # One job under joblib; its process is killed with kill -9 mid-run, the sweep launches
    # it once more (it resumes), and that one is killed too: the sweep ends with it killed.
    results = tmp_path / "r"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fedbench",
            "-m",
            "seed=0",
            "fl.rounds=20000",
            "fl.num_clients=4",
            "fl.clients_per_round=2",
            "fl.checkpoint_every=5",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",  # 1 would run the job in the command's process
            f"results_dir={results}",
            f"hydra.sweep.dir={tmp_path / 'logs'}",
        ],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 600
        first, first_round = _kill_the_trainer(results, None, 10, child, deadline)
        assert (R.load_runs(results)[R.STATUS] == R.Status.KILLED).all()  # no owner: killed
        _, last_round = _kill_the_trainer(results, first, first_round + 10, child, deadline)
        err = child.communicate(timeout=300)[1]
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 1, err[-3000:]  # a job did not finish
    assert "  killed: 1\n" in err, err
    (killed,) = [line for line in err.splitlines() if line.startswith("  killed: seed=0 ")]
    assert "its process ended without a word (kill -9, out of memory, a node failure" in killed
    assert killed.endswith("kept: run the same command again to resume")
    (relaunched,) = [line for line in err.splitlines() if line.startswith("  relaunched: seed=0")]
    assert f": killed after round {first_round} (its process ended without a word" in relaunched
    frame = R.load_runs(results)
    assert (frame[R.STATUS] == R.Status.KILLED).all() and frame[R.ROUND].max() == last_round
    assert "Traceback" not in err and "  failed" not in err
    report = subprocess.run(
        [sys.executable, "-m", "analysis.report", str(results)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 2  # nothing finished to tabulate: it says why, in one line
    assert (
        report.stderr.count("\n") == 1
        and (
            f"1 killed (its process ended without a word (kill -9, out of memory, a node "
            f"failure)): {frame[R.CONFIG_HASH].iloc[0]} (rounds=20000, rows to round {last_round})"
        )
        in report.stderr
    ), report.stderr


@contextlib.contextmanager
def _small_filesystem(folder, size="4m"):
    """A real filesystem of ``size`` mounted at ``folder`` (tmpfs), or the test is skipped."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.slow
def test_a_disk_filling_mid_sweep_says_which_jobs_were_training_and_which_never_started(
    tmp_path,
):
    with _small_filesystem(tmp_path / "small") as results:
        child = _start(results, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        # Both jobs of the pool train past their first checkpoint (round 10).
        while len(list(R.runs_dir(results).glob("*.parquet"))) < 2:
            assert time.monotonic() < deadline and child.poll() is None, "the jobs did not train"
            time.sleep(0.2)
        training = {p.stem for p in R.runs_dir(results).glob("*.parquet")}
        # Fill the disk, as another user's job would (dd stops at "No space left").
        subprocess.run(
            ["dd", "if=/dev/zero", f"of={results / 'filler'}", "bs=64k"], capture_output=True
        )
        err = child.communicate(timeout=300)[1]
        assert child.returncode == 1, err[-3000:]
        lines = [line for line in err.splitlines() if "][" not in line]  # Hydra's log lines
        (cause,) = [line for line in lines if line.startswith("fedbench: error: ")]
        assert "No space left on device" in cause and re.search(r"run [0-9a-f]{16} ", cause)
        failed = [line for line in lines if line.startswith("  failed: ") and "=" in line]
        assert len(failed) == 4, lines  # every job: none finished
        stopped = [line for line in failed if "was training when the sweep stopped" in line]
        started_not = [line for line in failed if "not started: the sweep stopped" in line]
        saving = [line for line in failed if "could not be written" in line]
        # The run whose rows could not be written is named with its cause; the other one
        # training keeps its rows through its last checkpoint; the two queued never started.
        assert len(saving) == 1 and len(stopped) == 1 and len(started_not) == 2, "\n".join(lines)
        assert re.search(r"run ([0-9a-f]{16}) ", saving[0]).group(1) in training
        assert len(lines) <= 1 + 1 + 4 + 1 + 1, lines  # header, count, jobs, [file], cause
        for path in R.runs_dir(results).glob("*.parquet"):  # nothing half-written
            assert pd.read_parquet(path)[R.ROUND].max() >= 10
        assert not _workers_of(os.getpid())
