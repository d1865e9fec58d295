"""The FedProx systems study: its figure from known rows, and its sweep cut down end to end."""

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from analysis import figures
from analysis.figures.fedprox_systems import NAME
from fedbench import results as R
from tests.cli_helpers import fedbench

ARMS = {  # method label -> (algorithm, mu, straggler_work)
    "FedAvg (drop)": ("fedavg", None, "drop"),
    "FedProx mu=0": ("fedprox", 0.0, "partial"),
    "FedProx mu=1": ("fedprox", 1.0, "partial"),
}
DATA = {"IID": ("iid", 0.0), "Synthetic(1,1)": ("natural", 1.0)}


def _loss(data, stragglers, method, seed, round_num):
    """A distinct training loss per cell, seed and round (accuracy: 1 - loss / 10)."""
    return (
        list(DATA).index(data) + 10 * stragglers + list(ARMS).index(method) / 10 + seed / 100
    ) / round_num


def _runs():
    rows = []
    cells = itertools.product(DATA, (0.0, 0.9), ARMS, (0, 1))
    for data, stragglers, method, seed in cells:
        algorithm, mu, work = ARMS[method]
        partition, ab = DATA[data]
        config = {
            "dataset": {"name": "synthetic", "alpha": ab, "beta": ab},
            "partition": {"name": partition},
            "algorithm": {"name": algorithm, **({} if mu is None else {"mu": mu})},
        }
        run_id = f"{data}-{stragglers}-{method}-{seed}"
        for round_num in (1, 2, 3):
            loss = _loss(data, stragglers, method, seed, round_num)
            rows.append(
                {
                    R.RUN_ID: run_id,
                    R.DATASET: "synthetic",
                    R.PARTITION: partition,
                    R.ALGORITHM: algorithm,
                    "mu": mu,
                    R.STRAGGLERS: stragglers,
                    R.STRAGGLER_WORK: work,
                    R.SEED: seed,
                    R.ROUND: round_num,
                    R.ROUNDS: 3,
                    R.EVALUATED: True,
                    R.TRAIN_LOSS: loss,
                    R.TEST_ACCURACY: 1 - loss / 10,
                    R.CONFIG_JSON: json.dumps(config),
                    R.GIT_COMMIT: "abc1234",
                }
            )
    other = {**rows[0], R.RUN_ID: "adam", R.ALGORITHM: "fedadam", R.TRAIN_LOSS: 99.0}
    return pd.DataFrame([*rows, other])  # a FedAdam run is not part of the study


def test_the_figure_is_the_papers_grid_of_means_over_seeds(tmp_path):
    paths = figures.write(NAME, _runs(), tmp_path)
    assert sorted(p.name for p in paths) == [
        f"{NAME}_test_accuracy.png",
        f"{NAME}_train_loss.png",
    ]
    loss = pd.read_csv(tmp_path / f"{NAME}_train_loss.csv")
    assert len(loss) == 2 * 2 * 3 * 3  # heterogeneity x stragglers x methods x rounds
    assert set(loss["method"]) == set(ARMS) and set(loss["heterogeneity"]) == set(DATA)
    assert (loss["n"] == 2).all() and loss["mean"].max() < 99  # two seeds; no FedAdam
    for row in loss.itertuples(index=False):
        seeds = [_loss(row.heterogeneity, row.stragglers, row.method, s, row.round) for s in (0, 1)]
        assert row.mean == pytest.approx(np.mean(seeds))
    accuracy = pd.read_csv(tmp_path / f"{NAME}_test_accuracy.csv")
    merged = accuracy.merge(loss, on=["heterogeneity", "stragglers", "method", "round"])
    np.testing.assert_allclose(merged["mean_x"], 1 - merged["mean_y"] / 10)


def test_without_synthetic_runs_the_figure_is_skipped():
    runs = _runs().assign(**{R.DATASET: "digits"})
    result = figures.FIGURES[NAME](figures.Inputs(runs=runs))
    assert isinstance(result, figures.Skipped) and "fedprox_systems.yaml" in result.reason


@pytest.mark.slow
@pytest.mark.tff
@pytest.mark.subprocess
def test_the_sweep_cut_down_runs_end_to_end_into_its_figure(tmp_path):
    # Synthetic(1,1) only, 50% stragglers, 2 rounds of 1 local epoch: its three methods.
    results = tmp_path / "results"
    done = fedbench(
        "-m",
        "-cd",
        "sweeps",
        "-cn",
        "fedprox_systems",
        "+fedprox_systems_data=synthetic_1_1",
        "fl.stragglers=0.5",
        "fl.rounds=2",
        "fl.local_epochs=1",
        f"results_dir={results}",
        f"hydra.sweep.dir={tmp_path / 'logs'}",
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = R.load_runs(results)
    assert sorted(runs[R.ALGORITHM].unique()) == ["fedavg", "fedprox"]
    assert len(runs) == 3 * 2
    # 10 sampled, 5 straggle: FedAvg trains 5 clients; FedProx all 10, 5 with 1..1 epoch.
    assert set(runs[R.STRAGGLER_WORK]) == {"drop", "partial"}
    done = fedbench("--results", str(results), "--only", NAME, module="analysis.figures")
    assert done.returncode == 0, done.stderr[-3000:]
    loss = pd.read_csv(results / "figures" / f"{NAME}_train_loss.csv")
    assert set(loss["method"]) == set(ARMS) and set(loss["heterogeneity"]) == {"Synthetic(1,1)"}
