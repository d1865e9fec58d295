"""The top-level config: the four groups, the ``fl.*`` keys and run-wide keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING


@dataclass
class FLConfig:
    """Federated training keys (``fl.*``).

    Attributes
    ----------
    num_clients
        Number of clients the training data is partitioned into.
    clients_per_round
        Clients sampled (without replacement) each round, ``<= num_clients``.
    rounds
        Number of FedAvg rounds.
    local_epochs
        Passes each sampled client makes over its data per round.
    batch_size
        Client mini-batch size.
    client_lr
        Client SGD learning rate.
    server_lr
        Server learning rate (1.0 is plain FedAvg).
    eval_every
        Evaluate on the test data every this many rounds (and always at the last round).
    client_momentum
        Client SGD momentum (0 = plain SGD).
    shuffle_clients
        Reshuffle each client's data every local epoch (seeded by seed, round, client).
    client_holdout
        For pooled datasets: share of each client's examples held out for
        per-client evaluation (0 = off, the literature's usual setup). Natural
        datasets use each writer's own test examples regardless.

    """

    num_clients: int = 10
    clients_per_round: int = 10
    rounds: int = 20
    local_epochs: int = 1
    batch_size: int = 20
    client_lr: float = 0.1
    server_lr: float = 1.0
    eval_every: int = 1
    client_momentum: float = 0.0
    shuffle_clients: bool = True
    client_holdout: float = 0.0


@dataclass
class Config:
    """Everything one run needs; the Hydra primary config's schema.

    Attributes
    ----------
    dataset, partition, model, algorithm
        The four config groups (their schemas are per option).
    fl
        Federated training keys.
    seed
        The one seed behind partitions, client sampling, model init and shuffling.
    results_dir
        Where per-run Parquet files (``runs/``) and figures land.
    plot
        ``fedbench-partition`` only: also draw the label-distribution heatmap.
    export
        ``fedbench-partition`` only: ``tff_sql`` or ``leaf_json`` to also write
        the partitioned data in that format; ``null`` for none.
    export_split_names
        ``export=tff_sql`` only: the SqlClientData split names of the train and
        test rows. ``[all_train,all_test]`` (62 classes) or
        ``[digits_only_train,digits_only_test]`` (10) make the file an
        ``emnist_all.sqlite`` that TFF's ``emnist.load_data`` and ``dataset=emnist`` read.

    """

    dataset: Any = MISSING
    partition: Any = MISSING
    model: Any = MISSING
    algorithm: Any = MISSING
    fl: FLConfig = field(default_factory=FLConfig)
    seed: int = 0
    results_dir: str = "results"
    plot: bool = False
    export: str | None = None
    export_split_names: list[str] = field(default_factory=lambda: ["train", "test"])
