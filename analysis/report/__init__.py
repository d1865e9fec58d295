"""fedbench-report: a table of mean ± std over seeds from a results folder.

    fedbench-report results --rows partition,alpha --cols algorithm --metric best
    python -m analysis.report results --where dataset=fmnist --format latex

Aggregation in :mod:`~analysis.report.table`, cells in :mod:`~analysis.report.cells`,
one module per output format (:mod:`analysis.report.formats`) and per layout
(:mod:`analysis.report.layouts`), the command line in :mod:`~analysis.report.cli`.
"""

from analysis.report.cli import PROG, main, parser
from analysis.report.formats import FORMATS, render
from analysis.report.layouts import LAYOUTS, Layout
from analysis.report.request import MARK, VALUES, ReportError, Request, Table
from analysis.report.table import build, default_rows

__all__ = [
    "FORMATS",
    "LAYOUTS",
    "MARK",
    "PROG",
    "VALUES",
    "Layout",
    "ReportError",
    "Request",
    "Table",
    "build",
    "default_rows",
    "main",
    "parser",
    "render",
]
