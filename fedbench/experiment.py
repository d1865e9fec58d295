"""Run one configuration end to end: skip if done, partition, train through TFF, write Parquet."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedbench import pipeline, seeding
from fedbench import results as R
from fedbench.provenance import provenance
from fedbench.training.algorithms import OptimizerSettings, build_process
from fedbench.training.client_data import ClientArrays
from fedbench.training.loop import LoopSettings, run_rounds
from fedbench.training.runtime import tff_worker
from fedbench.training.tff_model import initial_keras_model, make_model_fn

log = logging.getLogger(__name__)

#: Keys that do not change a run's result and so are not part of its identity.
_NON_IDENTITY_KEYS = ("results_dir", "plot", "export", "export_split_names")
#: Partition parameters that have their own result column.
_PARTITION_COLUMNS = (
    R.ALPHA,
    R.CLASSES_PER_CLIENT,
    R.SHARDS_PER_CLIENT,
    R.SIGMA,
    R.MIN_CLIENT_SIZE,
    R.QUANTITY_ALPHA,
    R.WRITER_MODE,
)


def identity(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a resolved config that determines the result (hashed into ``config_hash``)."""
    return {k: v for k, v in config.items() if k not in _NON_IDENTITY_KEYS}


def config_columns(config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration columns of a result row; parameters that do not apply are null."""
    fl = config["fl"]
    row = {
        R.DATASET: config["dataset"]["name"],
        R.PARTITION: config["partition"]["name"],
        R.MODEL: config["model"]["name"],
        R.ALGORITHM: config["algorithm"]["name"],
        R.SEED: config["seed"],
        R.NUM_CLIENTS: fl["num_clients"],
        R.CLIENTS_PER_ROUND: fl["clients_per_round"],
        R.ROUNDS: fl["rounds"],
        R.LOCAL_EPOCHS: fl["local_epochs"],
        R.BATCH_SIZE: fl["batch_size"],
        R.CLIENT_LR: fl["client_lr"],
        R.SERVER_LR: fl["server_lr"],
        R.CLIENT_MOMENTUM: fl["client_momentum"],
        R.EVAL_EVERY: fl["eval_every"],
        R.CONFIG_JSON: json.dumps(identity(config), sort_keys=True),
    }
    row.update({k: config["partition"].get(k) for k in _PARTITION_COLUMNS})
    return row


def run(config: Mapping[str, Any]) -> str:
    """Run one configuration unless a finished result for it exists.

    Parameters
    ----------
    config
        The resolved run config as plain containers (``OmegaConf.to_container``).

    Returns
    -------
    str
        The run's status: ``completed``, ``diverged``, ``failed``, or ``skipped``
        (finished before, or being run by another process right now).

    Raises
    ------
    BaseException
        Whatever stopped the run (also Ctrl-C); its rows so far are written first
        with status ``failed``, so a resumed sweep redoes it.

    """
    results_dir = config["results_dir"]
    hash_ = R.config_hash(identity(config))
    done = R.finished_status(results_dir, hash_)
    if done:
        log.info("run %s already %s; skipping", hash_, done)
        return "skipped"
    with R.claimed(results_dir, hash_) as mine:
        if not mine:
            log.info("run %s is being run by another process; skipping", hash_)
            return "skipped"
        # Another process may have finished it between the look above and the claim.
        done = R.finished_status(results_dir, hash_)
        if done:
            log.info("run %s was %s by another process meanwhile; skipping", hash_, done)
            return "skipped"
        return _train_and_write(config, hash_)


def _train_and_write(config: Mapping[str, Any], hash_: str) -> str:
    started_at = dt.datetime.now(dt.UTC)
    base = {
        R.RUN_ID: f"{hash_}-{started_at:%Y%m%dT%H%M%S%f}",
        R.CONFIG_HASH: hash_,
        R.STARTED_AT: started_at,
        **config_columns(config),
        **provenance(),
    }
    rows: list[dict[str, Any]] = []
    status = R.STATUS_FAILED
    error: str | None = None
    try:
        data = pipeline.load_and_partition(config)
        base.update({k: data.metrics[k] for k in (*R.HETEROGENEITY_METRICS, R.DROPPED_FRACTION)})
        clients = pipeline.build_clients(config, data)
        status = _train(config, data, clients, base, rows)
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if not rows:
            rows.append(dict(base))
        for row in rows:
            row[R.STATUS] = status
            row[R.ERROR] = error
        path = R.write_run(rows, config["results_dir"], hash_)
        log.info("run %s %s: %d rows -> %s", hash_, status, len(rows), path)
    return status


def _train(
    config: Mapping[str, Any],
    data: pipeline.PartitionedData,
    clients: ClientArrays,
    base: dict[str, Any],
    rows: list[dict[str, Any]],
) -> str:
    """Train through TFF, appending one row per round to ``rows``; return the status."""
    fl, seed = config["fl"], config["seed"]
    model_name, model_options = config["model"]["name"], pipeline.options(config["model"])
    dataset = data.dataset
    model_fn = make_model_fn(model_name, model_options, dataset.example_shape, dataset.num_classes)
    settings = OptimizerSettings(fl["client_lr"], fl["client_momentum"], fl["server_lr"])
    loop = LoopSettings(
        rounds=fl["rounds"],
        clients_per_round=fl["clients_per_round"],
        local_epochs=fl["local_epochs"],
        batch_size=fl["batch_size"],
        eval_every=fl["eval_every"],
        shuffle_clients=fl["shuffle_clients"],
        seed=seed,
    )
    label = (
        f"{dataset.name}/{config['partition']['name']}/{model_name}/{config['algorithm']['name']}"
    )
    log_path = Path(config["results_dir"]) / "logs" / "tff-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    diverged = False
    with tff_worker(log_path):
        process = build_process(
            config["algorithm"]["name"], model_fn, settings, **pipeline.options(config["algorithm"])
        )
        # Built after the process: TFF traces model_fn in graph mode, which invalidates
        # Keras models created before it in the same process.
        init_model = initial_keras_model(
            model_name,
            model_options,
            dataset.example_shape,
            dataset.num_classes,
            seeding.int_seed(seed, seeding.MODEL_INIT),
        )
        for record in run_rounds(
            process, init_model, clients, dataset.test.x, dataset.test.y, loop, lambda: label
        ):
            fields = dataclasses.asdict(record)
            diverged = fields.pop("diverged")
            rows.append({**base, **fields})
    return R.STATUS_DIVERGED if diverged else R.STATUS_COMPLETED
