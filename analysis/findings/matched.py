"""Natural against matched splits: does a calibrated synthetic split cost what writers cost?

``natural_vs_matched`` trains the same model on FEMNIST's writers (``natural``), on the
same examples split IID, and on Dirichlet and feature-noise splits calibrated to the
writers' label and feature metrics. A split's *difference* is its test accuracy minus
the natural split's with the same seed, averaged over seeds with a 95% t-interval.
"""

from __future__ import annotations

import pandas as pd

from analysis.figures.stats import interval
from analysis.findings.claims import Claim, Ranking, points
from analysis.findings.drops import ACCURACY, with_twin
from fedbench import results as R

NATURAL = "natural"
DIFFERENCE = "difference"
ABS_DIFFERENCE = "|mean difference|"
#: What each matched split was calibrated on (sweeps/natural_vs_matched.yaml's header).
MATCHED_ON = {"dirichlet": R.LABEL_EMD, "feature_noise": R.FEATURE_FRECHET, "iid": ""}


def differences(accuracies: pd.DataFrame) -> pd.DataFrame:
    """Every non-natural run with the accuracy of its natural twin (same context and seed).

    Parameters
    ----------
    accuracies
        Rows of :func:`analysis.findings.drops.run_accuracies`.

    Returns
    -------
    pandas.DataFrame
        The other splits' rows with ``natural_accuracy`` (the twin's) and ``difference``
        (the run's accuracy minus its twin's); runs without a natural twin left out.

    """
    others = with_twin(accuracies, NATURAL)
    others[DIFFERENCE] = others[ACCURACY] - others["natural_accuracy"]
    return others.reset_index(drop=True)


def matched_table(accuracies: pd.DataFrame) -> pd.DataFrame:
    """Per partition: accuracy over seeds, the paired difference to natural, its metrics.

    Returns
    -------
    pandas.DataFrame
        ``partition``, ``matched_on``, ``accuracy_mean``, ``accuracy_ci``, ``n``,
        ``difference_mean``, ``difference_ci`` (null for the natural split),
        ``label_emd`` and ``feature_frechet`` (means over seeds); natural first, then
        the splits closest to it.

    """
    acc = accuracies.groupby(R.PARTITION, sort=False)[ACCURACY].agg(["mean", "std", "size"])
    metrics = accuracies.groupby(R.PARTITION, sort=False)[[R.LABEL_EMD, R.FEATURE_FRECHET]].mean()
    diff = differences(accuracies).groupby(R.PARTITION, sort=False)[DIFFERENCE]
    diff = diff.agg(["mean", "std", "size"])
    table = pd.DataFrame(
        {
            "matched_on": [MATCHED_ON.get(p, "") for p in acc.index],
            "accuracy_mean": acc["mean"],
            "accuracy_ci": interval(acc["std"], acc["size"]),
            "n": acc["size"],
            "difference_mean": diff["mean"].reindex(acc.index),
            "difference_ci": interval(diff["std"], diff["size"]).reindex(acc.index),
        },
        index=acc.index,
    ).join(metrics)
    table = table.rename_axis(R.PARTITION).reset_index()
    table["_order"] = table["difference_mean"].abs().where(table[R.PARTITION] != NATURAL, -1.0)
    return table.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)


def claims(table: pd.DataFrame) -> list[Claim]:
    """Which split comes closest to the natural one, and whether each is within noise of it."""
    others = table[table[R.PARTITION] != NATURAL].dropna(subset=["difference_mean"])
    if others.empty:
        return []
    closeness = others.assign(gap=others["difference_mean"].abs())
    closeness = closeness.sort_values(["gap", R.PARTITION], kind="stable")
    ranking = Ranking(
        R.PARTITION,
        ABS_DIFFERENCE,
        {},
        tuple(zip(closeness[R.PARTITION], closeness["gap"].astype(float), strict=True)),
    )
    parts = []
    for _, row in closeness.iterrows():
        side = "above" if row["difference_mean"] >= 0 else "below"
        ci = row["difference_ci"]
        if pd.isna(ci):
            verdict = "one seed, no interval"
        elif abs(row["difference_mean"]) <= ci:
            verdict = f"± {points(ci)} at 95%: not told apart from the writers"
        else:
            verdict = f"± {points(ci)} at 95%: apart from the writers"
        parts.append(
            f"{row[R.PARTITION]} {points(abs(row['difference_mean']))} points {side} ({verdict})"
        )
    text = (
        f"Closest to the writers' accuracy: **{ranking.first}**. Against the natural split, "
        + "; ".join(parts)
        + "."
    )
    return [Claim(text, (ranking,))]
