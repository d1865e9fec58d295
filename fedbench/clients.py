"""Each client's arrays: a partition of a dataset, its held-out data and its shift.

A client's shift is its feature noise, image rotation or label swaps.

Plain numpy, shared by training and the partition report, so that both see the
same clients for the same spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedbench import seeding
from fedbench.data.base import FederatedDataset
from fedbench.heterogeneity import feature_heterogeneity
from fedbench.partitioning import ClientShift, ShiftContext, get_strategy
from fedbench.partitioning.shift import shifted
from fedbench.spec import RunSpec


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


@dataclass(frozen=True)
class ClientArrays:
    """Each client's training arrays and, optionally, its own held-out arrays.

    Attributes
    ----------
    train_x, train_y
        Per-client features and labels as the client trains on them (its shift applied:
        noise, rotation, swapped labels).
    holdout_x, holdout_y
        Per-client held-out data for per-client evaluation (labels swapped like the
        client's; features shifted unless the shift says otherwise), or ``None`` when off.

    """

    train_x: list[np.ndarray]
    train_y: list[np.ndarray]
    holdout_x: list[np.ndarray] | None = None
    holdout_y: list[np.ndarray] | None = None

    @property
    def num_clients(self) -> int:
        """Number of clients."""
        return len(self.train_y)


def writer_test_parts(dataset: FederatedDataset, train_parts: list[np.ndarray]) -> list[np.ndarray]:
    """Map each client to the test examples of the writers in its training part.

    For a natural partition this is each writer's own test data (merged silos get
    the test data of all their writers).

    Parameters
    ----------
    dataset
        A dataset with writer ids in both splits.
    train_parts
        Index arrays into ``dataset.train``, one per client.

    Returns
    -------
    list of numpy.ndarray
        Index arrays into ``dataset.test``, one per client (empty for a client whose
        writers have no test examples).

    """
    if dataset.train.writers is None or dataset.test.writers is None:
        raise ValueError(f"dataset {dataset.name!r} has no writer ids")
    num_writers = len(dataset.writer_names or ()) or int(dataset.train.writers.max()) + 1
    client_of_writer = np.full(num_writers, -1, dtype=np.int64)
    for client, part in enumerate(train_parts):
        client_of_writer[dataset.train.writers[part]] = client
    test_client = client_of_writer[dataset.test.writers]
    order = np.argsort(test_client, kind="stable")
    bounds = np.searchsorted(test_client[order], np.arange(len(train_parts) + 1))
    return [np.sort(order[bounds[k] : bounds[k + 1]]) for k in range(len(train_parts))]


def holdout_split(
    parts: list[np.ndarray], fraction: float, seed: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Hold out a seeded share of each client's examples (at least one example stays for training).

    Returns
    -------
    (train_parts, holdout_parts)

    """
    train, held = [], []
    for client, part in enumerate(parts):
        shuffled = seeding.rng(seed, seeding.HOLDOUT, client).permutation(part)
        k = min(round(fraction * len(part)), max(len(part) - 1, 0))
        held.append(np.sort(shuffled[:k]))
        train.append(np.sort(shuffled[k:]))
    return train, held


def _holdout_shift(shift: ClientShift) -> ClientShift:
    """The shift a client's held-out examples get: label swaps always, features if asked."""
    if shift.shift_holdout:
        return shift
    return ClientShift(label_swaps=shift.label_swaps)


def build_client_arrays(
    dataset: FederatedDataset,
    parts: list[np.ndarray],
    *,
    seed: int,
    holdout_parts: list[np.ndarray] | None = None,
    holdout_from_test: bool = False,
    shifts: list[ClientShift] | None = None,
) -> ClientArrays:
    """Gather each client's arrays, applying each client's shift.

    Parameters
    ----------
    dataset
        The loaded dataset.
    parts
        Index arrays into ``dataset.train``, one per client.
    seed
        The run's seed (feature noise draws from it).
    holdout_parts
        Per-client held-out indices, into ``dataset.test`` if ``holdout_from_test``
        (natural data: the writer's own test examples) else into ``dataset.train``.
    holdout_from_test
        Whether ``holdout_parts`` index ``dataset.test`` rather than ``dataset.train``.
    shifts
        Per-client shift (:func:`client_shifts`); the held-out data comes from the same
        client distribution and gets the same shift (its features only where
        ``ClientShift.shift_holdout``).

    Returns
    -------
    ClientArrays

    """
    shifts = shifts or [ClientShift()] * len(parts)
    train = [
        shifted(
            dataset.train.x[p], dataset.train.y[p], shifts[k], seed=seed, client=k, stream_key=0
        )
        for k, p in enumerate(parts)
    ]
    holdout_x = holdout_y = None
    if holdout_parts is not None:
        source = dataset.test if holdout_from_test else dataset.train
        held = [
            shifted(
                source.x[p],
                source.y[p],
                _holdout_shift(shifts[k]),
                seed=seed,
                client=k,
                stream_key=1,
            )
            for k, p in enumerate(holdout_parts)
        ]
        holdout_x, holdout_y = [x for x, _ in held], [y for _, y in held]
    return ClientArrays([x for x, _ in train], [y for _, y in train], holdout_x, holdout_y)


def client_feature_metrics(clients: ClientArrays) -> dict[str, float]:
    """The feature metrics of the arrays the clients train on (after their shifts)."""
    return feature_heterogeneity(clients.train_x, clients.train_y)


@dataclass(frozen=True)
class TrainingData:
    """What training reads: every client's arrays and the global test set.

    Attributes
    ----------
    clients
        Every client's training (and held-out) arrays.
    test_x, test_y
        The global test set.
    num_classes
        Number of classes (the model's outputs).
    metrics
        The partition's heterogeneity: its label metrics and the feature metrics of
        the clients' training arrays.

    """

    clients: ClientArrays
    test_x: np.ndarray
    test_y: np.ndarray
    num_classes: int
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def example_shape(self) -> tuple[int, ...]:
        """Shape of one example's features."""
        return tuple(self.test_x.shape[1:])


def training_data(spec: RunSpec, data: PartitionedData) -> TrainingData:
    """The clients of ``spec``'s partition and the dataset's test set (:func:`build_clients`).

    The global test set keeps the dataset's features and labels (no client's shift).
    """
    test, clients = data.dataset.test, build_clients(spec, data)
    metrics = {**data.metrics, **client_feature_metrics(clients)}
    return TrainingData(clients, test.x, test.y, data.dataset.num_classes, metrics)


def client_test_parts(spec: RunSpec, data: PartitionedData) -> list[np.ndarray] | None:
    """Each client's own test examples (indices into the test split), where they are defined.

    Defined by writers: for a strategy whose clients are whole writers
    (``Strategy.own_test_data``) on a dataset whose test split carries writer ids;
    ``None`` otherwise.
    """
    if not get_strategy(spec.partition.name).own_test_data or data.dataset.test.writers is None:
        return None
    return writer_test_parts(data.dataset, data.parts)


def client_shifts(
    spec: RunSpec, num_clients: int, num_classes: int, example_shape: tuple[int, ...]
) -> list[ClientShift] | None:
    """Each client's shift (``Strategy.client_shift``), or ``None`` for strategies without one.

    Raises
    ------
    PartitionError
        The data cannot take the strategy's shift (rotation of examples that are not images).

    """
    shift = get_strategy(spec.partition.name).client_shift
    if shift is None:
        return None
    return shift(
        spec.partition.options, ShiftContext(num_clients, spec.seed, num_classes, example_shape)
    )


def build_clients(spec: RunSpec, data: PartitionedData) -> ClientArrays:
    """Build every client's arrays: its shift, and held-out data for per-client evaluation.

    A natural partition evaluates each client on its writers' own test examples;
    any other partition holds out ``fl.client_holdout`` of each client's examples
    when that is above 0 (else there is no per-client evaluation).
    """
    parts, holdout = data.parts, client_test_parts(spec, data)
    from_test = holdout is not None
    if holdout is None and spec.fl.client_holdout > 0:
        parts, holdout = holdout_split(data.parts, spec.fl.client_holdout, spec.seed)
    return build_client_arrays(
        data.dataset,
        parts,
        seed=spec.seed,
        holdout_parts=holdout,
        holdout_from_test=from_test,
        shifts=client_shifts(
            spec, len(data.parts), data.dataset.num_classes, data.dataset.example_shape
        ),
    )
