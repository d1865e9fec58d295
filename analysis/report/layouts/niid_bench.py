"""``--layout niid-bench``: NIID-Bench's table (Li et al., ICDE 2022).

Partitions as rows in the paper's names and order (``pk ~ Dir(0.5)``, ``#C=k``,
``q ~ Dir(α)``, ``homogeneous``, then the centralized reference), one column per
algorithm in :data:`ALGORITHMS`' order and names, then any other algorithm by name.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from analysis.report.layouts.layout import Layout
from analysis.report.request import ReportError, Request
from fedbench import results as R
from fedbench.errors import invalid
from fedbench.records import ALGORITHMS as ALGORITHM_RECORDS

#: NIID-Bench's names of its partitions, in the order of its tables.
PARTITIONS = {
    "dirichlet": "pk ~ Dir({alpha:g})",
    "pathological": "#C={classes_per_client:d}",
    "feature_noise": "x ~ Gau({sigma:g})",
    "quantity": "q ~ Dir({alpha:g})",
    "iid": "homogeneous",
}
CENTRALIZED = "centralized (pooled data)"
#: The algorithm columns: name -> column title, in the records' order (NIID-Bench's four first).
ALGORITHMS = {name: record.display for name, record in ALGORITHM_RECORDS.items()}


def prepare(frame: pd.DataFrame, request: Request) -> tuple[pd.DataFrame, Request]:
    """Partitions named as NIID-Bench's; one column per algorithm."""
    if request.rows or request.cols:
        raise ReportError(
            invalid(
                "--layout",
                request.layout,
                "without --rows and --cols (it sets them)",
                "drop --rows/--cols, or use --layout plain",
            )
        )
    frame = frame.copy()
    if frame.empty:
        return frame, request
    labels = []
    for row in frame[[R.PARTITION, *R.partition_columns(), R.NUM_CLIENTS]].itertuples(index=False):
        values = row._asdict()
        if values[R.NUM_CLIENTS] == 1:
            labels.append(CENTRALIZED)
            continue
        template = PARTITIONS.get(values[R.PARTITION])
        try:
            labels.append(template.format(**_ints(values)) if template else values[R.PARTITION])
        except (KeyError, ValueError, TypeError):
            labels.append(values[R.PARTITION])
    frame[R.PARTITION] = labels
    frame[R.ALGORITHM] = frame[R.ALGORITHM].map(lambda a: ALGORITHMS.get(a, a))
    return frame, replace(request, rows=(R.PARTITION,), cols=(R.ALGORITHM,))


def _ints(values: dict) -> dict:
    return {
        k: int(v) if k == R.CLASSES_PER_CLIENT and pd.notna(v) else v for k, v in values.items()
    }


def _ranked(column: pd.Series, names: list[str], prefix: bool = False) -> pd.Series:
    """``NN|value``: the value's place in ``names`` (or after them), then the value."""

    def rank(label: str) -> str:
        for i, name in enumerate(names):
            if label.startswith(name) if prefix else label == name:
                return f"{i:02d}|{label}"
        return f"{len(names):02d}|{label}"

    return column.astype(str).map(rank)


def partition_order(column: pd.Series) -> pd.Series:
    """The paper's order of partitions, when every row is one of its partitions."""
    prefixes = [t.split("{")[0] for t in PARTITIONS.values()] + [CENTRALIZED]
    ranked = _ranked(column, prefixes, prefix=True)
    return ranked if ranked.str[:2].ne(f"{len(prefixes):02d}").all() else column


def algorithm_order(column: pd.Series) -> pd.Series:
    """:data:`ALGORITHMS`' order, then other algorithms by name."""
    return _ranked(column, list(ALGORITHMS.values()))


LAYOUT = Layout(
    "niid-bench",
    prepare,
    sort_keys={R.PARTITION: partition_order, R.ALGORITHM: algorithm_order},
)
