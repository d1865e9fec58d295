"""How a job stopped from outside ends, without a cluster: submitit's time-limit signal,
Slurm's restart count, and the summary's lines for killed, cancelled and relaunched jobs."""

import os
import signal
import sys

import pytest

from fedbench import results as R
from fedbench.app.launchers import slurm, slurm_job
from fedbench.app.sweep import summary
from fedbench.app.sweep.sweeper import _cancelled_before_start, _outcomes


@pytest.fixture
def submitit_handler():
    """A stand-in for submitit's SIGUSR2 handler: records the call, then exits as it does."""
    calls = []

    def requeue(signum, frame):
        calls.append(("requeue", signum))
        sys.exit(-1)

    previous = signal.signal(signal.SIGUSR2, requeue)
    yield calls
    signal.signal(signal.SIGUSR2, previous)


def _spin():
    for _ in range(10000):  # the handler runs between two bytecodes of this frame
        pass


def test_the_time_limit_signal_saves_the_run_before_submitit_requeues_it(submitit_handler):
    with pytest.raises(SystemExit) as ended, slurm_job.job_signals():
        try:
            os.kill(os.getpid(), signal.SIGUSR2)  # Slurm: the time limit is near
            _spin()
            submitit_handler.append("trained on")  # never: the run stops at once
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # Slurm's next signal, while the run saves
            _spin()
            submitit_handler.append("saved")
    # The save ran to its end, then submitit's handler requeued the job and exited.
    assert submitit_handler == ["saved", ("requeue", signal.SIGUSR2)]
    assert ended.value.code == -1
    assert isinstance(ended.value.__context__, slurm_job.Terminated)
    assert slurm_job.requeue_signalled(ended.value.__context__)


def test_sigterm_ends_the_run_without_a_requeue(submitit_handler):
    with pytest.raises(slurm_job.Terminated) as stop, slurm_job.job_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        _spin()
    assert stop.value.code == 128 + signal.SIGTERM and not slurm_job.requeue_signalled(stop.value)
    assert submitit_handler == []


@pytest.mark.parametrize(
    ("restarts_now", "at_start", "requeued"),
    [("2", "1", True), ("1", "1", False), ("1", None, True), ("0", None, False)],
)
def test_a_requeue_is_told_from_scancel_by_slurms_restart_count(
    tmp_path, monkeypatch, restarts_now, at_start, requeued
):
    # Slurm counts a restart when it requeues a job, before it sends SIGTERM; the job
    # started with SLURM_RESTART_COUNT of them (unset on its first start).
    fake = tmp_path / "scontrol"
    fake.write_text(f"#!/bin/sh\necho 'JobId=7 JobName=fedbench Restarts={restarts_now} X=1'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    if at_start is None:
        monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    else:
        monkeypatch.setenv("SLURM_RESTART_COUNT", at_start)
    assert slurm_job.being_requeued() is requeued


def test_outside_slurm_nothing_is_a_requeue(monkeypatch):
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "local")
    assert slurm_job.in_submitit_job() and not slurm_job.in_slurm_job()
    assert not slurm_job.being_requeued()


def test_a_killed_run_is_named_in_one_line_and_a_live_one_is_running_elsewhere():
    killed = summary.lost_outcome(["seed=1"], "h", R.Status.KILLED, "WorkerLost: gone")
    assert killed.status == R.Status.KILLED and "without a word" in killed.error
    assert "WorkerLost: gone" in killed.error
    live = summary.lost_outcome(["seed=1"], "h", R.Status.RUNNING, "lost")
    assert live.status == R.Status.ELSEWHERE
    relaunched = summary.relaunched_outcome(["seed=2"], "g", R.Status.KILLED, 20)
    lines = summary.summary_lines(summary.summarize([killed], 1.0, "results", [relaunched]))
    assert lines[1:] == [
        "  killed: 1",
        f"  killed: seed=1: {killed.error}",
        f"  relaunched: seed=2: {relaunched.error}",
    ]
    assert "killed after round 20" in relaunched.error


class _Spec:
    def __init__(self, results_dir, hash_):
        self.results_dir, self.config_hash = str(results_dir), hash_
        self.fl = type("Fl", (), {"rounds": 5})()


class _Prepared:
    def __init__(self, spec):
        self.spec = spec


def test_a_pending_job_cancelled_is_one_line_and_one_that_ran_is_not(tmp_path, monkeypatch):
    # Two array tasks: 12_0 started (Slurm opened its log) and 12_1 never did.
    folders = {}
    for task, started in (("12_0", True), ("12_1", False)):
        folder = tmp_path / ".submitit" / task
        folder.mkdir(parents=True)
        (folder / f"{task}_submitted.pkl").write_bytes(b"")
        if started:
            (folder / f"{task}_0_log.out").write_text("")
        folders[(f"seed={task[-1]}",)] = folder
    states = iter([{"12_0": "RUNNING", "12_1": "CANCELLED"}, {"12_0": "GONE", "12_1": "GONE"}])
    monkeypatch.setattr(slurm, "job_states", lambda ids: next(states))
    monkeypatch.setattr(slurm.time, "sleep", lambda seconds: None)
    (tmp_path / ".submitit" / "12").mkdir()  # the array's own: its submission script only
    (tmp_path / ".submitit" / "12" / "12_submission.sh").write_text("")
    assert slurm.job_folders(tmp_path / ".submitit") == set(folders.values())
    cancelled = _cancelled_before_start(folders)
    assert cancelled == {("seed=1",): "12_1"}  # after 12_0 ended; that one had started

    runs = [_Prepared(_Spec(tmp_path / "r", h)) for h in ("h0", "h1")]
    outcomes = _outcomes([["seed=0"], ["seed=1"]], runs, [], "lost", [0, 1], None, cancelled)
    assert [o.status for o in outcomes] == [R.Status.FAILED, R.Status.CANCELLED]
    lines = summary.summary_lines(summary.summarize(outcomes, 1.0, "r"))
    assert (
        "  cancelled: seed=1: cancelled before it started (Slurm job 12_1); run the same "
        "command again to launch it"
    ) in lines
