"""fedbench-report on hand-built results folders with known values."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest

from analysis import load, report
from fedbench import results as R
from tests.analysis.builders import write

# Three IID seeds and two Dirichlet seeds (seed 2 failed: left out, and flagged as missing).
IID = {0: [0.5, 0.9, 0.8], 1: [0.6, 0.8, 0.9], 2: [0.7, 0.85, 0.85]}
DIR = {0: [0.3, 0.6, 0.7], 1: [0.4, 0.5, 0.6]}


@pytest.fixture
def sweep(results_dir):
    for seed, accuracies in IID.items():
        write(results_dir, accuracies, seed=seed, per_round={R.CLIENT_DRIFT: [1.0, 2.0, 3.0]})
    for seed, accuracies in DIR.items():
        write(results_dir, accuracies, seed=seed, partition="dirichlet", alpha=0.5)
    # Seed 2 failed after round 1 of 3: not a result of the setting, so n = 2 (flagged).
    write(
        results_dir,
        [0.1],
        rounds=3,
        seed=2,
        partition="dirichlet",
        alpha=0.5,
        status=R.Status.FAILED,
    )
    return results_dir


def run(argv, capsys):
    code = report.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def markdown_rows(text):
    lines = [line for line in text.splitlines() if line.startswith("|")]
    split = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return split[0], split[2:]  # header, body (line 1 is the |---| rule)


def test_markdown_has_mean_std_and_n_over_seeds_and_flags_the_missing_seed(sweep, capsys):
    code, out, err = run([sweep], capsys)
    assert code == 0 and err == ""
    header, body = markdown_rows(out)
    assert header == ["partition", "alpha", "final accuracy (%)", "client drift", "seeds"]
    # iid finals 0.8, 0.9, 0.85: mean 0.85; deviations -0.05, 0.05, 0 -> var 0.005/2 -> std 0.05.
    # dirichlet finals 0.7, 0.6: mean 0.65, std sqrt(2 * 0.05**2 / 1) = 0.0707.
    # Drift: mean over rounds of 1, 2, 3 = 2 for every IID seed (std 0); Dirichlet recorded none.
    assert body == [
        ["dirichlet", "0.5", "65.0 ± 7.1", "–", "2†"],
        ["iid", "–", "85.0 ± 5.0", "2.000 ± 0.000", "3"],
    ]
    assert "† fewer seeds than the other settings (most have 3): row 1: n=2 (seeds 0,1)" in out


def test_best_accuracy_and_rounds_to_target(sweep, capsys):
    code, out, _ = run([sweep, "--metric", "best", "--target", "0.8"], capsys)
    assert code == 0
    header, body = markdown_rows(out)
    assert header[2:4] == ["best accuracy (%)", "rounds to 0.8"]
    # iid bests 0.9, 0.9, 0.85: mean 0.8833; deviations 1/60, 1/60, -1/30 -> var (2/3600 +
    # 4/3600) / 2 = 1/1200 -> std 0.0289. All three seeds reach 0.8 at round 2.
    # dirichlet bests = finals (0.7, 0.6); neither reaches 0.8.
    assert body[0][2:4] == ["65.0 ± 7.1", "not reached (0/2)"]
    assert body[1][2:4] == ["88.3 ± 2.9", "2.0 ± 0.0"]


def test_csv_holds_the_numbers(sweep, capsys):
    code, out, _ = run([sweep, "--format", "csv", "--metric", "best"], capsys)
    assert code == 0
    table = pd.read_csv(io.StringIO(out)).set_index(R.PARTITION)
    assert table.loc["iid", "best_accuracy_mean"] == pytest.approx(53 / 60)
    assert table.loc["iid", "best_accuracy_std"] == pytest.approx((1 / 1200) ** 0.5)
    assert table.loc["iid", "n"] == 3 and not table.loc["iid", "fewer_seeds"]
    assert table.loc["dirichlet", "best_accuracy_std"] == pytest.approx(0.05 * 2**0.5)
    assert table.loc["dirichlet", "seeds"] == "0,1" and table.loc["dirichlet", "fewer_seeds"]


def test_latex_parses_back_to_the_same_cells(sweep, capsys):
    code, out, _ = run([sweep, "--format", "latex"], capsys)
    assert code == 0
    assert out.startswith("\\begin{tabular}{lllll}")
    body = out.split("\\midrule\n")[1].split("\\bottomrule")[0]
    rows = [
        [c.strip() for c in line.removesuffix("\\\\").split("&")]
        for line in body.strip().splitlines()
    ]
    assert rows == [
        ["dirichlet", "0.5", "65.0 $\\pm$ 7.1", "--", "2\\textsuperscript{\\dag}"],
        ["iid", "--", "85.0 $\\pm$ 5.0", "2.000 $\\pm$ 0.000", "3"],
    ]
    assert "final accuracy (\\%)" in out and "\\textsuperscript{\\dag} fewer seeds" in out


def test_cols_spread_settings_and_where_filters(sweep, results_dir, capsys):
    for seed in (0, 1, 2):
        write(results_dir, [0.2, 0.4, 0.6 + seed / 10], seed=seed, algorithm="fedprox")
    code, out, _ = run(
        [sweep, "--where", "partition=iid", "--rows", "partition", "--cols", "algorithm"], capsys
    )
    assert code == 0
    header, body = markdown_rows(out)
    # fedprox finals 0.6, 0.7, 0.8: mean 0.7, std 0.1.
    assert header == ["partition", "fedavg", "fedprox"]
    assert body == [["iid", "85.0 ± 5.0", "70.0 ± 10.0"]]


def test_niid_bench_layout_names_and_orders_partitions_as_the_paper(sweep, results_dir, capsys):
    for k, acc in ((1, 0.1), (3, 0.75)):
        for seed in (0, 1, 2):
            write(
                results_dir,
                [acc, acc, acc],
                seed=seed,
                partition="pathological",
                classes_per_client=k,
            )
    write(results_dir, [0.9, 0.95, 0.97], seed=0, num_clients=1, clients_per_round=1)
    code, out, _ = run([sweep, "--layout", "niid-bench", "--metric", "best"], capsys)
    assert code == 0
    header, body = markdown_rows(out)
    assert header == ["partition", "FedAvg"]
    assert [row[0] for row in body] == [
        "pk ~ Dir(0.5)",
        "#C=1",
        "#C=3",
        "homogeneous",
        "centralized (pooled data)",
    ]
    assert body[1][1] == "10.0 ± 0.0" and body[4][1] == "97.0†"


def test_a_setting_includes_the_round_count(results_dir, capsys):
    write(results_dir, [0.5, 0.6], seed=0)
    write(results_dir, [0.5, 0.6, 0.7], seed=0)
    code, out, _ = run([results_dir], capsys)
    assert code == 0
    header, body = markdown_rows(out)
    assert header[0] == R.ROUNDS and [row[:2] for row in body] == [["2", "60.0"], ["3", "70.0"]]


def test_one_trajectory_answers_every_round_count_asked_of_it(results_dir, capsys):
    # One run trained 3 rounds, asked for fl.rounds=2 and 3: two settings. At 2 rounds its
    # final accuracy is round 2's (0.6) and its best the max of rounds 1-2 (0.6).
    write(results_dir, [0.5, 0.6, 0.55], seed=0, per_round={R.REQUESTED_ROUNDS: [[2, 3]] * 3})
    code, out, _ = run([results_dir, "--metric", "best"], capsys)
    assert code == 0
    header, body = markdown_rows(out)
    assert header[0] == R.ROUNDS and [row[:2] for row in body] == [["2", "60.0"], ["3", "60.0"]]
    code, out, _ = run([results_dir, "--where", "rounds=3"], capsys)
    assert markdown_rows(out)[1][0][0] == "55.0"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["--rows", "colour"],
            r"--rows='colour' is invalid: allowed is one of \[.*'partition'.*\]; pick",
        ),
        (["--where", "colour=red"], r"--where='colour=red' is invalid: allowed is a key among \["),
        (
            ["--where", "alpha=3"],
            r"--where='alpha=3' is invalid: allowed is a value of alpha among \['0.5', '–'\]",
        ),
        (["--where", "alpha"], r"--where='alpha' is invalid: allowed is key=value"),
        (["--metric", "top"], r"--metric='top' is invalid: allowed is one of \['final', 'best'\]"),
        (
            ["--format", "xlsx"],
            r"--format='xlsx' is invalid: allowed is one of \['md', 'csv', 'latex'\]",
        ),
        (["--rows", "dataset"], r"--rows=dataset is invalid: .* differ in \['partition', 'alpha'"),
    ],
)
def test_bad_input_is_one_line_naming_flag_value_allowed_and_fix(sweep, capsys, argv, expected):
    code, out, err = run([sweep, *argv], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("fedbench-report: error: ")
    assert re.search(expected, err), err


def test_no_results_is_one_line(results_dir, tmp_path, capsys):
    code, _, err = run([results_dir], capsys)  # not created
    assert code == 2 and "RESULTS_DIR=" in err and err.count("\n") == 1
    (tmp_path / "empty" / "runs").mkdir(parents=True)
    code, _, err = run([tmp_path / "empty"], capsys)
    assert code == 2 and "no finished runs" in err and "fedbench -m -cd sweeps" in err


def test_reads_through_fedbench_results_load_settings(sweep, monkeypatch):
    calls = []

    def load_settings(results_dir):
        calls.append(results_dir)
        return R.load_runs(results_dir)

    monkeypatch.setattr(R, "load_settings", load_settings)
    frame = load.finished_settings(sweep)
    assert calls == [sweep]
    assert set(frame[R.STATUS]) == {R.Status.COMPLETED}
    # One setting per partition: the seeds share it.
    assert frame.groupby(R.PARTITION)[load.SETTING].nunique().to_dict() == {
        "dirichlet": 1,
        "iid": 1,
    }


def test_a_usage_error_is_one_line_too(sweep, capsys):
    with pytest.raises(SystemExit) as exit_:
        report.main([str(sweep), "--target", "high"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert "--target: invalid float value: 'high'" in err


def test_niid_bench_layout_orders_algorithm_columns_as_the_algorithm_records(results_dir, capsys):
    # Written in another order; the columns follow fedbench.records.ALGORITHMS (NIID-Bench's
    # four first, by their display names), then any other algorithm by its name.
    for algorithm in ("fedadam", "my_algo", "fednova", "scaffold", "fedprox", "fedavg"):
        write(results_dir, [0.5], seed=0, algorithm=algorithm)
    write(results_dir, [0.25], seed=0, partition="feature_noise", sigma=0.1)
    code, out, _ = run([results_dir, "--layout", "niid-bench"], capsys)
    assert code == 0
    header, body = markdown_rows(out)
    assert header == [
        "partition",
        "FedAvg",
        "FedProx",
        "SCAFFOLD",
        "FedNova",
        "FedAdam",
        "my_algo",
    ]
    assert body == [
        ["x ~ Gau(0.1)", "25.0", "–", "–", "–", "–", "–"],
        ["homogeneous", "50.0", "50.0", "50.0", "50.0", "50.0", "50.0"],
    ]


def test_runs_differing_only_in_an_algorithm_option_or_weight_decay_are_other_settings():
    from analysis.load import SETTING, with_settings
    from fedbench.app.job.experiment import config_columns
    from fedbench.spec import RunSpec

    specs = [
        RunSpec.create(algorithm="fedprox", algorithm_options={"mu": 0.001}),
        RunSpec.create(algorithm="fedprox", algorithm_options={"mu": 0.1}),
        RunSpec.create(weight_decay=1e-5),
        RunSpec.create(),
    ]
    rows = pd.DataFrame([{**config_columns(s), R.SEED: 0, R.ROUND: 1} for s in specs])
    assert with_settings(rows)[SETTING].nunique() == 4


def test_an_interrupted_seed_is_left_out_and_flagged_as_a_failed_one(tmp_path, capsys):
    # A seed stopped to be resumed (a Slurm requeue, scancel) is not a finished seed either.
    tables = {}
    for status in (R.Status.FAILED, R.Status.INTERRUPTED):
        folder = tmp_path / status
        for seed, accuracies in DIR.items():
            write(folder, accuracies, seed=seed, partition="dirichlet", alpha=0.5)
        write(folder, [0.1], rounds=3, seed=2, partition="dirichlet", alpha=0.5, status=status)
        code, out, _ = run([folder, "--format", "csv"], capsys)
        assert code == 0
        tables[status] = out
    assert tables[R.Status.INTERRUPTED] == tables[R.Status.FAILED]
    assert "0,1" in tables[R.Status.FAILED]  # the seeds counted: 0 and 1, not 2


def test_where_keeps_the_runs_of_the_seeds_named(sweep, capsys):
    code, out, err = run([sweep, "--where", "seed=0,1", "--where", "partition=iid"], capsys)
    assert code == 0 and err == ""
    header, body = markdown_rows(out)
    # iid finals of seeds 0 and 1: 0.8 and 0.9 -> mean 0.85, std sqrt(2 * 0.05**2 / 1) = 0.0707.
    assert header[0] == "final accuracy (%)" and header[-1] == "seeds"
    assert len(body) == 1 and body[0][0] == "85.0 ± 7.1" and body[0][-1] == "2"


def test_a_killed_run_is_named_below_the_table_and_on_stderr_with_csv(tmp_path, capsys):
    # A run's file says "running" while it trains; with no live owner of its claim it was
    # killed (kill -9, out of memory): left out of the table, named in a footnote.
    for seed, accuracies in DIR.items():
        write(tmp_path, accuracies, seed=seed, partition="dirichlet", alpha=0.5)
    killed = write(
        tmp_path,
        [0.1, 0.2],
        rounds=3,
        seed=2,
        partition="dirichlet",
        alpha=0.5,
        status=R.Status.RUNNING,
    )
    note = (
        "Left out, no result yet: 1 killed (its process ended without a word (kill -9, out "
        f"of memory, a node failure)): {killed} (rounds=3, rows to round 2); the same command "
        "resumes them"
    )
    code, out, err = run([tmp_path], capsys)
    assert code == 0 and err == "" and out.rstrip().endswith(note)
    code, out, err = run([tmp_path, "--format", "csv"], capsys)
    assert code == 0 and note not in out and err == f"fedbench-report: {note}\n"


def test_a_dataset_option_named_like_a_partition_column_tells_settings_apart(results_dir):
    # The synthetic dataset's alpha (its config_json) is not the partition's alpha column:
    # Synthetic(0,0) and Synthetic(1,1) split by writer are two settings, not one.
    for alpha, accuracy in ((0.0, 0.8), (1.0, 0.6)):
        write(
            results_dir,
            [accuracy],
            partition="natural",
            dataset="synthetic",
            dataset_options={"alpha": alpha, "beta": alpha},
        )
    frame = load.finished_settings(results_dir)
    assert frame[load.SETTING].nunique() == 2
    assert sorted(frame["dataset.alpha"]) == [0.0, 1.0]
    assert frame[R.ALPHA].isna().all()  # the partition's alpha stays its own column
