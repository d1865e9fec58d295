"""Report layouts: how a layout sets rows and columns, names values and orders them.

A :class:`Layout` is an entry of :data:`LAYOUTS` (``--layout NAME``); one module each.
"""

from __future__ import annotations

from analysis.report.layouts import niid_bench, plain
from analysis.report.layouts.layout import Layout

#: ``--layout`` value -> its :class:`Layout`.
LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (plain.LAYOUT, niid_bench.LAYOUT)}

__all__ = ["LAYOUTS", "Layout"]
