"""Per-run summaries and their aggregation over seeds.

A run's summary reads its evaluated rounds up to the requested round count:

- ``final_accuracy``: test accuracy at the last evaluated round;
- ``best_accuracy``: the highest test accuracy over the evaluated rounds (what
  NIID-Bench's tables report as a setting's accuracy, see the README);
- ``rounds_to_target``: the first round whose test accuracy reaches the target
  (null if none does);
- ``client_accuracy_p10``: at the last evaluated round (null unless recorded);
- ``client_drift``: mean over the run's rounds (one value per round, noisy alone);
- the partition's heterogeneity metrics (one partition per run).

Over the seeds of a setting: mean, sample standard deviation (``ddof=1``; null for
one seed) and ``n``, the number of seeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.load import BEST, FINAL, ROUNDS_TO_TARGET, SETTING, setting_columns
from fedbench import results as R

#: Per-run quantities aggregated over seeds, in table order.
SUMMARY_METRICS = (FINAL, BEST, ROUNDS_TO_TARGET, R.CLIENT_ACCURACY_P10, R.CLIENT_DRIFT)
#: ``--metric`` -> summary column.
ACCURACY = {"final": FINAL, "best": BEST}
SEEDS = "n"
SEED_LIST = "seeds"


def evaluated(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of evaluated rounds (test metrics present)."""
    return frame[frame[R.EVALUATED].fillna(False).astype(bool) & frame[R.TEST_ACCURACY].notna()]


def run_summaries(frame: pd.DataFrame, target: float | None = None) -> pd.DataFrame:
    """One row per (run, requested rounds): the setting, the seed and the summary metrics.

    Parameters
    ----------
    frame
        Rows of :func:`analysis.load.finished_settings`.
    target
        Test accuracy whose first round is ``rounds_to_target`` (``None``: not computed).

    """
    keys = [R.RUN_ID, R.ROUNDS]
    frame = frame[frame[R.ROUND] <= frame[R.ROUNDS]]
    done = evaluated(frame).sort_values([*keys, R.ROUND])
    by_run = done.groupby(keys, sort=False)
    last = by_run.tail(1).set_index(keys)
    out = frame.groupby(keys, sort=False).head(1).set_index(keys)
    columns = [SETTING, R.SEED, R.STATUS, R.GIT_COMMIT, *setting_columns(frame), *_present(frame)]
    out = out[[c for c in dict.fromkeys(columns) if c not in keys]]
    out[FINAL] = last[R.TEST_ACCURACY]
    out[BEST] = by_run[R.TEST_ACCURACY].max()
    out[R.CLIENT_ACCURACY_P10] = last[R.CLIENT_ACCURACY_P10]
    out[R.CLIENT_DRIFT] = frame.groupby(keys, sort=False)[R.CLIENT_DRIFT].mean()
    if target is not None:
        reached = done[done[R.TEST_ACCURACY] >= target]
        out[ROUNDS_TO_TARGET] = reached.groupby(keys, sort=False)[R.ROUND].min()
    else:
        out[ROUNDS_TO_TARGET] = np.nan
    return out.reset_index()


def _present(frame: pd.DataFrame) -> list[str]:
    return [m for m in R.HETEROGENEITY_METRICS if m in frame.columns]


def over_seeds(summaries: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """Mean, std and n over the seeds of every setting.

    Parameters
    ----------
    summaries
        Rows of :func:`run_summaries`.
    by
        Setting columns to group by; default: the setting identity (every
        configuration column but the seed, and the round count).

    Returns
    -------
    pandas.DataFrame
        One row per group: the group's setting columns (those constant in it), for
        each metric ``<metric>_mean``, ``<metric>_std``, ``<metric>_n`` (seeds with a
        value), ``n`` (seeds), ``seeds`` (sorted, comma-separated) and ``fewer_seeds``
        (``n`` below the largest ``n`` of any group).

    """
    by = by or [SETTING]
    metrics = [m for m in (*SUMMARY_METRICS, *_present(summaries)) if m in summaries]
    grouped = summaries.groupby(by, dropna=False, sort=False)
    stats = grouped[metrics].agg(["mean", "std", "count"])
    stats.columns = [f"{m}_{'n' if s == 'count' else s}" for m, s in stats.columns]
    firsts = grouped[[c for c in setting_columns(summaries) if c not in by]].first()
    constant = grouped[list(firsts.columns)].nunique(dropna=False).max() <= 1
    out = pd.concat([firsts.loc[:, constant[constant].index], stats], axis=1)
    out[SEEDS] = grouped[R.SEED].nunique()
    out[SEED_LIST] = grouped[R.SEED].agg(lambda s: ",".join(str(v) for v in sorted(s.unique())))
    out["fewer_seeds"] = out[SEEDS] < out[SEEDS].max()
    return out.reset_index()
