"""Check every job of a (multi)run before any of them trains.

Hydra composes a job's config only when the job starts, so a bad value in the
fifth job of a sweep would surface after four jobs had trained. :func:`check_argv`
composes every job up front with Hydra's Compose API, expands the sweep the way
Hydra's basic sweeper does, and checks each job: schema (keys and types), ranges,
data files, the partition itself (it is cheap), and the model/dataset fit. Hydra's
multi-line composition errors are turned into one line naming key, value, what is
allowed and how to fix it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from fedbench import pipeline
from fedbench.config.register import GROUP_SCHEMAS
from fedbench.config.root import Config
from fedbench.errors import ConfigError, invalid, unknown_key
from fedbench.training.models import check_model_fits
from fedbench.validation import check_config

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
PRIMARY_CONFIG = "config"
_FLAGS_WITH_VALUE = {"-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir"}
#: Flags after which Hydra does not run the task (help, config printing, shell completion).
_NO_RUN_FLAGS = {
    "--help",
    "-h",
    "--hydra-help",
    "--cfg",
    "-c",
    "--info",
    "-i",
    "--shell-completion",
    "-sc",
    "--version",
}


@dataclass
class Invocation:
    """What a command line asks Hydra to do."""

    overrides: list[str] = field(default_factory=list)
    multirun: bool = False
    config_name: str = PRIMARY_CONFIG
    config_dir: Path | None = None
    runs_task: bool = True


def parse_argv(argv: Sequence[str]) -> Invocation:
    """Split a ``fedbench`` command line into Hydra flags and overrides."""
    inv = Invocation()
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        name, _, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in _FLAGS_WITH_VALUE:
            value = inline or (args[i + 1] if i + 1 < len(args) else "")
            i += 1 if inline else 2
            if name in ("-cn", "--config-name"):
                inv.config_name = value
            elif name in ("-cd", "--config-dir"):
                inv.config_dir = Path(value).resolve()
            continue
        if arg in ("-m", "--multirun"):
            inv.multirun = True
        elif name in _NO_RUN_FLAGS:
            inv.runs_task = False
        elif not arg.startswith("-"):
            inv.overrides.append(arg)
        i += 1
    return inv


def _group_options(group: str, inv: Invocation) -> list[str]:
    dirs = [CONF_DIR / group] + ([inv.config_dir / group] if inv.config_dir else [])
    return sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})


def _chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def _one_line(error: Exception, inv: Invocation) -> ConfigError:
    """Turn a Hydra/OmegaConf composition error into a one-line :class:`ConfigError`."""
    chain = _chain(error)
    text = "\n".join(str(e) for e in chain)
    full_key = next((e.full_key for e in chain if getattr(e, "full_key", None)), None)
    missing = re.search(r"Could not find '([^'/]+)/([^']+)'", text)
    if isinstance(error, MissingConfigException) and missing:
        group, option = missing.groups()
        allowed = _group_options(group, inv)
        fix = f"use e.g. {group}={allowed[0]}" if allowed else "check the spelling"
        return ConfigError(invalid(group, option, f"one of {allowed}", fix))
    if isinstance(error, MissingConfigException):
        name = re.search(r"Cannot find primary config '([^']+)'", text)
        where = [str(CONF_DIR)] + ([str(inv.config_dir)] if inv.config_dir else [])
        value = name.group(1) if name else inv.config_name
        return ConfigError(
            invalid("--config-name", value, f"a YAML file in {where}", "check the name and -cd")
        )
    no_match = re.search(r"Could not override '([^']+)'\. No match in the defaults list", text)
    if no_match:  # a group=option override for a group the config does not select
        return _unknown_key(no_match.group(1), inv)
    if re.search(r"Key '[^']+' (?:is )?not in ", text):
        key = full_key or re.search(r"Key '([^']+)'", text).group(1)
        return _unknown_key(key, inv)
    not_bool = re.search(r"Value '([^']*)' is not a valid bool", text)
    merging = re.search(r"Error merging override ([^=\s]+)=(\S*)", text)
    if not_bool and (full_key or merging):
        key = full_key or merging.group(1)
        return ConfigError(invalid(key, not_bool.group(1), "true or false"))
    section = re.search(r"Invalid type assigned: \w+ is not a subclass of \w+", text)
    if section and merging:
        key, value = merging.groups()
        return ConfigError(
            invalid(
                key,
                value,
                "a section of keys, not one value",
                f"set a key inside it, e.g. {key}.<key>=<value> (fedbench --help lists them)",
            )
        )
    convert = re.search(r"Value '([^']*)' (?:of type '\w+' )?could not be converted to (\w+)", text)
    if convert and full_key:
        kind = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false"}.get(
            convert.group(2), f"a value of type {convert.group(2)}"
        )
        return ConfigError(invalid(full_key, convert.group(1), kind))
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)
    return ConfigError(f"{first} (run with HYDRA_FULL_ERROR=1 for details)")


def _unknown_key(key: str, inv: Invocation) -> ConfigError:
    parent, _, leaf = key.rpartition(".")
    owners = [
        option
        for option, schema in sorted(GROUP_SCHEMAS.get(parent, {}).items())
        if leaf in {f.name for f in dataclasses.fields(schema)}
    ]
    if owners:  # spelt right, but an option of another choice in the group
        choices = " or ".join(f"{parent}={o}" for o in owners)
        return ConfigError(
            f"{key} does not apply to the selected {parent}: it is a key of {choices}; "
            f"select {choices} with it, or drop {key} (to sweep {parent}s with their own "
            f"keys, use one sweep per {parent}, as sweeps/fmnist_fedadam.yaml does)"
        )
    return ConfigError(unknown_key(key, _keys_of(parent, inv)))


def _keys_of(parent: str, inv: Invocation) -> list[str]:
    if not parent:  # the root schema declares every top-level key
        return sorted(f.name for f in dataclasses.fields(Config))
    try:
        cfg = _compose(
            inv, [o for o in inv.overrides if "," not in o and o.split("=")[0].count(".") == 0]
        )
        node = OmegaConf.select(cfg, parent) if parent else cfg
        return sorted(k for k in node.keys() if k != "hydra") if node is not None else []
    except Exception:
        return [*sorted(GROUP_SCHEMAS), "fl", "seed", "results_dir"]


@contextlib.contextmanager
def _hydra(inv: Invocation) -> Iterator[list[str]]:
    """Initialise Hydra for ``inv``'s config folders; yield the overrides that add ``conf/``."""
    # Like ``-cd``: the extra folder is searched first (it holds the primary config),
    # conf/ after it (for the groups and the base config a sweep file extends).
    primary_dir = inv.config_dir or CONF_DIR
    extra = [f"hydra.searchpath=[file://{CONF_DIR}]"] if inv.config_dir else []
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(primary_dir), version_base="1.3"):
        yield extra


def _compose(inv: Invocation, overrides: list[str], *, with_hydra: bool = False) -> Any:
    with _hydra(inv) as extra:
        return compose(inv.config_name, overrides=overrides + extra, return_hydra_config=with_hydra)


def expand_jobs(inv: Invocation) -> Iterator[list[str]]:
    """Yield each job's override list, expanding sweeps as Hydra's basic sweeper does."""
    if not inv.multirun:
        yield inv.overrides
        return
    with _hydra(inv) as extra:
        fixed = [o for o in inv.overrides if "," not in o and "(" not in o]
        base = compose(inv.config_name, overrides=fixed + extra, return_hydra_config=True)
        params = base.hydra.sweeper.params
        params = OmegaConf.to_container(params, resolve=False) if params is not None else {}
        arguments = [f"{k}={v}" for k, v in params.items()] + inv.overrides
        # With the config loader, glob(...) sweeps over group options expand as in Hydra.
        parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
        batches = BasicSweeper.split_arguments(parser.parse_overrides(arguments), None)
    for batch in batches:
        yield from (list(job) for job in batch)


def _check_group_selections(inv: Invocation) -> None:
    """Refuse ``group=[a,b]``: Hydra merges both options into one job, which reads as a sweep."""
    for override in OverridesParser.create().parse_overrides(inv.overrides):
        group = override.key_or_group
        if group in GROUP_SCHEMAS and isinstance(override.value(), list):
            options = ",".join(str(v) for v in override.value())
            raise ConfigError(
                invalid(
                    group,
                    f"[{options}]",
                    f"one {group} per job",
                    f"to run each, sweep them: fedbench -m {group}={options}",
                )
            )


def check_argv(argv: Sequence[str]) -> int:
    """Compose and check every job the command line would run.

    Parameters
    ----------
    argv
        The command line after the program name.

    Returns
    -------
    int
        The number of jobs checked.

    Raises
    ------
    ConfigError
        The first problem found, as one line.

    """
    inv = parse_argv(argv)
    if not inv.runs_task:
        return 0
    try:
        _check_group_selections(inv)
        jobs = list(expand_jobs(inv))
        configs = [OmegaConf.to_container(_compose(inv, job), resolve=True) for job in jobs]
        configs = [pipeline.normalize(config) for config in configs]
    except (HydraException, OmegaConfBaseException) as error:
        raise _one_line(error, inv) from error
    for config in configs:
        check_config(config)
    shapes: dict[str, tuple[int, ...]] = {}
    partitions_seen: set[str] = set()
    models_seen: set[str] = set()
    for config in configs:
        dataset_key = repr(config["dataset"])
        partition_key = repr(
            (config["dataset"], config["partition"], config["fl"]["num_clients"], config["seed"])
        )
        if partition_key not in partitions_seen:  # cheap, and catches data-dependent errors
            partitions_seen.add(partition_key)
            shapes[dataset_key] = pipeline.load_and_partition(config).dataset.example_shape
        model_key = repr((config["model"], shapes[dataset_key]))
        if model_key not in models_seen:
            models_seen.add(model_key)
            check_model_fits(
                config["model"]["name"], shapes[dataset_key], pipeline.options(config["model"])
            )
    return len(configs)
