"""Range and combination checks on a composed config, before any data is touched.

Types and key names are already enforced by the schemas in :mod:`fedbench.config`;
this module checks values against each other. Each failed check raises
:class:`~fedbench.errors.ConfigError` with one line naming key, value, what is
allowed and how to fix it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedbench import pipeline
from fedbench.config.register import GROUP_SCHEMAS
from fedbench.config.root import Config, FLConfig
from fedbench.errors import ConfigError, invalid, unknown_key
from fedbench.partitioning import validate_params

EXPORT_FORMATS = ("tff_sql", "leaf_json")
#: Seeds are stored in an int64 column.
MAX_SEED = 2**63 - 1


def _positive_int(key: str, value: int) -> None:
    if value < 1:
        raise ConfigError(invalid(key, value, "an integer >= 1"))


def _positive_float(key: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(invalid(key, value, "a finite float > 0"))


def _unit_interval(key: str, value: float, *, closed_right: bool = False) -> None:
    ok = 0.0 <= value <= 1.0 if closed_right else 0.0 <= value < 1.0
    if not ok:
        raise ConfigError(invalid(key, value, f"a float in [0, 1{']' if closed_right else ')'}"))


def check_results_dir(results_dir: str) -> None:
    """Check that ``results_dir`` is, or can be made, a folder this process can write in.

    Its nearest existing ancestor must be a writable folder (so the missing levels
    can be created), and ``results_dir/runs``, where it exists, a folder too.
    """
    path = Path(results_dir)  # as the run writes it: no ~ expansion, relative to the cwd
    existing = next(p for p in (path, *path.parents) if p.exists())
    fix = "point results_dir at a folder you can write to"
    for must_be_dir in (existing, path / "runs"):
        if must_be_dir.exists() and not must_be_dir.is_dir():
            raise ConfigError(
                invalid("results_dir", results_dir, "a folder", f"{must_be_dir} is a file; {fix}")
            )
    try:  # a real probe: permissions alone do not tell (root, read-only or virtual mounts)
        os.rmdir(tempfile.mkdtemp(prefix=".fedbench-probe-", dir=existing))
    except OSError as err:
        raise ConfigError(
            invalid(
                "results_dir",
                results_dir,
                "a folder fedbench can create and write in",
                f"nothing can be created in {existing} ({err.strerror}); {fix}",
            )
        ) from None


def check_fl(fl: Mapping[str, Any]) -> None:
    """Check the ``fl.*`` keys' ranges and that ``clients_per_round <= num_clients``."""
    for key in ("num_clients", "clients_per_round", "rounds", "local_epochs", "batch_size"):
        _positive_int(f"fl.{key}", fl[key])
    _positive_int("fl.eval_every", fl["eval_every"])
    if fl["clients_per_round"] > fl["num_clients"]:
        raise ConfigError(
            invalid(
                "fl.clients_per_round",
                fl["clients_per_round"],
                f"at most fl.num_clients={fl['num_clients']}",
                "lower fl.clients_per_round or raise fl.num_clients",
            )
        )
    _positive_float("fl.client_lr", fl["client_lr"])
    _positive_float("fl.server_lr", fl["server_lr"])
    _unit_interval("fl.client_momentum", fl["client_momentum"])
    _unit_interval("fl.client_holdout", fl["client_holdout"])


def check_algorithm(algorithm: Mapping[str, Any]) -> None:
    """Check the algorithm options' ranges (momenta and betas in [0, 1), mu >= 0, epsilon > 0)."""
    for key in ("server_momentum", "beta_1", "beta_2"):
        if key in algorithm:
            _unit_interval(f"algorithm.{key}", algorithm[key])
    if "mu" in algorithm and algorithm["mu"] < 0:
        raise ConfigError(invalid("algorithm.mu", algorithm["mu"], "a float >= 0"))
    if "epsilon" in algorithm:
        _positive_float("algorithm.epsilon", algorithm["epsilon"])


def check_known_keys(config: Mapping[str, Any]) -> None:
    """Reject keys added with ``+key=...`` that no schema declares (they would be ignored)."""
    nodes = {"": (config, Config), "fl": (config["fl"], FLConfig)}
    for group, schemas in GROUP_SCHEMAS.items():
        nodes[group] = (config[group], schemas[config[group]["name"]])
    for path, (node, schema) in nodes.items():
        allowed = [f.name for f in dataclasses.fields(schema)]
        for key in node:
            if key not in allowed and key != "hydra":
                raise ConfigError(unknown_key(f"{path}.{key}" if path else key, allowed))


def check_config(config: Mapping[str, Any]) -> None:
    """Run every data-free check on a resolved config (plain containers).

    Raises
    ------
    ConfigError
        On the first invalid value.

    """
    check_known_keys(config)
    if not 0 <= config["seed"] <= MAX_SEED:
        raise ConfigError(invalid("seed", config["seed"], f"an integer in [0, {MAX_SEED}]"))
    check_results_dir(config["results_dir"])
    check_fl(config["fl"])
    check_algorithm(config["algorithm"])
    if config["model"].get("hidden", 1) < 1:
        raise ConfigError(invalid("model.hidden", config["model"]["hidden"], "an integer >= 1"))
    params = pipeline.options(config["partition"])
    validate_params(config["partition"]["name"], config["fl"]["num_clients"], **params)
    export = config.get("export")
    if export is not None and export not in EXPORT_FORMATS:
        raise ConfigError(invalid("export", export, f"one of {list(EXPORT_FORMATS)} or null"))
    names = config.get("export_split_names", ["train", "test"])
    if len(names) != 2 or len(set(names)) != 2 or not all(names):
        allowed = "two distinct non-empty names, [train split, test split]"
        raise ConfigError(
            invalid("export_split_names", names, allowed, "e.g. [all_train,all_test]")
        )
