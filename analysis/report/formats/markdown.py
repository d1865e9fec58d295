"""``--format md``: a GitHub pipe table, then the footnotes."""

from __future__ import annotations

from collections.abc import Sequence

from analysis.report.request import Table


def render(table: Table) -> str:
    """A GitHub pipe table, then the footnotes."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [line(table.header), "|" + "|".join("---" for _ in table.header) + "|"]
    out += [line(r) for r in table.rows]
    return "\n".join([*out, "", *table.notes]) + "\n"
