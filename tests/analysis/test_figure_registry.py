"""The figure registry: a figure registered anywhere is drawn by ``make figures``, or skipped."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from analysis import figures
from tests.analysis.builders import write


@pytest.fixture
def probe():
    """A figure registered from this test module (and removed after the test)."""

    @figures.register("registry_probe")
    def registry_probe(inputs: figures.Inputs) -> figures.Drawn | figures.Skipped:
        if inputs.runs.empty:
            return figures.Skipped("no runs to count")
        fig, ax = plt.subplots()
        data = pd.DataFrame({"runs": [inputs.runs["run_id"].nunique()]})
        ax.bar([0], data["runs"])
        return figures.Drawn("registry_probe", fig, data, "probe footer")

    yield registry_probe
    figures.FIGURES.pop("registry_probe")


def test_a_figure_registered_in_a_test_module_is_drawn_with_no_other_edit(
    results_dir, probe, capsys
):
    for seed in (0, 1):
        write(results_dir, [0.5, 0.6], seed=seed)
    assert figures.main(["--results", str(results_dir)]) == 0
    out = capsys.readouterr().out
    png = results_dir / "figures" / "registry_probe.png"
    assert f"figure: {png}" in out and png.is_file()
    assert pd.read_csv(png.with_suffix(".csv"))["runs"].tolist() == [2]  # two seeds, two runs
    # --only draws that one and lists nothing else.
    assert figures.main(["--results", str(results_dir), "--only", "registry_probe"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"figure: {png}"]


def test_a_skipped_figure_is_listed_with_its_reason(tmp_path, probe, capsys):
    (tmp_path / "runs").mkdir()
    assert figures.main(["--results", str(tmp_path), "--only", "registry_probe"]) == 0
    assert capsys.readouterr().out == "figures: skipping registry_probe: no runs to count\n"


def test_every_figure_is_listed_drawn_or_skipped(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    assert figures.main(["--results", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # An empty folder: every registered figure says why it was skipped, one line each.
    assert [line.split(":")[1].split()[1] for line in lines] == list(figures.FIGURES)


def test_an_unknown_figure_name_is_one_line_and_exit_2(tmp_path, capsys):
    assert figures.main(["--results", str(tmp_path), "--only", "colour"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--only='colour' is invalid" in err and "convergence" in err


def test_registering_a_taken_name_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        figures.register("convergence")(lambda inputs: figures.Skipped("twin"))
