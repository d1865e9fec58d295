"""``make figures``: every figure's CSV checked against the runs it was drawn from."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from scipy import stats as sps

from analysis import figures
from fedbench import results as R
from tests.analysis.builders import draw, write

# t quantile for 3 seeds: t(0.975, df=2) = 4.302653
T2 = sps.t.ppf(0.975, 2)


@pytest.fixture
def sweep(results_dir):
    """IID at 3 seeds, Dirichlet alpha 0.5 at 3 seeds, alpha 0.05 at 1, a centralized run."""
    for seed, final in enumerate((0.8, 0.9, 0.85)):
        write(results_dir, [0.5, 0.7, final], seed=seed, metrics={R.LABEL_EMD: 0.1})
    for seed, final in enumerate((0.7, 0.6, 0.65)):
        write(
            results_dir,
            [0.3, 0.5, final],
            seed=seed,
            partition="dirichlet",
            alpha=0.5,
            metrics={R.LABEL_EMD: 1.0 + seed / 10},
            commit="def5678",
        )
    write(
        results_dir,
        [0.2, 0.3, 0.4],
        seed=0,
        partition="dirichlet",
        alpha=0.05,
        metrics={R.LABEL_EMD: 1.8},
    )
    write(results_dir, [0.9, 0.95, 0.97], seed=0, num_clients=1, clients_per_round=1)
    return results_dir


def test_accuracy_vs_heterogeneity_plots_means_with_95_intervals_and_reference_lines(sweep):
    path = draw("accuracy_vs_heterogeneity", sweep)
    data = pd.read_csv(path.with_suffix(".csv"))
    points = data[data["panel"] != "reference"].set_index("label")
    # Dirichlet alpha 0.5: finals 0.7, 0.6, 0.65 -> mean 0.65, std 0.05,
    # 95% half-interval t(0.975, 2) * 0.05 / sqrt(3) = 0.1242; label_emd mean of 1.0, 1.1, 1.2.
    row = points.loc["dirichlet (α=0.5)"]
    assert row["accuracy_mean"] == pytest.approx(0.65)
    assert row["accuracy_ci95"] == pytest.approx(T2 * 0.05 / 3**0.5)
    assert row["x"] == pytest.approx(1.1) and row["accuracy_n"] == 3
    # One seed: no interval.
    assert pd.isna(points.loc["dirichlet (α=0.05)", "accuracy_ci95"])
    refs = data[data["panel"] == "reference"].set_index("kind")
    assert refs.loc["IID", "accuracy_mean"] == pytest.approx(0.85)  # 0.8, 0.9, 0.85
    assert refs.loc["centralized", "accuracy_mean"] == pytest.approx(0.97)
    assert path.stat().st_size > 10_000


def test_x_can_be_the_strategy_parameter(sweep):
    path = draw("accuracy_vs_heterogeneity", sweep, x=figures.PARAMETER, metric="best")
    data = pd.read_csv(path.with_suffix(".csv"))
    points = data[data["panel"] != "reference"]
    assert set(points["x_name"]) == {R.ALPHA}
    assert sorted(points["x"]) == [0.05, 0.5]


def test_footer_counts_runs_and_names_their_commits(sweep):
    runs = figures.finished_settings(sweep)
    assert figures.footer(runs) == "8 runs; git commits: abc1234, def5678"


def test_convergence_csv_is_the_per_round_mean_over_seeds(sweep):
    path = draw("convergence", sweep)
    data = pd.read_csv(path.with_suffix(".csv"))
    iid = data[data["label"] == "iid"].set_index(R.ROUND)
    # Round 1: 0.5 at every seed (std 0); round 3: 0.8, 0.9, 0.85.
    assert iid.loc[1, "mean"] == pytest.approx(0.5) and iid.loc[1, "std"] == pytest.approx(0)
    assert iid.loc[3, "mean"] == pytest.approx(0.85) and iid.loc[3, "n"] == 3
    assert iid.loc[3, "ci95"] == pytest.approx(T2 * 0.05 / 3**0.5)
    assert set(data["label"]) == {"iid", "dirichlet (α=0.5)", "dirichlet (α=0.05)", "centralized"}


def test_spearman_table_ranks_metrics_on_a_case_with_a_known_ordering(results_dir):
    write(results_dir, [0.9], seed=0)  # the IID reference: accuracy 0.9
    # Five Dirichlet settings with drops 0.1 .. 0.5 (ranks 1..5). Metric ranks:
    #   label_emd 1,2,3,4,5 -> rho = +1;  effective_classes 5,4,3,2,1 -> rho = -1;
    #   size_cv 2,1,4,3,5 -> sum d^2 = 4 -> rho = 1 - 6*4/(5*24) = +0.8;
    #   label_jsd 3,1,2,5,4 -> sum d^2 = 4+1+1+1+1 = 8 -> rho = 1 - 48/120 = +0.6;
    #   label_hellinger constant -> no rho (listed last).
    ranks = {
        R.LABEL_EMD: [1, 2, 3, 4, 5],
        R.EFFECTIVE_CLASSES: [5, 4, 3, 2, 1],
        R.SIZE_CV: [2, 1, 4, 3, 5],
        R.LABEL_JSD: [3, 1, 2, 5, 4],
        R.LABEL_HELLINGER: [1, 1, 1, 1, 1],
    }
    for i, alpha in enumerate((5.0, 1.0, 0.5, 0.1, 0.05)):
        metrics = {m: float(r[i]) for m, r in ranks.items()}
        write(
            results_dir, [0.8 - i / 10], seed=0, partition="dirichlet", alpha=alpha, metrics=metrics
        )
    drops = figures.accuracy_drops(figures.finished_settings(results_dir))
    assert sorted(drops["drop"].round(6)) == [0.1, 0.2, 0.3, 0.4, 0.5]
    table = figures.predictor_table(drops)
    assert table["metric"].tolist() == [
        R.LABEL_EMD,
        R.EFFECTIVE_CLASSES,
        R.SIZE_CV,
        R.LABEL_JSD,
        R.LABEL_HELLINGER,
    ]  # the feature metrics have no value in these rows: left out
    assert table["spearman_rho"][:4].tolist() == pytest.approx([1.0, -1.0, 0.8, 0.6])
    assert pd.isna(table["spearman_rho"].iloc[4]) and (table["runs"] == 5).all()
    path = draw("heterogeneity_predictors", results_dir, out=results_dir / "f")
    points = pd.read_csv(path.with_suffix(".csv"))
    assert sorted(points["drop"]) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    rho = pd.read_csv(results_dir / "f" / "heterogeneity_predictors_rho.csv")
    assert rho["metric"].iloc[0] == R.LABEL_EMD
    assert (
        "| label_emd | +1.000 |"
        in (results_dir / "f" / "heterogeneity_predictors_rho.md").read_text()
    )


def test_fairness_plots_mean_against_p10_where_recorded(results_dir):
    for seed, (mean, p10) in enumerate(((0.8, 0.5), (0.9, 0.7))):
        write(
            results_dir,
            [0.5, 0.85],
            seed=seed,
            per_round={R.CLIENT_ACCURACY_MEAN: [0.4, mean], R.CLIENT_ACCURACY_P10: [0.1, p10]},
        )
    path = draw("fairness", results_dir)
    data = pd.read_csv(path.with_suffix(".csv")).iloc[0]
    # Last round: means 0.8, 0.9 -> 0.85; p10 0.5, 0.7 -> 0.6; two seeds.
    assert data[f"{R.CLIENT_ACCURACY_MEAN}_mean"] == pytest.approx(0.85)
    assert data[f"{R.CLIENT_ACCURACY_P10}_mean"] == pytest.approx(0.6)
    assert data[f"{R.CLIENT_ACCURACY_P10}_count"] == 2


def test_participation_gaps_plot_both_gaps_per_round_where_recorded(results_dir):
    for seed, (sample, away) in enumerate(((0.1, 0.2), (0.3, 0.4))):
        write(
            results_dir,
            [0.5, 0.85],
            seed=seed,
            per_round={
                R.OUT_OF_SAMPLE_GAP: [0.0, sample],
                R.PARTICIPATION_GAP: [float("nan"), away],
            },
        )
    path = draw("participation_gaps", results_dir)
    data = pd.read_csv(path.with_suffix(".csv")).set_index(["gap", R.ROUND])
    # Round 2: out-of-sample 0.1, 0.3 -> 0.2; participation 0.2, 0.4 -> 0.3; two seeds each.
    assert data.loc[(R.OUT_OF_SAMPLE_GAP, 2), "mean"] == pytest.approx(0.2)
    assert data.loc[(R.PARTICIPATION_GAP, 2), "mean"] == pytest.approx(0.3)
    assert data.loc[(R.PARTICIPATION_GAP, 2), "n"] == 2
    assert (R.PARTICIPATION_GAP, 1) not in data.index  # not recorded there
    assert data.loc[(R.OUT_OF_SAMPLE_GAP, 1), "mean"] == 0.0


def _case(group, way, median, **extra):
    return {
        "group": group,
        "name": f"test_x[{way}]",
        "stats": {"median": median},
        "extra_info": {"case": way, **extra},
    }


def test_throughput_pairs_cases_by_group_and_ratios_against_the_baseline(tmp_path):
    bench = tmp_path / "bench.json"
    bench.write_text(
        json.dumps(
            {
                "commit_info": {"id": "0123456789abcdef", "dirty": False},
                "benchmarks": [
                    _case("one FedAvg round, digits, 10 clients, linear", "TFF", 0.020),
                    _case("one FedAvg round, digits, 10 clients, linear", "plain Keras", 0.010),
                    # A case name the figure has never seen: paired by its group all the same.
                    _case("one FedAvg round, digits, 300 clients, linear", "TFF", 0.150),
                    _case("one FedAvg round, digits, 300 clients, linear", "plain Keras", 0.100),
                    {
                        "group": "versus-flwr-small-iid",
                        "name": "t[fedbench]",
                        "params": {"library": "fedbench"},
                        "stats": {"median": 0.001},
                    },
                    {
                        "group": "versus-flwr-small-iid",
                        "name": "t[flwr]",
                        "params": {"library": "flwr_datasets"},
                        "stats": {"median": 0.004},
                    },
                    # Neither way is fedbench's: the fastest is the baseline; or one marked as such.
                    _case("pixels as", "uint8", 0.3),
                    _case("pixels as", "float32", 0.6),
                    _case("marked", "a", 0.2),
                    _case("marked", "b", 0.4, baseline=True),
                    _case("alone", "TFF", 0.5),  # nothing to compare with: left out
                ],
            }
        )
    )
    path = figures.write("throughput", figures.Inputs(benchmarks=(bench,)), tmp_path / "f")[0]
    data = pd.read_csv(path.with_suffix(".csv")).set_index("group")
    assert data.loc["one FedAvg round, digits, 10 clients, linear", "ratio"] == pytest.approx(2.0)
    assert data.loc["one FedAvg round, digits, 300 clients, linear", "ratio"] == pytest.approx(1.5)
    assert data.loc["versus-flwr-small-iid", "ratio"] == pytest.approx(0.25)
    assert data.loc["versus-flwr-small-iid", "baseline_way"] == "flwr_datasets"
    assert data.loc["pixels as", ["way", "ratio"]].tolist() == ["float32", pytest.approx(2.0)]
    assert data.loc["marked", ["way", "ratio"]].tolist() == ["a", pytest.approx(0.5)]
    assert "alone" not in data.index
    assert (
        data.loc["one FedAvg round, digits, 300 clients, linear", "case"] == "300 clients, linear"
    )
    assert set(data["comparison"]) == {
        "TFF vs plain Keras",
        "fedbench vs flwr_datasets",
        "float32 vs uint8",
        "a vs b",
    }


def test_make_all_writes_a_csv_beside_every_png(sweep, capsys):
    reports = sweep / "partitions"
    reports.mkdir(parents=True)
    pd.DataFrame(
        {
            "client_id": [0, 1],
            "client_name": ["0", "1"],
            "num_examples": [3, 2],
            "count_0": [3, 0],
            "count_1": [0, 2],
        }
    ).to_parquet(reports / "digits-iid-K2.parquet")
    assert figures.main(["--results", str(sweep)]) == 0
    pngs = sorted(p.name for p in (sweep / "figures").glob("*.png"))
    assert pngs == [
        "accuracy_vs_heterogeneity.png",
        "convergence.png",
        "heatmap.png",  # added with the registry (issue 24)
        "heterogeneity_predictors.png",
        "labels-digits-iid-K2.png",
    ]
    assert all((sweep / "figures" / p).with_suffix(".csv").is_file() for p in pngs)
    out = capsys.readouterr().out
    assert (
        out.count("figure: ") == 5 and "skipping fairness" in out and "skipping throughput" in out
    )


def test_bad_arguments_are_one_line_and_exit_2(tmp_path, capsys):
    assert figures.main(["--results", str(tmp_path / "nope")]) == 2
    assert figures.main(["--results", str(tmp_path), "--x", "colour"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "is not a folder" in err and "--x='colour' is invalid" in err


def test_a_varied_client_count_is_a_facet_and_centralized_bounds_every_facet(results_dir):
    for k in (10, 20):
        write(results_dir, [0.8], seed=0, num_clients=k, clients_per_round=k)
        write(
            results_dir,
            [0.6],
            seed=0,
            partition="dirichlet",
            alpha=0.5,
            num_clients=k,
            clients_per_round=k,
            metrics={R.LABEL_EMD: 1.0},
        )
    write(results_dir, [0.95], seed=0, num_clients=1, clients_per_round=1)
    runs = figures.finished_settings(results_dir)
    path = draw("accuracy_vs_heterogeneity", results_dir)
    data = pd.read_csv(path.with_suffix(".csv"))
    assert sorted(set(data["panel"]) - {"reference"}) == ["num_clients=10", "num_clients=20"]
    stats = figures.setting_stats(runs)
    refs = figures.references(stats)
    for facet in ("num_clients=10", "num_clients=20"):
        shown = figures.panel_references(refs, stats[stats["facet"] == facet])
        assert sorted(shown["kind"]) == ["IID", "centralized"]
