"""``--layout plain``: rows and columns as ``--rows`` and ``--cols`` ask, values as recorded."""

from __future__ import annotations

import pandas as pd

from analysis.report.layouts.layout import Layout
from analysis.report.request import Request


def prepare(frame: pd.DataFrame, request: Request) -> tuple[pd.DataFrame, Request]:
    """The rows and the request unchanged."""
    return frame, request


LAYOUT = Layout("plain", prepare)
