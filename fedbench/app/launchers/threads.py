"""A thread budget per job, so that parallel jobs on one machine do not each take every core.

``fl.threads`` sets a job's TensorFlow threads (its own and its TFF worker's). At its
default, 0, fedbench's sweeper derives the budget from the launcher and passes it to
each job as ``launch.threads`` (:mod:`fedbench.app.config.launch_args`): the machine's cores
shared by the jobs that run at once (joblib's ``n_jobs``; ``submitit_local`` runs them
all at once), Slurm's ``cpus_per_task`` on a cluster, and all cores (TensorFlow's
default) when jobs run one at a time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from fedbench.spec import RunSpec


def launcher_threads(launcher: Mapping[str, Any], jobs: int, cpus: int | None = None) -> int:
    """Threads for each job of a sweep of ``jobs`` jobs run by ``launcher`` (0: no limit).

    Parameters
    ----------
    launcher
        The ``hydra.launcher`` config (its ``_target_`` names the launcher).
    jobs
        Jobs in the sweep.
    cpus
        Cores of this machine (default: the ones this process may use).

    Returns
    -------
    int

    """
    cpus = cpus or len(os.sched_getaffinity(0))
    target = str(launcher.get("_target_", ""))
    if "joblib" in target.lower():
        n_jobs = int(launcher.get("n_jobs") or -1)
        at_once = min(jobs, n_jobs if n_jobs > 0 else max(1, cpus + 1 + n_jobs))
    elif "submitit" in target.lower():
        if launcher.get("cpus_per_task"):
            return int(launcher["cpus_per_task"])
        if "slurm" in target.lower():
            return 0  # the allocation's cores (Slurm sets the job's CPU set)
        at_once = min(jobs, int(launcher.get("array_parallelism") or jobs))
    else:  # the basic launcher: one job at a time
        return 0
    return max(1, cpus // max(1, at_once))


def job_threads(spec: RunSpec, budget: int = 0) -> int:
    """The threads a job trains with: ``fl.threads``, else the sweeper's ``budget``, else 0."""
    return spec.fl.threads or budget
