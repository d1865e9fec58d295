"""Slurm through Hydra's submitit launcher: pre-flight against the cluster, quiet job polling.

:func:`check_cluster` asks the cluster, before anything is submitted, whether it can
take the sweep's jobs: the controller answers (``scontrol ping``), the partition
exists, ``mem_gb`` and ``cpus_per_task`` fit one of its nodes (``sinfo``), and Slurm
accepts the whole request (``sbatch --test-only``, which submits nothing).

submitit follows its jobs with ``sacct``. Where Slurm accounting is off, every poll
fails with a warning that says the status "may be inaccurate", and a job that ends
without writing its result (cancelled before it started, killed) is never seen to
end. :func:`follow_without_accounting` says so once and lets submitit read the jobs'
states from ``squeue`` instead (:class:`SqueueWatcher`); fedbench reads what each job
trained from its result files. When submitit stops waiting at the first job of an array
without a result, :func:`wait_until_ended` waits for the array's other jobs, and
:func:`started` tells a job cancelled while pending (Slurm never opened its log file).
Imported only for a Slurm launcher (it imports submitit).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from submitit.slurm.slurm import SlurmInfoWatcher, SlurmJob

from fedbench.errors import ConfigError, invalid

log = logging.getLogger(__name__)

#: How long a Slurm client command may take before the cluster counts as not answering.
_TIMEOUT_S = 30.0
#: What a command says on a machine with no Slurm at all.
_NO_SLURM = "run from a Slurm login node, or use hydra/launcher=submitit_local or joblib"


def _run(command: Sequence[str]) -> subprocess.CompletedProcess:
    """Run a Slurm client command; capture its output (a timeout counts as a failure)."""
    try:
        return subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return subprocess.CompletedProcess(list(command), 1, "", str(error))


def _last_line(done: subprocess.CompletedProcess) -> str:
    """The last non-empty line a command printed (its error), or its exit status."""
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {done.returncode}"


def partitions() -> dict[str, tuple[int, int, bool]]:
    """The cluster's partitions: name -> (largest node memory in MB, most CPUs, default).

    Returns
    -------
    dict
        Empty if ``sinfo`` does not answer.

    """
    done = _run(["sinfo", "-h", "-N", "-o", "%P|%m|%c"])
    found: dict[str, tuple[int, int, bool]] = {}
    if done.returncode != 0:
        return found
    for line in done.stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 3:
            continue
        name, default = fields[0].rstrip("*"), fields[0].endswith("*")
        memory, cpus = (int("".join(c for c in f if c.isdigit()) or 0) for f in fields[1:])
        old = found.get(name, (0, 0, False))
        found[name] = (max(old[0], memory), max(old[1], cpus), old[2] or default)
    return found


def sbatch_flags(launcher: Mapping[str, Any]) -> list[str]:
    """The ``sbatch`` options of the resources a submitit Slurm launcher config asks for.

    The same names submitit writes into its ``#SBATCH`` lines (``mem_gb`` as ``--mem=<n>GB``,
    ``timeout_min`` as ``--time``, ``additional_parameters`` with ``_`` as ``-``).
    """
    names = {
        "partition": "partition",
        "timeout_min": "time",
        "cpus_per_task": "cpus-per-task",
        "nodes": "nodes",
        "tasks_per_node": "ntasks-per-node",
        "gpus_per_node": "gpus-per-node",
        "qos": "qos",
        "account": "account",
        "constraint": "constraint",
        "exclude": "exclude",
        "gres": "gres",
        "mem_per_cpu": "mem-per-cpu",
        "mem_per_gpu": "mem-per-gpu",
        "cpus_per_gpu": "cpus-per-gpu",
        "gpus_per_task": "gpus-per-task",
    }
    flags = [f"--{flag}={launcher[key]}" for key, flag in names.items() if launcher.get(key)]
    if launcher.get("mem_gb"):
        flags.append(f"--mem={launcher['mem_gb']}GB")
    for key, value in (launcher.get("additional_parameters") or {}).items():
        flags.append(f"--{key.replace('_', '-')}" + ("" if value is True else f"={value}"))
    return flags


def check_cluster(launcher: Mapping[str, Any], choice: str) -> None:
    """Refuse a Slurm launcher whose jobs the cluster would not run; submit nothing.

    Parameters
    ----------
    launcher
        The ``hydra.launcher`` config of a submitit Slurm launcher.
    choice
        Its ``hydra/launcher=`` name, as the errors name it.

    Raises
    ------
    ConfigError
        No ``sbatch`` on ``PATH``, a controller that does not answer, a partition the
        cluster does not have, ``mem_gb`` or ``cpus_per_task`` larger than every node of
        the partition, or a request ``sbatch --test-only`` refuses (its reason).

    """
    if shutil.which("sbatch") is None:
        raise ConfigError(
            invalid(
                "hydra/launcher",
                choice,
                "a launcher this machine can use: Slurm's sbatch is not on PATH",
                _NO_SLURM,
            )
        )
    ping = _run(["scontrol", "ping"])
    if ping.returncode != 0 or "DOWN" in ping.stdout:
        raise ConfigError(
            invalid(
                "hydra/launcher",
                choice,
                "a launcher this machine can use: Slurm's controller does not answer "
                f"({_last_line(ping).rstrip('.')})",
                "start slurmctld (on a test machine: .ci/slurm-up) or ask the cluster's "
                "admins, or use hydra/launcher=submitit_local or joblib",
            )
        )
    found = partitions()
    name = launcher.get("partition") or next((p for p, v in found.items() if v[2]), None)
    if found and name not in found:  # a partition the cluster lacks, or none and no default
        names = ", ".join(sorted(found)) + ("" if name else "; the cluster has no default")
        raise ConfigError(
            invalid(
                "hydra.launcher.partition",
                name,
                f"a partition of this cluster ({names})",
                f"e.g. hydra.launcher.partition={min(found)}",
            )
        )
    if name in found:
        memory, cpus, _ = found[name]
        mem_gb = launcher.get("mem_gb")
        if mem_gb and int(mem_gb) * 1024 > memory:
            raise ConfigError(
                invalid(
                    "hydra.launcher.mem_gb",
                    mem_gb,
                    f"at most {memory // 1024} (the largest node of partition {name} has "
                    f"{memory} MB)",
                    f"lower it, e.g. hydra.launcher.mem_gb={max(1, memory // 1024 // 2)}",
                )
            )
        wanted = launcher.get("cpus_per_task")
        if wanted and int(wanted) > cpus:
            raise ConfigError(
                invalid(
                    "hydra.launcher.cpus_per_task",
                    wanted,
                    f"at most {cpus} (the largest node of partition {name} has {cpus} CPUs)",
                    f"e.g. hydra.launcher.cpus_per_task={cpus}",
                )
            )
    test = _run(["sbatch", "--test-only", *sbatch_flags(launcher), "--wrap=true"])
    if test.returncode != 0:
        raise ConfigError(
            invalid(
                "hydra/launcher",
                choice,
                f"job settings Slurm accepts: sbatch --test-only says {_last_line(test)!r}",
                "change the hydra.launcher.* setting it names",
            )
        )


def accounting_error() -> str | None:
    """Why ``sacct`` does not answer here (Slurm accounting off), or ``None`` if it does."""
    done = _run(["sacct", "-n", "-X", "-j", "1"])
    return None if done.returncode == 0 else _last_line(done)


def follow_without_accounting() -> None:
    """Where ``sacct`` does not answer, say so once and let submitit poll ``squeue``.

    Without this, submitit warns at every poll (through its own logger and Hydra's) and
    never sees a job end that wrote no result.
    """
    why = accounting_error()
    if why is None:
        return
    if not isinstance(SlurmJob.watcher, SqueueWatcher):
        SlurmJob.watcher = SqueueWatcher(delay_s=600)
    log.info(
        "Slurm accounting is unavailable (sacct: %s): following the jobs with squeue; "
        "what each run trained is read from its result file",
        why,
    )


class SqueueWatcher(SlurmInfoWatcher):
    """submitit's Slurm job watcher, reading job states from ``squeue`` instead of ``sacct``.

    ``squeue`` keeps finished jobs for the controller's ``MinJobAge`` (300 s by default);
    a job seen before and gone from the queue since has ended (state ``GONE``: submitit
    then reads its result file, or reports the job lost).
    """

    def _make_command(self) -> list[str] | None:
        if not self._registered - self._finished:
            return None
        return ["squeue", "--me", "-h", "-r", "-t", "all", "-o", "%i|%T|%N"]

    def read_info(self, string: bytes | str) -> dict[str, dict[str, str]]:
        """Job id -> state, from ``squeue``'s lines (``GONE`` for a job no longer listed)."""
        text = string if isinstance(string, str) else string.decode()
        info = super().read_info("\n".join(["JobID|State|NodeList", *text.splitlines()]))
        for job_id in self._registered - self._finished:
            if job_id not in info and job_id in self._info_dict:
                info[job_id] = {"JobID": job_id, "State": "GONE", "NodeList": ""}
        return info

    def update(self) -> None:
        """Read every unfinished job's state with one ``squeue`` call (no warning if it fails)."""
        command = self._make_command()
        if command is None:
            return
        self._num_calls += 1
        done = _run(command)
        if done.returncode == 0:
            self._output = done.stdout.encode()
            self._info_dict.update(self.read_info(done.stdout))
        self._last_status_check = time.time()
        for job_id in self._registered - self._finished:
            if self.is_done(job_id, mode="cache"):
                self._finished.add(job_id)


#: Slurm job states after which a job runs no more (without accounting: gone from squeue).
_ENDED = frozenset(
    {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY"}
    | {"PREEMPTED", "TIMEOUT", "GONE"}
)


def job_states(job_ids: Sequence[str]) -> dict[str, str]:
    """The state of each of ``job_ids`` as ``squeue`` lists it (``GONE``: no longer listed).

    ``squeue`` keeps a finished job for the controller's ``MinJobAge``; a job it no longer
    lists has ended. Empty if ``squeue`` does not answer.
    """
    done = _run(["squeue", "--me", "-h", "-r", "-t", "all", "-o", "%i|%T"])
    if done.returncode != 0:
        return {}
    listed = dict(line.strip().split("|", 1) for line in done.stdout.splitlines() if "|" in line)
    return {job: listed.get(job, "GONE") for job in job_ids}


def wait_until_ended(job_ids: Sequence[str], poll_seconds: float = 5.0) -> dict[str, str]:
    """Wait until none of ``job_ids`` is pending or running any more; return their states.

    A launcher that stops at the first lost job of an array leaves the others queued or
    running: they are waited for, not launched a second time.
    """
    while True:
        states = job_states(job_ids)
        if not states or all(state in _ENDED for state in states.values()):
            return states
        time.sleep(poll_seconds)


def job_folders(folder: Path) -> set[Path]:
    """The job folders submitit made under ``folder``: one per job or array task.

    Each holds the job's ``<job id>_submitted.pkl``; an array's own folder (its
    submission script only) is not one.
    """
    if not folder.is_dir():
        return set()
    return {
        p
        for p in folder.iterdir()
        if _JOB_ID.fullmatch(p.name) and (p / f"{p.name}_submitted.pkl").is_file()
    }


def started(job_folder: Path) -> bool:
    """Whether the job of a submitit job folder started (Slurm opened its log file)."""
    return any(job_folder.glob("*_log.out")) or any(job_folder.glob("*_log.err"))


def task_order(job_folder: Path) -> int:
    """The index of an array task's folder (``<array>_<index>``; a lone job: 0)."""
    _, _, index = job_folder.name.partition("_")
    return int(index or 0)


#: A Slurm job id, or an array task's (``<array>_<index>``).
_JOB_ID = re.compile(r"\d+(?:_\d+)?")
