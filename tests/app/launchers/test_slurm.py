"""Sweeps on a real Slurm cluster: jobs, a time limit with requeues, scancel, shared runs.

Start a single-node cluster with ``.ci/slurm-up`` (``.ci/run`` does, then runs
``pytest -m slurm``). Where ``sinfo`` does not answer, every test here is skipped with
the reason. Jobs ask for one core and 1 GB each, so that two run at once on two cores.
"""

import json
import re
import shutil
import subprocess
import sys
import time

import pandas as pd
import pytest

from fedbench import results as R
from tests.app.job.test_resume import TRAJECTORY
from tests.app.launchers.test_launchers import SWEEP, basic, fedbench, metrics  # noqa: F401 (fixture)
from tests.cli_helpers import REPO, resumed_where_it_stopped, resumes


def _cluster() -> tuple[str | None, str]:
    """(a partition, '') where a Slurm controller answers; (None, why) elsewhere.

    The default partition if there is one, else the first (``.ci/slurm-up``'s ``cpu``).
    """
    if shutil.which("sinfo") is None:
        return None, "Slurm is not installed here (start a test cluster: .ci/slurm-up)"
    try:
        done = subprocess.run(
            ["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired:
        return None, "sinfo did not answer in 30 s (start a test cluster: .ci/slurm-up)"
    defaults = [p.rstrip("*") for p in done.stdout.split() if p.endswith("*")]
    if done.returncode != 0 or not done.stdout.strip():
        why = (done.stderr.strip().splitlines() or ["no partition"])[-1]
        return None, f"no Slurm controller answers ({why}); start one with .ci/slurm-up"
    return (defaults or done.stdout.split())[0].rstrip("*"), ""


pytestmark = [
    pytest.mark.slurm,
    pytest.mark.slow,
    pytest.mark.subprocess,
    pytest.mark.tff,
    pytest.mark.usefixtures("slurm_partition"),
]


@pytest.fixture(scope="session")
def slurm_partition() -> str:
    """The partition jobs go to; the tests skip with the reason where no cluster answers.

    Asked when a test here runs, not when the module is collected: ``sinfo`` waits for
    a controller that is not there, and every other run of the suite would wait too.
    """
    partition, why = _cluster()
    if partition is None:
        pytest.skip(why)
    return partition


@pytest.fixture
def small_jobs(slurm_partition) -> list[str]:
    """One core and 1 GB per job: two jobs at once on a 2-core node."""
    return [
        "hydra/launcher=submitit_slurm",
        f"hydra.launcher.partition={slurm_partition}",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=1",
        "hydra.launcher.timeout_min=10",
    ]


def _start(*args):
    """Start ``fedbench <args>`` in the background, its output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "fedbench", *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _where(tmp_path, name):
    return [f"results_dir={tmp_path / name}", f"hydra.sweep.dir={tmp_path / (name + '-logs')}"]


def _job_logs(sweep_dir, suffix="out"):
    return "".join(p.read_text() for p in sorted(sweep_dir.rglob(f"*_log.{suffix}")))


def _quiet(done):
    """No sacct warning reaches the user; a cluster without accounting is said once."""
    said = done.stdout + done.stderr
    assert "sacct" not in done.stderr and "Bypassing" not in said
    assert said.count("Slurm accounting is unavailable") <= 1


# slurm_cpu: the preset (4 cores, 16 GB, 4 h), cut down to this node.
@pytest.mark.parametrize("preset", [None, "slurm_cpu"], ids=["submitit_slurm", "slurm_cpu"])
def test_a_sweep_through_slurm_gives_the_metrics_of_one_process(
    basic,  # noqa: F811
    tmp_path,
    small_jobs,
    preset,
):
    launcher = small_jobs if preset is None else [f"hydra/launcher={preset}", *small_jobs[1:4]]
    done = fedbench(*SWEEP, *launcher, *_where(tmp_path, "r"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "  completed: 4" in done.stderr
    _quiet(done)
    (script,) = (tmp_path / "r-logs" / ".submitit").rglob("*_submission.sh")
    flags = dict(re.findall(r"^#SBATCH --([\w-]+)(?:=(.*))?$", script.read_text(), re.M))
    assert flags["array"].startswith("0-3") and flags["cpus-per-task"] == "1"
    assert flags["mem"] == "1GB" and flags["time"] == ("10" if preset is None else "240")
    # One core per job: TensorFlow sums in another order than with two; float32 rounding.
    pd.testing.assert_frame_equal(metrics(tmp_path / "r"), metrics(basic[0]), rtol=1e-5)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "hydra.launcher.partition=no_such_partition",
            "hydra.launcher.partition='no_such_partition' is invalid: allowed is a partition "
            "of this cluster (",
        ),
        ("hydra.launcher.mem_gb=100000", "hydra.launcher.mem_gb=100000 is invalid: allowed is at"),
    ],
)
def test_settings_the_cluster_refuses_are_one_line_and_nothing_is_submitted(
    tmp_path, small_jobs, setting, message
):
    before = _our_jobs()
    done = fedbench("-m", "seed=0,1", *small_jobs, setting, *_where(tmp_path, "r"))
    assert done.returncode == 2
    assert done.stderr.startswith(f"fedbench: error: {message}"), done.stderr
    assert done.stderr.count("\n") == 1
    assert not (tmp_path / "r").exists() and not (tmp_path / "r-logs").exists()
    assert _our_jobs() - before == set()  # nothing submitted


def _our_jobs():
    """The jobs the controller knows (finished ones too, for its MinJobAge)."""
    done = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i"], capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


#: A run long enough that Slurm's time limit comes while it trains (see the test).
LIMITED_ROUNDS = 2400
#: Requeues allowed: enough for slots of a few rounds each on a machine under load.
MAX_TIMEOUTS = 20
#: The run of the time-limit and requeue tests; no periodic checkpoint within a slot (a
#: slot trains at most ~1900 rounds: 50 s at 0.026 s a round), so a resume at the round
#: the rows reached comes from the state saved on the way out, not from a checkpoint.
LIMITED = [
    f"fl.rounds={LIMITED_ROUNDS}",
    "fl.num_clients=4",
    "fl.clients_per_round=2",
    f"fl.checkpoint_every={LIMITED_ROUNDS}",
]


@pytest.fixture
def uninterrupted(tmp_path_factory):
    """``start(rounds)``: the LIMITED run, to ``rounds``, trained in one process, one thread,
    started at once; its ``rows()`` wait for it (stopped with the test otherwise).

    It trains on the other core while a test's Slurm job trains (threads change the
    order of TensorFlow's sums: one thread, as the jobs have).
    """
    started = {}

    class Reference:
        def __init__(self, rounds):
            self.rounds, self.where = rounds, tmp_path_factory.mktemp("uninterrupted")
            args = [*LIMITED[1:], f"fl.rounds={rounds}", "fl.threads=1"]
            self.child = _start(*args, *_where(self.where, "ref"))

        def rows(self):
            _, err = self.child.communicate(timeout=1800)
            assert self.child.returncode == 0, err[-3000:]
            return R.at_rounds(R.load_runs(self.where / "ref"), self.rounds)

    def start(rounds):
        if rounds not in started:
            started[rounds] = Reference(rounds)
        return started[rounds]

    yield start
    for reference in started.values():  # a test that failed early: stop it, and its worker
        if reference.child.poll() is None:
            reference.child.terminate()
            try:
                reference.child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                reference.child.kill()
                reference.child.wait()


def test_a_real_time_limit_requeues_the_job_and_it_resumes_at_the_round_reached(
    tmp_path, small_jobs, uninterrupted
):
    reference = uninterrupted(LIMITED_ROUNDS)
    # timeout_min=2 with signal_delay_s=60: Slurm sends SIGUSR2 once the time left is at
    # most 60 s plus its 30-s check period, i.e. 30-60 s into each slot; a job starts in
    # 10-25 s, so each slot trains at most ~50 s. 2400 rounds of one thread take at least
    # 62 s on an idle core of this machine kind (0.026 s the fastest round measured, 0.033 s
    # the median, in the CI run where 1200 rounds finished in one slot): at least one
    # requeue. Under load
    # (0.2 s a round, slow starts) a slot may train only a few rounds: up to MAX_TIMEOUTS
    # requeues are allowed. The uninterrupted run trains meanwhile on the other core.
    done = fedbench(
        "-m",
        *LIMITED,
        *small_jobs[:-1],
        "hydra.launcher.timeout_min=2",
        "hydra.launcher.signal_delay_s=60",
        f"hydra.launcher.max_num_timeout={MAX_TIMEOUTS}",
        *_where(tmp_path, "r"),
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "  completed: 1\n" in done.stderr
    _quiet(done)
    logs, errors = _job_logs(tmp_path / "r-logs"), _job_logs(tmp_path / "r-logs", "err")
    # submitit logs through its own handler (warnings on stderr, the rest on stdout) and
    # Hydra's: count its own lines. Its "Requeued job" comes after fedbench saved the run.
    signals = re.findall(r"^submitit WARNING .* Caught signal SIGUSR2", errors, re.M)
    requeued = re.findall(r"^submitit INFO .* Requeued job", logs, re.M)
    pairs = resumes(logs)  # a signal during a slot's start-up stops no run: fewer
    assert pairs and len(pairs) <= len(signals) == len(requeued) <= MAX_TIMEOUTS, (
        pairs,
        errors[-3000:],
    )
    # Each slot saved its rows and the state of their last round before submitit requeued
    # the job; the next slot resumed there. There is no periodic checkpoint before round
    # LIMITED_ROUNDS: every resume is from a state saved on the way out.
    assert resumed_where_it_stopped(pairs), pairs
    assert any(n for _, n in pairs), pairs
    # The TFF worker ignores Slurm's signals (its Python process stops it): no round fails.
    assert "UNAVAILABLE" not in logs + errors
    _equal_to_uninterrupted(tmp_path / "r", reference)


def _equal_to_uninterrupted(results_dir, reference):
    rows = R.at_rounds(R.load_runs(results_dir), reference.rounds)
    ref = reference.rows()
    assert (rows[R.STATUS] == R.Status.COMPLETED).all()
    pd.testing.assert_frame_equal(
        rows[TRAJECTORY].sort_values(R.ROUND).reset_index(drop=True),
        ref[TRAJECTORY].sort_values(R.ROUND).reset_index(drop=True),
        check_exact=True,
    )


def _trained_rounds(sweep_dir):
    """The last ``round k/N`` the job logs of ``sweep_dir`` show (0: none yet)."""
    rounds = re.findall(r" - round (\d+)/\d+: ", _job_logs(sweep_dir))
    return int(rounds[-1]) if rounds else 0


#: Rounds of the scontrol requeue test: a few minutes of one job (not all in one slot).
REQUEUED_ROUNDS = 600


def test_scontrol_requeue_of_a_running_job_resumes_it_at_the_round_reached(
    tmp_path, small_jobs, uninterrupted
):
    # Slurm requeues the job with SIGTERM, as a pre-emption that requeues does: the job
    # saves its rows and state, ends without a result (Slurm counted a restart: not a
    # scancel) and its next start resumes; the sweep waits for it and ends completed.
    reference = uninterrupted(REQUEUED_ROUNDS)
    command = ["-m", f"fl.rounds={REQUEUED_ROUNDS}", *LIMITED[1:], *small_jobs]
    child = _start(*command, *_where(tmp_path, "r"))
    try:
        deadline = time.monotonic() + 900
        job = _array_job(tmp_path / "r-logs", deadline, child)
        while _trained_rounds(tmp_path / "r-logs") < 50:
            assert time.monotonic() < deadline and child.poll() is None, "the job did not train"
            time.sleep(0.5)
        subprocess.run(["scontrol", "requeue", job], check=True)
        err = child.communicate(timeout=1800)[1]
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err[-3000:]
    assert "  completed: 1\n" in err and "interrupted" not in err, err
    pairs = resumes(_job_logs(tmp_path / "r-logs"))
    assert len(pairs) == 1 and pairs[0][0] >= 50 and resumed_where_it_stopped(pairs), pairs
    _equal_to_uninterrupted(tmp_path / "r", reference)


def _array_job(sweep_dir, deadline, child):
    """The Slurm array job id of the sweep logging to ``sweep_dir``, once submitted."""
    while time.monotonic() < deadline and child.poll() is None:
        found = sorted((sweep_dir / ".submitit").rglob("*_submission.sh"))
        if found:
            return found[0].name.split("_")[0]
        time.sleep(0.5)
    raise AssertionError(f"no job was submitted: {child.poll() and child.communicate()[1]}")


def _rows(results_dir):
    runs = R.runs_dir(results_dir)
    files = runs.glob("*.parquet") if runs.exists() else []
    return {p.stem: len(pd.read_parquet(p)) for p in files}


def test_scancel_of_one_task_is_named_the_others_finish_and_the_rerun_resumes_it(
    tmp_path, small_jobs
):
    # 4 runs of 300 rounds, two at a time; task 0 is cancelled once it has a checkpoint.
    command = [*SWEEP, "fl.rounds=300", *small_jobs, *_where(tmp_path, "r")]
    child = _start(*command)
    try:
        deadline = time.monotonic() + 600
        job = _array_job(tmp_path / "r-logs", deadline, child)
        # Tasks 0 and 1 start together; both past round 20 (checkpoints at 10, 20), so task 0
        # has a checkpoint whichever of the two got going first.
        while len([n for n in _rows(tmp_path / "r").values() if n >= 20]) < 2:
            assert time.monotonic() < deadline and child.poll() is None, "no two runs got going"
            time.sleep(0.5)
        subprocess.run(["scancel", f"{job}_0"], check=True)
        err = child.communicate(timeout=900)[1]
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 1, err[-3000:]  # a job did not finish
    assert "  completed: 3\n" in err and "  interrupted: 1\n" in err, err
    (named,) = [line for line in err.splitlines() if line.startswith("  interrupted: partition=")]
    assert "partition=iid seed=0" in named and "stopped by SIGTERM (scancel)" in named
    assert "sacct" not in err and "Traceback" not in err
    frame = R.load_runs(tmp_path / "r")
    statuses = frame.groupby(R.CONFIG_HASH)[R.STATUS].first()
    assert sorted(statuses) == ["completed"] * 3 + ["interrupted"]
    stopped = statuses[statuses == R.Status.INTERRUPTED].index[0]
    kept = int(frame[frame[R.CONFIG_HASH] == stopped][R.ROUND].max())

    again = fedbench(*command)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "  completed: 1\n" in again.stderr and "  skipped: 3\n" in again.stderr
    logs = _job_logs(tmp_path / "r-logs")
    checkpoint = int(re.findall(r"resuming after round (\d+)", logs)[-1])
    assert 10 <= checkpoint <= kept  # from its checkpoint, not from round 1
    assert checkpoint in (kept, kept - 1)  # the state saved at scancel (see resumes)
    frame = R.load_runs(tmp_path / "r")
    assert (frame[R.STATUS] == R.Status.COMPLETED).all() and len(frame) == 4 * 300


def test_scancel_of_a_pending_job_is_one_line_and_it_is_not_launched_again(tmp_path, small_jobs):
    # Both jobs are submitted held (sbatch --hold): they stay pending. Task 0 is released
    # and trains; task 1 is cancelled while still pending. submitit stops waiting at the
    # job without a result; fedbench names it in one line and launches nothing more.
    command = [
        "-m",
        "seed=0,1",
        "fl.rounds=20",
        "fl.num_clients=4",
        "fl.clients_per_round=2",
        *small_jobs,
        "+hydra.launcher.additional_parameters.hold=true",
        *_where(tmp_path, "r"),
    ]
    child = _start(*command)
    try:
        job = _array_job(tmp_path / "r-logs", time.monotonic() + 600, child)
        subprocess.run(["scancel", f"{job}_1"], check=True)
        subprocess.run(["scontrol", "release", f"{job}_0"], check=True)
        err = child.communicate(timeout=900)[1]
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 1, err[-3000:]  # a job did not run
    assert "  completed: 1\n" in err and "  cancelled: 1\n" in err, err
    (named,) = [line for line in err.splitlines() if line.startswith("  cancelled: seed=1")]
    assert named.endswith(
        f": cancelled before it started (Slurm job {job}_1); run the same command again to "
        "launch it"
    ), err
    assert "once more" not in err and "Traceback" not in err and "sacct" not in err
    folders = sorted(p.name for p in (tmp_path / "r-logs" / ".submitit").iterdir() if p.is_dir())
    assert folders == [job, f"{job}_0", f"{job}_1"]  # the array, its two tasks: nothing more
    frame = R.load_runs(tmp_path / "r")
    assert frame[R.SEED].unique().tolist() == [0]  # seed 1 trained nothing
    summary = json.loads((tmp_path / "r-logs" / "sweep-summary.json").read_text())
    assert [o["overrides"][0] for o in summary["cancelled"]] == ["seed=1"]


def test_two_sweeps_at_once_share_their_runs_and_train_each_once(tmp_path, small_jobs):
    # Sweep A asks seeds 0,1,2 and sweep B seeds 1,2,3 of the same grid, into one results
    # folder, at the same time: four runs, each trained once (claims on the shared folder).
    rounds = 30
    common = [f"fl.rounds={rounds}", "fl.num_clients=4", "fl.clients_per_round=2", *small_jobs]

    def where(name):
        return [f"results_dir={tmp_path / 'r'}", f"hydra.sweep.dir={tmp_path / name}"]

    sweeps = {
        name: _start("-m", f"seed={seeds}", *common, *where(name))
        for name, seeds in (("a", "0,1,2"), ("b", "1,2,3"))
    }
    errs = {}
    try:
        for name, child in sweeps.items():
            errs[name] = child.communicate(timeout=900)[1]
    finally:
        for child in sweeps.values():
            if child.poll() is None:
                child.kill()
    for name, child in sweeps.items():
        assert child.returncode == 0, errs[name][-3000:]
    trained = [
        line
        for name in sweeps
        for line in _job_logs(tmp_path / name).splitlines()
        if re.search(rf"round \d+/{rounds}: train_loss", line)
    ]
    assert len(trained) == 4 * rounds  # each of the four runs' rounds trained once
    frame = R.load_runs(tmp_path / "r")
    assert frame[R.CONFIG_HASH].nunique() == 4 and (frame[R.STATUS] == R.Status.COMPLETED).all()


def test_a_slurm_job_gets_the_same_inputs_as_the_basic_launchers_job(
    small_jobs, tmp_path, monkeypatch
):
    # The one path of tests/app/job/test_task.py, on a real cluster: the job's checked
    # spec travels in the pickled task function of its Slurm job.
    from tests.app.job.test_task import received_in_a_child

    slurm = received_in_a_child(small_jobs, tmp_path, monkeypatch)
    assert {got["launch"].threads for got in slurm.values()} == {1}  # cpus_per_task
