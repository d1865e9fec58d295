"""Hydra's structured-config schemas, derived from the records they describe.

The ``dataset`` schemas come from each dataset's loader signature
(:class:`fedbench.data.DatasetSpec`), the ``partition`` schema from every registered
strategy's parameters (:class:`fedbench.partitioning.Strategy`), ``model`` and
``algorithm`` from their records (:mod:`fedbench.records`), ``fl`` from the ``fl`` keys'
records (:mod:`fedbench.fl_keys`). :func:`register_schemas` stores them in Hydra's
ConfigStore, each option
also as a selectable ``<group>/<option>`` (so an option needs no YAML file; a file
in ``conf/<group>/`` of the same name takes precedence and lists the schema first).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from fedbench.data import DATASETS
from fedbench.fl_keys import FL_KEYS
from fedbench.partitioning import STRATEGIES, all_params
from fedbench.records import ALGORITHMS, MODELS
from fedbench.spec import group_defaults

GROUPS = ("dataset", "partition", "model", "algorithm")
#: ``hydra/sweeper=fedbench``: the sweeper that checks every job of a multirun before
#: launching any (:class:`fedbench.app.sweep.sweeper.CheckingSweeper`, registered with Hydra
#: by :func:`fedbench.app.sweep.plugin.register_sweeper`).
SWEEPER_GROUP, SWEEPER_NAME = "hydra/sweeper", "fedbench"
#: The class Hydra instantiates for it (Hydra's plugins live in its ``hydra_plugins``).
PLUGIN_CLASS = "hydra_plugins.fedbench_sweeper.FedbenchSweeper"
#: The packaged config folder (``conf/`` beside the package).
CONF_DIR = Path(__file__).resolve().parents[3] / "conf"


def _optional(annotation: Any) -> Any:
    """``X | None`` as ``Optional[X]`` (the spelling OmegaConf reads)."""
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) and type(None) in args:
        (other,) = (a for a in args if a is not type(None))
        return Optional[other]  # noqa: UP045 (OmegaConf 2.3 does not read X | None)
    return annotation


def fl_schema() -> type:
    """The schema of ``fl``: every registered ``fl`` key with its type and default."""
    fields = [
        (key.name, _optional(key.annotation), field(default=key.default))
        for key in FL_KEYS.values()
    ]
    return dataclasses.make_dataclass("FLConfig", fields)


def dataset_schema(name: str) -> type:
    """The schema of ``dataset=<name>``: ``name`` plus its loader's keyword arguments."""
    spec = DATASETS[name]
    fields = [("name", str, field(default=name))] + [
        (option, _optional(p.annotation), field(default=p.default))
        for option, p in spec.options.items()
    ]
    return dataclasses.make_dataclass(f"Dataset_{name}", fields)


def option_schema(group: str, name: str) -> type:
    """The schema of ``model=<name>`` or ``algorithm=<name>``: ``name`` and its record's options."""
    record = {"model": MODELS, "algorithm": ALGORITHMS}[group][name]
    fields = [("name", str, field(default=name))] + [
        (o.name, o.rule.kind, field(default=o.default)) for o in record.options
    ]
    return dataclasses.make_dataclass(f"{group.title()}_{name}", fields)


def partition_schema() -> type:
    """One schema for every strategy: ``name`` and every registered parameter (null = unset).

    All strategies share it so that a sweep can cross strategies with their
    parameters (``partition=iid,dirichlet partition.alpha=0.5,0.05``); a parameter
    the chosen strategy does not take is dropped by :class:`fedbench.spec.RunSpec`.
    """
    fields = [("name", str, field(default="iid"))] + [
        (p.name, Optional[p.rule.kind], field(default=None))  # noqa: UP045
        for p in all_params().values()
    ]
    return dataclasses.make_dataclass("PartitionConfig", fields)


def group_schemas() -> dict[str, dict[str, type]]:
    """Group -> option -> schema, for everything registered now."""
    shared_partition = partition_schema()
    return {
        "dataset": {name: dataset_schema(name) for name in DATASETS},
        "partition": dict.fromkeys(STRATEGIES, shared_partition),
        "model": {name: option_schema("model", name) for name in MODELS},
        "algorithm": {name: option_schema("algorithm", name) for name in ALGORITHMS},
    }


@dataclass
class LaunchConfig:
    """``launch.*``: what fedbench's sweeper tells each job it launches; never set by hand.

    The keys of :class:`fedbench.app.config.launch_args.LaunchArgs` (see there); not part of
    a run's identity.
    """

    eval_rounds: list[int] = field(default_factory=list)
    threads: int = 0


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
    calibrate, calibrate_metric
        ``fedbench-partition`` only: a strategy (e.g. ``dirichlet``) whose parameter is
        matched to the partition built, on ``calibrate_metric``; ``null`` for none.
    export_split_names
        ``export=tff_sql`` only: the SqlClientData split names of the train and
        test rows. ``[all_train,all_test]`` (62 classes) or
        ``[digits_only_train,digits_only_test]`` (10) make the file an
        ``emnist_all.sqlite`` that TFF's ``emnist.load_data`` and ``dataset=emnist`` read.
    launch
        Set by fedbench's sweeper on the jobs it launches (:class:`LaunchConfig`).

    """

    dataset: Any = MISSING
    partition: Any = MISSING
    model: Any = MISSING
    algorithm: Any = MISSING
    fl: Any = MISSING  # its schema is the fl keys' (:func:`config_schema`)
    seed: int = 0
    results_dir: str = "results"
    plot: bool = False
    export: Optional[str] = None  # noqa: UP045
    export_split_names: list[str] = field(default_factory=lambda: ["train", "test"])
    calibrate: Optional[str] = None  # noqa: UP045
    calibrate_metric: str = "label_emd"
    launch: LaunchConfig = field(default_factory=LaunchConfig)


@dataclass
class SweeperConf:
    """The config of ``hydra/sweeper=fedbench``: Hydra's basic sweeper's keys."""

    _target_: str = PLUGIN_CLASS
    max_batch_size: Optional[int] = None  # noqa: UP045 (OmegaConf 2.3 reads Optional)
    params: Optional[dict[str, str]] = None  # noqa: UP045


def config_schema() -> type:
    """:class:`Config` with ``fl`` typed by the ``fl`` keys registered now (:func:`fl_schema`)."""
    fl = fl_schema()
    return dataclasses.make_dataclass(
        "FedbenchConfig", [("fl", fl, field(default_factory=fl))], bases=(Config,)
    )


def register_schemas(*, training: bool = True) -> None:
    """Store the schemas, every option, the sweeper's config and the ``--help`` resolver in Hydra.

    ``training``: whether the command trains, for the single run's pre-flight callback
    (``hydra.callbacks.preflight.training``, from the ``fedbench_command`` node that
    ``conf/config.yaml`` lists first).

    ``fedbench_schema`` is the primary config's schema; ``schema/<group>/<option>``
    the option schemas that ``conf/<group>/<option>.yaml`` files list first;
    ``<group>/<option>`` each option with its defaults, selectable without a file.
    The schemas live in their own ``schema/`` group so that they are not themselves
    selectable options.
    """
    OmegaConf.register_new_resolver("fedbench_groups", config_groups_help, replace=True)
    store = ConfigStore.instance()
    store.store(name="fedbench_schema", node=config_schema())
    store.store(
        name="fedbench_command",
        node={"hydra": {"callbacks": {"preflight": {"training": training}}}},
        package="_global_",
    )
    for group, schemas in group_schemas().items():
        for option, schema in schemas.items():
            store.store(group=f"schema/{group}", name=option, node=schema)
            if not (CONF_DIR / group / f"{option}.yaml").is_file():  # a file would shadow it
                defaults = OmegaConf.create({"name": option, **group_defaults(group, option)})
                node = OmegaConf.merge(OmegaConf.structured(schema), defaults)
                store.store(group=group, name=option, node=node)
    store.store(group=SWEEPER_GROUP, name=SWEEPER_NAME, node=SweeperConf)


def config_groups_help() -> str:
    """Return what ``fedbench --help`` shows of the groups: their options, the strategies' keys.

    Returns
    -------
    str
        One line per config group, its options sorted (the ``schema/`` groups left
        out); then one line per partition parameter (which strategies take it, its
        default, its help) and one per dataset (whether it has writers, its summary).

    """
    lines = [
        f"{group}: {', '.join(sorted(schemas))}"
        for group, schemas in sorted(group_schemas().items())
    ]
    lines += ["", "Partition parameters (partition.<key>=<value>):"]
    for param in all_params().values():
        takers = [s.name for s in STRATEGIES.values() if param.name in s.defaults]
        defaults = sorted({repr(STRATEGIES[t].defaults[param.name]) for t in takers})
        lines.append(
            f"  {param.name} ({param.rule.allowed}; {', '.join(takers)}; "
            f"default {' or '.join(defaults)}): {param.help}"
        )
    lines += ["", "Federated training keys (fl.<key>=<value>):"]
    for key in FL_KEYS.values():
        identity = "" if key.identity else "; not part of a run's identity"
        lines.append(
            f"  {key.name} ({key.rule.allowed}; default {key.default!r}{identity}): {key.help}"
        )
    lines += ["", "Algorithms (algorithm=<name>; its options algorithm.<key>=<value>):"]
    for algorithm in ALGORITHMS.values():
        kept = f"; keeps per client: {algorithm.client_state}" if algorithm.client_state else ""
        lines.append(
            f"  {algorithm.name} ({algorithm.display}; default fl.server_lr "
            f"{algorithm.server_lr}{kept}): {algorithm.summary}"
        )
        lines += [
            f"    {o.name} ({o.rule.allowed}; default {o.default!r}): {o.help}"
            for o in algorithm.options
        ]
    lines += ["", "Datasets:"]
    for name, spec in sorted(DATASETS.items()):
        writers = "writers" if spec.has_writers else "pooled"
        lines.append(f"  {name} ({writers}): {spec.summary}")
    return "\n".join(lines)


def keys_under(parent: str) -> list[str]:
    """The config keys allowed under ``parent`` ("" for the top level), for error messages."""
    if not parent:
        return sorted(f.name for f in dataclasses.fields(Config))
    if parent == "fl":
        return sorted(FL_KEYS)
    schemas = group_schemas().get(parent, {})
    return sorted({f.name for schema in schemas.values() for f in dataclasses.fields(schema)})
