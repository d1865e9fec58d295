from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import numpy as np
import pytest
import yaml

from fedbench.data import DATASETS, get_dataset, load_dataset
from fedbench.errors import ConfigError, DataError
from tests.data.builders import mnist_like, write_mnist_folder

CONF = Path(__file__).resolve().parents[2] / "conf" / "dataset"


def check_dataset(name, options):
    get_dataset(name).checked_options(options)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_check_yaml_schema_and_loader_share_keys_and_defaults(name):
    from fedbench.app.config.schemas import dataset_schema

    spec = DATASETS[name]
    schema = {f.name: f.default for f in dataclasses.fields(dataset_schema(name))}
    assert schema.pop("name") == name
    check = {p.name: p.default for p in inspect.signature(spec.check).parameters.values()}
    assert spec.defaults == schema == check
    doc = yaml.safe_load((CONF / f"{name}.yaml").read_text())
    assert doc.pop("defaults") == [f"/schema/dataset/{name}@_here_", "_self_"]
    assert doc.pop("name") == name
    assert doc == schema


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_hydra_composes_every_dataset(name):
    from hydra import compose, initialize_config_dir

    from fedbench.app.config.schemas import register_schemas

    register_schemas()
    with initialize_config_dir(config_dir=str(CONF.parent), version_base=None):
        cfg = compose(config_name="config", overrides=[f"dataset={name}"])
    assert cfg.dataset.name == name


def test_datasets_with_writers():
    assert {n for n, spec in DATASETS.items() if spec.has_writers} == {
        "femnist_leaf",
        "emnist",
        "synthetic",
    }


def test_check_reads_nothing(tmp_path):
    """A corrupt file passes the preflight (it only checks presence); loading reports it."""
    write_mnist_folder(tmp_path, mnist_like())
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"corrupt")
    check_dataset("mnist", {"path": str(tmp_path)})
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz"):
        load_dataset("mnist", {"path": str(tmp_path)})


@pytest.mark.parametrize(
    ("name", "options", "error", "message"),
    [
        ("mnistt", {}, ConfigError, "dataset='mnistt' is invalid"),
        (
            "digits",
            {"pathh": "x"},
            ConfigError,
            "dataset.pathh='x' is invalid: allowed is a key of dataset=digits",
        ),
        ("digits", {"test_fraction": 0}, ConfigError, "dataset.test_fraction=0 is invalid"),
        ("femnist_leaf", {}, ConfigError, "dataset.path=None is invalid"),
        (
            "femnist_leaf",
            {"path": "/nonexistent/leaf"},
            DataError,
            "'/nonexistent/leaf': folder not found",
        ),
        ("emnist", {"cache_dir": "/nonexistent/tff"}, DataError, "emnist_all.sqlite not found"),
        ("mnist", {}, DataError, "set dataset.path to a folder holding MNIST"),
        ("emnist_idx", {"path": "/nonexistent", "split": "x"}, ConfigError, "dataset.split='x'"),
        ("synthetic", {"alpha": -1}, ConfigError, "dataset.alpha=-1 is invalid"),
    ],
)
def test_check_errors_are_one_line(name, options, error, message):
    with pytest.raises(error, match=message) as err:
        check_dataset(name, options)
    assert "\n" not in str(err.value)


def test_name_key_is_ignored_and_digits_still_loads():
    d = load_dataset("digits", {"name": "digits", "test_fraction": 0.2})
    check_dataset("digits", {"name": "digits"})
    # 1,797 examples, stratified 20 % test -> 360 test, 1,437 train.
    assert (len(d.train), len(d.test)) == (1_437, 360)
    assert d.train.x.dtype == np.float32
