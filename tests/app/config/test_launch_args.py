"""What the sweeper tells a launched job travels among its overrides, never the environment."""

import ast
import json
import os
import sys
from pathlib import Path
from unittest import mock

import pytest

import fedbench
from fedbench.app.commands import cli
from fedbench.app.config.launch_args import LaunchArgs, without_launch_args
from fedbench.app.launchers.threads import job_threads
from fedbench.app.sweep import sweeper
from fedbench.errors import ConfigError
from tests.cli_helpers import hydra_folders, run_command

SMALL = ["fl.num_clients=4", "fl.clients_per_round=2"]


def test_a_launched_job_gets_its_eval_rounds_and_thread_budget_with_an_empty_environment(
    tmp_path, monkeypatch
):
    # A parallel launcher's budget (launcher_threads is tested on its own in test_faults);
    # the basic launcher composes each job from the overrides it is handed, as every
    # launcher does in its own process.
    monkeypatch.setattr(sweeper, "launcher_threads", lambda launcher, jobs: 3)
    seen = []

    def job(prepared):
        seen.append((prepared, {k for k in os.environ if k.startswith("FEDBENCH_")}))

    argv = ["-m", "fl.rounds=1,2", "seed=0,1", *SMALL, f"results_dir={tmp_path / 'r'}"]
    with mock.patch.dict(os.environ, {}, clear=True):
        run_command(argv, tmp_path / "logs", run=job)
    # Two runs (seeds), each asked 1 and 2 rounds: the 2-round job of each is launched
    # and evaluates at round 1 too.
    assert [(p.spec.seed, p.spec.fl.rounds, p.launch) for p, _ in seen] == [
        (0, 2, LaunchArgs(eval_rounds=(1,), threads=3)),
        (1, 2, LaunchArgs(eval_rounds=(1,), threads=3)),
    ]
    assert [job_threads(p.spec, p.launch.threads) for p, _ in seen] == [3, 3]
    # The job's environment holds the command's debug switch, nothing else.
    assert {frozenset(env) for _, env in seen} == {frozenset({"FEDBENCH_TRACEBACK"})}
    # Not part of the run: the summary names each job by the command's overrides alone.
    summary = json.loads(next((tmp_path / "logs").rglob("sweep-summary.json")).read_text())
    assert not [o for job in summary["outcomes"] for o in job["overrides"] if "launch." in o]


def test_launch_args_stay_out_of_hydras_job_folder_names(tmp_path):
    # A sweep may name its jobs' folders by their overrides
    # (hydra.sweep.subdir=${hydra.job.override_dirname}): the launched 2-round job,
    # handed launch.eval_rounds=[1], is named by the command's overrides alone.
    from hydra.core.hydra_config import HydraConfig

    names = []

    def job(prepared):
        names.append(HydraConfig.get().job.override_dirname)

    argv = ["-m", "fl.rounds=1,2", *SMALL, f"results_dir={tmp_path / 'r'}"]
    run_command(argv, tmp_path / "logs", run=job)
    assert len(names) == 1 and "fl.rounds=2" in names[0] and "launch." not in names[0]


def test_launch_args_are_not_part_of_a_runs_identity(tmp_path):
    argv = ["fl.rounds=2", *SMALL, f"results_dir={tmp_path / 'r'}"]
    (plain,) = run_command(argv, tmp_path / "logs")
    # The same job with launch arguments, as the sweeper hands it over.
    with_args = LaunchArgs(eval_rounds=(1,), threads=2)
    assert plain.launched_with(with_args).spec.config_hash == plain.spec.config_hash
    assert plain.launched_with(LaunchArgs()) is plain


@pytest.mark.parametrize(
    ("override", "fix"),
    [("launch.threads=2", "fl.threads"), ("launch.eval_rounds=[1]", "-m fl.rounds=10,50")],
)
@pytest.mark.parametrize("multirun", [False, True], ids=["run", "multirun"])
def test_a_command_setting_a_launch_key_is_refused_before_anything_runs(
    tmp_path, override, fix, multirun
):
    results = tmp_path / "r"
    argv = [*(["-m", "seed=0,1"] if multirun else []), override, *SMALL, f"results_dir={results}"]
    ran = []
    with pytest.raises(ConfigError, match=rf"^{override.split('=')[0]}=.*sweeper.*{fix}"):
        run_command(argv, tmp_path / "logs", run=ran.append)
    assert ran == [] and not results.exists()


def test_the_sweepers_overrides_are_told_apart_from_the_commands():
    job = ["seed=1", "fl.rounds=5"]
    handed = [*job, *LaunchArgs(eval_rounds=(2, 3), threads=4).overrides()]
    assert handed[2:] == ["launch.eval_rounds=[2,3]", "launch.threads=4"]
    assert without_launch_args(handed) == job
    assert LaunchArgs().overrides() == []  # nothing to say: the job's overrides as given


#: Where fedbench may set environment variables, and which: none a job setting. Hydra's
#: and TensorFlow's own switches (Hydra's put back by the command when it ends), and the
#: data cache that ``python -m fedbench.data`` sets for the loaders it calls, then
#: restores. Whether a process is a launcher's child is told by the job's own data
#: (:class:`fedbench.app.launchers.children.CommandProcess`), not the environment.
ALLOWED = {
    "app/commands/cli.py: 'TF_CPP_MIN_LOG_LEVEL'",
    "app/commands/cli.py: 'HYDRA_FULL_ERROR'",
    "data/__main__.py: 'TF_CPP_MIN_LOG_LEVEL'",
    "data/__main__.py: cache.ENV_VAR",
}


def _environment_writes(tree: ast.AST) -> list[str]:
    """The keys (as source) that ``os.environ[k] = ...``, ``setdefault``, ``update`` set."""
    keys = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else []
        for target in targets:
            if isinstance(target, ast.Subscript) and ast.unparse(target.value) == "os.environ":
                keys.append(ast.unparse(target.slice))
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            keys += [f"from os import {a.name}" for a in node.names if a.name != "path"]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner, method = ast.unparse(node.func.value), node.func.attr
            if owner == "os.environ" and method in {"setdefault", "update", "__setitem__"}:
                keys.append(ast.unparse(node.args[0]) if node.args else "**")
            if owner == "os" and method == "putenv":
                keys.append(ast.unparse(node.args[0]))
    return keys


def test_fedbench_sets_no_job_setting_in_the_environment():
    package = Path(fedbench.__file__).resolve().parent
    written = {
        f"{path.relative_to(package)}: {key}"
        for path in package.rglob("*.py")
        for key in _environment_writes(ast.parse(path.read_text()))
    }
    written -= ALLOWED
    assert written == set()
    # The scan sees what it must.
    assert _environment_writes(ast.parse("import os\nos.environ['X'] = '1'")) == ["'X'"]
    assert _environment_writes(ast.parse("os.environ.setdefault(K, '1')")) == ["K"]
    assert _environment_writes(ast.parse("from os import environ")) == ["from os import environ"]


def test_a_command_leaves_argv_and_the_environment_as_it_found_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    monkeypatch.setenv("FEDBENCH_TRACEBACK", "1")
    before, env_before = list(sys.argv), dict(os.environ)
    seen = []

    def job(prepared, session):  # during the command: what Hydra and launched jobs read
        seen.append((os.environ["HYDRA_FULL_ERROR"], dict(os.environ)))

    argv = ["fl.rounds=1", *SMALL, f"results_dir={tmp_path / 'r'}", *hydra_folders(tmp_path)]
    cli.main(job, training=True, kept_on_interrupt="", argv=argv)  # not run_command's mocks
    # Hydra's full errors on during the command, and nothing else of fedbench's.
    assert [full for full, _ in seen] == ["1"]
    assert {k: v for k, v in seen[0][1].items() if k != "HYDRA_FULL_ERROR"} == {
        k: v for k, v in env_before.items() if k != "HYDRA_FULL_ERROR"
    }
    assert sys.argv == before
    assert dict(os.environ) == env_before
