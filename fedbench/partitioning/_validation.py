"""Shared checks: partition parameters (data-free) and the data they meet.

Every failure raises :class:`fedbench.errors.PartitionError` with the one-line
message of :func:`fedbench.errors.invalid`: the config key (``partition.<param>``
or ``fl.num_clients``), the value, what is allowed, and how to fix it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedbench.config.partition import PARTITION_DEFAULTS
from fedbench.errors import PartitionError, invalid

NUM_CLIENTS_KEY = "fl.num_clients"
WRITER_MODES = ("sample", "merge")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


@dataclass(frozen=True)
class _Rule:
    """What one parameter allows: a test, its wording, and an example value."""

    allowed: str
    ok: Callable[[Any], bool]
    example: str


_RULES: dict[str, _Rule] = {
    "alpha": _Rule("a float > 0", lambda v: _is_real(v) and v > 0, "0.5"),
    "quantity_alpha": _Rule("a float > 0", lambda v: _is_real(v) and v > 0, "0.5"),
    "min_client_size": _Rule("an integer >= 0", lambda v: _is_int(v) and v >= 0, "10"),
    "classes_per_client": _Rule("an integer >= 1", lambda v: _is_int(v) and v >= 1, "2"),
    "shards_per_client": _Rule("an integer >= 1", lambda v: _is_int(v) and v >= 1, "2"),
    "sigma": _Rule("a float >= 0", lambda v: _is_real(v) and v >= 0, "0.1"),
    "writer_mode": _Rule(
        " or ".join(WRITER_MODES), lambda v: isinstance(v, str) and v in WRITER_MODES, "sample"
    ),
}


def param_key(param: str) -> str:
    """Return the config key of a partition parameter, e.g. ``partition.alpha``."""
    return f"partition.{param}"


def param_names(strategy: str) -> tuple[str, ...]:
    """Return the config parameter names of ``strategy`` (the keys of its config defaults)."""
    return tuple(PARTITION_DEFAULTS[strategy])


def check_strategy(strategy: Any) -> None:
    """Raise unless ``strategy`` names a registered partition strategy."""
    if not isinstance(strategy, str) or strategy not in PARTITION_DEFAULTS:
        names = ", ".join(PARTITION_DEFAULTS)
        raise PartitionError(
            invalid("partition", strategy, f"one of {names}", "e.g. partition=iid")
        )


def check_num_clients(num_clients: Any) -> None:
    """Raise unless ``num_clients`` is an integer >= 1."""
    if not _is_int(num_clients) or num_clients < 1:
        raise PartitionError(
            invalid(NUM_CLIENTS_KEY, num_clients, "an integer >= 1", "e.g. fl.num_clients=10")
        )


def check_params(strategy: str, num_clients: Any, params: Mapping[str, Any]) -> None:
    """Run every data-free check of ``strategy`` with ``params`` on ``num_clients`` clients.

    Raises
    ------
    PartitionError
        Unknown strategy, unknown or missing parameter, or a value out of range.

    """
    check_strategy(strategy)
    check_num_clients(num_clients)
    names = param_names(strategy)
    for name in params:
        if name not in names:
            allowed = ", ".join(names) or "no parameters"
            raise PartitionError(
                invalid(
                    param_key(name),
                    params[name],
                    f"not a parameter of partition={strategy} (it takes {allowed})",
                    f"remove {param_key(name)}",
                )
            )
    for name in names:
        rule = _RULES[name]
        if name not in params:
            default = PARTITION_DEFAULTS[strategy][name]
            raise PartitionError(
                invalid(
                    param_key(name),
                    None,
                    f"{rule.allowed} (partition={strategy} needs it)",
                    f"pass {name}={default!r} (the config default) or another value",
                )
            )
        if not rule.ok(params[name]):
            raise PartitionError(
                invalid(
                    param_key(name),
                    params[name],
                    rule.allowed,
                    f"e.g. {param_key(name)}={rule.example}",
                )
            )


def as_labels(labels: Any) -> np.ndarray:
    """Return ``labels`` as a 1-D int64 array of class ids >= 0, or raise.

    Raises
    ------
    PartitionError
        Not 1-D, not integer, or a negative label.

    """
    array = np.asarray(labels)
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        raise PartitionError(
            invalid(
                "labels",
                f"<array of shape {array.shape}, dtype {array.dtype}>",
                "a 1-D array of integer class ids",
                "pass the dataset's y vector",
            )
        )
    if array.size and array.min() < 0:
        raise PartitionError(
            invalid("labels", int(array.min()), "class ids >= 0", "remap labels to 0..C-1")
        )
    return array.astype(np.int64, copy=False)


def check_enough_examples(num_examples: int, num_clients: int) -> None:
    """Raise when there are more clients than examples (some client would be empty)."""
    if num_clients > num_examples:
        raise PartitionError(
            invalid(
                NUM_CLIENTS_KEY,
                num_clients,
                f"at most the number of training examples ({num_examples})",
                f"set fl.num_clients <= {num_examples}",
            )
        )


def check_min_client_size(min_client_size: int, num_clients: int, num_examples: int) -> None:
    """Raise when ``num_clients`` clients of ``min_client_size`` cannot fit in the data."""
    if min_client_size * num_clients > num_examples:
        raise PartitionError(
            invalid(
                param_key("min_client_size"),
                min_client_size,
                f"at most {num_examples // num_clients} ({num_examples} examples / "
                f"{num_clients} clients)",
                "lower partition.min_client_size or fl.num_clients",
            )
        )


def checked_labels(
    strategy: str, labels: Any, num_clients: int, params: Mapping[str, Any]
) -> np.ndarray:
    """Run a strategy's prologue: parameter checks, then the labels and the data checks.

    Checks ``params`` (data-free), converts ``labels`` with :func:`as_labels`,
    refuses more clients than examples and, when the strategy takes
    ``min_client_size``, more than ``min_client_size * num_clients`` examples.

    Returns
    -------
    numpy.ndarray
        The labels as int64.

    """
    check_params(strategy, num_clients, params)
    labels = as_labels(labels)
    check_enough_examples(len(labels), num_clients)
    if "min_client_size" in params:
        check_min_client_size(params["min_client_size"], num_clients, len(labels))
    return labels
