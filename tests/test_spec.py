"""The run spec: typed and normalised, so one run has one identity from Python and the CLI."""

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from fedbench.app.schemas import CONF_DIR, register_schemas
from fedbench.errors import ConfigError
from fedbench.spec import RunSpec

register_schemas()


def _from_cli(*overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        config = compose("config", overrides=list(overrides))
    return RunSpec.from_config(OmegaConf.to_container(config, resolve=True))


@pytest.mark.parametrize(
    ("overrides", "python"),
    [
        (
            ["partition=dirichlet", "partition.alpha=1", "fl.client_lr=1", "model=mlp"],
            {"partition": "dirichlet", "partition_options": {"alpha": 1}, "client_lr": 1},
        ),
        (
            ["algorithm=fedprox", "algorithm.mu=0"],
            {"algorithm": "fedprox", "algorithm_options": {"mu": 0}},
        ),
        (
            ["dataset=synthetic", "dataset.alpha=1", "partition=natural"],
            {"dataset": "synthetic", "dataset_options": {"alpha": 1}, "partition": "natural"},
        ),
        (
            ["seed=1", "fl.num_clients=10", "partition=dirichlet", "partition.alpha=0.25"],
            {
                "seed": np.int64(1),
                "num_clients": np.int64(10),
                "partition": "dirichlet",
                "partition_options": {"alpha": np.float32(0.25)},  # 0.25 is exact in float32
            },
        ),
    ],
)
def test_python_and_the_command_line_give_one_run_one_hash(overrides, python):
    if python.get("model") is None and "model=mlp" in overrides:
        python["model"] = "mlp"
    cli, py = _from_cli(*overrides), RunSpec.create(**python)
    assert cli.identity() == py.identity()
    assert cli.config_hash == py.config_hash


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"partition": "dirichlet", "partition_options": {"alpah": 0.1}}, "partition.alpah=0.1"),
        ({"model": "mlp", "model_options": {"hiden": 5}}, "model.hiden=5 is invalid"),
        ({"rounds": 5.0}, "fl.rounds=5.0 is invalid: allowed is an integer"),
        ({"seed": True}, "seed=True is invalid: allowed is an integer"),
        ({"roundz": 5}, "fl.roundz=5 is invalid"),
        ({"dataset_options": {"test_fraction": "0.2"}}, "dataset.test_fraction='0.2'"),
        ({"model": "resnet"}, "model='resnet' is invalid"),
    ],
)
def test_python_input_of_the_wrong_key_or_type_is_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        RunSpec.create(**kwargs)


def test_the_partition_section_keeps_only_the_strategys_own_parameters():
    spec = _from_cli("partition=iid", "partition.alpha=0.1")  # a grid crossing iid with alpha
    assert spec.partition.options == {}
    assert spec.identity() == RunSpec.create().identity()


def test_clients_evaluated_on_their_writers_test_data_hold_nothing_out():
    natural = RunSpec.create(dataset="synthetic", partition="natural", client_holdout=0.2)
    assert natural.fl.client_holdout == 0.0
    assert RunSpec.create(client_holdout=0.2).fl.client_holdout == 0.2
