"""From a run spec to its data and partition, checked against each other.

:func:`prepare` is the only place a job's dataset is loaded and partitioned. Jobs
checked by pre-flight in this process keep what it prepared (:func:`remember`,
:func:`recall`), so the job itself does not compose, normalise or partition again;
jobs sharing a partition (same data, strategy, clients and seed) share one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fedbench.clients import PartitionedData
from fedbench.data import get_dataset
from fedbench.errors import PartitionError
from fedbench.heterogeneity import heterogeneity
from fedbench.partitioning import partition
from fedbench.spec import RunSpec, as_config_error, check_model_fits


@dataclass(frozen=True)
class PreparedRun:
    """A checked run spec with its partitioned data."""

    spec: RunSpec
    data: PartitionedData


_partitions: dict[str, PartitionedData] = {}
_prepared: dict[tuple[str, ...], PreparedRun] = {}


def load_and_partition(spec: RunSpec) -> PartitionedData:
    """Load ``spec``'s dataset and partition its training split (memoised per partition key).

    Raises
    ------
    ConfigError
        The partition does not fit the data (named by command-line keys).
    DataError
        A data file is missing or corrupt.

    """
    key = spec.partition_key()
    if key in _partitions:
        return _partitions[key]
    dataset_spec = get_dataset(spec.dataset.name)
    dataset = dataset_spec.load(**dataset_spec.checked_options(spec.dataset.options))
    data_args = {"writer_ids": dataset.train.writers} if spec.partition.name == "natural" else {}
    try:
        parts = partition(
            spec.partition.name,
            dataset.train.y,
            spec.fl.num_clients,
            seed=spec.seed,
            **spec.partition.options,
            **data_args,
        )
    except PartitionError as error:
        raise as_config_error(error) from None
    metrics = heterogeneity(dataset.train.y, parts, dataset.num_classes)
    _partitions[key] = PartitionedData(dataset, parts, metrics)
    return _partitions[key]


def prepare(spec: RunSpec, *, training: bool = True) -> PreparedRun:
    """Load and partition ``spec``'s data and check what needs the data.

    Parameters
    ----------
    spec
        A checked run spec.
    training
        Also check that the model takes the dataset's examples.

    Returns
    -------
    PreparedRun

    """
    data = load_and_partition(spec)
    if training:
        check_model_fits(spec.model.name, data.dataset.example_shape)
    return PreparedRun(spec, data)


def remember(overrides: Sequence[str], prepared: PreparedRun) -> None:
    """Keep a job's prepared run for the job with these task overrides (in this process)."""
    _prepared[tuple(overrides)] = prepared


def recall(overrides: Sequence[str]) -> PreparedRun | None:
    """The prepared run kept for the job with these task overrides, if pre-flight made one."""
    return _prepared.pop(tuple(overrides), None)


def forget_all() -> None:
    """Drop every kept preparation and partition (a new command in the same process)."""
    _prepared.clear()
    _partitions.clear()
