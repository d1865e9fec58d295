"""Errors that end a fedbench command with one clear line.

Every error a user can cause derives from :class:`FedbenchError`. The command-line
entry points catch it, print ``fedbench: error: <message>`` on stderr and exit with
status 2, before any training starts. Messages follow one shape so they teach:
the key, the value, what is allowed, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class FedbenchError(Exception):
    """Base class for every error caused by user input (config, data files, parameters)."""


class ConfigError(FedbenchError, ValueError):
    """A configuration key has a value that is not allowed."""


class ResultsNotWritable(FedbenchError):
    """A run's result cannot be written (disk full, permissions): the sweep must stop."""


class DataError(FedbenchError):
    """A data file or folder is missing, truncated, corrupt or in the wrong format."""


class PartitionError(FedbenchError, ValueError):
    """Partition parameters do not fit each other or the data.

    The message names Python parameters (``alpha``, ``num_clients``), as a caller of
    :func:`fedbench.partition` passes them. It is kept as a template whose ``{name}``
    fields are those names, so :meth:`keyed` can render the same message with the
    command line's keys (``partition.alpha``, ``fl.num_clients``).

    Parameters
    ----------
    template
        The message, with each parameter name in braces and literal braces doubled
        (:func:`literal`).

    """

    def __init__(self, template: str) -> None:
        self.template = template
        super().__init__(render(template))

    def keyed(self, key_of: Callable[[str], str]) -> str:
        """Return the message with every parameter name replaced by ``key_of(name)``."""
        return render(self.template, key_of)


def render(template: str, key_of: Callable[[str], str] = str) -> str:
    """Fill a message template's ``{name}`` fields with ``key_of(name)`` (the names themselves)."""
    return template.format_map(_Names(key_of))


class _Names(dict):
    """``str.format_map`` mapping that names every field through a function."""

    def __init__(self, key_of: Callable[[str], str]) -> None:
        super().__init__()
        self.key_of = key_of

    def __missing__(self, name: str) -> str:
        return self.key_of(name)


def literal(value: object) -> str:
    """Return ``str(value)`` with its braces doubled, for a :class:`PartitionError` template."""
    return str(value).replace("{", "{{").replace("}", "}}")


def param_invalid(param: str, value: Any, allowed: str, fix: str | None = None) -> PartitionError:
    """Build the :class:`PartitionError` for an invalid parameter value.

    Parameters
    ----------
    param
        The Python parameter's name, e.g. ``"alpha"``.
    value
        The offending value.
    allowed
        What is allowed (a template: other parameters in braces).
    fix
        How to fix it (a template); defaults to "set {param} to {allowed}".

    Returns
    -------
    PartitionError
        Reading ``"{param}={value!r} is invalid: allowed is {allowed}; {fix}"``.

    """
    fix = fix or f"set {{{param}}} to {allowed}"
    return PartitionError(
        f"{{{param}}}={literal(repr(value))} is invalid: allowed is {allowed}; {fix}"
    )


def unknown_key(key: str, allowed: list[str]) -> str:
    """Format the one-line message for a key that is not in the config schema."""
    parent = key.rpartition(".")[0]
    where = f"under {parent}" if parent else "at the top level"
    return (
        f"{key} is not a config key: allowed keys {where} are {sorted(allowed)}; check the spelling"
    )


def bad_file(path: object, problem: str) -> str:
    """Format the one-line message for a data file that exists but cannot be used.

    Parameters
    ----------
    path
        The file (or folder) at fault.
    problem
        What is wrong with it, e.g. ``"not an IDX file (bad magic number 1f8b0800)"``.

    Returns
    -------
    str
        ``"{path}: {problem}; replace it with an intact copy of the original file"``.

    """
    return f"{path}: {problem}; replace it with an intact copy of the original file"


def invalid(key: str, value: Any, allowed: str, fix: str | None = None) -> str:
    """Format the one-line message for an invalid value.

    Parameters
    ----------
    key
        The config key or parameter name, e.g. ``"partition.alpha"``.
    value
        The offending value.
    allowed
        What is allowed, e.g. ``"a float > 0"``.
    fix
        How to fix it; defaults to "set {key} to {allowed}".

    Returns
    -------
    str
        ``"{key}={value!r} is invalid: allowed is {allowed}; {fix}"``.

    """
    fix = fix or f"set {key} to {allowed}"
    return f"{key}={value!r} is invalid: allowed is {allowed}; {fix}"
