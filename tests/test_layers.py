"""The layers point down: the numpy library loads neither Hydra nor TensorFlow."""

import json
import subprocess
import sys

import pytest

HEAVY = ("hydra", "omegaconf", "tensorflow", "tensorflow_federated")


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.subprocess
def test_the_library_loads_neither_hydra_nor_tensorflow():
    assert _loaded_after("import fedbench, fedbench.partitioning, fedbench.heterogeneity") == []


@pytest.mark.subprocess
def test_the_run_spec_and_the_data_need_no_hydra_nor_tensorflow():
    code = "from fedbench.spec import RunSpec\nfrom fedbench import clients, data\nRunSpec.create()"
    assert _loaded_after(code) == []


@pytest.mark.subprocess
def test_the_partition_command_does_not_load_tensorflow(tmp_path):
    code = (
        "import sys\nfrom fedbench.app.cli import partition_main\n"
        f"sys.argv = ['fedbench-partition', 'results_dir={tmp_path}']\n"
        "try:\n    partition_main()\nexcept SystemExit:\n    pass"
    )
    loaded = _loaded_after(code)
    assert "hydra" in loaded and "tensorflow" not in loaded
    assert list((tmp_path / "partitions").glob("*.parquet"))


@pytest.mark.subprocess
def test_fedbench_partition_stays_the_function_after_importing_the_module():
    code = (
        "import fedbench.partition\nimport fedbench\n"
        "assert callable(fedbench.partition), fedbench.partition\n"
        "from fedbench import partition\nassert partition is fedbench.partitioning.partition"
    )
    assert _loaded_after(code) == []
