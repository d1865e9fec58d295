"""Report formats: ``--format NAME`` -> a function rendering a table as text; one module each."""

from __future__ import annotations

from collections.abc import Callable

from analysis.report.formats import csv_numbers, latex, markdown
from analysis.report.request import Table

#: ``--format`` value -> its renderer.
FORMATS: dict[str, Callable[[Table], str]] = {
    "md": markdown.render,
    "csv": csv_numbers.render,
    "latex": latex.render,
}

#: Formats that print the table's footnotes (``csv`` holds the numbers only).
NOTED_FORMATS = frozenset({"md", "latex"})


def render(table: Table, fmt: str) -> str:
    """The table in ``fmt`` (a key of :data:`FORMATS`)."""
    return FORMATS[fmt](table)
