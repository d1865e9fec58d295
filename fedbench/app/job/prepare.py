"""From a run spec to its partition, checked against the data.

:func:`prepare` is the only place a job's data is partitioned. A command keeps what its
pre-flight prepared in a :class:`Preparations`, through which its jobs in the same
process prepare too, so they do not partition again; jobs sharing a partition (same
data, strategy, clients and seed) share one. What is kept is the clients' indices and
the measured heterogeneity, never the dataset itself, which the job loads again from
the loaders' cache when it runs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from fedbench import data
from fedbench.app.config.launch_args import LaunchArgs
from fedbench.calibration import Calibration, calibrate, calibration_key
from fedbench.checks import check_model_fits
from fedbench.clients import PartitionedData, client_shifts
from fedbench.data import FederatedDataset
from fedbench.errors import ConfigError, PartitionError
from fedbench.heterogeneity import heterogeneity
from fedbench.partitioning import UnassignedExamplesWarning, get_strategy, partition
from fedbench.spec import RunSpec, as_config_error, cli_key
from fedbench.training.table_space import check_table_fits

#: Each data argument a strategy can take (``Strategy.data``), from the dataset.
DATA_ARGUMENTS = {
    "writer_ids": lambda dataset: dataset.train.writers,
    "features": lambda dataset: dataset.train.x,
}


@dataclass(frozen=True)
class Partition:
    """A partition of a dataset's training split, and its measured heterogeneity."""

    parts: list[np.ndarray]
    metrics: dict[str, float]


@dataclass(frozen=True)
class PreparedRun:
    """A checked run spec with its partition (and, with ``calibrate=``, the matched parameter).

    ``launch`` is what the sweeper told the job besides (:mod:`fedbench.app.config.launch_args`).
    """

    spec: RunSpec
    partition: Partition
    calibration: Calibration | None = None
    launch: LaunchArgs = field(default_factory=LaunchArgs)

    def launched_with(self, launch: LaunchArgs) -> PreparedRun:
        """The run as the job launched with ``launch`` runs it (itself if nothing differs)."""
        return self if launch == self.launch else replace(self, launch=launch)

    def load(self) -> PartitionedData:
        """The run's dataset (from the loaders' cache) with its partition."""
        return PartitionedData(
            load_dataset(self.spec), self.partition.parts, self.partition.metrics
        )


def load_dataset(spec: RunSpec) -> FederatedDataset:
    """Load ``spec``'s dataset (:func:`fedbench.data.load_dataset`)."""
    return data.load_dataset(spec.dataset.name, spec.dataset.options)


def _partition(spec: RunSpec, dataset: FederatedDataset) -> Partition:
    """Partition ``dataset``'s training split as ``spec`` says; warnings name command-line keys."""
    needs = {name: DATA_ARGUMENTS[name](dataset) for name in get_strategy(spec.partition.name).data}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnassignedExamplesWarning)
        try:
            parts = partition(
                spec.partition.name,
                dataset.train.y,
                spec.fl.num_clients,
                seed=spec.seed,
                **spec.partition.options,
                **needs,
            )
            # The data must take the strategy's shift (rotation needs images).
            client_shifts(spec, len(parts), dataset.num_classes, dataset.example_shape)
        except PartitionError as error:
            raise as_config_error(error) from None
    for warning in caught:
        message = warning.message
        if isinstance(message, UnassignedExamplesWarning):
            message = UnassignedExamplesWarning(message.keyed(cli_key))
        warnings.warn(message, stacklevel=3)
    return Partition(parts, heterogeneity(dataset.train.y, parts, dataset.num_classes))


def prepare(
    spec: RunSpec, *, training: bool = True, partitions: dict[str, Partition] | None = None
) -> PreparedRun:
    """Partition ``spec``'s data and check what needs the data.

    Parameters
    ----------
    spec
        A checked run spec.
    training
        Also check that the model takes the dataset's examples.
    partitions
        Partitions already drawn, by :meth:`RunSpec.partition_key`; the one drawn here
        is added (default: none kept).

    Returns
    -------
    PreparedRun

    Raises
    ------
    ConfigError
        The partition or the model does not fit the data, or ``calibrate=``'s strategy
        cannot reach the partition (named by command-line keys).
    DataError
        A data file is missing or corrupt.

    """
    partitions = {} if partitions is None else partitions
    key = spec.partition_key()
    dataset = None
    if key not in partitions:
        dataset = load_dataset(spec)
        partitions[key] = _partition(spec, dataset)
    if training:  # the loaders keep recent datasets in memory: a second load is cheap
        loaded = dataset or load_dataset(spec)
        check_model_fits(spec.model.name, loaded.example_shape)
        check_table_fits(spec, loaded.example_shape, loaded.num_classes)
    matched = None
    if spec.calibrate is not None:
        matched = calibrated(spec, dataset or load_dataset(spec), partitions[key].parts)
    return PreparedRun(spec, partitions[key], matched)


def calibrated(spec: RunSpec, dataset: FederatedDataset, parts: list[np.ndarray]) -> Calibration:
    """``calibrate=<strategy>``: its parameter matching the partition, on the dataset's features.

    Raises
    ------
    ConfigError
        The strategy cannot reach the partition's ``calibrate_metric`` (named by its keys).

    """
    try:
        return calibrate(
            spec.calibrate,
            dataset.train.y,
            parts,
            seed=spec.seed,
            metric=spec.calibrate_metric,
            features=dataset.train.x,
        )
    except PartitionError as error:
        raise ConfigError(error.keyed(calibration_key)) from None


class Preparations:
    """What one command prepared: each checked run and each partition, for its jobs here.

    The command's pre-flight prepares every job through it, and a job run in the same
    process (the basic launcher, a single run) prepares through it again and gets the
    very run pre-flight prepared. A launcher's child starts with an empty one: its job
    partitions its data itself, from the checked spec it was handed.
    """

    def __init__(self) -> None:
        self._partitions: dict[str, Partition] = {}
        self._runs: dict[tuple[str, bool], PreparedRun] = {}

    def prepare(self, spec: RunSpec, *, training: bool) -> PreparedRun:
        """``spec``'s prepared run (:func:`prepare`), made once per spec."""
        key = (repr(spec), training)
        if key not in self._runs:
            self._runs[key] = prepare(spec, training=training, partitions=self._partitions)
        return self._runs[key]
