"""Warnings that reach a user print as one line, like every other message of the commands.

Python's default shows a warning with its file, line number and source line
(``preflight.py:74: UnassignedExamplesWarning: ...`` then ``return prepare(...)``);
the commands show ``fedbench: warning: <message>`` instead (:func:`one_line_warnings`).
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from typing import TextIO


def format_warning(message: Warning | str, category: type[Warning]) -> str:
    """The one line of a warning: fedbench's own by message, others' with their category."""
    own = category.__module__.split(".")[0] == "fedbench" or category is UserWarning
    text = " ".join(str(message).split())  # one line, whatever the message holds
    return f"fedbench: warning: {text if own else f'{category.__name__}: {text}'}"


def _show(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    stream = sys.stderr if file is None else file
    with contextlib.suppress(OSError):  # as Python's own: a closed stream loses the warning
        stream.write(format_warning(message, category) + "\n")


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """Show warnings as one line while the block runs; Python's way again afterwards."""
    saved = warnings.showwarning
    warnings.showwarning = _show
    try:
        yield
    finally:
        warnings.showwarning = saved
