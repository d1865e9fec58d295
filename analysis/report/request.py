"""What a report is asked (:class:`Request`) and what it is (:class:`Table`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis import aggregate as A
from fedbench import results as R

MARK = "†"
#: ``--value``: what a cell shows when ``--cols`` spreads settings over columns.
VALUES = ("accuracy", A.ROUNDS_TO_TARGET, R.CLIENT_ACCURACY_P10, R.CLIENT_DRIFT)


class ReportError(Exception):
    """Bad input: one line naming the flag, the value, what is allowed and the fix."""


@dataclass
class Table:
    """A report: header, rows of cell strings, the numbers behind them, footnotes."""

    header: list[str]
    rows: list[list[str]]
    data: pd.DataFrame
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Request:
    """What the table shows (the command line's flags)."""

    rows: tuple[str, ...] = ()
    cols: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    metric: str = "final"
    target: float | None = None
    value: str = "accuracy"
    decimals: int = 1
    layout: str = "plain"
