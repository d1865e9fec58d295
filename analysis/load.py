"""The one place the analysis reads results: settings, their seeds, and what identifies them.

A *setting* is everything that determines a result except the seed: dataset, strategy
and its parameters, model, algorithm and their options, the federated settings, and
the number of rounds asked for. Runs of one setting that differ only in ``seed`` are
its repetitions; tables and figures aggregate over them.

Every analysis module reads through :func:`finished_settings`, which returns one block
of rows per (run, requested round count) of the finished runs: rows for rounds
``1..rounds`` and the column ``rounds`` set to that count
(:func:`fedbench.results.load_settings`, which reads a result file, one trajectory, as
one block per ``fl.rounds`` asked of it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import pandas as pd

from fedbench import results as R
from fedbench.fl_keys import column_keys

#: Column holding a setting's identity (canonical JSON of its configuration without the seed).
SETTING = "setting"

#: Columns the analysis derives from result rows (never a setting's configuration).
FINAL = "final_accuracy"
BEST = "best_accuracy"
ROUNDS_TO_TARGET = "rounds_to_target"
DERIVED = frozenset({SETTING, FINAL, BEST, ROUNDS_TO_TARGET})


def config_columns() -> tuple[str, ...]:
    """Configuration columns that are not partition parameters, in the order tables show them.

    The four groups' choices, then every ``fl`` key that is a result column
    (:func:`fedbench.fl_keys.column_keys`, a plugin's too).
    """
    groups = (R.DATASET, R.PARTITION, R.MODEL, R.ALGORITHM)
    return groups + tuple(key.name for key in column_keys())


#: Keys of ``config_json`` that are not part of a setting (the seed is what repeats it;
#: the round count is the ``rounds`` column, read per requested count).
_NOT_SETTING_KEYS = ("seed", "fl.rounds")


def finished_settings(results_dir: str | os.PathLike) -> pd.DataFrame:
    """Every finished run under ``results_dir``, one block of rows per (run, requested rounds).

    Parameters
    ----------
    results_dir
        A fedbench results folder (``results_dir=`` of the sweep).

    Returns
    -------
    pandas.DataFrame
        The result columns of :mod:`fedbench.results`, only ``completed`` and ``diverged``
        runs, plus :data:`SETTING` (the setting's identity, equal for runs that differ in
        ``seed`` only) and one ``<group>.<option>`` column for every option of
        ``config_json`` that has no column of its own (e.g. ``algorithm.mu``).

    """
    return with_settings(finished(R.load_settings(results_dir)))


def finished(settings: pd.DataFrame) -> pd.DataFrame:
    """The rows of the ``completed`` and ``diverged`` settings of ``settings``."""
    return settings[settings[R.STATUS].isin(sorted(R.FINISHED_STATUSES))].copy()


def unfinished(settings: pd.DataFrame) -> pd.DataFrame:
    """One line per setting of ``settings`` that has no result yet, with why.

    Returns
    -------
    pandas.DataFrame
        ``config_hash``, ``rounds``, ``status`` (``running``, ``killed``, ``interrupted``,
        ``failed``) and ``round`` (the last round its rows hold; null: none).

    """
    rows = settings[~settings[R.STATUS].isin(sorted(R.FINISHED_STATUSES))]
    keys = [R.CONFIG_HASH, R.ROUNDS]
    return (
        rows.groupby(keys, sort=True)
        .agg(**{R.STATUS: (R.STATUS, "first"), R.ROUND: (R.ROUND, "max")})
        .reset_index()
    )


def with_settings(frame: pd.DataFrame) -> pd.DataFrame:
    """Add :data:`SETTING` and the option columns of ``config_json`` to result rows."""
    frame = frame.reset_index(drop=True)
    if frame.empty:
        return frame.assign(**{SETTING: pd.Series(dtype=str)})
    flat = {c: _flat(c) for c in frame[R.CONFIG_JSON].dropna().unique()}
    options = pd.DataFrame([flat.get(c, {}) for c in frame[R.CONFIG_JSON]], index=frame.index)
    covered = {f"fl.{c}" for c in config_columns()} | {
        f"partition.{c}" for c in R.partition_columns()
    }
    covered |= {"dataset.name", "partition.name", "model.name", "algorithm.name"}
    # An algorithm's option has a column of its own (``mu``); a dataset's or model's
    # option never does, even where its key is another column's name (the synthetic
    # dataset's ``dataset.alpha`` is not the partition's ``alpha``).
    covered |= {f"algorithm.{c}" for c in R.algorithm_columns()}
    extra = [c for c in options.columns if c not in covered and c not in frame.columns]
    frame = pd.concat([frame, options[extra]], axis=1)
    keys = [c for c in setting_columns(frame) if c != R.ROUNDS]
    identity = frame[keys].astype(object).where(frame[keys].notna(), None)
    frame[SETTING] = [
        json.dumps(dict(zip(keys, row, strict=True)), sort_keys=True, default=str)
        for row in identity.itertuples(index=False, name=None)
    ]
    frame[SETTING] = frame[SETTING] + "|rounds=" + frame[R.ROUNDS].astype(str)
    return frame


def _flat(config_json: str) -> dict[str, object]:
    """``config_json`` as ``group.key`` -> value, without the keys that are not a setting."""
    out: dict[str, object] = {}
    for group, section in json.loads(config_json).items():
        if isinstance(section, dict):
            for key, value in section.items():
                out[f"{group}.{key}"] = value
        else:
            out[group] = section
    for key in _NOT_SETTING_KEYS:
        out.pop(key, None)
    return out


def setting_columns(frame: pd.DataFrame) -> list[str]:
    """The columns that identify a setting, present in ``frame``, in table order.

    The configuration columns of :mod:`fedbench.results`, the registered strategies'
    parameters and algorithms' options, parameter columns of strategies registered
    elsewhere (a plugin's), and the option columns :func:`with_settings` adds. Never
    ``seed``, run ids, hashes, timestamps or provenance.
    """
    known = set(R.column_names())
    fixed = [c for c in config_columns() if c in frame.columns]
    params = [c for c in R.partition_columns() if c in frame.columns]
    options = [c for c in R.algorithm_columns() if c in frame.columns]
    foreign = [c for c in frame.columns if c not in known and c not in DERIVED]
    return fixed[:2] + params + fixed[2:4] + options + fixed[4:] + foreign


def varying(frame: pd.DataFrame, columns: Iterable[str]) -> list[str]:
    """Those of ``columns`` that take more than one value (null counts as a value) in ``frame``."""
    return [c for c in columns if frame[c].astype(str).nunique(dropna=False) > 1]


def is_centralized(frame: pd.DataFrame) -> pd.Series:
    """Rows of centralized reference runs: one client holding all training data.

    A run with ``fl.num_clients=1`` (``partition=iid``) trains the same model on the
    pooled data; with the same rounds, local epochs and batch size it sees as many
    examples as the federated runs it is compared with (``sweeps/*_centralized.yaml``).
    """
    return frame[R.NUM_CLIENTS] == 1
