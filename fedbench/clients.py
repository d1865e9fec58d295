"""Each client's arrays: a partition of a dataset, its held-out data and feature noise.

Plain numpy, shared by training and the partition report, so that both see the
same clients for the same spec.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedbench import seeding
from fedbench.data.base import FederatedDataset
from fedbench.partitioning import get_strategy
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
        Per-client features (feature noise already applied) and labels.
    holdout_x, holdout_y
        Per-client held-out data for per-client evaluation, or ``None`` when off.

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


def _with_noise(x: np.ndarray, sigma: float, seed: int, client: int, stream_key: int) -> np.ndarray:
    if sigma == 0.0:
        return x
    noise = seeding.rng(seed, seeding.FEATURE_NOISE, client, stream_key).normal(0.0, sigma, x.shape)
    return (x + noise).astype(np.float32)


def build_client_arrays(
    dataset: FederatedDataset,
    parts: list[np.ndarray],
    *,
    seed: int,
    holdout_parts: list[np.ndarray] | None = None,
    holdout_from_test: bool = False,
    noise_sigmas: np.ndarray | None = None,
) -> ClientArrays:
    """Gather each client's arrays, applying per-client feature noise.

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
    noise_sigmas
        Per-client noise std; the same noise model is applied to the client's
        held-out data, which comes from the same client distribution.

    Returns
    -------
    ClientArrays

    """
    sigmas = np.zeros(len(parts)) if noise_sigmas is None else np.asarray(noise_sigmas, float)
    train_x = [
        _with_noise(dataset.train.x[p], float(sigmas[k]), seed, k, 0) for k, p in enumerate(parts)
    ]
    train_y = [dataset.train.y[p] for p in parts]
    holdout_x = holdout_y = None
    if holdout_parts is not None:
        source = dataset.test if holdout_from_test else dataset.train
        holdout_x = [
            _with_noise(source.x[p], float(sigmas[k]), seed, k, 1)
            for k, p in enumerate(holdout_parts)
        ]
        holdout_y = [source.y[p] for p in holdout_parts]
    return ClientArrays(train_x, train_y, holdout_x, holdout_y)


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

    """

    clients: ClientArrays
    test_x: np.ndarray
    test_y: np.ndarray
    num_classes: int

    @property
    def example_shape(self) -> tuple[int, ...]:
        """Shape of one example's features."""
        return tuple(self.test_x.shape[1:])


def training_data(spec: RunSpec, data: PartitionedData) -> TrainingData:
    """The clients of ``spec``'s partition and the dataset's test set (:func:`build_clients`)."""
    test = data.dataset.test
    return TrainingData(build_clients(spec, data), test.x, test.y, data.dataset.num_classes)


def client_test_parts(spec: RunSpec, data: PartitionedData) -> list[np.ndarray] | None:
    """Each client's own test examples (indices into the test split), where they are defined.

    Defined by writers: for a strategy whose clients are whole writers
    (``Strategy.own_test_data``) on a dataset whose test split carries writer ids;
    ``None`` otherwise.
    """
    if not get_strategy(spec.partition.name).own_test_data or data.dataset.test.writers is None:
        return None
    return writer_test_parts(data.dataset, data.parts)


def noise_sigmas(spec: RunSpec, num_clients: int) -> np.ndarray | None:
    """Each client's feature-noise standard deviation (``Strategy.client_noise``), else None."""
    noise = get_strategy(spec.partition.name).client_noise
    return None if noise is None else noise(spec.partition.options, num_clients)


def build_clients(spec: RunSpec, data: PartitionedData) -> ClientArrays:
    """Build every client's arrays: feature noise, and held-out data for per-client evaluation.

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
        noise_sigmas=noise_sigmas(spec, len(data.parts)),
    )
