"""The run spec: typed and normalised, so one run has one identity from Python and the CLI."""

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from fedbench.app.config.schemas import CONF_DIR, register_schemas
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


def test_an_unset_server_step_is_the_algorithms_own_and_hashes_as_if_it_were_set():
    from fedbench.records import ALGORITHMS

    for name, record in ALGORITHMS.items():
        default = RunSpec.create(algorithm=name)
        assert default.fl.server_lr == record.server_lr
        explicit = RunSpec.create(algorithm=name, server_lr=record.server_lr)
        assert default.config_hash == explicit.config_hash
    # FedAvg's is plain averaging; FedAdam's is a small Adam step (Reddi et al. tune 1e-3..1e-1).
    assert ALGORITHMS["fedavg"].server_lr == 1.0 and ALGORITHMS["fedadam"].server_lr < 0.1
    assert _from_cli("algorithm=fedadam").fl.server_lr == ALGORITHMS["fedadam"].server_lr
    assert _from_cli("algorithm=fedadam", "fl.server_lr=0.5").fl.server_lr == 0.5


def test_weight_decay_enters_a_runs_identity_only_when_set():
    # Runs from before fl.weight_decay existed had none: at 0 their hash is unchanged.
    plain = RunSpec.create()
    assert "weight_decay" not in plain.identity()["fl"]
    decayed = RunSpec.create(weight_decay=1e-5)
    assert decayed.identity()["fl"]["weight_decay"] == 1e-5
    assert decayed.config_hash != plain.config_hash
    assert _from_cli("fl.weight_decay=1e-5").config_hash == decayed.config_hash


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["fl.weight_decay=-0.1"],
            "fl.weight_decay=-0.1 is invalid: allowed is a finite float >= 0",
        ),
        (["fl.server_lr=0"], "fl.server_lr=0.0 is invalid: allowed is a finite float > 0"),
        (
            ["algorithm=fedavgm", "algorithm.server_momentum=1.5"],
            "algorithm.server_momentum=1.5 is invalid: allowed is a float in [0, 1); "
            "e.g. algorithm.server_momentum=0.9",
        ),
        (["algorithm=fedprox", "algorithm.mu=-1"], "algorithm.mu=-1.0 is invalid"),
        (["algorithm=fedadam", "algorithm.epsilon=0"], "algorithm.epsilon=0.0 is invalid"),
    ],
)
def test_algorithm_and_fl_values_out_of_range_are_named_in_one_line(overrides, message):
    with pytest.raises(ConfigError) as caught:
        _from_cli(*overrides)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
