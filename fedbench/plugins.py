"""Strategies and datasets from outside fedbench, registered before a command runs.

A plugin is a module that registers records when imported (e.g.
``STRATEGY = fedbench.partitioning.register(Strategy(...))``). The commands import
every module named in ``$FEDBENCH_PLUGINS`` (comma-separated) and every entry point
of the ``fedbench.plugins`` group (for an installed package:
``[project.entry-points."fedbench.plugins"] blocks = "my_package.blocks"``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os

from fedbench.errors import ConfigError, invalid

ENV_VAR = "FEDBENCH_PLUGINS"
ENTRY_POINT_GROUP = "fedbench.plugins"
_loaded = False


def load_plugins() -> None:
    """Import every plugin module once per process.

    Raises
    ------
    ConfigError
        A module named in ``$FEDBENCH_PLUGINS`` cannot be imported.

    """
    global _loaded
    if _loaded:
        return
    _loaded = True
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        entry_point.load()
    for name in os.environ.get(ENV_VAR, "").replace(",", " ").split():
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise ConfigError(
                invalid(
                    ENV_VAR,
                    name,
                    "names of importable modules, separated by commas",
                    f"{type(error).__name__}: {error}; check the name and PYTHONPATH",
                )
            ) from None
