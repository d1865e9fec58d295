"""Register every schema with Hydra's ConfigStore."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from fedbench.config.algorithm import ALGORITHM_SCHEMAS
from fedbench.config.dataset import DATASET_SCHEMAS
from fedbench.config.model import MODEL_SCHEMAS
from fedbench.config.partition import PARTITION_SCHEMAS
from fedbench.config.root import Config

#: group name -> {option name -> schema dataclass}
GROUP_SCHEMAS = {
    "dataset": DATASET_SCHEMAS,
    "partition": PARTITION_SCHEMAS,
    "model": MODEL_SCHEMAS,
    "algorithm": ALGORITHM_SCHEMAS,
}


def register_schemas() -> None:
    """Store ``fedbench_schema`` and ``schema/<group>/<option>`` in the ConfigStore.

    The option schemas live in their own ``schema/`` group, not beside the YAML options,
    so that they are not themselves selectable (``partition=schema_dirichlet`` used to
    compose a silent IID partition). ``--help`` lists the options through the
    ``fedbench_groups`` resolver (``conf/config.yaml``'s help template), which leaves
    the ``schema/`` groups out.
    """
    OmegaConf.register_new_resolver("fedbench_groups", config_groups_help, replace=True)
    store = ConfigStore.instance()
    store.store(name="fedbench_schema", node=Config)
    for group, schemas in GROUP_SCHEMAS.items():
        for option, schema in schemas.items():
            store.store(group=f"schema/{group}", name=option, node=schema)


def config_groups_help() -> str:
    """Return the ``group: option, ...`` lines that ``fedbench --help`` shows.

    Returns
    -------
    str
        One line per config group, its options sorted (the ``schema/`` groups left out).

    """
    return "\n".join(
        f"{group}: {', '.join(sorted(schemas))}" for group, schemas in sorted(GROUP_SCHEMAS.items())
    )
