"""Config composition and the one-line errors for bad input (checked before any training)."""

import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from fedbench.config import register_schemas
from fedbench.config.register import GROUP_SCHEMAS, config_groups_help
from fedbench.errors import FedbenchError
from fedbench.preflight import CONF_DIR, check_argv, expand_jobs, parse_argv
from fedbench.validation import check_config

SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"
register_schemas()


def _compose(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_container(compose("config", overrides=overrides), resolve=True)


@pytest.mark.parametrize(
    ("group", "option"),
    [(g, o) for g, schemas in GROUP_SCHEMAS.items() for o in schemas],
)
def test_every_group_option_composes_and_passes_the_data_free_checks(group, option):
    yaml = CONF_DIR / group / f"{option}.yaml"
    assert yaml.is_file(), f"schema {group}/{option} has no {yaml}"
    config = _compose([f"{group}={option}", "fl.rounds=1"])
    assert config[group]["name"] == option
    if group != "dataset":  # dataset options may need files; checked in tests/data
        check_config(config)


def test_every_yaml_option_has_a_schema():
    for group, schemas in GROUP_SCHEMAS.items():
        files = {p.stem for p in (CONF_DIR / group).glob("*.yaml")}
        assert files == set(schemas), group


def test_defaults_are_digits_iid_linear_fedavg():
    config = _compose([])
    names = [config[g]["name"] for g in ("dataset", "partition", "model", "algorithm")]
    assert names == ["digits", "iid", "linear", "fedavg"]


def _error(argv):
    with pytest.raises(FedbenchError) as caught:
        check_argv(argv)
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
        (["partition=dirichlet", "partition.alpha=0"], ["partition.alpha", "0"]),
        (["fl.client_lr=-0.1"], ["fl.client_lr", "-0.1"]),
        (["algorithm=fedprox", "algorithm.mu=-1"], ["algorithm.mu", "-1"]),
        (["export=csv"], ["export", "csv", "tff_sql"]),
        (["export_split_names=[train,train]"], ["export_split_names", "distinct"]),
        (["plot=maybe"], ["plot='maybe'", "true or false"]),
        (["fl=3"], ["fl='3' is invalid", "a section of keys", "fl.<key>=<value>"]),
        (["fl.shuffle_clients=maybe"], ["fl.shuffle_clients='maybe'", "true or false"]),
        (["fl.client_lr=inf"], ["fl.client_lr=inf", "finite"]),
        # Seeds land in an int64 column: 2**64 would train, then fail to be written.
        (["seed=18446744073709551616"], ["seed=18446744073709551616", "9223372036854775807"]),
        # Spelt right, but a key of another algorithm / model: say which.
        (["algorithm.mu=0.1"], ["algorithm.mu", "key of algorithm=fedprox", "drop algorithm.mu"]),
        (["model.hidden=64"], ["model.hidden", "key of model=mlp"]),
        # A list selects (merges) several options into one job; a sweep was meant.
        (["partition=[iid,dirichlet]"], ["partition='[iid,dirichlet]'", "-m partition=iid,dir"]),
    ],
)
def test_bad_input_is_one_line_naming_key_value_and_what_is_allowed(argv, must_name):
    message = _error(argv)
    for fragment in must_name:
        assert fragment in message, (fragment, message)


def test_a_bad_job_anywhere_in_a_sweep_fails_the_check_up_front():
    message = _error(["-m", "fl.rounds=2,0"])
    assert "fl.rounds=0" in message


def test_model_that_does_not_fit_the_dataset_is_caught_before_training():
    message = _error(["model=cnn"])  # digits are 8x8; the CNN needs 12x12
    assert "model='cnn'" in message and "8x8" in message


def test_every_model_of_a_sweep_is_checked_against_the_data_not_only_the_first():
    # One partition, two models: mlp fits the 8x8 digits, cnn does not.
    message = _error(["-m", "model=mlp,cnn"])
    assert "model='cnn'" in message and "8x8" in message


def test_glob_sweeps_over_group_options_expand_as_in_hydra():
    jobs = list(expand_jobs(parse_argv(["-m", "partition=glob(dirichlet*)"])))
    assert jobs == [["partition=dirichlet"], ["partition=dirichlet_quantity"]]


def test_results_dir_must_be_a_folder_that_can_be_written(tmp_path):
    a_file = tmp_path / "f"
    a_file.write_text("")
    for where in (a_file, a_file / "below"):
        message = _error([f"results_dir={where}"])
        assert f"results_dir='{where}'" in message and f"{a_file} is a file" in message
    message = _error(["results_dir=/proc/fedbench-results"])
    assert "nothing can be created in /proc" in message
    assert check_argv([f"results_dir={tmp_path / 'new' / 'results'}"]) == 1
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_sweep_expansion_matches_hydra_grid_and_the_default_sweep_checks():
    jobs = list(expand_jobs(parse_argv(["-m", "-cd", str(SWEEPS), "-cn", "default"])))
    # partition: iid,dirichlet x partition.alpha: 0.5,0.05 x seed: 0,1 -> 8 jobs (per
    # seed, the two IID jobs normalise to one run).
    assert len(jobs) == 8
    assert check_argv(["-m", "-cd", str(SWEEPS), "-cn", "default"]) == 8


FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize("sweep", sorted(p.stem for p in SWEEPS.glob("*.yaml")))
def test_every_sweep_file_passes_the_checks(sweep, femnist_leaf_dir):
    extra = []
    if sweep.startswith("fmnist") and not FMNIST_DIR.is_dir():
        pytest.skip(f"no Fashion-MNIST at {FMNIST_DIR} (apt-get install dataset-fashion-mnist)")
    if sweep.startswith("femnist"):
        extra = [f"dataset.path={femnist_leaf_dir}"]
    assert check_argv(["-m", "-cd", str(SWEEPS), "-cn", sweep, *extra]) >= 1


def test_help_lists_every_group_option_and_no_schema_group():
    lines = config_groups_help().splitlines()
    assert lines == [
        f"{group}: {', '.join(sorted(schemas))}" for group, schemas in sorted(GROUP_SCHEMAS.items())
    ]
    assert "partition: dirichlet, dirichlet_quantity," in lines[3]
    assert not any("schema" in line for line in lines)


def test_help_and_cfg_flags_skip_the_checks():
    assert check_argv(["--help"]) == 0
    assert check_argv(["--cfg", "job"]) == 0


def _readme_commands():
    """The fedbench command lines shown in README.md (those without placeholders)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    found = re.findall(
        r"^\.venv/bin/(?:fedbench(?:-partition)?|python -m fedbench) (.+)$", readme, re.M
    )
    return [line for line in found if "<" not in line and not line.endswith("\\")]


@pytest.mark.parametrize("command", _readme_commands())
def test_the_commands_the_readme_shows_pass_the_checks(command):
    if "dataset=fmnist" in command and not FMNIST_DIR.is_dir():
        pytest.skip(f"no Fashion-MNIST at {FMNIST_DIR}")
    assert check_argv(command.split()) >= 1
