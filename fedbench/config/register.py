"""Register every schema with Hydra's ConfigStore."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

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
    """Store ``fedbench_schema`` and ``<group>/schema_<option>`` in the ConfigStore."""
    store = ConfigStore.instance()
    store.store(name="fedbench_schema", node=Config)
    for group, schemas in GROUP_SCHEMAS.items():
        for option, schema in schemas.items():
            store.store(group=group, name=f"schema_{option}", node=schema)
