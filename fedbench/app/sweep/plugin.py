"""fedbench's sweeper as a Hydra plugin, so that ``hydra/sweeper=fedbench`` instantiates it.

Hydra instantiates only plugins defined in its ``hydra_plugins`` namespace: the folder
``hydra_plugins/`` beside this module holds :class:`FedbenchSweeper`
(:class:`fedbench.app.sweep.sweeper.CheckingSweeper` under that namespace). Its config is
stored with the schemas (:func:`fedbench.app.config.schemas.register_schemas`).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

from hydra.core.plugins import Plugins

FOLDER = Path(__file__).resolve().parent / "hydra_plugins"


def register_sweeper() -> None:
    """Put ``hydra_plugins/`` on Hydra's plugin namespace and register fedbench's sweeper.

    The class is registered with Hydra's public ``Plugins.register``, so that a process
    whose plugins Hydra scanned already knows it too.
    """
    namespace = sys.modules.get("hydra_plugins")
    if namespace is None:
        try:
            import hydra_plugins as namespace
        except ImportError:
            namespace = types.ModuleType("hydra_plugins")
            namespace.__path__ = []
            sys.modules["hydra_plugins"] = namespace
    if str(FOLDER) not in namespace.__path__:
        namespace.__path__.append(str(FOLDER))
    from hydra_plugins.fedbench_sweeper import FedbenchSweeper

    Plugins.instance().register(FedbenchSweeper)
