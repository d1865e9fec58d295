"""Pre-flight: a job's composed config becomes a checked, prepared run before anything trains.

:func:`check_job` runs through fedbench's sweeper for every job of a multirun before
launching any, and through :class:`PreflightCallback` for a single run before its
output folder is made. Both hand the checked specs, and what they prepared, to the
command's task function (:meth:`fedbench.app.job.task.Job.take`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from fedbench.app.config import launch_args
from fedbench.app.config.hydra_errors import check_group_selections, unknown
from fedbench.app.config.schemas import GROUPS, PLUGIN_CLASS, Config, fl_schema, group_schemas
from fedbench.app.job.prepare import Preparations, PreparedRun
from fedbench.app.job.task import Job
from fedbench.errors import ConfigError, invalid
from fedbench.interrupts import raise_if_interrupted
from fedbench.spec import RunSpec


def check_known_keys(config: Mapping[str, Any]) -> None:
    """Reject keys added with ``+key=...`` that no schema declares (they would be ignored)."""
    schemas = group_schemas()
    nodes = {"": (config, Config), "fl": (config["fl"], fl_schema())}
    for group in GROUPS:
        nodes[group] = (config[group], schemas[group].get(config[group]["name"]))
    for path, (node, schema) in nodes.items():
        if schema is None:
            continue
        allowed = {f.name for f in dataclasses.fields(schema)}
        for key in node:
            if key not in allowed and key != "hydra":
                raise unknown(f"{path}.{key}" if path else key)


def prepare_job(
    config: Mapping[str, Any],
    overrides: Sequence[str],
    *,
    training: bool,
    preparations: Preparations,
) -> PreparedRun:
    """Check one job's resolved config (plain containers, no ``hydra``) and prepare its run.

    ``training`` says whether the job trains; the run is prepared through
    ``preparations``, the command's.

    Raises
    ------
    FedbenchError
        The first problem, as one line.

    """
    check_group_selections(overrides)
    check_known_keys(config)
    return preparations.prepare(RunSpec.from_config(config), training=training)


def check_job(config: DictConfig, *, training: bool, preparations: Preparations) -> PreparedRun:
    """Check a composed job config (with its ``hydra`` node) and prepare its run."""
    overrides = list(config.hydra.overrides.task)
    job_keys = [key for key in config if key != "hydra"]
    plain = OmegaConf.to_container(OmegaConf.masked_copy(config, job_keys), resolve=True)
    launch_args.check_unset(plain)  # set by the sweeper on the jobs it launches, not here
    prepared = prepare_job(plain, overrides, training=training, preparations=preparations)
    raise_if_interrupted()  # a Ctrl-C that a finalizer swallowed while the job was prepared
    return prepared


class PreflightFailed(BaseException):
    """A single run's pre-flight failed; carries the one-line error out of Hydra's callbacks.

    Hydra turns an ``Exception`` raised in a callback into a warning and goes on, so
    the callback raises this ``BaseException`` for the command to report.
    """

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class PreflightCallback(Callback):
    """Hydra callback: a single run is checked before Hydra makes its output folder.

    A multirun is checked by fedbench's sweeper; another sweeper would launch jobs
    unchecked, so the callback refuses it before anything runs.

    Parameters
    ----------
    training
        Whether the command trains (``hydra.callbacks.preflight.training``, which the
        command sets: :func:`fedbench.app.config.schemas.register_schemas`).

    """

    def __init__(self, training: bool = True) -> None:
        self.training = training
        self.preparations = Preparations()
        self.checked: dict[tuple[str, ...], RunSpec] = {}

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Check the run's config; a problem ends the command before anything is written."""
        try:
            prepared = check_job(config, training=self.training, preparations=self.preparations)
        except Exception as error:
            raise PreflightFailed(error) from error
        self.checked[tuple(config.hydra.overrides.task)] = prepared.spec

    def on_job_start(self, config: DictConfig, *, task_function: Any, **kwargs: Any) -> None:
        """Hand the single run's checked spec and prepared run to the command's job."""
        if self.checked and isinstance(task_function, Job):
            task_function.take(self.checked, self.preparations)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Refuse a sweeper that would launch jobs without fedbench's pre-flight."""
        target = OmegaConf.select(config, "hydra.sweeper._target_")
        if target != PLUGIN_CLASS:
            raise PreflightFailed(
                ConfigError(
                    invalid(
                        "hydra.sweeper._target_",
                        target,
                        f"{PLUGIN_CLASS} (hydra/sweeper=fedbench, Hydra's basic sweeper "
                        "after fedbench checks every job)",
                        "drop the hydra/sweeper override; any hydra/launcher works with it",
                    )
                )
            )
