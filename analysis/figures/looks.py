"""One look per setting, shared by every figure: label, legend group, colour, marker, dashes.

- The strategy picks a hue family (in the order strategies are registered); the
  strength of its labelled parameters picks the shade, strongest skew darkest
  (``α=0.05`` darker than ``α=0.5``, ``#C=1`` darker than ``#C=3``, ``σ=0.5`` darker
  than ``σ=0.1``: each parameter's record says which way is stronger).
- The algorithm, and any other setting column that varies among the federated runs
  (local epochs, learning rate, ...), picks the marker and the line style.
- IID runs are black, centralized runs red and dotted: the references.

Every setting of a results folder gets its own (colour, marker, line style), so no two
settings of a figure look alike. Labels name the strategy and its parameters and every
other column that varies (``dirichlet (α=0.1), fedprox``); a legend groups them by
strategy (:func:`legend`).
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from analysis.load import SETTING, is_centralized, setting_columns
from fedbench import results as R
from fedbench.partitioning import STRATEGIES, all_params

#: Base hue of each strategy family (tab10 without red, grey: those are the references).
FAMILIES = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#e377c2", "#17becf", "#bcbd22", "#8c564b")
IID_COLOR = "#000000"
CENTRALIZED_COLOR = "#d62728"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
#: Line styles of the variants (centralized runs are dotted, so no plain ":" here).
DASHES = ("-", "--", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)))
REFERENCE = "reference"
IID = "iid"
CENTRALIZED = "centralized"
#: Lightness range of the shades of a family (darkest, lightest).
LIGHTNESS = (0.30, 0.72)


@dataclass(frozen=True)
class Series:
    """How one setting is named and drawn.

    Attributes
    ----------
    label
        The full label (``dirichlet (α=0.1), fedprox``), the ``label`` of figure CSVs.
    name
        The strategy and its parameters (``dirichlet (α=0.1)``), ``iid`` or ``centralized``.
    parts
        (column, text) of every other varying column, in :func:`others` order.
    group
        Its legend group: the strategy, or ``reference`` for IID and centralized.
    member
        Its name inside the group (``α=0.1, fedprox``).
    color, marker, linestyle
        Its look; no two settings share all three.
    order
        Sort key: references first, then strategies in registry order, then strength.

    """

    label: str
    name: str
    parts: tuple[tuple[str, str], ...]
    group: str
    member: str
    color: str
    marker: str
    linestyle: str | tuple
    order: tuple

    def label_without(self, column: str) -> str:
        """The label without ``column``'s part (when a figure shows it elsewhere)."""
        return ", ".join([self.name, *(text for c, text in self.parts if c != column)])

    @property
    def look(self) -> tuple[str, str, str]:
        """(colour, marker, line style) as comparable strings."""
        return (self.color, self.marker, str(self.linestyle))

    def line(self) -> dict:
        """Keyword arguments of ``Axes.plot`` for a line with markers."""
        return {"color": self.color, "marker": self.marker, "linestyle": self.linestyle}

    def point(self) -> dict:
        """Keyword arguments of ``Axes.plot``/``errorbar`` for markers without a line."""
        return {"color": self.color, "marker": self.marker, "linestyle": "none"}


def labelled(frame: pd.DataFrame) -> list[str]:
    """Partition parameter columns with a legend symbol, in registry order."""
    return [name for name, p in all_params().items() if p.label and name in frame]


def _strength(row: pd.Series, params: Sequence[str]) -> tuple:
    """Sorts the strongest skew first: a parameter's value, negated where larger is stronger."""
    known = all_params()

    def key(param: str) -> float:
        if pd.isna(row.get(param)):
            return -np.inf
        larger = param in known and known[param].stronger == "larger"
        return -float(row[param]) if larger else float(row[param])

    return tuple(key(p) for p in params)


def _text(column: str, value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, float | np.floating):
        return f"{column}={value:g}"
    return f"{column}={value}"


def others(settings: pd.DataFrame) -> list[str]:
    """Setting columns besides the strategy that tell federated settings apart.

    A partition parameter counts only if it takes two values where it applies (an
    unlabelled one such as ``min_client_size`` is null for the strategies without it); a
    column that the strategy, its parameters and the columns before it determine (an
    algorithm's option, e.g. ``algorithm.mu`` of ``fedprox``) adds nothing and is left out.
    """
    central = is_centralized(settings) if R.NUM_CLIENTS in settings else settings[SETTING] == ""
    known = [c for c in (R.PARTITION, *labelled(settings)) if c in settings]
    params = set(R.partition_columns())
    out: list[str] = []
    for column in setting_columns(settings):
        if column in known:
            continue
        # Centralized runs differ from federated ones in the client count by definition:
        # a column counts when it varies among the federated or among the centralized runs.
        for part in (settings[~central], settings[central]):
            values = part[column].dropna() if column in params else part[column]
            if values.astype(str).nunique() > 1:
                break
        else:
            continue
        given = settings[[*known, *out, column]].astype(str).assign(_central=central)
        if given.groupby([*known, *out, "_central"])[column].nunique().max() <= 1:
            continue
        out.append(column)
    return out


def _shade(base: str, rank: int, count: int) -> str:
    if count <= 1:
        return mcolors.to_hex(base)
    hue, _, saturation = colorsys.rgb_to_hls(*mcolors.to_rgb(base))
    low, high = LIGHTNESS
    lightness = low + (high - low) * rank / (count - 1)
    return mcolors.to_hex(colorsys.hls_to_rgb(hue, lightness, saturation))


def _strategy_order(names: Iterable[str]) -> list[str]:
    registered = [s for s in STRATEGIES if s in set(names) and s != IID]
    return registered + sorted(set(names) - set(registered) - {IID})


def assign(runs: pd.DataFrame) -> dict[str, Series]:
    """Setting id (:data:`analysis.load.SETTING`) -> its :class:`Series`.

    Parameters
    ----------
    runs
        Rows of :func:`analysis.load.finished_settings` (any number per setting).

    """
    if runs.empty or SETTING not in runs:
        return {}
    settings = runs.drop_duplicates(SETTING).reset_index(drop=True)
    params = labelled(settings)
    symbols = {p: all_params()[p].label for p in params}
    varying = others(settings)
    central = is_centralized(settings) if R.NUM_CLIENTS in settings else settings[SETTING] == ""
    strategies = _strategy_order(settings.loc[~central, R.PARTITION].astype(str))
    # The variant (marker and dashes): one per combination of the other varying columns.
    variant_keys = settings[varying].astype(str).agg("|".join, axis=1) if varying else None
    variants = sorted(set(variant_keys)) if varying else [""]
    out: dict[str, Series] = {}
    for strategy_rank, strategy in enumerate([IID, CENTRALIZED, *strategies]):
        if strategy == CENTRALIZED:
            rows = settings[central]
        else:
            rows = settings[~central & (settings[R.PARTITION].astype(str) == strategy)]
        strengths = sorted({_strength(r, params) for _, r in rows.iterrows()})
        family = strategy_rank - 2
        for _, row in rows.iterrows():
            strength = _strength(row, params)
            shown = [f"{symbols[p]}={row[p]:g}" for p in params if pd.notna(row.get(p))]
            texts = [(c, _text(c, row[c])) for c in varying]
            parts = tuple((c, t) for c, t in texts if t is not None)
            rest = [t for _, t in parts]
            variant = variants.index(variant_keys[row.name]) if varying else 0
            if strategy == IID:
                color, group = IID_COLOR, REFERENCE
            elif strategy == CENTRALIZED:
                color, group = CENTRALIZED_COLOR, REFERENCE
            else:
                base = FAMILIES[family % len(FAMILIES)]
                color = _shade(base, strengths.index(strength), len(strengths))
                group = strategy
                # Past the last family, the hues repeat with the next block of variants.
                variant += len(variants) * (family // len(FAMILIES))
            member = ", ".join(shown + rest)
            name = strategy if strategy in (IID, CENTRALIZED) else str(row[R.PARTITION])
            name += f" ({', '.join(shown)})" if shown else ""
            linestyle = ":" if strategy == CENTRALIZED else DASHES[variant % len(DASHES)]
            out[row[SETTING]] = Series(
                label=", ".join([name, *rest]),
                name=name,
                parts=parts,
                group=group,
                member=member or strategy,
                color=color,
                marker=MARKERS[variant % len(MARKERS)],
                linestyle=linestyle,
                order=(strategy_rank, strength, variant),
            )
    return out


def labels(frame: pd.DataFrame, series: dict[str, Series]) -> pd.Series:
    """The label of every row's setting."""
    return frame[SETTING].map(lambda s: series[s].label) if len(frame) else pd.Series(dtype=str)


def legend(
    fig: plt.Figure,
    shown: Iterable[Series],
    extra: Sequence[tuple[Line2D, str]] = (),
    fontsize: float = 7,
) -> None:
    """One legend for the whole figure, right of its axes, grouped by strategy.

    ``extra`` adds (handle, label) pairs after the settings (reference lines).
    """
    shown = sorted(set(shown), key=lambda s: s.order)
    handles: list[Line2D] = []
    names: list[str] = []
    group = None
    for item in shown:
        if item.group != group:
            group = item.group
            handles.append(Line2D([], [], linestyle="none"))
            names.append(f"$\\bf{{{_bold(group)}}}$")
        handles.append(Line2D([], [], **item.line(), markersize=5, lw=1.2))
        names.append(item.member if item.group != REFERENCE else item.label)
    for handle, text in extra:
        handles.append(handle)
        names.append(text)
    if not handles:
        return
    columns = 1 if len(handles) <= 28 else 2
    fig.legend(
        handles,
        names,
        loc="upper left",
        bbox_to_anchor=(1.0, 0.97),
        fontsize=fontsize,
        frameon=False,
        ncol=columns,
        handlelength=3.2,
    )


def _bold(text: str) -> str:
    """``text`` for matplotlib's mathtext bold (spaces and underscores escaped)."""
    return text.replace("_", "\\_").replace(" ", "\\ ")
