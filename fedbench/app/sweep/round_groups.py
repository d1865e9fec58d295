"""Sweeps over ``fl.rounds``: one trajectory serves every round count of a run.

``fl.rounds`` is not part of a run's identity, so ``-m fl.rounds=10,50,100`` asks three
settings of one run. The sweeper launches one job per run, the one asking the most
rounds (:func:`answering_jobs`), and tells it the run's shorter round counts
(:func:`eval_rounds` of :func:`round_groups`, passed as ``launch.eval_rounds``:
:mod:`fedbench.app.config.launch_args`): that job evaluates the global model at each of them
and records them all. The run trains once, under any launcher, and no job holds a
worker or a Slurm allocation waiting for another.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from fedbench.spec import RunSpec


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


def eval_rounds(spec: RunSpec, groups: Mapping[str, Sequence[int]]) -> tuple[int, ...]:
    """The round counts of ``spec``'s run in its sweep's ``groups`` below ``spec``'s own.

    Parameters
    ----------
    spec
        A job's run spec.
    groups
        The sweep's round groups (:func:`round_groups`).

    Returns
    -------
    tuple of int
        Sorted; empty when the run is asked one round count.

    """
    return tuple(r for r in groups.get(spec.config_hash, ()) if r < spec.fl.rounds)


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
