"""Beyond the split: the participation sweep and the FedProx paper's stragglers study.

Both are read at each run's last evaluated round and averaged over seeds (95%
t-intervals), and each ranking a sentence states is a :class:`~analysis.findings.claims.Claim`.
"""

from __future__ import annotations

import pandas as pd

from analysis import aggregate as A
from analysis.figures import fedprox_systems as F
from analysis.figures.stats import interval
from analysis.findings.claims import Claim, Ranking, names, points
from fedbench import results as R

ARM = "arm"
#: Participation columns the page reports, in its order.
GAPS = (R.TEST_ACCURACY, R.HELDOUT_CLIENT_ACCURACY, R.PARTICIPATION_GAP, R.OUT_OF_SAMPLE_GAP)
FINAL_ACCURACY, FINAL_LOSS = "final_test_accuracy", "final_train_loss"


def last_evaluated(runs: pd.DataFrame) -> pd.DataFrame:
    """Each run's last evaluated row (up to the rounds it was asked for)."""
    done = A.evaluated(runs[runs[R.ROUND] <= runs[R.ROUNDS]])
    return done.sort_values([R.RUN_ID, R.ROUND]).groupby(R.RUN_ID, sort=False).tail(1)


def arm(row: pd.Series) -> str:
    """``uniform``, or ``cyclic by <index|label>``: how a run's clients take part."""
    if row[R.PARTICIPATION] == "cyclic":
        return f"cyclic by {row[R.BLOCK_BY]}"
    return str(row[R.PARTICIPATION])


def _mean_ci(groups, columns: tuple[str, ...]) -> pd.DataFrame:
    stats = groups[list(columns)].agg(["mean", "std", "size"])
    out = {}
    for column in columns:
        out[f"{column}_mean"] = stats[(column, "mean")]
        out[f"{column}_ci"] = interval(stats[(column, "std")], stats[(column, "size")])
    out["n"] = stats[(columns[0], "size")]
    return pd.DataFrame(out).reset_index()


def participation_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (alpha, arm): test and held-out-client accuracy and both gaps, mean ± 95% interval.

    Parameters
    ----------
    runs
        Rows of :func:`analysis.load.finished_settings` of the participation sweep.

    Returns
    -------
    pandas.DataFrame
        ``alpha``, ``arm`` (:func:`arm`), ``<column>_mean`` and ``<column>_ci`` for each
        of :data:`GAPS` at each run's last evaluated round, and ``n`` (seeds).

    """
    last = last_evaluated(runs).copy()
    last[ARM] = last.apply(arm, axis=1)
    table = _mean_ci(last.groupby([R.ALPHA, ARM], sort=True), GAPS)
    return table.sort_values([R.ALPHA, ARM], kind="stable").reset_index(drop=True)


def participation_claims(table: pd.DataFrame) -> list[Claim]:
    """Per alpha: the arms ranked by participation gap, largest first."""
    claims = []
    column = f"{R.PARTICIPATION_GAP}_mean"
    for alpha, rows in table.groupby(R.ALPHA, sort=True):
        rows = rows.dropna(subset=[column])
        if len(rows) < 2:
            continue
        ordered = rows.sort_values([column, ARM], ascending=[False, True], kind="stable")
        items = tuple(zip(ordered[ARM], ordered[column].astype(float), strict=True))
        ranking = Ranking(ARM, R.PARTICIPATION_GAP, {R.ALPHA: f"{alpha:g}"}, items, True)
        largest, smallest = ranking.tied(), ranking.tied(last=True)
        text = (
            f"With Dir(α={alpha:g}) labels, the participation gap is largest under "
            f"{names(largest)} ({points(items[0][1])} points) and smallest under "
            f"{names(smallest)} ({points(items[-1][1])} points); the intervals over "
            f"seeds are in the table."
        )
        claims.append(Claim(text, (ranking,)))
    return claims


def fedprox_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (heterogeneity, stragglers, method): final test accuracy and training loss.

    Parameters
    ----------
    runs
        Rows of :func:`analysis.load.finished_settings` of the FedProx systems sweep.

    Returns
    -------
    pandas.DataFrame
        The keys of :func:`analysis.figures.fedprox_systems.study`, ``<measure>_mean``
        and ``<measure>_ci`` of the final test accuracy and training loss, and ``n``
        (seeds); data arms IID first, then Synthetic(a,b) by a. Empty without such runs.

    """
    rows = F.study(runs)
    if rows.empty:
        return pd.DataFrame()
    last = last_evaluated(rows).rename(
        columns={R.TEST_ACCURACY: FINAL_ACCURACY, R.TRAIN_LOSS: FINAL_LOSS}
    )
    keys = [F.HETEROGENEITY, F.STRAGGLERS, F.METHOD]
    table = _mean_ci(last.groupby(keys, sort=False), (FINAL_ACCURACY, FINAL_LOSS))
    order = table[F.HETEROGENEITY].map(F.heterogeneity_order)
    return (
        table.assign(_h=order)
        .sort_values(["_h", F.STRAGGLERS, F.METHOD], kind="stable")
        .drop(columns="_h")
        .reset_index(drop=True)
    )


def fedprox_claims(table: pd.DataFrame) -> list[Claim]:
    """At the largest straggler fraction, the methods ranked by final accuracy per data arm."""
    if table.empty:
        return []
    worst = table[F.STRAGGLERS].max()
    claims = []
    column = f"{FINAL_ACCURACY}_mean"
    for heterogeneity, rows in table[table[F.STRAGGLERS] == worst].groupby(
        F.HETEROGENEITY, sort=False
    ):
        ordered = rows.sort_values([column, F.METHOD], ascending=[False, True], kind="stable")
        items = tuple(zip(ordered[F.METHOD], ordered[column].astype(float), strict=True))
        where = {F.HETEROGENEITY: heterogeneity, F.STRAGGLERS: f"{worst:g}"}
        ranking = Ranking(F.METHOD, FINAL_ACCURACY, where, items, True)
        listed = ", ".join(f"{name} {points(value)}%" for name, value in items)
        text = f"{heterogeneity}, {worst:.0%} stragglers: {listed}."
        claims.append(Claim(text, (ranking,)))
    return claims
