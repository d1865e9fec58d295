"""Sweeps over ``fl.rounds``: one trajectory serves every round count of a run.

``fl.rounds`` is not part of a run's identity, so ``-m fl.rounds=10,50,100`` asks three
settings of one run. The sweeper launches one job per run, the one asking the most
rounds (:func:`answering_jobs`), and publishes each run's round counts
(:func:`publish`): that job evaluates the global model at each of them and records
them all (:func:`eval_rounds`). The run trains once, under any launcher, and no job
holds a worker or a Slurm allocation waiting for another.

The groups travel in an environment variable, which every launcher hands to its
jobs (joblib's workers, submitit's local processes and Slurm jobs inherit it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence

from fedbench.spec import RunSpec

ENV_VAR = "FEDBENCH_SWEEP_ROUNDS"


def round_groups(specs: Iterable[RunSpec]) -> dict[str, list[int]]:
    """Each run's round counts in a sweep, for the runs asked with more than one.

    Returns
    -------
    dict
        ``config_hash`` -> the sorted distinct ``fl.rounds`` of its jobs.

    """
    groups: dict[str, set[int]] = {}
    for spec in specs:
        groups.setdefault(spec.config_hash, set()).add(spec.fl.rounds)
    return {hash_: sorted(rounds) for hash_, rounds in groups.items() if len(rounds) > 1}


def publish(specs: Iterable[RunSpec]) -> None:
    """Hand the sweep's round groups (:func:`round_groups`) to the jobs it launches."""
    groups = round_groups(specs)
    if groups:
        os.environ[ENV_VAR] = json.dumps(groups, sort_keys=True)
    else:
        os.environ.pop(ENV_VAR, None)


def _group(spec: RunSpec) -> list[int]:
    try:
        groups = json.loads(os.environ.get(ENV_VAR, "") or "{}")
    except json.JSONDecodeError:
        return []
    return [int(r) for r in groups.get(spec.config_hash, [])]


def eval_rounds(spec: RunSpec) -> list[int]:
    """The shorter round counts of ``spec``'s run in its sweep: asked of its job too."""
    return [r for r in _group(spec) if r < spec.fl.rounds]


def answering_jobs(specs: Sequence[RunSpec]) -> list[int]:
    """For each job of a sweep, the job that trains its run: the first asking the most rounds.

    Returns
    -------
    list of int
        ``answering[i]`` is the index of the job answering job ``i`` (``i`` itself
        for the jobs to launch).

    """
    best: dict[tuple[str, str], int] = {}
    for index, spec in enumerate(specs):
        key = (spec.results_dir, spec.config_hash)
        if key not in best or spec.fl.rounds > specs[best[key]].fl.rounds:
            best[key] = index
    return [best[(spec.results_dir, spec.config_hash)] for spec in specs]
