"""Hydra discovers plugins in its ``hydra_plugins`` namespace; this is fedbench's sweeper there.

:func:`fedbench.app.sweep.plugin.register_sweeper` puts this folder on that
namespace's path; the logic lives in :class:`fedbench.app.sweep.sweeper.CheckingSweeper`.
"""

from fedbench.app.sweep.sweeper import CheckingSweeper


class FedbenchSweeper(CheckingSweeper):
    """Hydra's basic sweeper, after every job is checked (:class:`CheckingSweeper`)."""
