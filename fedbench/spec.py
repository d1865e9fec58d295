"""The run spec: one typed, checked description of a run, built once per job.

:meth:`RunSpec.from_config` takes the resolved config of a job (plain containers,
as Hydra composes it), types and normalises it and runs every check that needs no
data; :meth:`RunSpec.create` builds the same spec from Python. The spec is then
handed down unchanged through data -> partition -> training -> results. Nothing
here imports Hydra, TensorFlow or pandas.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fedbench import checks, fl_keys, records
from fedbench.calibration import calibration_key, check_calibration
from fedbench.data.export import EXPORTERS
from fedbench.data.registry import DATASETS, DatasetSpec, get_dataset
from fedbench.errors import ConfigError, PartitionError, invalid
from fedbench.fl_keys import FLSettings
from fedbench.partitioning import Strategy, all_params, get_strategy, validate_params
from fedbench.rules import SEED


@dataclass(frozen=True)
class Choice:
    """One config group's selection: the option's name and its keyword options (not to mutate)."""

    name: str
    options: Mapping[str, Any]


def cli_key(name: str) -> str:
    """The command-line key of a partitioning parameter, as error messages name it."""
    if name in all_params():
        return f"partition.{name}"
    return {"num_clients": "fl.num_clients", "strategy": "partition"}.get(name, name)


def as_config_error(error: PartitionError) -> ConfigError:
    """The same error, its parameters named as command-line keys."""
    return ConfigError(error.keyed(cli_key))


def config_hash(identity: Any) -> str:
    """Return a stable 16-hex-digit hash of a run's identity (plain JSON types only).

    Parameters
    ----------
    identity
        What determines the result (:meth:`RunSpec.identity`).

    Returns
    -------
    str
        The first 16 hex digits of the SHA-256 of its canonical JSON.

    """
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def group_defaults(group: str, option: str) -> dict[str, Any]:
    """The options ``<group>=<option>`` starts from (its defaults, without ``name``).

    Raises
    ------
    ConfigError
        No such option in the group.

    """
    if group == "partition":
        return dict(_strategy(option).defaults)
    if group == "dataset":
        return get_dataset(option).defaults
    return dict(records.record(group, option).defaults)


def _annotations(group: str, option: str) -> dict[str, Any]:
    """Each option's type, from the record or dataclass that declares it."""
    if group == "dataset":
        return {k: p.annotation for k, p in get_dataset(option).options.items()}
    if group == "partition":
        return {p.name: p.rule.kind for p in _strategy(option).params}
    return {o.name: o.rule.kind for o in records.record(group, option).options}


def _strategy(name: Any) -> Strategy:
    try:
        return get_strategy(name)
    except PartitionError as error:
        raise as_config_error(error) from None


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs, checked.

    Attributes
    ----------
    dataset, partition, model, algorithm
        The four config groups, each option typed as declared. ``partition.options``
        holds exactly the strategy's parameters (defaults filled in), nothing else.
    fl
        Federated training settings.
    seed
        The one seed behind partitions, client sampling, model init and shuffling.
    results_dir
        Where results land.
    plot, export, export_split_names
        ``fedbench-partition`` only: heatmap, exported format, SqlClientData split names.
    calibrate, calibrate_metric
        ``fedbench-partition`` only: the strategy matched to the partition, and on what.

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
    calibrate: str | None = None
    calibrate_metric: str = "label_emd"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RunSpec:
        """Build the spec of a resolved config (plain containers) and run every data-free check.

        Normalisation: values take their declared types (``1`` is ``1.0`` where a float
        is declared; numpy scalars are Python's); the partition section keeps only
        the chosen strategy's parameters (a sweep crossing ``partition=iid,dirichlet``
        with ``partition.alpha=...`` gives identical IID runs, hashed and trained
        once); ``fl.client_holdout`` is 0 for a strategy whose clients are evaluated
        on their writers' own test data.

        Raises
        ------
        ConfigError
            The first invalid value, named by its command-line key.
        DataError
            A data file is missing (located, not read).

        """
        strategy = _strategy(config["partition"]["name"])
        fl = FLSettings(**checks.typed_options("fl", config["fl"], fl_keys.annotations()))
        if strategy.own_test_data and fl.client_holdout:
            fl = fl.replace(client_holdout=0.0)
        fl.check()
        algorithm = _choice("algorithm", config["algorithm"])
        if fl.server_lr is None:
            server_lr = records.record("algorithm", algorithm.name).server_lr
            fl = fl.replace(server_lr=server_lr)
        partition = _partition_options(strategy, config["partition"])
        try:
            params = validate_params(strategy.name, fl.num_clients, **partition)
        except PartitionError as error:
            raise as_config_error(error) from None
        spec = cls(
            dataset=_choice("dataset", config["dataset"]),
            partition=Choice(strategy.name, params),
            model=_choice("model", config["model"]),
            algorithm=algorithm,
            fl=fl,
            seed=checks.typed("seed", config["seed"], int),
            results_dir=checks.typed("results_dir", config["results_dir"], str),
            plot=checks.typed("plot", config.get("plot", False), bool),
            export=checks.typed("export", config.get("export"), str | None),
            export_split_names=tuple(config.get("export_split_names", ("train", "test"))),
            calibrate=checks.typed("calibrate", config.get("calibrate"), str | None),
            calibrate_metric=checks.typed(
                "calibrate_metric", config.get("calibrate_metric", "label_emd"), str
            ),
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
            Each group's keys; left out ones take their defaults, unknown ones are refused.
        **fl
            ``fl.*`` keys, e.g. ``rounds=5``.

        Returns
        -------
        RunSpec

        """
        unknown_fl = set(fl) - set(fl_keys.FL_KEYS)
        if unknown_fl:
            key = sorted(unknown_fl)[0]
            raise ConfigError(
                invalid(f"fl.{key}", fl[key], f"one of the keys {sorted(fl_keys.FL_KEYS)}")
            )
        groups = {
            "dataset": (dataset, dataset_options),
            "partition": (partition, partition_options),
            "model": (model, model_options),
            "algorithm": (algorithm, algorithm_options),
        }
        config: dict[str, Any] = {
            group: {"name": name, **group_defaults(group, name), **(options or {})}
            for group, (name, options) in groups.items()
        }
        strategy = _strategy(partition)
        for key, value in (partition_options or {}).items():  # strict: no grid to normalise
            if key not in strategy.defaults:
                raise ConfigError(
                    invalid(
                        f"partition.{key}",
                        value,
                        f"a parameter of partition={partition}: {list(strategy.param_names)}",
                    )
                )
        config.update(fl={**fl_keys.defaults(), **fl}, seed=seed, results_dir=results_dir)
        return cls.from_config(config)

    def check(self) -> None:
        """Run the data-free checks of everything but ``fl`` and the partition (done on build)."""
        SEED.check("seed", self.seed)
        checks.check_results_dir(self.results_dir)
        records.check_options("algorithm", self.algorithm.name, self.algorithm.options)
        records.record("algorithm", self.algorithm.name).check_execution(self.fl.execution)
        records.check_options("model", self.model.name, self.model.options)
        dataset = get_dataset(self.dataset.name)
        dataset.checked_options(self.dataset.options)
        _check_data_needs(get_strategy(self.partition.name), dataset)
        if self.export is not None and self.export not in EXPORTERS:
            raise ConfigError(invalid("export", self.export, f"one of {list(EXPORTERS)} or null"))
        if self.calibrate is not None:
            try:
                check_calibration(self.calibrate, self.calibrate_metric)
            except PartitionError as error:
                raise ConfigError(error.keyed(calibration_key)) from None
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
        strategy (or parameter) leaves every existing run's hash unchanged; an algorithm
        option added later (``hashed_at_default=False`` in its record) is held only when
        set to another value than its default. An
        algorithm whose computation a fix changed carries its ``revision``
        (:attr:`fedbench.records.Algorithm.revision`).
        """
        algorithm_revision = records.ALGORITHMS[self.algorithm.name].revision
        revision = {"revision": algorithm_revision} if algorithm_revision > 1 else {}
        return {
            "dataset": {"name": self.dataset.name, **self.dataset.options},
            "partition": {"name": self.partition.name, **self.partition.options},
            "model": {"name": self.model.name, **self.model.options},
            "algorithm": {
                "name": self.algorithm.name,
                **_hashed("algorithm", self.algorithm),
                **revision,
            },
            "fl": self.fl.identity(),
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


def _hashed(group: str, choice: Choice) -> dict[str, Any]:
    """The options of ``choice`` that are part of a run's identity."""
    return {
        k: v for k, v in choice.options.items() if records.in_identity(group, choice.name, k, v)
    }


def _choice(group: str, section: Mapping[str, Any]) -> Choice:
    """A group's section as a typed :class:`Choice` (nulls kept only for datasets' paths)."""
    name = section["name"]
    options = {k: v for k, v in section.items() if k != "name"}
    if group != "dataset":
        options = {k: v for k, v in options.items() if v is not None}
    if group in ("model", "algorithm"):
        group_defaults(group, name)  # refuses an unknown option
    return Choice(name, checks.typed_options(group, options, _annotations(group, name)))


def _partition_options(strategy: Strategy, section: Mapping[str, Any]) -> dict[str, Any]:
    """The strategy's own parameters of a partition section, typed; others' are dropped.

    The command line's partition schema holds every strategy's parameters (null when
    unset); a value set for another strategy's parameter is dropped, so a sweep can
    cross strategies with their parameters. A key no strategy declares is refused.
    """
    known = all_params()
    options = {}
    for key, value in section.items():
        if key == "name" or value is None:
            continue
        if key not in known:
            raise ConfigError(
                invalid(
                    f"partition.{key}",
                    value,
                    f"a parameter of partition={strategy.name}: {list(strategy.param_names)}",
                    f"remove partition.{key} or check its spelling",
                )
            )
        if key in strategy.defaults:
            options[key] = checks.typed(f"partition.{key}", value, known[key].rule.kind)
    return options


def _check_data_needs(strategy: Strategy, dataset: DatasetSpec) -> None:
    """Refuse a strategy that needs writer ids on a dataset without them."""
    if "writer_ids" in strategy.data and not dataset.has_writers:
        with_writers = [f"dataset={name}" for name, d in DATASETS.items() if d.has_writers]
        raise ConfigError(
            invalid(
                "partition",
                strategy.name,
                f"a strategy dataset={dataset.name} supports: partition={strategy.name} "
                "needs writer ids and this dataset has none",
                f"use {', '.join(with_writers)}, or another partition",
            )
        )
