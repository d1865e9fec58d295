"""Pre-flight: refuse a run whose client table (SCAFFOLD's ``c_i``) would not fit the disk.

A run of an algorithm keeping state per client (:attr:`fedbench.records.Algorithm.client_state`)
keeps its table beside its checkpoint (:mod:`fedbench.training.client_table`): at most
:func:`fedbench.training.client_table.table_bytes` bytes, every row written, the undo
journal full and three rounds' rows staged for the shards. The check compares that
with the free space of ``results_dir``'s file system, counting what this run's own
table already holds there as free (a resumed run reuses it).
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from fedbench import records
from fedbench.errors import ConfigError, invalid
from fedbench.spec import RunSpec
from fedbench.training.client_table import (
    STAGED_HEADER_BYTES,
    STAGED_ROUNDS,
    table_bytes,
    table_dir,
)

#: Bytes of one element of a row (SCAFFOLD's control variates are float32).
ITEMSIZE = 4


@functools.cache
def trainable_parameters(
    model: str, options: tuple[tuple[str, Any], ...], example_shape: tuple[int, ...], classes: int
) -> int:
    """Trainable parameters of ``model`` on examples of ``example_shape`` (built once, unseeded)."""
    import tensorflow as tf

    from fedbench.training.models import build_model

    with tf.Graph().as_default():  # keeps the model's variables out of everything else
        built = build_model(model, example_shape, classes, **dict(options))
        return int(sum(np.prod(w.shape) for w in built.trainable_weights))


def table_need(spec: RunSpec, example_shape: tuple[int, ...], num_classes: int) -> int:
    """Disk bytes ``spec``'s client table can take at most (0: its algorithm keeps none)."""
    if records.ALGORITHMS[spec.algorithm.name].client_state is None:
        return 0
    options = tuple(sorted(spec.model.options.items()))
    width = trainable_parameters(spec.model.name, options, tuple(example_shape), num_classes)
    every = spec.fl.checkpoint_every
    journal = spec.fl.clients_per_round * every if every > 0 else None
    return table_bytes(
        spec.fl.num_clients,
        width,
        ITEMSIZE,
        journal,
        staged_rows=STAGED_ROUNDS * spec.fl.clients_per_round,
        staged_overhead=STAGED_HEADER_BYTES,
    )


def _free_bytes(path: Path) -> int:
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def _held(directory: Path) -> int:
    """Disk bytes the files of ``directory`` hold (blocks allocated, not their sizes)."""
    if not directory.is_dir():
        return 0
    return sum(p.stat().st_blocks * 512 for p in directory.iterdir() if p.is_file())


def check_table_fits(
    spec: RunSpec,
    example_shape: tuple[int, ...],
    num_classes: int,
) -> None:
    """Raise :class:`ConfigError` (one line) if ``spec``'s client table would not fit the disk.

    Parameters
    ----------
    spec
        The run.
    example_shape, num_classes
        The dataset's (they size the model).

    """
    need = table_need(spec, example_shape, num_classes)
    if need == 0:
        return
    from fedbench.training.checkpoints import checkpoint_path  # TensorFlow: only when needed

    directory = table_dir(checkpoint_path(spec.results_dir, spec.config_hash))
    available = _free_bytes(directory) + _held(directory)
    if need <= available:
        return
    raise ConfigError(
        invalid(
            "fl.num_clients",
            spec.fl.num_clients,
            f"a count whose algorithm={spec.algorithm.name} client table fits the disk: "
            f"it needs {_gb(need)} under {directory.parent} and {_gb(available)} is free",
            "free disk space, set results_dir= on a larger disk, or use fewer clients",
        )
    )


def _gb(size: int) -> str:
    return f"{size / 1e9:.2f} GB ({size} bytes)"
