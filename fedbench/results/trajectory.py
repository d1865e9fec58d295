"""A run is a trajectory: its rows answer every ``fl.rounds`` up to the last round trained.

``fl.rounds`` is not part of a run's identity. One Parquet file holds a run's rows for
rounds 1..L, ``requested_rounds`` lists every ``fl.rounds`` asked of it and ``rounds``
is the largest. The result of the setting ``fl.rounds=r`` is the run's rows up to
round ``r``: :func:`at_rounds` cuts a frame of runs there, :func:`load_settings`
gives every requested setting of a results folder. ``status`` in a file is that of
the largest request; a setting's own status is:

- ``diverged`` if the run diverged at a round ``<= r`` (its rows end there);
- ``completed`` if the run trained round ``r`` (and did not diverge before);
- ``interrupted`` if it stopped short of ``r`` because it was stopped from outside
  (a Slurm time limit, requeue or cancellation, SIGTERM, Ctrl-C), ``failed`` if an
  error stopped it;
- ``running`` while it trains short of ``r`` (the file is written at each checkpoint),
  ``killed`` if its process ended without a word (the file still says ``running`` and
  no live process holds the run's claim: :func:`fedbench.results.lock.seen_status`).

Whatever stopped it, the same command resumes it.

The rules a job follows to answer its round counts are here too, for
:func:`fedbench.app.job.experiment.run` to call: whether the stored rows already answer a
round count (:func:`holds`), what is left to train (:func:`next_training`: train on
from the checkpoint, or replay rounds trained but never evaluated), which rounds to
evaluate (:func:`rounds_to_evaluate`), how a trained round enters the rows
(:func:`with_round`) and the status the file then holds (:func:`final_status`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fedbench import atomic
from fedbench.results.columns import (
    CONFIG_HASH,
    EVALUATED,
    REQUESTED_ROUNDS,
    ROUND,
    ROUNDS,
    STATUS,
)
from fedbench.results.lock import seen_status
from fedbench.results.status import UNFINISHED_STATUSES, Status
from fedbench.results.store import UnreadableResult, load_runs, read_result, run_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """What the store holds of one run's trajectory.

    Attributes
    ----------
    rows
        Its rows, one per trained round, sorted by round (a file written before any
        round finished holds one row with a null round: then empty).
    status
        The file's ``status``: that of the largest request.
    requested
        Every ``fl.rounds`` asked of it, sorted.
    """

    rows: pd.DataFrame
    status: str
    requested: tuple[int, ...]

    @property
    def last_round(self) -> int:
        """The last round trained (0 if none)."""
        return int(self.rows[ROUND].max()) if len(self.rows) else 0

    @property
    def diverged_at(self) -> int | None:
        """The round at which the run diverged, if it did."""
        if self.status != Status.DIVERGED or not len(self.rows):
            return None
        return self.last_round

    def answers(self, rounds: int) -> str | None:
        """The status of the setting ``fl.rounds=rounds`` if the rows hold it, else ``None``."""
        diverged = self.diverged_at
        if diverged is not None and diverged <= rounds:
            return Status.DIVERGED
        if self.last_round >= rounds:
            return Status.COMPLETED
        return None

    def status_at(self, rounds: int) -> str:
        """The status of the setting ``fl.rounds=rounds``, also when the rows stop short of it.

        Short of it: the file's ``interrupted``, ``running``, ``killed`` or ``failed``.
        """
        unfinished = self.status if self.status in UNFINISHED_STATUSES else Status.FAILED
        return self.answers(rounds) or unfinished

    def evaluated(self, round_num: int) -> bool:
        """Whether round ``round_num`` holds an evaluation of the global model."""
        row = self.rows[self.rows[ROUND] == round_num]
        return bool(len(row)) and bool(row[EVALUATED].iloc[0])


def read_progress(
    results_dir: str | os.PathLike, hash_: str, *, reject: bool = False
) -> Progress | None:
    """Read the trajectory of run ``hash_``; ``None`` if it has no readable file.

    A file written before ``requested_rounds`` existed answers its own ``rounds``.

    Parameters
    ----------
    results_dir, hash_
        The results folder and the run.
    reject
        Move a file that cannot be read (truncated, corrupt, not a fedbench result) to
        ``<config_hash>.parquet.rejected`` with one log line: the job that holds the
        run's claim does so before it trains the run again from what is valid.

    """
    path = run_path(results_dir, hash_)
    if not path.exists():
        return None
    try:
        frame = read_result(path).to_pandas()
    except UnreadableResult as why:
        if reject and path.is_file():
            aside = atomic.set_aside(path)
            log.warning(
                "result file %s cannot be read (%s): set aside to %s; the run trains "
                "again from what is valid",
                path,
                why,
                aside,
            )
        return None
    if not len(frame):
        return None
    return _progress(frame, seen_status(str(frame[STATUS].iloc[0]), results_dir, hash_))


def _progress(frame: pd.DataFrame, status: str | None = None) -> Progress:
    """The :class:`Progress` of one run's rows (a file's, or one run's of a loaded frame).

    ``status``: the run's as a reader sees it (default: what its first row says).
    """
    status = str(frame[STATUS].iloc[0]) if status is None else status
    rows = frame[frame[ROUND].notna()].sort_values(ROUND, kind="stable").reset_index(drop=True)
    return Progress(rows=rows, status=status, requested=_requested(frame.iloc[0]))


def _requested(row: pd.Series) -> tuple[int, ...]:
    """A file row's requested round counts (old files: its ``rounds``)."""
    listed = row.get(REQUESTED_ROUNDS)
    if listed is not None and not (np.isscalar(listed) and pd.isna(listed)) and len(listed):
        return tuple(sorted({int(r) for r in listed}))
    rounds = row.get(ROUNDS)
    return () if rounds is None or pd.isna(rounds) else (int(rounds),)


def holds(progress: Progress | None, rounds: int, *, recorded: bool = False) -> bool:
    """Whether the stored rows answer ``fl.rounds=rounds`` with its round evaluated.

    A run that diverged at or before ``rounds`` answers it too (its rows end there).
    With ``recorded``, also whether the file says so already: ``rounds`` is among its
    requested round counts and its status is that of the largest (a process killed
    between its last checkpoint and its final write leaves ``failed`` on finished rows).
    """
    if progress is None:
        return False
    answered = progress.answers(rounds)
    if answered is None:
        return False
    if recorded and (
        rounds not in progress.requested
        or progress.status != progress.status_at(progress.requested[-1])
    ):
        return False
    return answered == Status.DIVERGED or progress.evaluated(rounds)


@dataclass(frozen=True)
class Training:
    """What a job trains of a run so that its rows answer every round count it asks.

    Attributes
    ----------
    replay_to
        ``None``: train on from the run's checkpoint (an interrupted run, or a longer
        request extending a finished one), or from round 1 when there is none. A round
        count: the trajectory holds every asked round but some unevaluated (trained by
        a longer request with ``fl.eval_every > 1``); train rounds 1..``replay_to``
        again from the initial state to evaluate them, the checkpoint untouched (rounds
        replay exactly).

    """

    replay_to: int | None = None


def next_training(progress: Progress | None, asks: Sequence[int]) -> Training | None:
    """What to train for the stored rows to answer each of ``asks`` (``None``: nothing).

    Parameters
    ----------
    progress
        What the store holds of the run (``None``: nothing).
    asks
        The round counts a job asks of the run, sorted: its ``fl.rounds`` last.

    """
    missing = [r for r in asks if not holds(progress, r)]
    if not missing:
        return None
    if progress is not None and progress.answers(asks[-1]) is not None:
        return Training(replay_to=max(missing))
    return Training()


def requested_rounds(progress: Progress | None, asks: Iterable[int]) -> list[int]:
    """Every round count asked of the run so far: the stored requests and ``asks``, sorted."""
    return sorted({*(progress.requested if progress is not None else ()), *asks})


def rounds_to_evaluate(
    rows: Iterable[Mapping[str, Any]], requested: Iterable[int], last: int
) -> set[int]:
    """The rounds up to ``last`` that training evaluates besides every ``fl.eval_every``.

    Every requested round count, and every round the stored ``rows`` hold evaluated (a
    row trained again keeps its evaluation).
    """
    evaluated = {row[ROUND] for row in rows if row[EVALUATED]}
    return {r for r in (*requested, *evaluated) if r <= last}


def with_round(rows: list[dict[str, Any]], row: dict[str, Any]) -> list[dict[str, Any]]:
    """``rows`` with ``row`` in place of the row of its round (rounds replay exactly), sorted."""
    kept = [r for r in rows if r[ROUND] != row[ROUND]]
    return sorted([*kept, row], key=lambda r: r[ROUND])


def stamped(
    rows: list[dict[str, Any]], requested: Sequence[int], status: str, **more: Any
) -> list[dict[str, Any]]:
    """``rows`` with the run's columns set on each: its requested rounds, the largest, status."""
    for row in rows:
        row.update(
            {ROUNDS: requested[-1], REQUESTED_ROUNDS: list(requested), STATUS: status, **more}
        )
    return rows


def with_requests(progress: Progress, asks: Iterable[int]) -> list[dict[str, Any]]:
    """The stored rows, stamped with the round counts ``asks`` among the requested ones."""
    requested = requested_rounds(progress, asks)
    return stamped(progress.rows.to_dict("records"), requested, progress.status_at(requested[-1]))


def final_status(
    rows: Iterable[Mapping[str, Any]],
    largest: int,
    diverged: bool,
    stopped: bool = False,
    *,
    training: bool = False,
) -> Status:
    """The file's status: that of its largest request (``largest``) once the rows hold it.

    Short of it: ``running`` while the run is still ``training`` (rows written at a
    checkpoint), ``interrupted`` when the run was ``stopped`` from outside, else ``failed``.
    """
    if diverged:
        return Status.DIVERGED
    if max((r[ROUND] for r in rows), default=0) >= largest:
        return Status.COMPLETED
    if training:
        return Status.RUNNING
    return Status.INTERRUPTED if stopped else Status.FAILED


def answered_status(results_dir: str | os.PathLike, hash_: str, rounds: int) -> str | None:
    """The status of setting ``fl.rounds=rounds`` of run ``hash_`` if stored, else ``None``.

    ``completed`` or ``diverged`` when the stored trajectory holds the setting (a
    resumed sweep does not train it again); ``None`` when there is no readable file
    or the run stopped short of ``rounds``.
    """
    progress = read_progress(results_dir, hash_)
    return None if progress is None else progress.answers(rounds)


def at_rounds(runs: pd.DataFrame, rounds: int) -> pd.DataFrame:
    """Each run of ``runs`` as the setting ``fl.rounds=rounds``.

    Keeps the runs that answer the setting (trained round ``rounds``, or diverged at
    or before it), cut at round ``rounds``, with ``rounds`` set to it and ``status``
    the setting's own. Runs that stopped short of it are left out.

    Parameters
    ----------
    runs
        Rows of one or more runs (e.g. :func:`fedbench.results.load_runs`).
    rounds
        The ``fl.rounds`` setting to read.

    Returns
    -------
    pandas.DataFrame
        The rows of the setting, in the input's column order.

    """
    parts = [
        _setting(rows, rounds)
        for _, rows in runs.groupby(CONFIG_HASH, sort=False)
        if _status_at(rows, rounds) not in UNFINISHED_STATUSES
    ]
    return _concat(parts, runs)


def load_settings(results_dir: str | os.PathLike) -> pd.DataFrame:
    """Every requested setting of every run under ``results_dir``, one block of rows each.

    A run asked for ``fl.rounds=10``, ``50`` and ``100`` gives three blocks: its rows
    cut at 10, 50 and 100, with ``rounds`` and ``status`` of each setting. A setting the
    run stopped short of is there as ``interrupted`` or ``failed`` with the rows it has.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`fedbench.results.load_runs` but ``requested_rounds``
        (a setting is one of them: ``rounds``), so every column groups.

    """
    runs = load_runs(results_dir)
    parts = [
        _setting(rows, requested)
        for _, rows in runs.groupby(CONFIG_HASH, sort=False)
        for requested in _requested(rows.iloc[0])
    ]
    return _concat(parts, runs).drop(columns=[REQUESTED_ROUNDS])


def _status_at(rows: pd.DataFrame, rounds: int) -> str:
    """The status of one run's setting ``fl.rounds=rounds`` (:meth:`Progress.status_at`)."""
    return _progress(rows).status_at(rounds)


def _setting(rows: pd.DataFrame, rounds: int) -> pd.DataFrame:
    status = _status_at(rows, rounds)
    cut = rows[rows[ROUND].isna() | (rows[ROUND] <= rounds)].copy()
    if len(cut) > 1:
        cut = cut[cut[ROUND].notna()]
    cut[ROUNDS] = rounds
    cut[STATUS] = status
    return cut


def _concat(parts: Iterable[pd.DataFrame], like: pd.DataFrame) -> pd.DataFrame:
    parts = list(parts)
    if not parts:
        return like.iloc[0:0].copy()
    return pd.concat(parts, ignore_index=True)
