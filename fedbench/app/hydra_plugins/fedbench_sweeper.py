"""Hydra discovers plugins in its ``hydra_plugins`` namespace; this is fedbench's sweeper there.

:func:`fedbench.app.sweeper_plugin.register_sweeper` puts this folder on that
namespace's path; the logic lives in :class:`fedbench.app.sweeper.CheckingSweeper`.
"""

from fedbench.app.sweeper import CheckingSweeper


class FedbenchSweeper(CheckingSweeper):
    """Hydra's basic sweeper, after every job is checked (:class:`CheckingSweeper`)."""
