"""Hand-built results folders: runs written with fedbench.results.write_run and known values."""

from __future__ import annotations

import datetime as dt
import json

from analysis import figures
from fedbench import results as R

BASE = {
    R.DATASET: "digits",
    R.MODEL: "linear",
    R.ALGORITHM: "fedavg",
    R.NUM_CLIENTS: 10,
    R.CLIENTS_PER_ROUND: 10,
    R.LOCAL_EPOCHS: 1,
    R.BATCH_SIZE: 20,
    R.CLIENT_LR: 0.1,
    R.SERVER_LR: 1.0,
    R.CLIENT_MOMENTUM: 0.0,
    R.EVAL_EVERY: 1,
}


def write(
    results_dir,
    accuracies,
    *,
    seed=0,
    partition="iid",
    status=R.Status.COMPLETED,
    commit="abc1234",
    metrics=None,
    per_round=None,
    rounds=None,
    dataset_options=None,
    **config,
):
    """One run: round r has test accuracy accuracies[r - 1] (None: not evaluated).

    ``config`` overrides BASE and sets partition parameters (alpha=0.5, ...);
    ``metrics`` sets heterogeneity columns; ``per_round`` maps a column to a list of
    per-round values (client_drift, client_accuracy_p10, ...); ``rounds`` the requested
    round count (default: one per accuracy; more for a run that stopped short);
    ``dataset_options`` the dataset's options in ``config_json`` (``{"alpha": 1.0}``).
    """
    rounds = rounds or len(accuracies)
    setting = {**BASE, R.PARTITION: partition, **config}
    identity = {
        "dataset": {"name": setting[R.DATASET], **(dataset_options or {})},
        "partition": {
            "name": partition,
            **{k: v for k, v in config.items() if k in R.partition_columns()},
        },
        "model": {"name": setting[R.MODEL]},
        "algorithm": {"name": setting[R.ALGORITHM]},
        "fl": {k: setting[k] for k in BASE if k not in (R.DATASET, R.MODEL, R.ALGORITHM)}
        | {R.ROUNDS: rounds},
        "seed": seed,
    }
    hash_ = R.config_hash(identity)
    rows = []
    for r, acc in enumerate(accuracies, start=1):
        row = {
            R.RUN_ID: f"{hash_}-run",
            R.CONFIG_HASH: hash_,
            R.STATUS: status,
            R.SEED: seed,
            R.ROUNDS: rounds,
            R.ROUND: r,
            R.EVALUATED: acc is not None,
            R.TEST_ACCURACY: acc,
            R.GIT_COMMIT: commit,
            R.STARTED_AT: dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            R.CONFIG_JSON: json.dumps(identity, sort_keys=True),
            R.EXAMPLES_PER_SECOND: 1000.0,
            **setting,
            **(metrics or {}),
        }
        for column, values in (per_round or {}).items():
            row[column] = values[r - 1]
        rows.append(row)
    R.write_run(rows, results_dir, hash_)
    return hash_


def draw(name, results_dir, out=None, **options):
    """Write figure ``name`` from ``results_dir`` (under ``out``, default its figures/)."""
    inputs = figures.Inputs.read(results_dir, **options)
    return figures.write(name, inputs, out or results_dir / figures.FIGURES_SUBDIR)[0]


#: The 24-setting sweep of :func:`write_sweep`: strategy -> (parameter, strengths, kind of
#: skew's metric column, accuracy penalty per strength).
SWEEP = {
    "dirichlet": ("alpha", (0.05, 0.1, 0.5), R.LABEL_EMD, (0.30, 0.20, 0.08)),
    "pathological": ("classes_per_client", (1, 2, 3), R.LABEL_EMD, (0.55, 0.25, 0.12)),
    "quantity": ("alpha", (0.1, 1.0), R.SIZE_CV, (0.06, 0.02)),
    "feature_noise": ("sigma", (0.2, 0.5), R.LABEL_EMD, (0.04, 0.10)),
}
ALGORITHMS = {"fedavg": 0.0, "fedprox": 0.02}


def write_sweep(results_dir, seeds=(0, 1, 2), rounds=12, algorithms=tuple(ALGORITHMS)):
    """24 settings: 10 strategy settings, IID and centralized for each of two algorithms.

    Round r of a setting with final accuracy F has accuracy F * (1 - 0.8 ** r); F is
    0.9 less the strength's penalty (a fifth less for fedprox), plus 0.02 for fedprox,
    less 0.01 per seed; the centralized run's penalty is -0.05. Heterogeneity metrics
    grow with the penalty.
    """
    centralized = {R.NUM_CLIENTS: 1, R.CLIENTS_PER_ROUND: 1}
    cases = [
        ("iid", {}, 0.0, {R.LABEL_EMD: 0.05, R.SIZE_CV: 0.05}),
        ("iid", centralized, -0.05, {R.LABEL_EMD: 0.0, R.SIZE_CV: 0.0}),
    ]
    for strategy, (param, values, _, penalties) in SWEEP.items():
        for value, penalty in zip(values, penalties, strict=True):
            emd = 0.05 if strategy in ("quantity", "feature_noise") else 2 * penalty + 0.3
            cv = 3 * penalty if strategy == "quantity" else 0.05
            cases.append((strategy, {param: value}, penalty, {R.LABEL_EMD: emd, R.SIZE_CV: cv}))
    for algorithm in algorithms:
        bonus = ALGORITHMS[algorithm]
        for strategy, config, penalty, metrics in cases:
            for seed in seeds:
                final = 0.9 - penalty * (1 - bonus * 10) + bonus - 0.01 * seed
                curve = [final * (1 - 0.8**r) for r in range(1, rounds + 1)]
                write(
                    results_dir,
                    curve,
                    seed=seed,
                    partition=strategy,
                    algorithm=algorithm,
                    metrics={
                        **metrics,
                        R.LABEL_JSD: metrics[R.LABEL_EMD] / 3,
                        R.LABEL_HELLINGER: metrics[R.LABEL_EMD] / 2.5,
                        R.EFFECTIVE_CLASSES: 10 - 4 * metrics[R.LABEL_EMD],
                    },
                    per_round={
                        R.CLIENT_ACCURACY_MEAN: curve,
                        R.CLIENT_ACCURACY_P10: [max(0.0, a - penalty) for a in curve],
                        R.OUT_OF_SAMPLE_GAP: [0.02 + penalty / 4] * rounds,
                        R.PARTICIPATION_GAP: [penalty / 2] * rounds,
                    },
                    **config,
                )
