"""Table cells: mean ± std over seeds as text, one row per setting or spread over columns."""

from __future__ import annotations

import math

import pandas as pd

from analysis import aggregate as A
from analysis.report.request import MARK, Table
from fedbench import results as R

#: Quantities shown as percentages.
PERCENT = frozenset({A.FINAL, A.BEST, R.CLIENT_ACCURACY_P10})
HEADERS = {
    A.FINAL: "final accuracy (%)",
    A.BEST: "best accuracy (%)",
    R.CLIENT_ACCURACY_P10: "client accuracy p10 (%)",
    R.CLIENT_DRIFT: "client drift",
}
#: NIID-Bench's names of its partitions (Li et al., ICDE 2022), in the order of its tables.


class Formatter:
    """Numbers and cells as text with ``decimals`` decimals."""

    def __init__(self, decimals: int) -> None:
        self.decimals = decimals

    def number(self, metric: str, value: float) -> str:
        if pd.isna(value):
            return "–"
        if metric in PERCENT:
            return f"{100 * value:.{self.decimals}f}"
        if metric == A.ROUNDS_TO_TARGET:
            return f"{value:.{self.decimals}f}"
        return f"{value:.3f}"

    def cell(self, s: pd.Series, metric: str) -> str:
        n, seeds = int(s[f"{metric}_n"]), int(s[A.SEEDS])
        if n == 0:
            return "–" if metric != A.ROUNDS_TO_TARGET else f"not reached (0/{seeds})"
        text = self.number(metric, s[f"{metric}_mean"])
        if n > 1:
            text += f" ± {self.number(metric, s[f'{metric}_std'])}"
        if metric == A.ROUNDS_TO_TARGET and n < seeds:
            text += f" ({n}/{seeds} reached)"
        return text


def plain(value: object) -> str:
    """A value as a table shows it (``–`` for null, ``0.5`` for 0.50)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _seed_note(stats: pd.DataFrame, where: list[str]) -> list[str]:
    short = stats["fewer_seeds"]
    if not short.any():
        return []
    most = int(stats[A.SEEDS].max())
    parts = [
        f"{w}: n={int(n)} (seeds {s})"
        for w, n, s in zip(
            [w for w, k in zip(where, short, strict=True) if k],
            stats.loc[short, A.SEEDS],
            stats.loc[short, A.SEED_LIST],
            strict=True,
        )
    ]
    return [f"{MARK} fewer seeds than the other settings (most have {most}): " + "; ".join(parts)]


def _numbers(stats: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    stat_columns = [f"{m}_{k}" for m in metrics for k in ("mean", "std", "n")]
    return stats[[*keys, *stat_columns, A.SEEDS, A.SEED_LIST, "fewer_seeds"]].copy()


def by_metric(stats, rows, metrics, fmt, target) -> Table:
    """One row per setting; one column per metric and one for the number of seeds."""
    header = [*rows]
    header += [f"rounds to {target:g}" if m == A.ROUNDS_TO_TARGET else HEADERS[m] for m in metrics]
    header.append("seeds")
    body = []
    for _, s in stats.iterrows():
        cells = [plain(s[r]) for r in rows] + [fmt.cell(s, m) for m in metrics]
        body.append([*cells, f"{int(s[A.SEEDS])}{MARK if s['fewer_seeds'] else ''}"])
    notes = ["mean ± std over seeds"]
    notes += _seed_note(stats, [f"row {i + 1}" for i in range(len(stats))])
    return Table(header, body, _numbers(stats, rows, metrics), notes)


def _column_title(cols: list[str], values: tuple[str, ...], named: list[str]) -> str:
    return " ".join(f"{c}={v}" if c in named else v for c, v in zip(cols, values, strict=True))


def pivot(stats, rows, cols, metric, fmt, by_columns=None) -> Table:
    """Rows by ``rows``, one column per combination of ``cols``; each cell ``metric``.

    Columns come in the order of ``by_columns`` (``stats`` sorted by ``cols``; default:
    first appearance in ``stats``).
    """

    def key(s: pd.Series, names: list[str]) -> tuple[str, ...]:
        return tuple(plain(s[c]) for c in names)

    ordered = stats if by_columns is None else by_columns
    col_keys = list(dict.fromkeys(key(s, cols) for _, s in ordered.iterrows()))
    row_keys = list(dict.fromkeys(key(s, rows) for _, s in stats.iterrows()))
    cells = {(key(s, rows), key(s, cols)): s for _, s in stats.iterrows()}
    named = [c for c in cols if not pd.api.types.is_string_dtype(stats[c])]
    header = [*rows, *(_column_title(cols, k, named) for k in col_keys)]
    body, where = [], []
    for _i, rkey in enumerate(row_keys):
        line = list(rkey)
        for ckey in col_keys:
            s = cells.get((rkey, ckey))
            line.append(
                "–" if s is None else fmt.cell(s, metric) + (MARK if s["fewer_seeds"] else "")
            )
        body.append(line)
    where = [
        f"row {row_keys.index(key(s, rows)) + 1}, {' '.join(key(s, cols))}"
        for _, s in stats.iterrows()
    ]
    seeds = ", ".join(str(int(n)) for n in sorted(stats[A.SEEDS].unique()))
    notes = [f"{HEADERS.get(metric, metric)}: mean ± std over seeds (n = {seeds})"]
    notes += _seed_note(stats, where)
    return Table(header, body, _numbers(stats, [*rows, *cols], [metric]), notes)
