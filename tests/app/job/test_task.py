"""Every launcher runs a job through the same function, with the same inputs, as data.

The jobs here only record what they were handed (``fedbench-partition``'s command, so
nothing loads TensorFlow): the prepared run, the launch arguments, the functions that
called them and the process they ran in. The basic launcher runs them in this process;
joblib and submitit_local in child processes that get the checked spec pickled with
the job, not from a module dict nor the environment.
"""

from __future__ import annotations

import inspect
import os
import pickle
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig

from fedbench import results as R
from fedbench.app.commands import cli
from fedbench.app.config.launch_args import LaunchArgs
from fedbench.app.job import task
from fedbench.app.launchers.children import CommandProcess
from fedbench.spec import RunSpec
from tests.cli_helpers import REPO, hydra_folders

SWEEP = ["-m", "seed=0,1", "fl.num_clients=4", "fl.clients_per_round=2"]


def record(prepared, session):
    """Each job's run: write what it received under ``results_dir/received/``."""
    stack = inspect.stack()
    launcher = HydraConfig.get().runtime.choices["hydra/launcher"]
    folder = Path(prepared.spec.results_dir) / "received"
    folder.mkdir(parents=True, exist_ok=True)
    received = {
        "spec": prepared.spec,
        "launch": prepared.launch,
        "parts": [part.tolist() for part in prepared.partition.parts],
        "callers": [(frame.function, Path(frame.filename).name) for frame in stack[1:3]],
        "pid": os.getpid(),
        "session": session,
    }
    name = f"{launcher}-{prepared.spec.seed}.pkl"
    (folder / name).write_bytes(pickle.dumps(received))
    return R.Status.REPORTED


def received_through(launcher: list[str], tmp_path: Path, monkeypatch) -> dict[int, dict]:
    """Run the sweep with ``launcher``'s overrides; what each job received, by seed."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    results = tmp_path / "results"
    argv = [*SWEEP, f"results_dir={results}", *launcher, *hydra_folders(tmp_path / "logs")]
    cli.main(record, training=False, kept_on_interrupt="", argv=argv)
    choice = launcher[0].partition("=")[2] if launcher else "basic"
    return {
        seed: pickle.loads((results / "received" / f"{choice}-{seed}.pkl").read_bytes())
        for seed in (0, 1)
    }


def expected_spec(seed: int, results: Path) -> RunSpec:
    """The spec pre-flight checks for the sweep's job of ``seed`` (built here on its own)."""
    return RunSpec.create(seed=seed, results_dir=str(results), num_clients=4, clients_per_round=2)


def assert_same_inputs(received: dict[int, dict], tmp_path: Path, *, in_this_process: bool):
    for seed, got in received.items():
        assert got["spec"] == expected_spec(seed, tmp_path / "results")
        # A partition report evaluates nothing: its jobs get only the thread budget.
        assert got["launch"].eval_rounds == ()
        # Four clients holding every example once, as the partition of this spec does.
        assert len(got["parts"]) == 4
        # The one path: the task function hands the job to run_job, which calls the run.
        assert got["callers"] == [("run_job", "task.py"), ("__call__", "task.py")]
        assert (got["pid"] == os.getpid()) is in_this_process
        assert got["session"] is None  # a partition report trains nothing: no session


def received_in_a_child(launcher: list[str], tmp_path: Path, monkeypatch) -> dict[int, dict]:
    """What ``launcher``'s children received, checked against the basic launcher's jobs."""
    basic = received_through([], tmp_path / "basic", monkeypatch)
    child = received_through(launcher, tmp_path / "child", monkeypatch)
    assert_same_inputs(child, tmp_path / "child", in_this_process=False)
    # The same partition, drawn in the child from the checked spec alone.
    assert [child[seed]["parts"] for seed in (0, 1)] == [basic[seed]["parts"] for seed in (0, 1)]
    return child


def test_the_basic_launcher_runs_each_job_through_run_job_with_its_checked_spec(
    tmp_path, monkeypatch
):
    received = received_through([], tmp_path, monkeypatch)
    assert_same_inputs(received, tmp_path, in_this_process=True)
    assert {got["launch"] for got in received.values()} == {LaunchArgs()}  # one job at a time


@pytest.mark.subprocess
@pytest.mark.parametrize(
    "launcher",
    [["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], ["hydra/launcher=submitit_local"]],
    ids=["joblib", "submitit_local"],
)
def test_a_launchers_child_gets_the_same_inputs_as_the_basic_launchers_job(
    launcher, tmp_path, monkeypatch
):
    child = received_in_a_child(launcher, tmp_path, monkeypatch)
    # Two jobs at once: each gets half of this machine's cores (launcher_threads).
    half = max(1, len(os.sched_getaffinity(0)) // 2)
    assert {got["launch"] for got in child.values()} == {LaunchArgs(threads=half)}


def test_a_job_pickled_for_a_child_takes_only_what_travels(tmp_path):
    # What a launcher's child receives: the run, the checked specs, whether the command
    # trains and where it runs; not the command's outcomes, preparations or session.
    state = task.CommandState(training=False)
    state.outcomes.append("an outcome of the command's process")
    state.session = object()
    job = task.Job(record, state)
    spec = expected_spec(0, tmp_path)
    job.checked[("seed=0",)] = spec
    shipped = pickle.loads(pickle.dumps(job))
    assert shipped.run is record and shipped.checked == {("seed=0",): spec}
    assert shipped.state.training is False and shipped.state.process == CommandProcess.this()
    assert shipped.state.outcomes == [] and shipped.state.session is None
    assert shipped.state.preparations is not state.preparations
