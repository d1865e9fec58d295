"""What a report layout is (each layout is a module of its own beside this one)."""

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
