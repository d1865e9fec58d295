"""Hand-built results folders: runs written with fedbench.results.write_run and known values."""

from __future__ import annotations

import datetime as dt
import json

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
    status=R.STATUS_COMPLETED,
    commit="abc1234",
    metrics=None,
    per_round=None,
    rounds=None,
    **config,
):
    """One run: round r has test accuracy accuracies[r - 1] (None: not evaluated).

    ``config`` overrides BASE and sets partition parameters (alpha=0.5, ...);
    ``metrics`` sets heterogeneity columns; ``per_round`` maps a column to a list of
    per-round values (client_drift, client_accuracy_p10, ...); ``rounds`` the requested
    round count (default: one per accuracy; more for a run that stopped short).
    """
    rounds = rounds or len(accuracies)
    setting = {**BASE, R.PARTITION: partition, **config}
    identity = {
        "dataset": {"name": setting[R.DATASET]},
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
