"""Faults of a sweep: failed jobs, results that cannot be written, launcher settings, threads."""

import errno
import json
import time

import pytest

from fedbench import results as R
from fedbench.app.job import experiment
from fedbench.app.job.outcome import SweepStopped
from fedbench.app.launchers.threads import launcher_threads
from fedbench.errors import FedbenchError
from fedbench.spec import RunSpec
from tests.cli_helpers import run_command

SMALL = ["fl.rounds=1", "fl.num_clients=4", "fl.clients_per_round=2"]


@pytest.mark.tff
def test_a_failed_job_is_one_line_the_others_go_on_and_the_command_exits_1(
    tmp_path, monkeypatch, capsys
):
    from fedbench.training import train

    real = train.run_rounds

    def worker_dies_in_seed_0(*args, **kwargs):
        if args[4].seed == 0:  # LoopSettings
            raise RuntimeError("TFF worker died with exit code -9")
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "run_rounds", worker_dies_in_seed_0)
    results = tmp_path / "results"
    with pytest.raises(SystemExit) as stop:
        run_command(["-m", "seed=0,1", *SMALL, f"results_dir={results}"], tmp_path, experiment.run)
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert "failed: RuntimeError: TFF worker died with exit code -9" in err
    assert "  completed: 1\n" in err and "  failed: 1\n" in err
    frame = R.load_runs(results)
    assert sorted(frame[R.STATUS]) == [R.Status.COMPLETED, R.Status.FAILED]
    (summary,) = (tmp_path / "sweep").rglob("sweep-summary.json")
    failed = json.loads(summary.read_text())["failed"]
    assert [job["overrides"][0] for job in failed] == ["seed=0"]


@pytest.mark.tff
def test_a_result_that_cannot_be_written_stops_the_sweep_in_one_line(tmp_path, monkeypatch):
    trained = []
    real = R.write_run

    def disk_full(rows, results_dir, hash_):
        trained.append(hash_)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(R, "write_run", disk_full)
    results = tmp_path / "results"
    with pytest.raises(SweepStopped) as stopped:
        run_command(
            ["-m", "seed=0,1,2", *SMALL, f"results_dir={results}"], tmp_path, experiment.run
        )
    assert len(trained) == 1  # the other two jobs never started
    assert f"run {trained[0]} trained but its result could not be written" in str(stopped.value)
    assert "(No space left on device)" in str(stopped.value)
    monkeypatch.setattr(R, "write_run", real)
    assert not R.runs_dir(results).exists() or not list(R.runs_dir(results).glob("*.parquet"))


def test_a_run_is_not_started_without_room_for_its_result(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 30, 1 << 30, 200_000))
    monkeypatch.setattr(experiment, "_train_and_write", pytest.fail)
    spec = RunSpec.create(results_dir=str(tmp_path))
    from fedbench.app.job.prepare import prepare

    with pytest.raises(FedbenchError, match=r"was not started: .* has 195 KiB free"):
        experiment.run(prepare(spec))


def test_results_on_a_filesystem_without_flock_are_refused_before_any_job(tmp_path, monkeypatch):
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(FedbenchError) as caught:
        run_command([f"results_dir={tmp_path / 'r'}"], tmp_path / "logs")
    assert "flock there fails (No locks available)" in str(caught.value)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["hydra/launcher=slurmm"], "hydra/launcher='slurmm' is invalid: allowed is one of"),
        (
            ["hydra/launcher=joblib", "hydra.launcher.n_jobs=0"],
            "hydra.launcher.n_jobs=0 is invalid: allowed is a number of parallel jobs >= 1",
        ),
        (
            ["hydra/launcher=slurm_cpu"],
            "hydra/launcher='slurm_cpu' is invalid: allowed is a launcher this machine can use",
        ),
        (
            ["hydra/launcher=submitit_slurm"],
            "hydra/launcher='submitit_slurm' is invalid: allowed is a launcher this machine "
            "can use: Slurm's sbatch is not on PATH",
        ),
    ],
)
def test_bad_launcher_settings_are_one_line_and_nothing_is_launched(
    tmp_path, monkeypatch, argv, message
):
    # PATH without Slurm's commands, whether or not this machine has them (a login node).
    (tmp_path / "no-slurm").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "no-slurm"))
    ran = []
    with pytest.raises(FedbenchError) as caught:
        run_command(
            ["-m", "seed=0,1", *argv, f"results_dir={tmp_path / 'r'}"], tmp_path, ran.append
        )
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert ran == [] and not (tmp_path / "r").exists()


def _stand_in(folder, name, body):
    """Write an executable ``folder/name`` running the shell ``body``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.mark.parametrize("launcher", ["submitit_slurm", "slurm_cpu"])
def test_slurm_whose_controller_does_not_answer_is_one_line_and_nothing_is_submitted(
    tmp_path, monkeypatch, launcher
):
    # A login node whose controller is down: sbatch is there, `scontrol ping` says DOWN
    # (what Slurm 22.05's scontrol prints then) and every submission would fail.
    bin_dir, submitted = tmp_path / "bin", tmp_path / "submitted"
    _stand_in(bin_dir, "sbatch", f"touch {submitted}; exit 1")
    _stand_in(bin_dir, "scontrol", "echo 'Slurmctld(primary) at vm is DOWN'; exit 1")
    monkeypatch.setenv("PATH", str(bin_dir))
    ran = []
    with pytest.raises(FedbenchError) as caught:
        run_command(
            ["-m", "seed=0,1", f"hydra/launcher={launcher}", f"results_dir={tmp_path / 'r'}"],
            tmp_path,
            ran.append,
        )
    message = str(caught.value)
    assert message.startswith(f"hydra/launcher='{launcher}' is invalid: allowed is a launcher")
    assert "Slurm's controller does not answer (Slurmctld(primary) at vm is DOWN)" in message
    assert "\n" not in message and "start slurmctld" in message
    assert ran == [] and not submitted.exists() and not (tmp_path / "r").exists()


def test_without_accounting_jobs_are_followed_with_squeue_and_one_gone_has_ended(
    tmp_path, monkeypatch
):
    from fedbench.app.launchers.slurm import SqueueWatcher

    queue = tmp_path / "queue"  # what the stand-in squeue prints
    _stand_in(tmp_path / "bin", "squeue", f"/bin/cat {queue}")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    watcher = SqueueWatcher(delay_s=600)
    queue.write_text("7_0|RUNNING|vm\n7_1|PENDING|\n")
    assert watcher.get_state("7_0", mode="force") == "RUNNING"
    assert watcher.get_state("7_1", mode="force") == "PENDING"
    assert not watcher.is_done("7_0", mode="cache")
    # 7_1 was cancelled; 7_0 left the queue (the controller's MinJobAge passed): both ended.
    queue.write_text("7_1|CANCELLED|vm\n")
    time.sleep(0.01)  # submitit ignores a forced update within 1 ms of the last
    assert watcher.get_state("7_1", mode="force") == "CANCELLED"
    assert watcher.get_state("7_0", mode="cache") == "GONE"
    assert watcher.is_done("7_0", mode="cache") and watcher.is_done("7_1", mode="cache")
    queue.unlink()  # squeue fails (the controller restarts): nothing is taken for ended
    time.sleep(0.01)
    assert watcher.get_state("7_2", mode="force") == "UNKNOWN"
    assert not watcher.is_done("7_2", mode="cache")


@pytest.mark.parametrize(
    ("launcher", "jobs", "expected"),
    [
        ({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}, 8, 0),
        # 8 cores: joblib n_jobs=2 -> 4 threads each; n_jobs=-1 runs 8 at once -> 1 each
        ({"_target_": "hydra_plugins.hydra_joblib_launcher.JoblibLauncher", "n_jobs": 2}, 8, 4),
        ({"_target_": "hydra_plugins.hydra_joblib_launcher.JoblibLauncher", "n_jobs": -1}, 8, 1),
        # two jobs only: at most two at once, whatever n_jobs says
        ({"_target_": "hydra_plugins.hydra_joblib_launcher.JoblibLauncher", "n_jobs": 8}, 2, 4),
        ({"_target_": "hydra_plugins.hydra_submitit_launcher.LocalLauncher"}, 4, 2),
        ({"_target_": "hydra_plugins.hydra_submitit_launcher.SlurmLauncher"}, 4, 0),
        (
            {"_target_": "hydra_plugins.hydra_submitit_launcher.SlurmLauncher", "cpus_per_task": 6},
            4,
            6,
        ),
    ],
)
def test_the_thread_budget_shares_the_cores_among_the_jobs_at_once(launcher, jobs, expected):
    assert launcher_threads(launcher, jobs, cpus=8) == expected


def test_threads_are_not_part_of_a_runs_identity():
    assert RunSpec.create(threads=3).config_hash == RunSpec.create().config_hash
    with pytest.raises(FedbenchError, match=r"fl\.threads=-1"):
        RunSpec.create(threads=-1)


def test_a_mount_whose_locks_hold_on_one_host_only_is_refused(tmp_path, monkeypatch):
    from fedbench import checks

    info = (
        "25 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
        f"36 25 0:45 / {tmp_path} rw,relatime - nfs server:/x rw,vers=3,nolock\n"
    )
    point, fstype, options = checks.mount_of(tmp_path / "results", info)
    assert (point, fstype) == (str(tmp_path), "nfs") and "nolock" in options
    real = checks.mount_of
    monkeypatch.setattr(checks, "mount_of", lambda path: real(path, info))
    with pytest.raises(FedbenchError, match=r"is nfs mounted with nolock, so jobs on two hosts"):
        checks.check_results_dir(str(tmp_path / "results"))


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_results_dir_is_refused_before_anything_is_written(tmp_path, monkeypatch, value):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # where an empty results_dir would have put the results
    with pytest.raises(FedbenchError) as caught:
        run_command([f"results_dir={value}"], tmp_path / "logs")
    assert str(caught.value).startswith("results_dir='' is invalid: allowed is a folder path")
    assert list(cwd.iterdir()) == []
