"""Which heterogeneity metric predicts an algorithm's drop: rank correlation per seed.

For one algorithm and one seed, the non-IID settings give pairs (a partition's metric,
the drop it caused); Spearman's rho ranks how well the metric orders the settings by
drop. Each seed is one such ranking, so the spread of rho over seeds is the interval
(95% t-interval of the mean over seeds). A metric constant over the settings (the
feature metrics under pure label skew, say) has no rho.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.figures.heterogeneity_predictors import predictors
from analysis.figures.stats import interval
from analysis.findings.drops import DROP, algorithm_order
from fedbench import results as R

RHO = "rho"


def rho_per_seed(drops: pd.DataFrame) -> pd.DataFrame:
    """Spearman's rho of each metric against the drop, per (algorithm, seed).

    Parameters
    ----------
    drops
        Rows of :func:`analysis.findings.drops.paired_drops`.

    Returns
    -------
    pandas.DataFrame
        ``algorithm``, ``seed``, ``metric``, ``rho`` (null when the metric or the drop is
        constant, or fewer than three settings), ``settings`` (pairs ranked).

    """
    rows = []
    for (algorithm, seed), group in drops.groupby([R.ALGORITHM, R.SEED], sort=True):
        for metric in predictors(group):
            pair = group[[metric, DROP]].dropna()
            rho = np.nan
            if len(pair) >= 3 and pair[metric].nunique() > 1 and pair[DROP].nunique() > 1:
                rho = float(sps.spearmanr(pair[metric], pair[DROP]).statistic)
            rows.append(
                {
                    R.ALGORITHM: algorithm,
                    R.SEED: seed,
                    "metric": metric,
                    RHO: rho,
                    "settings": len(pair),
                }
            )
    return pd.DataFrame(rows, columns=[R.ALGORITHM, R.SEED, "metric", RHO, "settings"])


def rho_table(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Mean rho over seeds per (algorithm, metric), with its 95% interval.

    Returns
    -------
    pandas.DataFrame
        ``algorithm``, ``metric``, ``rho_mean``, ``rho_std``, ``rho_ci``, ``n`` (seeds
        with a rho); algorithms in record order, metrics in fedbench's order. Metrics
        with no rho for any seed are left out.

    """
    known = per_seed.dropna(subset=[RHO])
    table = (
        known.groupby([R.ALGORITHM, "metric"], sort=False)[RHO]
        .agg(rho_mean="mean", rho_std="std", n="size")
        .reset_index()
    )
    table["rho_ci"] = interval(table["rho_std"], table["n"])
    algorithms = {a: i for i, a in enumerate(algorithm_order(table))}
    metrics = {m: i for i, m in enumerate(R.HETEROGENEITY_METRICS)}
    table = table.assign(_a=table[R.ALGORITHM].map(algorithms), _m=table["metric"].map(metrics))
    table = table.sort_values(["_a", "_m"], kind="stable").drop(columns=["_a", "_m"])
    columns = [R.ALGORITHM, "metric", "rho_mean", "rho_std", "rho_ci", "n"]
    return table[columns].reset_index(drop=True)
