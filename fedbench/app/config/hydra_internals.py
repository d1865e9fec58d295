"""The few parts of Hydra that are not its public API, which fedbench relies on: here alone.

Hydra 1.3 gives no extension point for composing a sweep's jobs from a shared
composition (:mod:`fedbench.app.config.composition`) or for a sweeper that validates its jobs
itself (:mod:`fedbench.app.sweep.sweeper`). What fedbench uses of Hydra's internals is
wrapped here, each by one function; ``tests/app/config/test_hydra_internals.py`` checks the
signatures and behaviour relied on, so that a Hydra upgrade that changes them fails
there, by name, rather than somewhere in a sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra._internal.defaults_list import Overrides
from hydra.core.override_parser.types import Override
from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig

#: The Hydra releases whose internals these functions are written against.
SUPPORTED_HYDRA = "1.3"


def apply_values(values: list[Override], config: DictConfig) -> None:
    """Apply value overrides (``fl.rounds=5``) to a composed ``config`` as Hydra's loader does.

    Raises OmegaConf's errors as they come (the caller wraps them as Hydra does).
    """
    ConfigLoaderImpl._apply_overrides_to_config(values, config)


def override_dirname(
    parsed: Sequence[Override], *, kv_sep: str, item_sep: str, exclude_keys: Sequence[str]
) -> str:
    """``hydra.job.override_dirname`` of a job's overrides, as Hydra's loader names it."""
    return get_overrides_dirname(
        overrides=list(parsed), kv_sep=kv_sep, item_sep=item_sep, exclude_keys=list(exclude_keys)
    )


def value_overrides(repository: Any, parsed: list[Override]) -> list[Override]:
    """Those of ``parsed`` that set values rather than select config groups, as Hydra splits them.

    ``repository`` is the config loader's (Hydra asks it only which groups exist).
    """
    return Overrides(repository, parsed).config_overrides


def skip_batch_validation(sweeper: Sweeper) -> None:
    """Turn off the basic sweeper's own check that every job of a batch composes.

    fedbench's sweeper composes and checks every job before launching any (pre-flight),
    so the basic sweeper's second composition of each batch is skipped.
    """
    sweeper.validate_batch_is_legal = _composed_by_preflight  # type: ignore[method-assign]


def _composed_by_preflight(batch: Sequence[Sequence[str]]) -> None:
    """The basic sweeper's batch check, done already: pre-flight composed every job."""
