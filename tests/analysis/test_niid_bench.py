"""The NIID-Bench reproduction sweeps: the paper's set-up, and the quick variant end to end."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import report
from fedbench.data import load_dataset
from fedbench.errors import DataError
from tests.cli_helpers import fedbench


@pytest.fixture(scope="module")
def fmnist():
    try:
        load_dataset("fmnist", {})
    except DataError as error:
        pytest.skip(f"Fashion-MNIST not available: {error}")


def _specs(checked_sweep, name):
    return {job.spec.config_hash: job.spec for job in checked_sweep(name)}


def test_the_full_sweep_is_the_papers_set_up(fmnist, checked_sweep):
    specs = _specs(checked_sweep, "niid_bench_fmnist")
    # 7 partitions x 4 algorithms x 3 seeds: only pathological takes classes_per_client, so
    # the 5 x 3 partition grid is iid, dirichlet, feature_noise, quantity and three #C.
    assert len(specs) == 7 * 4 * 3
    for spec in specs.values():
        fl = spec.fl
        assert (spec.dataset.name, spec.model.name) == ("fmnist", "cnn")
        assert (fl.num_clients, fl.clients_per_round, fl.rounds, fl.local_epochs) == (
            10,
            10,
            50,
            10,
        )
        assert (fl.batch_size, fl.client_lr, fl.client_momentum, fl.server_lr) == (
            64,
            0.01,
            0.9,
            1.0,
        )
        assert fl.weight_decay == 1e-5
    algorithms = {(s.algorithm.name, tuple(s.algorithm.options.items())) for s in specs.values()}
    assert algorithms == {
        ("fedavg", ()),
        ("fedprox", (("mu", 0.01),)),
        ("scaffold", (("control_start", "zeros"),)),
        ("fednova", ()),
    }
    partitions = {
        (s.partition.name, tuple(sorted(s.partition.options.items()))) for s in specs.values()
    }
    assert partitions == {
        ("iid", ()),
        ("dirichlet", (("alpha", 0.5), ("min_client_size", 10))),
        ("pathological", (("classes_per_client", 1),)),
        ("pathological", (("classes_per_client", 2),)),
        ("pathological", (("classes_per_client", 3),)),
        ("feature_noise", (("sigma", 0.1),)),
        ("quantity", (("alpha", 0.5), ("min_client_size", 10))),
    }
    assert {s.seed for s in specs.values()} == {0, 1, 2}


def test_the_centralized_reference_pools_the_data_with_the_same_budget(fmnist, checked_sweep):
    specs = list(_specs(checked_sweep, "niid_bench_fmnist_centralized").values())
    assert len(specs) == 3 and {s.seed for s in specs} == {0, 1, 2}
    for spec in specs:
        assert spec.partition.name == "iid"
        assert (spec.fl.num_clients, spec.fl.clients_per_round) == (1, 1)
        # Same rounds, local epochs and batch size: 50 x 10 epochs over all 60,000 examples,
        # as many examples as 10 clients x 10 epochs x 6,000 examples x 50 rounds.
        assert (spec.fl.rounds, spec.fl.local_epochs, spec.fl.batch_size) == (50, 10, 64)


def _run(module, *args, timeout=900):
    done = fedbench(*args, module=module, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
@pytest.mark.tff
@pytest.mark.subprocess
def test_quick_reproduction_runs_end_to_end_into_the_papers_table(fmnist, tmp_path, capsys):
    results = tmp_path / "results"
    for sweep in ("niid_bench_fmnist_quick", "niid_bench_fmnist_quick_centralized"):
        _run(
            "fedbench",
            "-m",
            "-cd",
            "sweeps",
            "-cn",
            sweep,
            f"results_dir={results}",
            f"hydra.sweep.dir={tmp_path / 'logs' / sweep}",
        )
    assert report.main([str(results), "--layout", "niid-bench", "--metric", "best"]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells[0] == ["partition", "FedAvg", "FedProx", "SCAFFOLD", "FedNova"]
    assert [row[0] for row in cells[2:]] == [
        "pk ~ Dir(0.5)",
        "#C=1",
        "#C=2",
        "#C=3",
        "x ~ Gau(0.1)",
        "q ~ Dir(0.5)",
        "homogeneous",
        "centralized (pooled data)",
    ]
    # Every federated setting has all four algorithms, two seeds each (no † mark).
    assert all(" ± " in cell and "†" not in cell for row in cells[2:-1] for cell in row[1:])
    means = {row[0]: float(row[1].split(" ± ")[0]) for row in cells[2:]}
    # Two seeds each, none missing (no † mark); accuracies are percentages.
    assert all(" ± " in row[1] and "†" not in row[1] for row in cells[2:])
    assert all(0 < m <= 100 for m in means.values())
    # One class per client cannot beat chance by much after 3 rounds; pooled data does best.
    assert means["#C=1"] < means["homogeneous"] < means["centralized (pooled data)"]
    out = _run("analysis.figures", "--results", str(results))
    assert out.count("figure: ") == 4
    for name in ("accuracy_vs_heterogeneity", "heterogeneity_predictors", "convergence", "heatmap"):
        assert len(pd.read_csv(results / "figures" / f"{name}.csv")) > 0
