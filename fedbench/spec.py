"""The run spec: one typed, checked description of a run, built once per job.

:meth:`RunSpec.from_config` takes the resolved config of a job (plain containers,
as Hydra composes it), normalises it and runs every check that needs no data; the
spec is then handed down unchanged through data -> partition -> training ->
results. Nothing here imports Hydra or TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from fedbench.data.export import EXPORTERS
from fedbench.data.registry import DATASETS, get_dataset
from fedbench.errors import ConfigError, PartitionError, invalid
from fedbench.options import ALGORITHM_SCHEMAS, MODEL_SCHEMAS, option_defaults
from fedbench.partitioning import all_params, get_strategy, validate_params
from fedbench.results.store import config_hash

#: Seeds are stored in an int64 column.
MAX_SEED = 2**63 - 1
#: Keys that do not change a run's result and so are not part of its identity.
NON_IDENTITY_KEYS = ("results_dir", "plot", "export", "export_split_names")
#: Models that take images, and the smallest side each accepts.
MIN_IMAGE_SIDE = MappingProxyType({"cnn": 12, "cnn_emnist": 6})


@dataclass(frozen=True)
class FLSettings:
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

    def check(self) -> None:
        """Check the ranges and that ``clients_per_round <= num_clients``.

        Raises
        ------
        ConfigError
            The first invalid value, naming its ``fl.*`` key.

        """
        for key in (
            "num_clients",
            "clients_per_round",
            "rounds",
            "local_epochs",
            "batch_size",
            "eval_every",
        ):
            if getattr(self, key) < 1:
                raise ConfigError(invalid(f"fl.{key}", getattr(self, key), "an integer >= 1"))
        if self.clients_per_round > self.num_clients:
            raise ConfigError(
                invalid(
                    "fl.clients_per_round",
                    self.clients_per_round,
                    f"at most fl.num_clients={self.num_clients}",
                    "lower fl.clients_per_round or raise fl.num_clients",
                )
            )
        for key in ("client_lr", "server_lr"):
            value = getattr(self, key)
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(invalid(f"fl.{key}", value, "a finite float > 0"))
        for key in ("client_momentum", "client_holdout"):
            _unit_interval(f"fl.{key}", getattr(self, key))


@dataclass(frozen=True)
class Choice:
    """One config group's selection: the option's name and its keyword options (not to mutate)."""

    name: str
    options: Mapping[str, Any]

    @classmethod
    def of(cls, section: Mapping[str, Any], *, keep_null: bool = False) -> Choice:
        """Split a group's config section into name and options (nulls dropped unless kept)."""
        options = {k: v for k, v in section.items() if k != "name" and (keep_null or v is not None)}
        return cls(section["name"], options)


def _unit_interval(key: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ConfigError(invalid(key, value, "a float in [0, 1)"))


def cli_key(name: str) -> str:
    """The command-line key of a partitioning parameter, as error messages name it."""
    if name in all_params():
        return f"partition.{name}"
    return {"num_clients": "fl.num_clients", "strategy": "partition"}.get(name, name)


def as_config_error(error: PartitionError) -> ConfigError:
    """The same error, its parameters named as command-line keys."""
    return ConfigError(error.keyed(cli_key))


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs, checked.

    Attributes
    ----------
    dataset, partition, model, algorithm
        The four config groups. ``partition.options`` holds exactly the strategy's
        parameters (defaults filled in), nothing else.
    fl
        Federated training settings.
    seed
        The one seed behind partitions, client sampling, model init and shuffling.
    results_dir
        Where results land.
    plot, export, export_split_names
        ``fedbench-partition`` only: heatmap, exported format, SqlClientData split names.

    """

    dataset: Choice
    partition: Choice
    model: Choice
    algorithm: Choice
    fl: FLSettings
    seed: int = 0
    results_dir: str = "results"
    plot: bool = False
    export: str | None = None
    export_split_names: tuple[str, str] = ("train", "test")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RunSpec:
        """Build the spec of a resolved config (plain containers) and run every data-free check.

        Normalisation: the partition section keeps only the chosen strategy's
        parameters (a sweep crossing ``partition=iid,dirichlet`` with
        ``partition.alpha=...`` gives identical IID runs, hashed and trained once);
        ``fl.client_holdout`` is 0 for ``natural`` (writers are evaluated on their
        own test data).

        Raises
        ------
        ConfigError
            The first invalid value, named by its command-line key.
        DataError
            A data file is missing (located, not read).

        """
        strategy = _partition_strategy(config["partition"])
        partition_options = {
            k: v
            for k, v in config["partition"].items()
            if k != "name" and k in strategy.defaults and v is not None
        }
        fl = FLSettings(**_floats(config["fl"], _FL_FLOATS))
        if strategy.name == "natural" and fl.client_holdout:
            fl = dataclasses.replace(fl, client_holdout=0.0)
        fl.check()
        floats = {p.name for p in strategy.params if p.rule.kind is float}
        try:
            params = validate_params(
                strategy.name, fl.num_clients, **_floats(partition_options, floats)
            )
        except PartitionError as error:
            raise as_config_error(error) from None
        names = tuple(config.get("export_split_names", ("train", "test")))
        spec = cls(
            dataset=Choice.of(config["dataset"], keep_null=True),
            partition=Choice(strategy.name, params),
            model=Choice.of(config["model"]),
            algorithm=Choice.of(config["algorithm"]),
            fl=fl,
            seed=config["seed"],
            results_dir=config["results_dir"],
            plot=bool(config.get("plot", False)),
            export=config.get("export"),
            export_split_names=names,  # type: ignore[arg-type]
        )
        spec.check()
        return spec

    @classmethod
    def create(
        cls,
        *,
        dataset: str = "digits",
        partition: str = "iid",
        model: str = "linear",
        algorithm: str = "fedavg",
        seed: int = 0,
        results_dir: str = "results",
        dataset_options: Mapping[str, Any] | None = None,
        partition_options: Mapping[str, Any] | None = None,
        model_options: Mapping[str, Any] | None = None,
        algorithm_options: Mapping[str, Any] | None = None,
        **fl: Any,
    ) -> RunSpec:
        """Build a checked spec from Python, with the command line's defaults.

        The same run as the command line's ``dataset=... partition=... fl.<key>=...``
        (same identity and ``config_hash``).

        Parameters
        ----------
        dataset, partition, model, algorithm
            The options of the four groups.
        seed, results_dir
            As the top-level keys.
        dataset_options, partition_options, model_options, algorithm_options
            Each group's keys; left out ones take their defaults.
        **fl
            ``fl.*`` keys, e.g. ``rounds=5``.

        Returns
        -------
        RunSpec

        """
        config = {
            "dataset": {
                "name": dataset,
                **get_dataset(dataset).defaults,
                **(dataset_options or {}),
            },
            "partition": {"name": partition, **(partition_options or {})},
            "model": {
                "name": model,
                **_defaults(MODEL_SCHEMAS, "model", model),
                **(model_options or {}),
            },
            "algorithm": {
                "name": algorithm,
                **_defaults(ALGORITHM_SCHEMAS, "algorithm", algorithm),
                **(algorithm_options or {}),
            },
            "fl": {**dataclasses.asdict(FLSettings()), **fl},
            "seed": seed,
            "results_dir": results_dir,
        }
        return cls.from_config(config)

    def check(self) -> None:
        """Run the data-free checks of everything but ``fl`` and the partition (done on build)."""
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(invalid("seed", self.seed, f"an integer in [0, {MAX_SEED}]"))
        check_results_dir(self.results_dir)
        _check_algorithm(self.algorithm.options)
        if self.model.options.get("hidden", 1) < 1:
            raise ConfigError(
                invalid("model.hidden", self.model.options["hidden"], "an integer >= 1")
            )
        dataset = get_dataset(self.dataset.name)
        dataset.checked_options(self.dataset.options)
        if get_strategy(self.partition.name).data and not dataset.has_writers:
            with_writers = [f"dataset={name}" for name, d in DATASETS.items() if d.has_writers]
            raise ConfigError(
                invalid(
                    "partition",
                    self.partition.name,
                    f"a strategy dataset={dataset.name} supports: partition={self.partition.name} "
                    "needs writer ids and this dataset has none",
                    f"use {', '.join(with_writers)}, or another partition",
                )
            )
        if self.export is not None and self.export not in EXPORTERS:
            raise ConfigError(invalid("export", self.export, f"one of {list(EXPORTERS)} or null"))
        names = self.export_split_names
        if len(names) != 2 or len(set(names)) != 2 or not all(names):
            raise ConfigError(
                invalid(
                    "export_split_names",
                    list(names),
                    "two distinct non-empty names, [train split, test split]",
                    "e.g. [all_train,all_test]",
                )
            )

    def identity(self) -> dict[str, Any]:
        """The part of the spec that determines the result, as plain containers.

        Hashed into ``config_hash`` and stored as ``config_json``. The partition
        section holds only the strategy's own parameters, so registering another
        strategy (or parameter) leaves every existing run's hash unchanged.
        """
        return {
            "dataset": {"name": self.dataset.name, **self.dataset.options},
            "partition": {"name": self.partition.name, **self.partition.options},
            "model": {"name": self.model.name, **self.model.options},
            "algorithm": {"name": self.algorithm.name, **self.algorithm.options},
            "fl": dataclasses.asdict(self.fl),
            "seed": self.seed,
        }

    @property
    def config_hash(self) -> str:
        """The hash naming this run's result file."""
        return config_hash(self.identity())

    def identity_json(self) -> str:
        """:meth:`identity` as canonical JSON (the ``config_json`` column)."""
        return json.dumps(self.identity(), sort_keys=True)

    def partition_key(self) -> str:
        """What determines the partition: dataset, strategy and parameters, clients, seed."""
        identity = self.identity()
        return json.dumps(
            [identity["dataset"], identity["partition"], self.fl.num_clients, self.seed],
            sort_keys=True,
        )


_FL_FLOATS = frozenset(f.name for f in dataclasses.fields(FLSettings) if f.type == "float")


def _floats(values: Mapping[str, Any], names: frozenset[str] | set[str]) -> dict[str, Any]:
    """``values`` with the integers among ``names`` as floats (``1`` and ``1.0`` hash alike)."""
    return {
        k: float(v) if k in names and isinstance(v, int) and not isinstance(v, bool) else v
        for k, v in values.items()
    }


def _defaults(schemas: Mapping[str, type], group: str, option: str) -> dict[str, Any]:
    if option not in schemas:
        raise ConfigError(invalid(group, option, f"one of {sorted(schemas)}"))
    return option_defaults(schemas[option])


def _partition_strategy(section: Mapping[str, Any]) -> Any:
    try:
        return get_strategy(section["name"])
    except PartitionError as error:
        raise as_config_error(error) from None


def _check_algorithm(options: Mapping[str, Any]) -> None:
    """Momenta and betas in [0, 1), mu >= 0, epsilon > 0."""
    for key in ("server_momentum", "beta_1", "beta_2"):
        if key in options:
            _unit_interval(f"algorithm.{key}", options[key])
    if "mu" in options and options["mu"] < 0:
        raise ConfigError(invalid("algorithm.mu", options["mu"], "a float >= 0"))
    if "epsilon" in options:
        value = options["epsilon"]
        if not (value > 0 and math.isfinite(value)):
            raise ConfigError(invalid("algorithm.epsilon", value, "a finite float > 0"))


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


def check_model_fits(model: str, example_shape: tuple[int, ...]) -> None:
    """Raise :class:`ConfigError` if ``model`` cannot take examples of ``example_shape``."""
    min_side = MIN_IMAGE_SIDE.get(model)
    if min_side is None:
        return
    if len(example_shape) != 2:
        raise ConfigError(
            invalid(
                "model",
                model,
                "a model for flat features (linear or mlp) with this dataset",
                f"its examples have shape {example_shape}, not (height, width); use model=mlp",
            )
        )
    if min(example_shape) < min_side:
        raise ConfigError(
            invalid(
                "model",
                model,
                f"images of at least {min_side}x{min_side} for model={model}",
                f"the dataset's images are {example_shape[0]}x{example_shape[1]}; "
                "use model=mlp or model=linear",
            )
        )
