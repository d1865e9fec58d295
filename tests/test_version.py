"""``fedbench.__version__`` moves when result hashes change (CHANGELOG.md says what changed).

Results of versions with the same minor number share a ``results_dir``: a run is found,
resumed and extended whichever of them wrote it. So the hashes of a few configurations
are pinned per minor version; a change to how a run's identity is hashed fails here
until the version moves and CHANGELOG.md has its entry.
"""

import tomllib
from pathlib import Path

import pytest

import fedbench
from fedbench.spec import RunSpec

ROOT = Path(__file__).resolve().parents[1]

#: ``RunSpec.create`` keywords -> ``config_hash``, per minor version (recorded with
#: commit 30a7b8d's code, where these hashes were set, and checked equal at 0.2.0; 0.3
#: moves FedProx's alone, its revision 2).
PINNED = {
    "0.2": [
        ({}, "9fd2a9747dbd8d72"),
        ({"partition": "dirichlet", "partition_options": {"alpha": 0.1}}, "cc372b9ab4d270b5"),
        ({"algorithm": "fedprox"}, "73481e34c483fa0e"),
        ({"algorithm": "fedadam", "server_lr": 1.0}, "9f5affd24009aeb3"),
        ({"algorithm": "fedavgm", "server_lr": 1.0}, "16f8b0358177bcfe"),
        ({"partition": "feature_noise", "rounds": 50}, "f376ffe4ed1759e0"),
        ({"dataset": "synthetic", "partition": "natural"}, "51682b950d953a0f"),
        (
            {
                "partition": "pathological",
                "model": "mlp",
                "client_holdout": 0.2,
                "local_epochs": 2,
                "seed": 3,
            },
            "a0851a0f53817eaa",
        ),
        ({"partition": "quantity", "partition_options": {"alpha": 0.3}}, "81effb9f938f721e"),
    ],
    "0.3": [
        ({}, "9fd2a9747dbd8d72"),
        ({"partition": "dirichlet", "partition_options": {"alpha": 0.1}}, "cc372b9ab4d270b5"),
        ({"algorithm": "fedprox"}, "fabec3a82a98e91d"),
        ({"algorithm": "fedadam", "server_lr": 1.0}, "9f5affd24009aeb3"),
        ({"algorithm": "fedavgm", "server_lr": 1.0}, "16f8b0358177bcfe"),
        ({"partition": "feature_noise", "rounds": 50}, "f376ffe4ed1759e0"),
        ({"dataset": "synthetic", "partition": "natural"}, "51682b950d953a0f"),
        (
            {
                "partition": "pathological",
                "model": "mlp",
                "client_holdout": 0.2,
                "local_epochs": 2,
                "seed": 3,
            },
            "a0851a0f53817eaa",
        ),
        ({"partition": "quantity", "partition_options": {"alpha": 0.3}}, "81effb9f938f721e"),
    ],
}


def minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


@pytest.mark.parametrize(("options", "expected"), PINNED[minor(fedbench.__version__)])
def test_the_hashes_of_this_version_are_the_pinned_ones(options, expected):
    assert RunSpec.create(**options).config_hash == expected, (
        "config_hash changed: move fedbench.__version__ to a new minor version, add its "
        "CHANGELOG.md entry (what changed for users) and pin the new hashes in PINNED"
    )


def test_the_version_has_pinned_hashes_and_a_changelog_entry():
    version = fedbench.__version__
    assert minor(version) in PINNED
    assert f"## {version} (" in (ROOT / "CHANGELOG.md").read_text()


def test_the_package_metadata_reads_the_version_from_fedbench():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "fedbench.__version__"}


def test_an_algorithm_option_added_later_keeps_earlier_runs_hashes_at_its_default():
    # SCAFFOLD's hash before algorithm.control_start existed (commit d4557f9's code).
    before = "312aa4641325390e"
    assert RunSpec.create(algorithm="scaffold").config_hash == before
    zeros = RunSpec.create(algorithm="scaffold", algorithm_options={"control_start": "zeros"})
    assert zeros.config_hash == before
    network = RunSpec.create(algorithm="scaffold", algorithm_options={"control_start": "network"})
    assert network.config_hash != before
    assert network.identity()["algorithm"] == {"name": "scaffold", "control_start": "network"}
