"""From a composed config to the pieces of a run: data, partition, heterogeneity, clients.

Shared by training (:mod:`fedbench.experiment`), the partition report and the
pre-flight check, so all three see the same partition for the same config.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedbench.config.partition import PARTITION_DEFAULTS
from fedbench.data import FederatedDataset, load_dataset
from fedbench.errors import ConfigError, invalid
from fedbench.heterogeneity import heterogeneity
from fedbench.partitioning import client_noise_sigmas, partition
from fedbench.training.client_data import (
    ClientArrays,
    build_client_arrays,
    holdout_split,
    writer_test_parts,
)

log = logging.getLogger(__name__)


def options(group_config: Mapping[str, Any]) -> dict[str, Any]:
    """A group's config as keyword arguments: every key but ``name``, and no null values."""
    return {k: v for k, v in group_config.items() if k != "name" and v is not None}


def normalize(config: Mapping[str, Any]) -> dict[str, Any]:
    """Null the partition parameters the chosen strategy does not take.

    A sweep crossing ``partition=iid,dirichlet`` with ``partition.alpha=...`` then
    gives IID runs with ``alpha`` null, identical to each other, so they hash to one
    run and are trained once. Likewise ``fl.client_holdout`` is 0 for ``natural``,
    whose clients are evaluated on their writers' own test data.

    Returns
    -------
    dict
        A copy of ``config`` with the partition section normalised.

    """
    section = dict(config["partition"])
    if section["name"] not in PARTITION_DEFAULTS:
        allowed = f"one of {sorted(PARTITION_DEFAULTS)}"
        raise ConfigError(invalid("partition", section["name"], allowed))
    used = tuple(PARTITION_DEFAULTS[section["name"]])  # the strategy's parameters
    ignored = sorted(
        k for k, v in section.items() if k != "name" and v is not None and k not in used
    )
    if ignored:
        log.debug("partition=%s does not take %s; ignored", section["name"], ignored)
    section = {k: (v if k == "name" or k in used else None) for k, v in section.items()}
    fl = config["fl"]
    if section["name"] == "natural" and fl.get("client_holdout"):
        # Writers bring their own test data (every dataset with writers has it), so a
        # natural run never holds out; the same run must hash the same either way.
        log.debug("partition=natural evaluates writers on their own test data; client_holdout=0")
        fl = {**fl, "client_holdout": 0.0}
    return {**config, "partition": section, "fl": fl}


@dataclass(frozen=True)
class PartitionedData:
    """A dataset, its client partition and the partition's measured heterogeneity."""

    dataset: FederatedDataset
    parts: list[np.ndarray]
    metrics: dict[str, float]

    @property
    def unassigned(self) -> int:
        """Training examples that no client holds."""
        return len(self.dataset.train) - int(sum(len(p) for p in self.parts))


def load_and_partition(config: Mapping[str, Any]) -> PartitionedData:
    """Load ``config['dataset']`` and partition its training split as ``config['partition']`` says.

    Parameters
    ----------
    config
        The resolved run config as plain containers.

    Returns
    -------
    PartitionedData

    """
    dataset = load_dataset(config["dataset"]["name"], options(config["dataset"]))
    params = options(config["partition"])
    if config["partition"]["name"] == "natural":
        params["writer_ids"] = dataset.train.writers
    parts = partition(
        config["partition"]["name"],
        dataset.train.y,
        config["fl"]["num_clients"],
        seed=config["seed"],
        **params,
    )
    metrics = heterogeneity(dataset.train.y, parts, dataset.num_classes)
    return PartitionedData(dataset, parts, metrics)


def client_test_parts(config: Mapping[str, Any], data: PartitionedData) -> list[np.ndarray] | None:
    """Each client's own test examples (indices into the test split), where they are defined.

    Defined by writers, so only for a natural partition of a dataset whose test split
    carries writer ids; ``None`` otherwise.
    """
    if config["partition"]["name"] != "natural" or data.dataset.test.writers is None:
        return None
    return writer_test_parts(data.dataset, data.parts)


def noise_sigmas(config: Mapping[str, Any], num_clients: int) -> np.ndarray | None:
    """Each client's feature-noise standard deviation for ``partition=feature_noise``, else None."""
    if config["partition"]["name"] != "feature_noise":
        return None
    return client_noise_sigmas(config["partition"]["sigma"], num_clients)


def build_clients(config: Mapping[str, Any], data: PartitionedData) -> ClientArrays:
    """Build every client's arrays: feature noise, and held-out data for per-client evaluation.

    A natural partition evaluates each client on its writers' own test examples;
    any other partition holds out ``fl.client_holdout`` of each client's examples
    when that is above 0 (else there is no per-client evaluation).
    """
    fl, seed = config["fl"], config["seed"]
    sigmas = noise_sigmas(config, len(data.parts))
    parts, holdout = data.parts, client_test_parts(config, data)
    from_test = holdout is not None
    if holdout is None and fl["client_holdout"] > 0:
        parts, holdout = holdout_split(data.parts, fl["client_holdout"], seed)
    return build_client_arrays(
        data.dataset,
        parts,
        seed=seed,
        holdout_parts=holdout,
        holdout_from_test=from_test,
        noise_sigmas=sigmas,
    )
