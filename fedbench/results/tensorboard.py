"""TensorBoard event files of a run: a view of its Parquet rows, written after them.

Each run writes under ``<results_dir>/tensorboard/<run name>/`` (:func:`run_name`): one
scalar per recorded value of :data:`SCALARS` (the result columns of the same names),
step = round, and its configuration once through TensorBoard's HParams plugin, so
``tensorboard --logdir <results_dir>/tensorboard`` sets a sweep's runs side by side.

The Parquet file is the truth. A job writes events only for the rounds it adds to the
run's rows, after those rows are written (:class:`EventLog`), so a resumed or extended
run continues its curves without a step written twice, and events never get ahead of
the rows. A failure to write events is one warning; the run goes on. TensorFlow is
imported only when a run writes events.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fedbench.results.columns import (
    CLIENT_ACCURACY_MEAN,
    CLIENT_ACCURACY_P10,
    CLIENT_DRIFT,
    ROUND,
    ROUND_SECONDS,
    TEST_ACCURACY,
    TEST_LOSS,
    TRAIN_ACCURACY,
    TRAIN_LOSS,
)
from fedbench.spec import RunSpec

log = logging.getLogger(__name__)

#: Folder of ``results_dir`` holding one sub-folder of event files per run.
TENSORBOARD_SUBDIR = "tensorboard"
#: The result columns written as scalars (tag = column name), where a round records them.
SCALARS = (
    TRAIN_LOSS,
    TRAIN_ACCURACY,
    TEST_LOSS,
    TEST_ACCURACY,
    CLIENT_DRIFT,
    CLIENT_ACCURACY_MEAN,
    CLIENT_ACCURACY_P10,
    ROUND_SECONDS,
)


def run_name(spec: RunSpec) -> str:
    """The run's folder name: its setting in short, then its config hash (unique, stable).

    ``<dataset>_<partition>_<model>_<algorithm>_seed<seed>_<config_hash>``; the
    options that tell apart runs of one label are in its HParams.
    """
    parts = (spec.dataset.name, spec.partition.name, spec.model.name, spec.algorithm.name)
    return "_".join((*parts, f"seed{spec.seed}", spec.config_hash))


def run_dir(spec: RunSpec) -> Path:
    """The folder of the run's event files."""
    return Path(spec.results_dir) / TENSORBOARD_SUBDIR / run_name(spec)


def hparams(spec: RunSpec) -> dict[str, bool | int | float | str]:
    """The run's identity as HParams: ``dataset``, ``partition.alpha``, ``fl.client_lr``, ...

    Each group's choice under its group name, its options as ``<group>.<key>``, the
    ``fl`` keys of the identity and the seed; unset (null) values are left out.
    """
    identity = spec.identity()
    out: dict[str, bool | int | float | str] = {}
    for group in ("dataset", "partition", "model", "algorithm", "fl"):
        for key, value in identity[group].items():
            if value is not None:
                out[group if key == "name" else f"{group}.{key}"] = _hparam_value(value)
    out["seed"] = identity["seed"]
    return out


def _hparam_value(value: Any) -> bool | int | float | str:
    """A value HParams takes: booleans, numbers and strings as they are, others as text."""
    return value if isinstance(value, bool | int | float | str) else str(value)


def scalars(rows: Iterable[Mapping[str, Any]]) -> list[tuple[str, int, float]]:
    """``(tag, step, value)`` for each recorded value of :data:`SCALARS` in ``rows``.

    A value that is null or not finite (a round without evaluation) is not recorded.
    """
    out = []
    for row in rows:
        for tag in SCALARS:
            value = row.get(tag)
            if value is not None and math.isfinite(value):
                out.append((tag, int(row[ROUND]), float(value)))
    return out


class EventLog:
    """Writes the rows one job adds to a run as TensorBoard events.

    Parameters
    ----------
    spec
        The run.
    written
        The last round of the run's stored rows when the job started: rounds up to it
        are in the events already (or were written with TensorBoard off) and are never
        written again. With ``0`` (no stored rows) any event files of the run are
        leftovers of rows that are gone, and are removed before the first write.

    """

    def __init__(self, spec: RunSpec, written: int) -> None:
        self.spec, self.written = spec, written
        self._writer: Any = None
        self._failed = False

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write the rounds of ``rows`` after those already written, and flush.

        Call it after ``rows`` are written to the run's Parquet file. An error is logged
        as one warning and ends the run's events (never the run).
        """
        if self._failed:
            return
        try:
            new = [row for row in rows if row[ROUND] > self.written]
            if not new:
                return
            self._write(scalars(new))
        except Exception as error:  # events are a view: the run must go on
            self._failed = True
            log.warning(
                "run %s: TensorBoard events not written to %s (%s: %s); the results are unaffected",
                self.spec.config_hash,
                run_dir(self.spec),
                type(error).__name__,
                error,
            )
            return
        self.written = max(row[ROUND] for row in new)

    def _write(self, values: list[tuple[str, int, float]]) -> None:
        if self._writer is None:
            self._writer = self._open()
        import tensorflow as tf
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.plugins.scalar.summary_v2 import scalar_pb

        # One summary per round holding its scalars: one write call a round.
        rounds: dict[int, Summary] = {}
        for tag, step, value in values:
            rounds.setdefault(step, Summary()).MergeFrom(scalar_pb(tag, value))
        with self._writer.as_default():
            for step, summary in rounds.items():
                tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=step)
        self._writer.flush()

    def _open(self) -> Any:
        """The run's writer; its HParams are written when its folder holds no events yet."""
        folder = run_dir(self.spec)
        if self.written == 0 and folder.exists():
            shutil.rmtree(folder)
        fresh = not any(folder.glob("events.out.tfevents.*"))
        folder.mkdir(parents=True, exist_ok=True)
        import tensorflow as tf
        from tensorboard.plugins.hparams import api as hp

        # Flushed at each add(): a queue that never fills keeps scalars off the disk
        # between the checkpoints and the end of the run.
        writer = tf.summary.create_file_writer(os.fspath(folder), max_queue=1 << 20)
        if fresh:
            with writer.as_default():
                hp.hparams(hparams(self.spec), trial_id=run_name(self.spec))
        return writer

    def close(self) -> None:
        """Flush and close the writer (a no-op when nothing was written)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except Exception as error:  # a view: one warning, never a failure
                log.warning("run %s: closing TensorBoard events: %s", self.spec.config_hash, error)
