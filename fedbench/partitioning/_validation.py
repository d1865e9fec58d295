"""Checks shared by the strategies: the client count, parameters, and the data they meet.

Every failure raises :class:`fedbench.errors.PartitionError` naming the Python
parameters (``num_clients``, ``alpha``, ...), the value, what is allowed and how to
fix it; the command line renders the same message with its own keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from fedbench.errors import param_invalid
from fedbench.rules import is_int

if TYPE_CHECKING:
    from fedbench.partitioning.strategy import Strategy


def check_num_clients(num_clients: Any) -> None:
    """Raise unless ``num_clients`` is an integer >= 1."""
    if not is_int(num_clients) or num_clients < 1:
        raise param_invalid("num_clients", num_clients, "an integer >= 1", "e.g. {num_clients}=10")


def check_params(strategy: Strategy, num_clients: Any, params: Mapping[str, Any]) -> None:
    """Run every data-free check of ``strategy`` on all of its parameters' values."""
    check_num_clients(num_clients)
    strategy.check(params)


def as_labels(labels: Any) -> np.ndarray:
    """Return ``labels`` as a 1-D int64 array of class ids >= 0, or raise.

    Raises
    ------
    PartitionError
        Not 1-D, not integer, or a negative label.

    """
    array = np.asarray(labels)
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        raise param_invalid(
            "labels",
            f"<array of shape {array.shape}, dtype {array.dtype}>",
            "a 1-D array of integer class ids",
            "pass the dataset's y vector",
        )
    if array.size and array.min() < 0:
        raise param_invalid("labels", int(array.min()), "class ids >= 0", "remap labels to 0..C-1")
    return array.astype(np.int64, copy=False)


def check_enough_examples(num_examples: int, num_clients: int) -> None:
    """Raise when there are more clients than examples (some client would be empty)."""
    if num_clients > num_examples:
        raise param_invalid(
            "num_clients",
            num_clients,
            f"at most the number of training examples ({num_examples})",
            f"set {{num_clients}} <= {num_examples}",
        )


def check_min_client_size(min_client_size: int, num_clients: int, num_examples: int) -> None:
    """Raise when ``num_clients`` clients of ``min_client_size`` cannot fit in the data."""
    if min_client_size * num_clients > num_examples:
        raise param_invalid(
            "min_client_size",
            min_client_size,
            f"at most {num_examples // num_clients} ({num_examples} examples / "
            f"{num_clients} clients)",
            "lower {min_client_size} or {num_clients}",
        )


def checked_labels(
    strategy: Strategy, labels: Any, num_clients: int, params: Mapping[str, Any]
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
