"""Composition and pre-flight: every job checked before any runs, bad input in one line."""

from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from fedbench.app.config.schemas import (
    CONF_DIR,
    config_groups_help,
    group_schemas,
    register_schemas,
)
from fedbench.errors import FedbenchError
from fedbench.partitioning import STRATEGIES
from fedbench.records import ALGORITHMS as ALGORITHM_RECORDS
from fedbench.records import MODELS as MODEL_RECORDS
from fedbench.spec import FLSettings, RunSpec
from tests.cli_helpers import run_command

SWEEPS = Path(__file__).resolve().parents[3] / "sweeps"
register_schemas()


def _compose(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_container(compose("config", overrides=overrides), resolve=True)


@pytest.mark.parametrize(
    ("group", "option"),
    [(g, o) for g, schemas in group_schemas().items() for o in schemas],
)
def test_every_group_option_composes_and_passes_the_data_free_checks(group, option):
    yaml_file = CONF_DIR / group / f"{option}.yaml"
    assert yaml_file.is_file(), f"schema {group}/{option} has no {yaml_file}"
    # natural needs writers: synthetic data has them and needs no file.
    data = ["dataset=synthetic"] if (group, option) == ("partition", "natural") else []
    config = _compose([f"{group}={option}", "fl.rounds=1", *data])
    assert config[group]["name"] == option
    if group != "dataset":  # dataset options may need files; checked in tests/data
        RunSpec.from_config(config)


def test_every_yaml_option_has_a_schema():
    for group, schemas in group_schemas().items():
        files = {p.stem for p in (CONF_DIR / group).glob("*.yaml")}
        assert files == set(schemas), group


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_each_partition_yaml_states_its_records_defaults(strategy):
    doc = yaml.safe_load((CONF_DIR / "partition" / f"{strategy}.yaml").read_text())
    assert doc.pop("defaults") == [f"/schema/partition/{strategy}@_here_", "_self_"]
    assert doc.pop("name") == strategy
    assert doc == dict(STRATEGIES[strategy].defaults)


@pytest.mark.parametrize(
    ("group", "name"),
    [("model", m) for m in MODEL_RECORDS] + [("algorithm", a) for a in ALGORITHM_RECORDS],
)
def test_each_model_and_algorithm_yaml_states_its_record(group, name):
    record = {"model": MODEL_RECORDS, "algorithm": ALGORITHM_RECORDS}[group][name]
    text = (CONF_DIR / group / f"{name}.yaml").read_text()
    assert text.splitlines()[0] == f"# ``{group}={name}``: {record.summary}."
    doc = yaml.safe_load(text)
    assert doc.pop("defaults") == [f"/schema/{group}/{name}@_here_", "_self_"]
    assert doc.pop("name") == name
    assert doc == dict(record.defaults)


def test_the_composed_fl_block_states_the_spec_defaults():
    # The fl keys' defaults are their records' (fedbench/fl_keys.py), not a YAML copy.
    doc = yaml.safe_load((CONF_DIR / "config.yaml").read_text())
    assert "fl" not in doc
    assert _compose([])["fl"] == FLSettings().as_dict()


def test_defaults_are_digits_iid_linear_fedavg():
    config = _compose([])
    names = [config[g]["name"] for g in ("dataset", "partition", "model", "algorithm")]
    assert names == ["digits", "iid", "linear", "fedavg"]


def _error(check, argv):
    with pytest.raises(FedbenchError) as caught:
        check(argv)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize(
    ("argv", "must_name"),
    [
        (["partition=dirchlet"], ["partition", "dirchlet", "dirichlet", "iid"]),
        # The structured-config schemas are not options (they compose a silent IID).
        (["partition=schema_dirichlet"], ["partition", "schema_dirichlet", "'dirichlet'"]),
        (["schema/partition=iid"], ["schema/partition", "not a config key", "'partition'"]),
        (["fl.rouns=5"], ["fl.rouns", "rounds"]),
        (["seeed=1"], ["seeed is not a config key", "'seed'", "'plot'", "'export'"]),
        (["fl.rounds=0"], ["fl.rounds", "0", ">= 1"]),
        (["fl.num_clients=-3"], ["fl.num_clients", "-3"]),
        (["fl.clients_per_round=20"], ["fl.clients_per_round", "20", "fl.num_clients=10"]),
        (["fl.rounds=many"], ["fl.rounds", "many"]),
        (["partition=dirichlet", "partition.alpha=0"], ["partition.alpha=0.0", "a float > 0"]),
        (["partition=natural"], ["partition='natural'", "dataset=emnist", "writer ids"]),
        # Rotation needs images; synthetic examples are (60,) vectors.
        (
            ["dataset=synthetic", "partition=rotation"],
            ["partition='rotation'", "images", "(60,)", "dataset=digits"],
        ),
        (["calibrate=iid"], ["calibrate='iid'", "a parameter to calibrate", "dirichlet"]),
        (["calibrate=dirichlet", "calibrate_metric=acc"], ["calibrate_metric='acc'", "label_emd"]),
        # Quantity skew keeps labels IID: it cannot reach a Dir(0.1) split's label_emd.
        (
            ["partition=dirichlet", "partition.alpha=0.1", "calibrate=quantity"],
            ["calibrate='quantity'", "label_emd=", "spans", "another strategy or calibrate_metric"],
        ),
        # digits has 10 classes: at most 5 disjoint pairs.
        (
            ["partition=concept_shift", "partition.swaps=6"],
            ["partition.swaps=6", "at most 5", "10 classes", "partition.swaps <= 5"],
        ),
        (
            ["partition=dirichlet", "partition.min_client_size=500"],
            ["partition.min_client_size=500", "lower partition.min_client_size or fl.num"],
        ),
        (["fl.client_lr=-0.1"], ["fl.client_lr", "-0.1"]),
        (["algorithm=fedprox", "algorithm.mu=-1"], ["algorithm.mu", "-1"]),
        (["export=csv"], ["export", "csv", "tff_sql"]),
        (["export_split_names=[train,train]"], ["export_split_names", "distinct"]),
        (["plot=maybe"], ["plot='maybe'", "true or false"]),
        (["fl=3"], ["fl='3' is invalid", "a section of keys", "fl.<key>=<value>"]),
        (["+fl.foo=1"], ["fl.foo is not a config key", "'rounds'"]),
        (["fl.shuffle_clients=maybe"], ["fl.shuffle_clients='maybe'", "true or false"]),
        (["fl.client_lr=inf"], ["fl.client_lr=inf", "finite"]),
        # Seeds land in an int64 column: 2**64 would train, then fail to be written.
        (["seed=18446744073709551616"], ["seed=18446744073709551616", "9223372036854775807"]),
        # Spelt right, but a key of another algorithm / model: say which.
        (["algorithm.mu=0.1"], ["algorithm.mu", "key of algorithm=fedprox", "drop algorithm.mu"]),
        (["model.hidden=64"], ["model.hidden", "key of model=mlp"]),
        # A list selects (merges) several options into one job; a sweep was meant.
        (["partition=[iid,dirichlet]"], ["partition='[iid,dirichlet]'", "-m partition=iid,dir"]),
        # Hydra's grammar refuses unquoted non-ASCII values: say to quote.
        (["results_dir=/data/über"], ["results_dir='/data/über'", "quote it"]),
    ],
)
def test_bad_input_is_one_line_naming_key_value_and_what_is_allowed(check, argv, must_name):
    message = _error(check, argv)
    for fragment in must_name:
        assert fragment in message, (fragment, message)


def test_a_bad_job_anywhere_in_a_sweep_fails_before_any_job_runs(check):
    ran = []
    with pytest.raises(FedbenchError, match=r"fl\.rounds=0"):
        check(["-m", "fl.rounds=2,0"], run=ran.append)
    assert ran == []


def test_model_that_does_not_fit_the_dataset_is_caught_before_training(check):
    message = _error(check, ["model=cnn"])  # digits are 8x8; the CNN needs 12x12
    assert "model='cnn'" in message and "8x8" in message


def test_the_partition_command_does_not_check_models(check):
    assert len(check(["model=cnn"], training=False)) == 1


def test_every_model_of_a_sweep_is_checked_against_the_data_not_only_the_first(check):
    # One partition, two models: mlp fits the 8x8 digits, cnn does not.
    message = _error(check, ["-m", "model=mlp,cnn"])
    assert "model='cnn'" in message and "8x8" in message


def test_glob_sweeps_over_group_options_expand_as_in_hydra(check):
    jobs = check(["-m", "partition=glob(dirichlet*)"])
    assert [job.spec.partition.name for job in jobs] == ["dirichlet", "dirichlet_quantity"]


def test_results_dir_must_be_a_folder_that_can_be_written(tmp_path):
    a_file = tmp_path / "f"
    a_file.write_text("")
    for where in (a_file, a_file / "below"):
        with pytest.raises(FedbenchError) as caught:
            run_command([f"results_dir={where}"], tmp_path / "logs")
        message = str(caught.value)
        assert f"results_dir='{where}'" in message and f"{a_file} is a file" in message
    with pytest.raises(FedbenchError, match="nothing can be created in /proc"):
        run_command(["results_dir=/proc/fedbench-results"], tmp_path / "logs")
    new = tmp_path / "new" / "results"
    assert len(run_command([f"results_dir={new}"], tmp_path / "logs")) == 1
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_the_default_sweep_expands_to_its_grid_and_identical_iid_runs_share_a_hash(check):
    jobs = check(["-m", "-cd", str(SWEEPS), "-cn", "default"])
    # partition: iid,dirichlet x partition.alpha: 0.5,0.05 x seed: 0,1,2 -> 12 jobs; per
    # seed the two IID jobs normalise to one run: 9 distinct runs, one job launched each
    # (the sweep summary counts the other IID job as answered by it).
    assert len(jobs) == 9
    assert len({job.spec.config_hash for job in jobs}) == 9
    iid = [job for job in jobs if job.spec.partition.name == "iid"]
    assert sorted(job.spec.seed for job in iid) == [0, 1, 2]


FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


#: Sweeps of hundreds of jobs, checked over their first seed in the default tier (every
#: setting, each algorithm; Hydra's composition of each job is most of a check's cost)
#: and whole in the slow tier.
FIRST_SEED_IN_DEFAULT_TIER = {"which_heterogeneity"}
SWEEP_FILES = sorted(p.stem for p in SWEEPS.glob("*.yaml"))


@pytest.mark.parametrize(
    ("sweep", "whole"),
    [(s, s not in FIRST_SEED_IN_DEFAULT_TIER) for s in SWEEP_FILES]
    + [pytest.param(s, True, marks=pytest.mark.slow) for s in sorted(FIRST_SEED_IN_DEFAULT_TIER)],
)
def test_every_sweep_file_passes_the_checks(checked_sweep, sweep, whole, femnist_leaf_dir):
    extra = [] if whole else ["hydra.sweeper.params.seed=0"]
    if sweep.startswith(("fmnist", "niid_bench")) and not FMNIST_DIR.is_dir():
        pytest.skip(f"no Fashion-MNIST at {FMNIST_DIR} (apt-get install dataset-fashion-mnist)")
    if "override dataset: femnist_leaf" in (SWEEPS / f"{sweep}.yaml").read_text():
        extra.append(f"dataset.path={femnist_leaf_dir}")
    jobs = checked_sweep(sweep, *extra)
    assert len(jobs) >= 1
    if not whole:
        assert {job.spec.seed for job in jobs} == {0}


def test_help_lists_every_group_option_the_partition_parameters_and_the_datasets():
    lines = config_groups_help().splitlines()
    groups = sorted(group_schemas().items())
    assert lines[: len(groups)] == [f"{g}: {', '.join(sorted(schemas))}" for g, schemas in groups]
    assert "partition: concept_shift, dirichlet, dirichlet_quantity," in lines[3]
    assert not any("schema" in line for line in lines)
    assert (
        "  alpha (a float > 0; dirichlet, quantity, dirichlet_quantity; default 0.5): "
        "Dirichlet concentration" in "\n".join(lines)
    )
    assert "  synthetic (writers): Synthetic(alpha, beta), FedProx" in lines


def test_cfg_flag_prints_the_config_and_runs_no_job(check, capsys):
    assert check(["--cfg", "job"]) == []
    assert "partition:" in capsys.readouterr().out
