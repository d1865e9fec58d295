"""Round checkpoints: a run's whole learning-process state, saved so a re-run resumes there.

One file per run, ``<results_dir>/checkpoints/<config_hash>.npz``, replaced atomically
at each save, so it always holds one complete state: the state after the last round
saved (global model, the server optimizer's state such as FedAvgM's momentum or
FedAdam's moments, the aggregator's and client work's state), the round, the run's
hash and the layout of the state. Only the latest is kept: it is what a resume or
an extension needs.

A checkpoint that does not fit the run it is loaded for (another run's hash, another
state layout from a model or algorithm change or another fedbench version, rounds
beyond the rows the run has kept, a truncated or corrupt file) is never mixed in: it
is moved aside to ``<config_hash>.npz.rejected`` with one log line, and the run
starts from round 1.

A state whose client table is on disk (:mod:`fedbench.training.client_table`) is saved
without the table: the checkpoint records the table's id and layout, the table is synced
before the file is written and its undo journal emptied after; loading brings the table
back to the checkpoint's round. A table that does not fit is set aside with the
checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from fedbench import atomic
from fedbench.training.client_table import TableView, table_dir

log = logging.getLogger(__name__)

CHECKPOINTS_SUBDIR = "checkpoints"
#: The version of what a checkpoint holds; a file of another version is set aside.
FORMAT_VERSION = 1
_META = "meta"


def _disk_table(state: Any) -> TableView | None:
    """The view of ``state``'s client table when it is on disk, else ``None``."""
    clients = getattr(state, "clients", None)
    return clients if isinstance(clients, TableView) else None


def _saved_part(state: Any) -> Any:
    """What the checkpoint file holds of ``state``: all but a table on disk."""
    return state._replace(clients=()) if _disk_table(state) is not None else state


def checkpoint_path(results_dir: str | os.PathLike, hash_: str) -> Path:
    """Return the checkpoint file of the run whose configuration hashes to ``hash_``."""
    return Path(results_dir) / CHECKPOINTS_SUBDIR / f"{hash_}.npz"


def state_layout(state: Any) -> dict[str, Any]:
    """The layout of a learning-process state: its nesting, and each leaf's shape and dtype.

    Two states of the same process (same model, algorithm and options) have the same
    layout; a checkpoint whose layout differs cannot be resumed from. The nesting is
    the state's structure with its leaves blanked, e.g.
    ``LearningAlgorithmState(global_model_weights=ModelWeights(trainable=[0, 0], ...``.
    """
    return {
        "structure": repr(tf.nest.map_structure(lambda _: 0, state)),
        "leaves": [
            [list(np.shape(leaf)), np.asarray(leaf).dtype.str] for leaf in tf.nest.flatten(state)
        ],
    }


@dataclass(frozen=True)
class Restored:
    """A checkpoint read back: the round it was saved after and the state then."""

    round: int
    state: Any


class Checkpoints:
    """The checkpoint of one run.

    Parameters
    ----------
    results_dir
        Where the run's results land.
    hash_
        The run's ``config_hash``.

    """

    def __init__(
        self, results_dir: str | os.PathLike, hash_: str, execution: str | None = None
    ) -> None:
        self.hash = hash_
        self.path = checkpoint_path(results_dir, hash_)
        #: The run's ``fl.execution``, recorded with each save; a checkpoint saved under
        #: the other one is resumed (the same state) with one line saying so.
        self.execution = execution

    def save(self, round_num: int, state: Any) -> Path:
        """Save ``state``, the process state after round ``round_num``, replacing the last.

        Returns
        -------
        pathlib.Path
            The checkpoint file.

        """
        view = _disk_table(state)
        saved = _saved_part(state)
        leaves = [np.asarray(leaf) for leaf in tf.nest.flatten(saved)]
        meta = {
            "format": FORMAT_VERSION,
            "config_hash": self.hash,
            "round": int(round_num),
            "layout": state_layout(saved),
            "execution": self.execution,
        }
        if view is not None:
            view.table.settle(view)  # the round's pending rows into the file, journaled
            view.table.sync()
            meta["table"] = view.table.describe()
        arrays = {f"leaf_{i}": leaf for i, leaf in enumerate(leaves)}
        arrays[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        path = atomic.write_atomic(self.path, lambda handle: np.savez(handle, **arrays))
        if view is not None:
            view.table.checkpointed()
        return path

    def load(self, template: Any, *, max_round: int) -> Restored | None:
        """The saved state, if there is one that fits; a file that does not is set aside.

        Parameters
        ----------
        template
            A state of the run's process (``process.initialize()``): the saved one must
            have its layout, and is returned in its structure.
        max_round
            The last round whose row the run has kept; a checkpoint of a later round
            (its rows were lost) is set aside.

        Returns
        -------
        Restored or None
            ``None`` when there is no checkpoint or it was set aside.

        """
        if not self.path.is_file():
            return None
        try:
            meta, leaves = self._read()
        except Exception as error:  # a truncated or corrupt file, whatever numpy says
            self._reject(f"it cannot be read ({type(error).__name__}: {error})")
            return None
        problem = self._mismatch(meta, template, max_round)
        view = _disk_table(template)
        if not problem and view is not None:
            table_problem = view.table.restore(int(meta["round"]), meta.get("table") or {})
            problem = table_problem and f"its client table cannot serve ({table_problem})"
        if problem:
            self._reject(problem)
            return None
        saved_under = meta.get("execution")
        if saved_under and self.execution and saved_under != self.execution:
            log.info(
                "run %s: its checkpoint was saved with fl.execution=%s; resuming it with "
                "fl.execution=%s (the same state; rows agree to float32 rounding)",
                self.hash,
                saved_under,
                self.execution,
            )
        saved_part = _saved_part(template)
        structure = tf.nest.flatten(saved_part)
        restored = [
            np.asarray(saved, dtype=np.asarray(like).dtype).reshape(np.shape(like))
            for saved, like in zip(leaves, structure, strict=True)
        ]
        state = tf.nest.pack_sequence_as(saved_part, restored)
        if view is not None:
            state = state._replace(clients=view.table.view())
        return Restored(int(meta["round"]), state)

    def discard(self) -> None:
        """Remove the checkpoint and its client table (nothing to resume, e.g. after divergence)."""
        self.path.unlink(missing_ok=True)
        shutil.rmtree(table_dir(self.path), ignore_errors=True)

    def _read(self) -> tuple[dict[str, Any], list[np.ndarray]]:
        with np.load(self.path, allow_pickle=False) as archive:
            meta = json.loads(archive[_META].tobytes().decode())
            count = len(meta["layout"]["leaves"])
            # zipfile checks each member's CRC as numpy reads it to its end
            leaves = [archive[f"leaf_{i}"] for i in range(count)]
        return meta, leaves

    def _mismatch(self, meta: dict[str, Any], template: Any, max_round: int) -> str | None:
        if meta.get("format") != FORMAT_VERSION:
            return f"it has format {meta.get('format')}, this fedbench reads {FORMAT_VERSION}"
        if meta.get("config_hash") != self.hash:
            return f"it belongs to run {meta.get('config_hash')}"
        if meta["layout"] != state_layout(_saved_part(template)):
            return "its state does not match this run's model and algorithm"
        if not 1 <= meta["round"] <= max_round:
            held = f"rounds 1-{max_round} only" if max_round else "no round"
            return f"it is of round {meta['round']} and the run's results hold {held}"
        return None

    def _reject(self, reason: str) -> None:
        aside = atomic.set_aside(self.path)
        log.warning(
            "checkpoint %s set aside to %s: %s; training from round 1", self.path, aside, reason
        )
