"""``--format csv``: the numbers behind the table, one line per setting."""

from __future__ import annotations

import io

from analysis.report.request import Table


def render(table: Table) -> str:
    """The numbers behind the table, one line per setting: keys, ``<metric>_mean/_std/_n``, n."""
    buffer = io.StringIO()
    table.data.to_csv(buffer, index=False)
    return buffer.getvalue()
