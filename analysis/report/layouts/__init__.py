"""Report layouts: how a layout sets rows and columns, names values and orders them.

A :class:`Layout` is an entry of :data:`LAYOUTS` (``--layout NAME``); one module each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from analysis.report.request import Request


@dataclass(frozen=True)
class Layout:
    """A report layout.

    Attributes
    ----------
    name
        The ``--layout`` value.
    prepare
        ``prepare(rows, request) -> (rows, request)``: relabels result rows and sets the
        request's rows and columns (raises :class:`~analysis.report.request.ReportError`
        for flags it cannot take).
    sort_keys
        Column -> sort key of its values (``pandas.DataFrame.sort_values``'s ``key``);
        other columns sort by value.

    """

    name: str
    prepare: Callable[[pd.DataFrame, Request], tuple[pd.DataFrame, Request]]
    sort_keys: Mapping[str, Callable[[pd.Series], pd.Series]] = field(default_factory=dict)


def _layouts() -> dict[str, Layout]:
    from analysis.report.layouts import niid_bench, plain

    return {layout.name: layout for layout in (plain.LAYOUT, niid_bench.LAYOUT)}


#: ``--layout`` value -> its :class:`Layout`.
LAYOUTS: dict[str, Layout] = _layouts()
