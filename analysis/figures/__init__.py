"""Every figure from whatever is in ``results/``: a registry of figure modules.

    python -m analysis.figures --results results [--only NAME]     # or: make figures

Each module of this package that draws a figure registers it in :data:`FIGURES`
(:func:`register`); importing the package imports them all, so a new module here is a
new figure with no other edit. A figure takes the loaded :class:`Inputs` (runs, benchmark
files, partition reports) and returns what it drew and the data it plotted, or why it
was skipped. Every PNG is written with its data as ``<figure>.csv`` beside it and a
footer naming how many runs it shows and the git commits they came from.

Settings look the same in every figure (:mod:`analysis.figures.looks`).
"""

from __future__ import annotations

import importlib
import pkgutil

from analysis.figures.registry import (
    FIGURES,
    FIGURES_SUBDIR,
    Drawn,
    Inputs,
    Skipped,
    drawn,
    make_all,
    register,
    save,
    write,
)

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

from analysis.figures.accuracy_vs_heterogeneity import PARAMETER  # noqa: E402
from analysis.figures.cli import main  # noqa: E402
from analysis.figures.heterogeneity_predictors import (  # noqa: E402
    accuracy_drops,
    predictor_table,
    predictors,
)
from analysis.figures.stats import (  # noqa: E402
    footer,
    panel_references,
    references,
    setting_stats,
)
from analysis.load import finished_settings  # noqa: E402

__all__ = [
    "FIGURES",
    "FIGURES_SUBDIR",
    "PARAMETER",
    "Drawn",
    "Inputs",
    "Skipped",
    "accuracy_drops",
    "drawn",
    "finished_settings",
    "footer",
    "main",
    "make_all",
    "panel_references",
    "predictor_table",
    "predictors",
    "references",
    "register",
    "save",
    "setting_stats",
    "write",
]
