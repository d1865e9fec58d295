"""Structured (dataclass) schemas for every config group, registered with Hydra.

Each group option has its own dataclass, stored in Hydra's ConfigStore as
``schema/<group>/<option>``; the YAML file of the option (``conf/<group>/<option>.yaml``)
lists it first in its defaults (``/schema/<group>/<option>@_here_``), so a misspelt
key or a wrong type fails when the config is composed, naming the key.
"""

from fedbench.config.register import register_schemas
from fedbench.config.root import Config, FLConfig

__all__ = ["Config", "FLConfig", "register_schemas"]
