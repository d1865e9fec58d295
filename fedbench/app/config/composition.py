"""Job configs composed once per selection of config groups; a job's values go on a copy.

Hydra composes a job in two steps (``ConfigLoaderImpl._load_configuration_impl``;
what this relies on of Hydra's internals is :mod:`fedbench.app.config.hydra_internals`):
it builds the defaults list that the job's config-group selections pick and merges
those config files (about 0.2 s a job here), then it applies the job's value
overrides to the result. Only the first step depends on the group selections, so
the jobs of a sweep that select the same groups share it: :class:`MemoConfigLoader`
composes each distinct selection once with Hydra's own loader and applies each
job's value overrides to a copy with Hydra's own function. The job's config is the
one Hydra composes for it (``tests/app/config/test_composition.py`` compares them, ``hydra``
node included); a job whose overrides this cannot split safely (a ``hydra.*`` or a
sweep override, an override Hydra's parser refuses) is composed whole by Hydra.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Sequence
from typing import Any

from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from fedbench.app.config.hydra_internals import apply_values, override_dirname, value_overrides


class MemoConfigLoader(ConfigLoader):
    """A config loader that composes each selection of config groups once.

    Wraps Hydra's loader (every other call is passed through). Not pickled with its
    compositions: a launcher that runs jobs in other processes composes them there.

    Attributes
    ----------
    compositions
        How many times Hydra's loader composed a config (a selection's, or a whole job's).

    """

    def __init__(self, inner: ConfigLoader) -> None:
        self.inner = inner
        self.selections: dict[tuple[str, ...], DictConfig] = {}
        self.jobs: dict[tuple[str, ...], DictConfig] = {}
        self.compositions = 0

    def composed(self, master_config: DictConfig, sweep_overrides: Sequence[str]) -> DictConfig:
        """The job's config, kept for the job: read it, do not change it (pre-flight's)."""
        key = tuple(sweep_overrides)
        if key not in self.jobs:
            self.jobs[key] = self._compose(master_config, key)
        return self.jobs[key]

    def load_sweep_config(
        self, master_config: DictConfig, sweep_overrides: list[str]
    ) -> DictConfig:
        """The job's config, the caller's own to change (Hydra's launchers set its job id)."""
        key = tuple(sweep_overrides)
        if key in self.jobs:
            return copy.deepcopy(self.jobs[key])
        return self._compose(master_config, key)

    def _compose(self, master_config: DictConfig, overrides: tuple[str, ...]) -> DictConfig:
        """Its group selections' composition, copied, with the job's values applied."""
        split = self._split(overrides)
        if split is None:
            self.compositions += 1
            return self.inner.load_sweep_config(master_config, list(overrides))
        parsed, values = split
        selection = tuple(o.input_line for o in parsed if all(o is not v for v in values))
        if selection not in self.selections:
            self.compositions += 1
            self.selections[selection] = self.inner.load_sweep_config(
                master_config, list(selection)
            )
        config = copy.deepcopy(self.selections[selection])
        _apply_values(values, config)
        _name_job(parsed, config)
        return config

    def _split(self, overrides: Sequence[str]) -> tuple[list[Override], list[Override]] | None:
        """The parsed overrides and, among them, the values, as Hydra tells them apart.

        ``None`` where Hydra's loader should compose the job whole.
        """
        repository = getattr(self.inner, "repository", None)
        if repository is None:
            return None
        try:
            parsed = OverridesParser.create().parse_overrides(overrides=list(overrides))
            if any(o.is_hydra_override() or o.is_sweep_override() for o in parsed):
                return None
            # Hydra's own split (it asks the repository only which groups exist).
            values = value_overrides(repository, parsed)
        except Exception:  # Hydra's own composition raises its own error for it
            return None
        return parsed, values

    def load_configuration(self, *args: Any, **kwargs: Any) -> DictConfig:  # noqa: D102
        return self.inner.load_configuration(*args, **kwargs)

    def get_search_path(self) -> Any:  # noqa: D102
        return self.inner.get_search_path()

    def get_sources(self) -> Any:  # noqa: D102
        return self.inner.get_sources()

    def list_groups(self, parent_name: str) -> Any:  # noqa: D102
        return self.inner.list_groups(parent_name)

    def get_group_options(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        return self.inner.get_group_options(*args, **kwargs)

    def compute_defaults_list(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        return self.inner.compute_defaults_list(*args, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        return {"inner": self.inner, "selections": {}, "jobs": {}, "compositions": 0}


def _apply_values(values: list[Override], config: DictConfig) -> None:
    """Apply value overrides as Hydra's loader does, errors wrapped as it wraps them."""
    try:
        apply_values(values, config)
    except OmegaConfBaseException as error:
        raise ConfigCompositionException().with_traceback(sys.exc_info()[2]) from error


def _name_job(parsed: list[Override], config: DictConfig) -> None:
    """Record the job's overrides and its ``override_dirname`` as Hydra's loader does."""
    config.hydra.overrides.task = [o.input_line for o in parsed]
    naming = config.hydra.job.config.override_dirname
    config.hydra.job.override_dirname = override_dirname(
        parsed, kv_sep=naming.kv_sep, item_sep=naming.item_sep, exclude_keys=naming.exclude_keys
    )
