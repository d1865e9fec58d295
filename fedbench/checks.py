"""Checks that are more than a value's rule: types, the results folder, the model's fit.

Ranges are :mod:`fedbench.rules`' business.

Each failure raises :class:`fedbench.errors.ConfigError` with the one line of
:func:`fedbench.errors.invalid`, naming the command-line key.
"""

from __future__ import annotations

import contextlib
import fcntl
import numbers
import os
import tempfile
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fedbench.errors import ConfigError, invalid
from fedbench.records import MODELS

_KIND_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def base_type(annotation: Any) -> tuple[type | None, bool]:
    """The value type of an annotation and whether it allows ``None`` (``str | None``)."""
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        others = [a for a in args if a is not type(None)]
        return (others[0] if len(others) == 1 else None), type(None) in args
    return (annotation if isinstance(annotation, type) else None), False


def typed(key: str, value: Any, annotation: Any) -> Any:
    """``value`` as the type ``annotation`` names, or a :class:`ConfigError` naming ``key``.

    numpy scalars become Python ones and integers become floats where a float is
    expected, so that ``1``, ``1.0`` and ``numpy.float32(1)`` describe (and hash to)
    the same run. Anything else of the wrong type is refused, never converted.
    """
    if isinstance(value, np.generic):
        value = value.item()
    kind, nullable = base_type(annotation)
    if (value is None and nullable) or kind is None:
        return value
    is_bool = isinstance(value, bool)
    if kind is float and isinstance(value, numbers.Real) and not is_bool:
        return float(value)
    if kind is int and isinstance(value, numbers.Integral) and not is_bool:
        return int(value)
    if kind in (bool, str) and isinstance(value, kind):
        return value
    raise ConfigError(invalid(key, value, _KIND_WORDS.get(kind, kind.__name__)))


def typed_options(
    prefix: str, options: Mapping[str, Any], annotations: Mapping[str, Any]
) -> dict[str, Any]:
    """Every option typed as its annotation; a key with no annotation is refused by name."""
    out = {}
    for key, value in options.items():
        if key not in annotations:
            raise ConfigError(
                invalid(
                    f"{prefix}.{key}",
                    value,
                    f"one of the keys {sorted(annotations)}",
                    f"remove {prefix}.{key} or check its spelling",
                )
            )
        out[key] = typed(f"{prefix}.{key}", value, annotations[key])
    return out


def check_results_dir(results_dir: str) -> None:
    """Check that results can be written, and claimed, where ``results_dir`` puts them.

    Its nearest existing ancestor (``results_dir/runs`` itself when it exists) must be a
    writable folder, and the filesystem must grant ``flock`` locks: run claims rely on
    them to keep two jobs, on this host or another, from training the same run. The
    probe is made beside ``runs/`` (in ``results_dir``), never in it: a refused command
    leaves ``runs/`` as it was, its modification time included.
    """
    if not results_dir.strip():
        raise ConfigError(
            invalid("results_dir", results_dir, "a folder path", "e.g. results_dir=results")
        )
    path = Path(results_dir)  # as the run writes it: no ~ expansion, relative to the cwd
    runs = path / "runs"
    existing = next(p for p in (runs, path, *path.parents) if p.exists())
    fix = "point results_dir at a folder you can write to"
    for must_be_dir in (existing, runs):
        if must_be_dir.exists() and not must_be_dir.is_dir():
            raise ConfigError(
                invalid("results_dir", results_dir, "a folder", f"{must_be_dir} is a file; {fix}")
            )
    if existing == runs and not os.access(runs, os.W_OK | os.X_OK):
        raise ConfigError(
            invalid(
                "results_dir",
                results_dir,
                "a folder fedbench can write in",
                f"{runs} is read-only; {fix}",
            )
        )
    if existing == runs and not os.path.ismount(runs):  # same filesystem: probe beside it
        existing = path
    try:  # a real probe: permissions alone do not tell (root, read-only or virtual mounts)
        probe = tempfile.mkdtemp(prefix=".fedbench-probe-", dir=existing)
    except OSError as err:
        raise ConfigError(
            invalid(
                "results_dir",
                results_dir,
                "a folder fedbench can create and write in",
                f"nothing can be created in {existing} ({err.strerror}); {fix}",
            )
        ) from None
    try:
        _check_flock(results_dir, Path(probe) / "lock")
        _check_shared_locks(results_dir, Path(probe))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(Path(probe) / "lock")
        os.rmdir(probe)


def _check_flock(results_dir: str, probe: Path) -> None:
    fd = os.open(probe, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError as err:
        raise ConfigError(
            invalid(
                "results_dir",
                results_dir,
                "a folder on a filesystem with flock locks (a local disk, NFSv4, Lustre "
                "mounted with -o flock)",
                f"flock there fails ({err.strerror}), so parallel jobs could train the same "
                "run twice; put results on such a filesystem",
            )
        ) from None
    finally:
        os.close(fd)


#: Mount options under which flock works on one host only (NFS, Lustre).
_HOST_LOCAL_LOCKS = {
    "nfs": ("nolock", "local_lock=flock", "local_lock=all"),
    "nfs4": ("local_lock=flock", "local_lock=all"),
    "lustre": ("localflock",),
}


def mount_of(path: Path, mountinfo: str | None = None) -> tuple[str, str, set[str]]:
    """The mount point, filesystem type and options of the mount holding ``path``.

    Parameters
    ----------
    path
        An existing path.
    mountinfo
        The text of ``/proc/self/mountinfo`` (read when ``None``).

    Returns
    -------
    (mount point, filesystem type, mount and superblock options)

    """
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return "/", "", set()
    target, best = os.path.realpath(path), ("/", "", set())
    for line in mountinfo.splitlines():
        fields, _, rest = line.partition(" - ")
        parts, tail = fields.split(), rest.split()
        if len(parts) < 6 or len(tail) < 3:
            continue
        point = parts[4].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]):
            best = (point, tail[0], set(parts[5].split(",")) | set(tail[2].split(",")))
    return best


def _check_shared_locks(results_dir: str, probe: Path) -> None:
    """Refuse a mount where flock locks only this host (other hosts could take the same run)."""
    point, fstype, options = mount_of(probe)
    local = sorted(options.intersection(_HOST_LOCAL_LOCKS.get(fstype, ())))
    if local:
        raise ConfigError(
            invalid(
                "results_dir",
                results_dir,
                "a folder whose flock locks hold across hosts",
                f"{point} is {fstype} mounted with {','.join(local)}, so jobs on two hosts "
                "could train the same run; remount without it or use one host",
            )
        )


def check_model_fits(model: str, example_shape: tuple[int, ...]) -> None:
    """Raise :class:`ConfigError` if ``model`` cannot take examples of ``example_shape``."""
    min_side = MODELS[model].min_image_side if model in MODELS else None
    if min_side is None:
        return
    if len(example_shape) != 2:
        raise ConfigError(
            invalid(
                "model",
                model,
                "a model for flat features (linear or mlp) with this dataset",
                f"its examples have shape {example_shape}, not (height, width); use model=mlp",
            )
        )
    if min(example_shape) < min_side:
        raise ConfigError(
            invalid(
                "model",
                model,
                f"images of at least {min_side}x{min_side} for model={model}",
                f"the dataset's images are {example_shape[0]}x{example_shape[1]}; "
                "use model=mlp or model=linear",
            )
        )
