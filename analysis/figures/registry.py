"""The figure registry: what a figure reads, what it returns, and how it is written.

A figure is an entry of :data:`FIGURES`: a function that takes the loaded
:class:`Inputs` and returns a :class:`Drawn` (the matplotlib figure, the data it plots
and its provenance footer), several of them, or a :class:`Skipped` naming why it could
not be drawn. Registering is one decorator in the figure's own module::

    @register("my_figure")
    def my_figure(inputs: Inputs) -> Drawn | Skipped: ...

:func:`write` saves what a figure returns: the PNG with its footer, its data as
``<name>.csv`` beside it, and any extra files it names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd

from analysis.figures.looks import Series, assign
from analysis.load import finished_settings

FIGURES_SUBDIR = "figures"


@dataclass(frozen=True)
class Inputs:
    """Everything a figure may read, loaded once.

    Attributes
    ----------
    runs
        Rows of :func:`analysis.load.finished_settings` (empty when there are none).
    benchmarks
        pytest-benchmark JSON files (``results/benchmarks``).
    partitions
        Partition reports (``results/partitions/*.parquet``).
    x
        The x axis of ``accuracy_vs_heterogeneity``: a metric, ``parameter``, or ``None``
        (each kind of skew against its own metric).
    metric
        ``final`` or ``best`` accuracy.
    heatmap_rows, heatmap_cols
        The heatmap's axes: setting columns, or ``None`` for its defaults.

    """

    runs: pd.DataFrame = field(default_factory=pd.DataFrame)
    benchmarks: tuple[Path, ...] = ()
    partitions: tuple[Path, ...] = ()
    x: str | None = None
    metric: str = "final"
    heatmap_rows: str | None = None
    heatmap_cols: str | None = None

    @classmethod
    def read(cls, results_dir: str | os.PathLike, **options) -> Inputs:
        """Load the runs, benchmark files and partition reports under ``results_dir``."""
        root = Path(results_dir)
        return cls(
            runs=finished_settings(root),
            benchmarks=tuple(sorted((root / "benchmarks").glob("*.json"))),
            partitions=tuple(sorted((root / "partitions").glob("*.parquet"))),
            **options,
        )

    @cached_property
    def series(self) -> dict[str, Series]:
        """Setting id -> its label and look, the same in every figure (:mod:`looks`)."""
        return assign(self.runs)


@dataclass
class Drawn:
    """A drawn figure: ``figure``, the ``data`` it plots, its footer ``note``.

    ``name`` is the file stem; ``files`` maps further file names to their text (written
    beside the PNG); ``message`` is printed after the figure is written.
    """

    name: str
    figure: plt.Figure
    data: pd.DataFrame
    note: str
    files: dict[str, str] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True)
class Skipped:
    """Why a figure was not drawn (its inputs are absent)."""

    reason: str


Result = Drawn | Sequence[Drawn] | Skipped
Draw = Callable[[Inputs], Result]

#: Figure name -> the function drawing it, in registration order.
FIGURES: dict[str, Draw] = {}


def register(name: str) -> Callable[[Draw], Draw]:
    """Decorator adding a figure function to :data:`FIGURES` under ``name``."""

    def add(draw: Draw) -> Draw:
        if name in FIGURES and FIGURES[name] is not draw:
            raise ValueError(f"a figure named {name!r} is already registered")
        FIGURES[name] = draw
        return draw

    return add


def drawn(result: Result) -> list[Drawn]:
    """The :class:`Drawn` of a figure function's result (none for a :class:`Skipped`)."""
    if isinstance(result, Skipped):
        return []
    return [result] if isinstance(result, Drawn) else list(result)


def save(item: Drawn, out: Path) -> Path:
    """Write the PNG with its footer, ``<name>.csv`` beside it and its extra files."""
    out.mkdir(parents=True, exist_ok=True)
    fig = item.figure
    # Below the canvas: the tight bounding box takes it in, under every axis label.
    fig.text(0.01, 0.0, item.note, fontsize=7, color="0.35", ha="left", va="top")
    path = out / f"{item.name}.png"
    # bbox_inches="tight" keeps legends placed outside the axes inside the image.
    fig.savefig(path, dpi=130, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    item.data.to_csv(path.with_suffix(".csv"), index=False)
    for name, text in item.files.items():
        (out / name).write_text(text)
    return path


def write(name: str, inputs: Inputs | pd.DataFrame, out: Path) -> list[Path]:
    """Draw the figure ``name`` from ``inputs`` (or runs) and write it under ``out``."""
    inputs = inputs if isinstance(inputs, Inputs) else Inputs(runs=inputs)
    return [save(item, out) for item in drawn(FIGURES[name](inputs))]


def make_all(
    inputs: Inputs, out: Path, only: Sequence[str] = (), say: Callable[[str], None] = print
) -> list[Path]:
    """Write every registered figure (or those in ``only``); say what was drawn or skipped."""
    written: list[Path] = []
    for name, draw in FIGURES.items():
        if only and name not in only:
            continue
        result = draw(inputs)
        if isinstance(result, Skipped):
            say(f"figures: skipping {name}: {result.reason}")
            continue
        for item in drawn(result):
            path = save(item, out)
            say(f"figure: {path}")
            if item.message:
                say(item.message.rstrip("\n"))
            written.append(path)
    return written
