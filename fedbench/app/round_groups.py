"""Sweeps over ``fl.rounds``: one trajectory serves every round count of a run.

``fl.rounds`` is not part of a run's identity, so ``-m fl.rounds=10,50,100`` asks three
settings of one run. The sweeper publishes, for each run, the round counts its sweep
asks (:func:`publish`); each of its jobs then evaluates the global model at every one
of them it passes (:func:`eval_rounds`), and a job whose run another job of the sweep
holds waits for it (:func:`waits_for_claim`) instead of leaving it: the longest job
trains once, the shorter ones are answered from its rows, in any launch order and
under any launcher.

The groups travel in an environment variable, which every launcher hands to its
jobs (joblib's workers, submitit's local processes and Slurm jobs inherit it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

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
    """The shorter round counts of ``spec``'s run in its sweep: rounds to evaluate too."""
    return [r for r in _group(spec) if r < spec.fl.rounds]


def waits_for_claim(spec: RunSpec) -> bool:
    """Whether a job finding its run claimed waits: another job of its sweep asks other rounds."""
    return bool(_group(spec))
