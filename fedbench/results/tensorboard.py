"""TensorBoard event files of a run: a view of its Parquet rows, written after them.

Each run writes under ``<results_dir>/tensorboard/<run name>/`` (:func:`run_name`): one
scalar per recorded value of :data:`SCALARS` (the result columns of the same names),
step = round, and its configuration once through TensorBoard's HParams plugin, so
``tensorboard --logdir <results_dir>/tensorboard`` sets a sweep's runs side by side.

The Parquet file is the truth, and the event files on disk say how far its view goes.
A job reads the last step in its run's event files once, then writes the rounds of the
run's rows after it, each after those rows are written (:class:`EventLog`). So a
resumed or extended run continues its curves without a step written twice, a round a
killed job did not flush (or stored with ``fl.tensorboard=false``) is written by the
next job, and events never get ahead of the rows. A failure to write events is one
warning; the run goes on. TensorFlow is imported only when a run writes events.
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
    HELDOUT_CLIENT_ACCURACY,
    OUT_OF_SAMPLE_GAP,
    PARTICIPATION_GAP,
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
    HELDOUT_CLIENT_ACCURACY,
    PARTICIPATION_GAP,
    OUT_OF_SAMPLE_GAP,
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


def events_on_disk(folder: Path) -> tuple[int, bool]:
    """The last step of a scalar in ``folder``'s event files, and whether they hold HParams.

    ``(0, False)`` when there are none. A record cut short (a job killed while writing)
    ends its file's reading, as TensorBoard itself reads it.
    """
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams.metadata import SESSION_START_INFO_TAG

    last_step, has_hparams = 0, False
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in EventFileLoader(os.fspath(path)).Load():
            for value in event.summary.value:
                if value.tag == SESSION_START_INFO_TAG:
                    has_hparams = True
                elif value.tag in SCALARS:
                    last_step = max(last_step, int(event.step))
    return last_step, has_hparams


class EventLog:
    """Writes a run's rows as TensorBoard events, from the last step its event files hold.

    Parameters
    ----------
    spec
        The run.
    stored
        The last round of the run's stored rows when the job started. Event files with
        a step past it (or any, with ``0``: no stored rows) are leftovers of rows that
        are gone, and the run's folder is started anew before the first write.

    Attributes
    ----------
    written
        The last step in the run's event files (queued or on disk): read from them at
        the first :meth:`add`, then moved on round by round, so a write interrupted by a
        signal leaves it at the last round written and no step is written twice.

    """

    def __init__(self, spec: RunSpec, stored: int) -> None:
        self.spec, self.stored = spec, stored
        self.written = 0
        self._writer: Any = None
        self._failed = False

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write the rounds of ``rows`` after those the event files hold, and flush.

        Call it with the run's rows (stored and new) after they are written to its
        Parquet file. An error is logged as one warning and ends the job's events (never
        the run; the next job writes what is missing).
        """
        if self._failed:
            return
        try:
            if self._writer is None:
                self._writer = self._open()
            new = [row for row in rows if row[ROUND] > self.written]
            if new:
                self._write(new)
        except Exception as error:  # events are a view: the run must go on
            self._failed = True
            log.warning(
                "run %s: TensorBoard events not written to %s (%s: %s); the results are unaffected",
                self.spec.config_hash,
                run_dir(self.spec),
                type(error).__name__,
                error,
            )

    def _write(self, rows: list[Mapping[str, Any]]) -> None:
        import tensorflow as tf
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.plugins.scalar.summary_v2 import scalar_pb

        # One summary per round holding its scalars: one write call a round.
        rounds: dict[int, Summary] = {int(row[ROUND]): Summary() for row in rows}
        for tag, step, value in scalars(rows):
            rounds[step].MergeFrom(scalar_pb(tag, value))
        with self._writer.as_default():
            for step, summary in rounds.items():
                if summary.value:  # a round with nothing recorded has no event
                    tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=step)
                self.written = step
        self._writer.flush()

    def _open(self) -> Any:
        """The run's writer, after reading how far its event files go (:attr:`written`).

        The run's HParams are written when its event files hold none yet.
        """
        folder = run_dir(self.spec)
        last_step, has_hparams = events_on_disk(folder)
        if self.stored == 0 or last_step > self.stored:
            shutil.rmtree(folder, ignore_errors=True)
            last_step, has_hparams = 0, False
        self.written = last_step
        folder.mkdir(parents=True, exist_ok=True)
        import tensorflow as tf
        from tensorboard.plugins.hparams import api as hp

        # Flushed at each add(): a queue that never fills keeps scalars off the disk
        # between the checkpoints and the end of the run.
        writer = tf.summary.create_file_writer(os.fspath(folder), max_queue=1 << 20)
        if not has_hparams:
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
