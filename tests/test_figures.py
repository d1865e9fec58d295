"""``make figures`` from results written the way runs, reports and benchmarks write them."""

import datetime as dt
import json

import pandas as pd

from analysis import figures
from fedbench import results as R


def _run(results_dir, hash_, partition, emd, accuracies, status=R.STATUS_COMPLETED, **extra):
    rows = [
        {
            R.RUN_ID: f"{hash_}-1",
            R.CONFIG_HASH: hash_,
            R.STATUS: status,
            R.DATASET: "digits",
            R.PARTITION: partition,
            R.MODEL: "linear",
            R.ALGORITHM: "fedavg",
            R.ROUND: r,
            R.EVALUATED: acc is not None,
            R.TEST_ACCURACY: acc,
            R.LABEL_EMD: emd,
            R.EXAMPLES_PER_SECOND: 100.0 if r == 1 else 1000.0 + r,
            R.STARTED_AT: dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            **extra,
        }
        for r, acc in enumerate(accuracies, start=1)
    ]
    R.write_run(rows, results_dir, hash_)


def test_final_rounds_are_the_last_evaluated_round_of_each_run(results_dir):
    _run(results_dir, "a", "iid", 0.2, [0.5, 0.8, None])  # round 3 not evaluated
    _run(results_dir, "b", "dirichlet", 1.5, [0.4, 0.6, 0.7], alpha=0.1)
    final = figures.final_rounds(R.load_runs(results_dir)).set_index(R.RUN_ID)
    assert final.loc["a-1", R.ROUND] == 2 and final.loc["a-1", R.TEST_ACCURACY] == 0.8
    assert final.loc["b-1", R.ROUND] == 3
    assert figures.run_label(final).tolist() == ["iid", "dirichlet (α=0.1)"]


def test_throughput_leaves_out_round_one_of_each_run_that_has_later_rounds(results_dir):
    _run(results_dir, "a", "iid", 0.2, [0.5, 0.8, 0.9])
    _run(results_dir, "b", "iid", 0.2, [0.5])  # one round: it is all there is
    steady = figures.steady_rounds(R.load_runs(results_dir))
    kept = sorted(zip(steady[R.RUN_ID], steady[R.ROUND], strict=True))
    assert kept == [("a-1", 2), ("a-1", 3), ("b-1", 1)]


def test_make_all_draws_every_figure_from_finished_runs_reports_and_benchmarks(results_dir, capsys):
    _run(results_dir, "a", "iid", 0.2, [0.5, 0.9])
    _run(results_dir, "b", "dirichlet", 1.5, [0.4, 0.7], alpha=0.1)
    _run(results_dir, "c", "dirichlet", 1.9, [0.1], status=R.STATUS_FAILED, alpha=0.01)
    reports = results_dir / "partitions"
    reports.mkdir(parents=True)
    pd.DataFrame(
        {"client_id": [0, 1], "client_name": ["0", "1"], "num_examples": [3, 2]}
        | {"count_0": [3, 0], "count_1": [0, 2]}
    ).to_parquet(reports / "digits-iid-K2.parquet")
    bench = results_dir / "benchmarks"
    bench.mkdir()
    case = {"group": "g", "name": "test_x[a]", "param": "a", "stats": {"median": 0.01}}
    other = {**case, "name": "test_y[a]"}
    (bench / "b.json").write_text(json.dumps({"benchmarks": [case, other]}))

    assert figures.main(["--results", str(results_dir)]) == 0
    names = sorted(p.name for p in (results_dir / "figures").glob("*.png"))
    assert names == [
        "accuracy_vs_heterogeneity.png",
        "convergence.png",
        "labels-digits-iid-K2.png",
        "throughput.png",
    ]
    assert all(p.stat().st_size > 10_000 for p in (results_dir / "figures").glob("*.png"))
    assert capsys.readouterr().out.count("figure: ") == 4


def test_a_missing_results_folder_is_one_line_and_exit_2(tmp_path, capsys):
    assert figures.main(["--results", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a folder" in err
