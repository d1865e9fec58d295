"""What fedbench relies on of Hydra's internals still holds (fedbench/app/hydra_internals.py).

Each test names the internal it checks; one failing after a Hydra upgrade says which
function of the adapter to rewrite.
"""

import inspect

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fedbench.app.config import hydra_internals
from fedbench.app.config.schemas import CONF_DIR, register_schemas


def _parse(*overrides):
    return OverridesParser.create().parse_overrides(overrides=list(overrides))


def test_hydra_is_the_release_the_adapter_is_written_for():
    assert hydra.__version__.startswith(hydra_internals.SUPPORTED_HYDRA + "."), (
        f"Hydra {hydra.__version__}: check fedbench/app/hydra_internals.py against it, "
        "then update SUPPORTED_HYDRA"
    )


def test_apply_values_sets_the_values_as_hydras_loader_does():
    config = OmegaConf.create({"fl": {"rounds": 20}, "seed": 0})
    hydra_internals.apply_values(_parse("fl.rounds=5", "+extra=1", "~seed"), config)
    assert OmegaConf.to_container(config) == {"fl": {"rounds": 5}, "extra": 1}


def test_override_dirname_joins_the_overrides_leaving_out_the_excluded_keys():
    parsed = _parse("fl.rounds=5", "seed=1", "launch.threads=2")
    name = hydra_internals.override_dirname(
        parsed, kv_sep="=", item_sep=",", exclude_keys=["launch.threads"]
    )
    assert name == "fl.rounds=5,seed=1"  # sorted by Hydra, the excluded key left out


def test_value_overrides_tells_values_from_group_selections():
    from hydra._internal.config_repository import ConfigRepository
    from hydra._internal.utils import create_config_search_path

    register_schemas()
    repository = ConfigRepository(create_config_search_path(str(CONF_DIR)))
    parsed = _parse("partition=dirichlet", "partition.alpha=0.1", "fl.rounds=5")
    values = hydra_internals.value_overrides(repository, parsed)
    assert [o.input_line for o in values] == ["partition.alpha=0.1", "fl.rounds=5"]


def test_the_basic_sweeper_still_validates_each_batch_through_the_method_skipped():
    # skip_batch_validation replaces this method; the basic sweeper must still call it
    # on its instance (not a module function), with a batch of jobs' overrides.
    basic = ConfigStore.instance().load("hydra/sweeper/basic.yaml").node
    sweeper = instantiate(basic, max_batch_size=None, params={})  # as fedbench's sweeper does
    assert "self.validate_batch_is_legal(batch)" in inspect.getsource(type(sweeper).sweep)
    hydra_internals.skip_batch_validation(sweeper)
    assert sweeper.validate_batch_is_legal([["fl.rounds=nonsense"]]) is None
