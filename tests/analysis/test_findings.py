"""The findings page from quick sweeps: every number and every ranking sentence checked.

Module fixture: ``python -m analysis.findings --run`` runs shrunken study sweeps (two
rounds, two seeds, a few settings) into a temporary findings folder and writes the page.
The tests recompute the page's numbers from the Parquet with pandas and scipy alone
(none of ``analysis``' aggregation), parse the page's tables and compare; check every
generated sentence's ranking against the same recomputation; and run the command again
to see that a complete folder trains nothing and rewrites the same bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from analysis.findings import claims as C
from analysis.findings.page import build_sections
from analysis.findings.studies import FEMNIST_SUBDIR
from fedbench import results as R
from tests.cli_helpers import REPO
from tests.conftest import FEMNIST_TARBALL

pytestmark = [pytest.mark.tff, pytest.mark.subprocess]

#: The shrunken sweeps: study -> overrides (the studies' own files, fewer jobs and rounds).
QUICK = {
    "which_heterogeneity": [
        "fl.rounds=2",
        "fl.eval_every=1",
        "hydra.sweeper.params.seed='0,1'",
        "hydra.sweeper.params.algorithm='fedavg,scaffold'",
        "hydra.sweeper.params.which_heterogeneity_skew='iid,label_dirichlet_01,label_classes_1,"
        "feature_noise_1'",
    ],
    "participation": [
        "fl.rounds=2",
        "hydra.sweeper.params.seed='0,1'",
    ],
    "natural_vs_matched": [
        "fl.rounds=1",
        "fl.eval_every=1",
        "model=linear",
        "hydra.sweeper.params.seed='0,1'",
    ],
}
NUMBER = r"-?\d+(?:\.\d+)?"
CELL = re.compile(rf"^({NUMBER})(?: ± ({NUMBER}))?$")


def findings(root: Path, page: Path, *studies: str, run: bool = True) -> None:
    """``python -m analysis.findings`` (with ``--run`` of ``studies``) into ``root``."""
    args = ["--results", str(root), "--out", str(page)]
    for study in studies:
        overrides = [f"--override={o}" for o in QUICK[study]]
        command = [sys.executable, "-m", "analysis.findings", *args, "--run", "--only", study]
        subprocess.run([*command, *overrides], cwd=REPO, check=True, capture_output=True)
    if not studies or not run:
        command = [sys.executable, "-m", "analysis.findings", *args]
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A findings folder with the quick sweeps run and the page written from it."""
    root = tmp_path_factory.mktemp("findings")
    page = root / "docs" / "findings.md"
    studies = ["which_heterogeneity", "participation"]
    if FEMNIST_TARBALL.is_file():
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; from analysis.findings.run import "
                "unpack_femnist; unpack_femnist(Path(sys.argv[1]), Path(sys.argv[2]))",
                str(root),
                str(FEMNIST_TARBALL),
            ],
            cwd=REPO,
            check=True,
        )
        studies.append("natural_vs_matched")
    findings(root, page, *studies)
    return root, page, studies


def runs_of(root: Path, study: str) -> pd.DataFrame:
    """Every row of a study's result files, read with pandas alone."""
    files = sorted((root / study / "runs").glob("*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def finals(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its last evaluated row (its final test accuracy)."""
    done = rows[rows["evaluated"].fillna(False).astype(bool) & rows["test_accuracy"].notna()]
    return done.sort_values(["run_id", "round"]).groupby("run_id").tail(1).reset_index(drop=True)


def skew_name(row: pd.Series) -> str:
    """How the page names the quick sweep's settings (strategy and labelled parameter)."""
    if row["partition"] == "dirichlet":
        return f"dirichlet (α={row['alpha']:g})"
    if row["partition"] == "pathological":
        return f"pathological (#C={int(row['classes_per_client'])})"
    if row["partition"] == "feature_noise":
        return f"feature_noise (σ={row['sigma']:g})"
    return row["partition"]


def paired_drops(root: Path) -> pd.DataFrame:
    """Every skewed run of which_heterogeneity with its drop against its IID twin."""
    last = finals(runs_of(root, "which_heterogeneity"))
    last["skew"] = last.apply(skew_name, axis=1)
    iid = last[last["partition"] == "iid"].set_index(["algorithm", "seed"])["test_accuracy"]
    skewed = last[last["partition"] != "iid"].copy()
    twins = [iid[(a, s)] for a, s in zip(skewed["algorithm"], skewed["seed"], strict=True)]
    skewed["drop"] = np.array(twins) - skewed["test_accuracy"]
    return skewed


def t_interval(values: pd.Series) -> float:
    """Half-width of the 95% t-interval of the mean (NaN for one value)."""
    n = len(values)
    if n < 2:
        return float("nan")
    return float(sps.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n))


def table_after(page: str, heading: str, first_header: str) -> list[dict[str, str]]:
    """The first Markdown table after ``heading`` whose header starts with ``first_header``."""
    text = page[page.index(heading) :]
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)))
    return rows


def assert_cell(cell: str, mean: float, ci: float, scale: float = 100.0, digits: int = 1) -> None:
    """A page cell ``m ± ci`` equals (mean, ci) to its printed precision."""
    match = CELL.match(cell)
    assert match, cell
    half = 0.5 * 10**-digits + 1e-9
    assert abs(float(match.group(1)) - scale * mean) <= half, (cell, mean)
    if np.isnan(ci):
        assert match.group(2) is None, cell
    else:
        assert abs(float(match.group(2)) - scale * ci) <= half, (cell, ci)


def test_every_drop_and_iid_accuracy_on_the_page_is_the_parquet_s(folder):
    root, page_path, _ = folder
    page = page_path.read_text()
    table = table_after(page, "## which_heterogeneity", "kind")
    drops = paired_drops(root)
    last = finals(runs_of(root, "which_heterogeneity"))
    iid = last[last["partition"] == "iid"]
    checked = 0
    for row in table:
        for algorithm in ("fedavg", "scaffold"):
            if row["skew"] == "IID accuracy (%)":
                values = iid[iid["algorithm"] == algorithm]["test_accuracy"]
            else:
                cell = drops[(drops["skew"] == row["skew"]) & (drops["algorithm"] == algorithm)]
                values = cell["drop"]
            assert len(values) == 2  # seeds
            assert_cell(row[algorithm], values.mean(), t_interval(values))
            checked += 1
    assert checked == 2 * 4  # IID and three skews, two algorithms


def rhos(root: Path, algorithm: str) -> dict[str, list[float]]:
    """Per metric, Spearman's rho of metric and drop over the skews, one per seed."""
    scope = paired_drops(root)
    scope = scope[scope["algorithm"] == algorithm]
    out: dict[str, list[float]] = {}
    for metric in (m for m in R.HETEROGENEITY_METRICS if m != R.DROPPED_FRACTION):
        for _, seed_rows in scope.groupby("seed"):
            if seed_rows[metric].nunique() > 1 and seed_rows["drop"].nunique() > 1:
                rho = sps.spearmanr(seed_rows[metric], seed_rows["drop"]).statistic
                out.setdefault(metric, []).append(float(rho))
    return out


def test_every_rank_correlation_on_the_page_is_the_parquet_s(folder):
    root, page_path, _ = folder
    rows = table_after(page_path.read_text(), "### Which metric predicts the drop", "algorithm")
    assert [r["algorithm"] for r in rows] == ["fedavg", "scaffold"]
    checked = 0
    for row in rows:
        mine = rhos(root, row["algorithm"])
        assert set(mine) == set(row) - {"algorithm"}  # a column per metric with a rho
        for metric, values in mine.items():
            series = pd.Series(values)
            assert_cell(row[metric], series.mean(), t_interval(series), scale=1.0, digits=2)
            checked += 1
    assert checked >= 2 * 4


def recomputed(ranking: C.Ranking, root: Path) -> dict[str, float]:
    """The values a ranking ranks by, recomputed from the Parquet."""
    drops = paired_drops(root)
    if ranking.by == C.MEAN_DROP:
        scope = drops
        for column, value in ranking.where.items():
            values = value if isinstance(value, tuple) else (value,)
            scope = scope[scope[column].isin(values)]
        per_cell = scope.groupby(["skew", "algorithm"])["drop"].mean().reset_index()
        return per_cell.groupby(ranking.of)["drop"].mean().to_dict()
    if ranking.by == C.MAX_DROP:
        kinds = {"dirichlet": "label", "pathological": "label", "feature_noise": "feature"}
        drops["kind"] = drops["partition"].map(kinds)
        per_cell = drops.groupby(["kind", "skew", "algorithm"])["drop"].mean().reset_index()
        return per_cell.groupby("kind")["drop"].max().to_dict()
    if ranking.by == C.MEAN_RHO:
        return {m: float(np.mean(r)) for m, r in rhos(root, ranking.where["algorithm"]).items()}
    if ranking.by == "participation_gap":
        last = finals(runs_of(root, "participation"))
        last = last[np.isclose(last["alpha"], float(ranking.where["alpha"]))]
        arm = np.where(
            last["participation"] == "cyclic", "cyclic by " + last["block_by"], "uniform"
        )
        return last.groupby(arm)["participation_gap"].mean().to_dict()
    if ranking.by == "|mean difference|":
        last = finals(runs_of(root, "natural_vs_matched"))
        natural = last[last["partition"] == "natural"].set_index("seed")["test_accuracy"]
        others = last[last["partition"] != "natural"].copy()
        others["diff"] = others["test_accuracy"] - others["seed"].map(natural)
        return others.groupby("partition")["diff"].mean().abs().to_dict()
    raise AssertionError(f"no recomputation for {ranking.by}")


def test_every_generated_sentence_states_the_ordering_of_the_parquet(folder):
    root, page_path, _ = folder
    page = page_path.read_text()
    sections = build_sections(root)
    claims = [c for s in sections for c in s.claims]
    assert len(claims) >= 8  # overall, costliest, kinds, 3 strongest skews, predictors, ...
    for claim in claims:
        assert claim.text in page, claim.text
        for ranking in claim.rankings:
            values = recomputed(ranking, root)
            assert {name for name, _ in ranking.items} == set(values), ranking
            for name, value in ranking.items:
                assert value == pytest.approx(values[name], abs=1e-9), (ranking, name)
            ordered = sorted(values.values(), reverse=ranking.descending)
            assert values[ranking.first] == pytest.approx(ordered[0], abs=1e-12), claim.text
            assert values[ranking.last] == pytest.approx(ordered[-1], abs=1e-12), claim.text
            # Every name printed alike with the first is named: no tie is hidden.
            top = ranking.printed(ordered[0])
            tied = [name for name, value in values.items() if ranking.printed(value) == top]
            for name in tied:
                assert name in claim.text, (name, claim.text)


def test_participation_and_matched_tables_are_the_parquet_s(folder):
    root, page_path, studies = folder
    page = page_path.read_text()
    last = finals(runs_of(root, "participation"))
    arm = np.where(last["participation"] == "cyclic", "cyclic by " + last["block_by"], "uniform")
    rows = table_after(page, "## participation", "alpha")
    assert {(float(r["alpha"]), r["participation"]) for r in rows} == set(
        zip(last["alpha"], arm, strict=True)
    )
    for row in rows:
        mine = last[(arm == row["participation"]) & np.isclose(last["alpha"], float(row["alpha"]))]
        assert len(mine) == 2  # seeds
        for column, header in (
            ("test_accuracy", "test accuracy"),
            ("heldout_client_accuracy", "held-out clients"),
            ("participation_gap", "participation gap"),
            ("out_of_sample_gap", "out-of-sample gap"),
        ):
            assert_cell(row[header], mine[column].mean(), t_interval(mine[column]))
    if "natural_vs_matched" not in studies:
        pytest.skip(f"no FEMNIST subset at {FEMNIST_TARBALL}")
    last = finals(runs_of(root, "natural_vs_matched"))
    natural = last[last["partition"] == "natural"].set_index("seed")["test_accuracy"]
    for row in table_after(page, "## natural_vs_matched", "partition"):
        mine = last[last["partition"] == row["partition"]]
        accuracy = mine["test_accuracy"]
        assert_cell(row["accuracy (%)"], accuracy.mean(), t_interval(accuracy))
        assert int(row["seeds"]) == len(mine) == 2
        for metric in ("label_emd", "feature_frechet"):
            assert abs(float(row[metric]) - mine[metric].mean()) <= 0.0005 + 1e-12
        if row["partition"] != "natural":
            diff = mine["test_accuracy"].to_numpy() - mine["seed"].map(natural).to_numpy()
            assert_cell(row["− natural (points)"], diff.mean(), t_interval(pd.Series(diff)))


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_complete_folder_trains_nothing_and_rewrites_the_same_page(folder):
    root, page_path, studies = folder
    before_runs = {s: _digest(root / s / "runs") for s in studies}
    before_page = _digest(page_path.parent)
    findings(root, page_path, *studies)
    assert {s: _digest(root / s / "runs") for s in studies} == before_runs
    assert _digest(page_path.parent) == before_page
    logs = root / "which_heterogeneity" / "logs" / "multirun"
    summaries = sorted(logs.rglob("sweep-summary.json"))
    assert len(summaries) == 2
    assert '"completed"' not in summaries[-1].read_text().split('"outcomes"')[0]


def test_a_study_without_results_says_how_to_run_it(folder):
    root, page_path, _ = folder
    page = page_path.read_text()
    section = page[page.index("## fedprox_systems") :]
    assert "Not run yet" in section
    assert f"-cn fedprox_systems results_dir={root}/fedprox_systems" in section


def test_an_unknown_table_or_study_is_one_line_naming_the_choices(tmp_path):
    cases = (
        (["--table", "drop"], "--table", "drops"),
        (["--only", "which"], "--only", "which_heterogeneity"),
    )
    for flags, key, allowed in cases:
        done = subprocess.run(
            [sys.executable, "-m", "analysis.findings", "--results", str(tmp_path), *flags],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and key in lines[0] and allowed in lines[0], lines


def test_the_femnist_subset_unpacks_to_its_train_and_test_folders(tmp_path):
    from analysis.findings.run import unpack_femnist

    if not FEMNIST_TARBALL.is_file():
        pytest.skip(f"no FEMNIST subset at {FEMNIST_TARBALL}")
    target = unpack_femnist(tmp_path, FEMNIST_TARBALL)
    assert target == tmp_path / FEMNIST_SUBDIR
    # The subset's README: 20 train and 35 test files.
    assert len(list((target / "train").glob("*.json"))) == 20
    assert len(list((target / "test").glob("*.json"))) == 35
    assert unpack_femnist(tmp_path, tmp_path / "absent.tar.gz") == target  # unpacked once
    assert unpack_femnist(tmp_path / "other", tmp_path / "absent.tar.gz") is None


ONE_JOB = [
    "--only",
    "which_heterogeneity",
    "--override=hydra.sweeper.params.seed=0",
    "--override=hydra.sweeper.params.algorithm=fedavg",
    "--override=hydra.sweeper.params.which_heterogeneity_skew=label_dirichlet_01",
    "--override=fl.eval_every=1",
]


def test_sigterm_stops_the_running_sweep_and_make_findings_resumes_it(tmp_path):
    import psutil

    args = [sys.executable, "-m", "analysis.findings", "--results", str(tmp_path)]
    args += ["--out", str(tmp_path / "page.md"), "--run", *ONE_JOB]
    runner = subprocess.Popen(
        [*args, "--override=fl.rounds=400"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started: list[psutil.Process] = []
    try:
        lines = []
        for line in runner.stdout:  # the sweep's log, then the runner's lines
            lines.append(line)
            if "round 3/400" in line:
                break
        started = psutil.Process(runner.pid).children(recursive=True)
        assert any("worker_binary" in " ".join(p.cmdline()) for p in started)
        runner.terminate()
        rest = runner.stdout.read()
        assert runner.wait(timeout=180) == 143, "".join(lines) + rest
    finally:  # a failed assertion above must not leave the sweep training
        for process in [*started, psutil.Process(runner.pid)] if runner.poll() is None else started:
            with contextlib.suppress(psutil.Error):
                process.kill()
        runner.wait()
    assert "stopped by SIGTERM" in rest
    assert not [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    stopped = pd.read_parquet(next((tmp_path / "which_heterogeneity" / "runs").glob("*.parquet")))
    assert set(stopped["status"]) == {"interrupted"}
    k = int(stopped["round"].max())
    assert k >= 2  # round 3 was logged; its rows may not have reached the file yet
    findings(tmp_path, tmp_path / "page.md")  # the page of what is there, no --run
    assert "**Unfinished:**" in (tmp_path / "page.md").read_text()
    done = subprocess.run(
        [*args, f"--override=fl.rounds={k + 2}"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    resumed = re.findall(r"resuming after round (\d+)", done.stdout)
    assert [int(r) for r in resumed] in ([k], [k - 1]), done.stdout[-3000:]
    rows = pd.read_parquet(next((tmp_path / "which_heterogeneity" / "runs").glob("*.parquet")))
    assert rows["round"].tolist() == list(range(1, k + 3))
    settings = R.load_settings(tmp_path / "which_heterogeneity")
    status = settings.groupby(R.ROUNDS)[R.STATUS].agg(set).to_dict()
    # k + 2 rounds answered; the 400 asked first stays interrupted (not failed) to resume.
    assert status == {k + 2: {"completed"}, 400: {"interrupted"}}
    assert "**Unfinished:**" not in (tmp_path / "page.md").read_text()
