"""How much each skew costs each algorithm: accuracy drops against IID, paired by seed.

A run's *drop* is the test accuracy of the IID run with the same context (algorithm and
its options, model, dataset, federated settings, rounds) and the same seed, minus the
run's own: positive when the skew hurts. Pairing by seed removes what the seed does to
both (model initialisation, sampling); a setting's drop is the mean of its seeds' drops
with a 95% t-interval over them.
"""

from __future__ import annotations

import pandas as pd

from analysis import aggregate as A
from analysis.figures.looks import assign
from analysis.figures.stats import context_columns, context_key, interval
from analysis.load import SETTING, is_centralized
from fedbench import records
from fedbench import results as R
from fedbench.partitioning import STRATEGIES
from fedbench.partitioning.strategy import SKEWS

#: Columns a per-run frame of :func:`run_accuracies` adds.
SKEW, KIND, ORDER, ACCURACY, CONTEXT = "skew", "kind", "order", "accuracy", "context"
DROP, IID_ACCURACY = "drop", "iid_accuracy"
IID = "iid"


def run_accuracies(runs: pd.DataFrame, metric: str = "final") -> pd.DataFrame:
    """One row per federated run: its skew's name and kind, its accuracy and its metrics.

    Parameters
    ----------
    runs
        Rows of :func:`analysis.load.finished_settings`.
    metric
        ``final`` (test accuracy at the last evaluated round) or ``best``.

    Returns
    -------
    pandas.DataFrame
        :func:`analysis.aggregate.run_summaries` plus ``skew`` (the strategy and its
        parameters, e.g. ``dirichlet (α=0.1)``), ``kind`` (its record's skew: label,
        quantity, feature, concept, natural; ``none`` for IID), ``order`` (a sort key:
        kind, then the figures' order of strategies and strengths), ``accuracy`` and
        ``context`` (a key equal for runs that differ only in partition and seed).

    """
    series = assign(runs)
    summaries = A.run_summaries(runs)
    summaries = summaries[~is_centralized(summaries)].copy()
    context = [*context_columns(summaries), R.NUM_CLIENTS]  # before the columns added below
    summaries[CONTEXT] = context_key(summaries, [c for c in context if c in summaries])
    summaries[SKEW] = summaries[SETTING].map(lambda s: series[s].name)
    summaries[KIND] = summaries[R.PARTITION].map(lambda p: STRATEGIES[p].skew)
    summaries[ORDER] = [
        (SKEWS.index(kind), series[s].order)
        for kind, s in zip(summaries[KIND], summaries[SETTING], strict=True)
    ]
    summaries[ACCURACY] = summaries[A.ACCURACY[metric]]
    return summaries.reset_index(drop=True)


def with_twin(accuracies: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Every run not split by ``reference`` beside the accuracy of its ``reference`` twin.

    Parameters
    ----------
    accuracies
        Rows of :func:`run_accuracies`.
    reference
        The partition the others are paired with (``iid``, ``natural``).

    Returns
    -------
    pandas.DataFrame
        The other partitions' rows with ``<reference>_accuracy``: that of the run with
        the same context and seed split by ``reference``; runs without one left out.

    """
    keys = [CONTEXT, R.SEED]
    column = f"{reference}_accuracy"
    twin = accuracies[accuracies[R.PARTITION] == reference]
    twins = twin.drop_duplicates(keys).set_index(keys)[ACCURACY].rename(column)
    others = accuracies[accuracies[R.PARTITION] != reference].join(twins, on=keys)
    return others[others[column].notna()].copy()


def paired_drops(accuracies: pd.DataFrame) -> pd.DataFrame:
    """Every non-IID run with the accuracy of its IID twin (same context and seed) and its drop.

    Parameters
    ----------
    accuracies
        Rows of :func:`run_accuracies`.

    Returns
    -------
    pandas.DataFrame
        The non-IID rows with ``iid_accuracy`` (the twin's) and ``drop`` (``iid_accuracy -
        accuracy``); runs without an IID twin are left out.

    """
    others = with_twin(accuracies, IID)
    others[DROP] = others[IID_ACCURACY] - others[ACCURACY]
    return others.reset_index(drop=True)


def algorithm_order(frame: pd.DataFrame) -> list[str]:
    """The algorithms of ``frame`` in their records' order (fedavg first)."""
    present = set(frame[R.ALGORITHM])
    return [a for a in records.ALGORITHMS if a in present]


def skew_order(frame: pd.DataFrame) -> list[str]:
    """The skews of ``frame`` grouped by kind, strongest of a strategy first."""
    first = frame.drop_duplicates(SKEW)
    return list(first.sort_values(ORDER, kind="stable")[SKEW])


def drop_table(drops: pd.DataFrame) -> pd.DataFrame:
    """Mean drop per (skew, algorithm) over seeds, with its spread and 95% interval.

    Returns
    -------
    pandas.DataFrame
        One row per (skew, algorithm), skews grouped by kind and algorithms in record
        order: ``kind``, ``skew``, ``algorithm``, ``drop_mean``, ``drop_std``,
        ``drop_ci`` (half-width of the 95% t-interval; null for one seed), ``n``
        (seeds), ``accuracy_mean`` and ``iid_accuracy_mean``.

    """
    grouped = drops.groupby([SKEW, R.ALGORITHM], sort=False)
    table = grouped.agg(
        kind=(KIND, "first"),
        partition=(R.PARTITION, "first"),
        order=(ORDER, "first"),
        drop_mean=(DROP, "mean"),
        drop_std=(DROP, "std"),
        n=(DROP, "size"),
        accuracy_mean=(ACCURACY, "mean"),
        iid_accuracy_mean=(IID_ACCURACY, "mean"),
    ).reset_index()
    table["drop_ci"] = interval(table["drop_std"], table["n"])
    algorithms = {a: i for i, a in enumerate(algorithm_order(table))}
    table["_a"] = table[R.ALGORITHM].map(algorithms)
    table = table.sort_values([ORDER, "_a"], kind="stable").drop(columns=["_a", ORDER])
    columns = [KIND, R.PARTITION, SKEW, R.ALGORITHM, "drop_mean", "drop_std", "drop_ci", "n"]
    return table[[*columns, "accuracy_mean", "iid_accuracy_mean"]].reset_index(drop=True)


def iid_table(accuracies: pd.DataFrame) -> pd.DataFrame:
    """Each algorithm's IID accuracy over seeds: ``algorithm``, ``mean``, ``std``, ``ci``, ``n``."""
    iid = accuracies[accuracies[R.PARTITION] == IID]
    table = (
        iid.groupby(R.ALGORITHM, sort=False)[ACCURACY]
        .agg(mean="mean", std="std", n="size")
        .reindex(algorithm_order(iid))
        .reset_index()
    )
    table["ci"] = interval(table["std"], table["n"])
    return table
