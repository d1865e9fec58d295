"""Every registered figure on a 24-setting sweep: drawn, told apart, legends clear, data kept."""

from __future__ import annotations

import json

import matplotlib.colors as mcolors
import pandas as pd
import pytest

from analysis import figures
from analysis.figures.looks import MARKERS
from analysis.load import SETTING, with_settings
from fedbench import results as R
from tests.analysis.builders import SWEEP, write_sweep

#: The y value each setting figure plots, as a column of its CSV.
Y = {
    "accuracy_vs_heterogeneity": "accuracy_mean",
    "convergence": "mean",
    "heterogeneity_predictors": "drop",
    "fairness": f"{R.CLIENT_ACCURACY_P10}_mean",
    "participation_gaps": "mean",
}


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """write_sweep's 24 settings at 3 seeds, a partition report and a benchmark file."""
    root = tmp_path_factory.mktemp("sweep24") / "results"
    write_sweep(root)
    (root / "partitions").mkdir(parents=True)
    pd.DataFrame(
        {"client_id": [0, 1], "num_examples": [3, 2], "count_0": [3, 0], "count_1": [0, 2]}
    ).to_parquet(root / "partitions" / "digits-dirichlet-K2.parquet")
    (root / "benchmarks").mkdir()
    cases = [
        {
            "group": "round",
            "name": f"t[{way}]",
            "stats": {"median": median},
            "extra_info": {"case": way},
        }
        for way, median in (("TFF", 0.02), ("plain Keras", 0.01))
    ]
    (root / "benchmarks" / "b.json").write_text(json.dumps({"benchmarks": cases}))
    return root


@pytest.fixture(scope="module")
def inputs(big):
    return figures.Inputs.read(big)


def test_the_sweep_has_24_settings(inputs):
    # 11 cases (IID + 3 + 3 + 2 + 2 strategy settings) x 2 algorithms + 2 centralized.
    assert sum(len(v[1]) for v in SWEEP.values()) == 10
    assert inputs.runs[SETTING].nunique() == 24
    assert len(inputs.series) == 24


def _styles(fig):
    """gid (a setting's label) -> the set of (colour, marker, line style) drawn for it."""
    out: dict[str, set] = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            gid = line.get_gid()
            if gid is None or line.get_marker() not in MARKERS:
                continue  # error-bar caps, reference lines
            look = (mcolors.to_hex(line.get_color()), line.get_marker(), line.get_linestyle())
            out.setdefault(gid, set()).add(look)
    return out


#: Figures of one study's own runs, which the 24-setting sweep above does not hold; each
#: is drawn from its study's rows by its own test module.
OWN_STUDY = {"fedprox_systems": "tests/analysis/test_fedprox_systems.py"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.skip(reason=f"its study's rows: {OWN_STUDY[n]}"))
        if n in OWN_STUDY
        else n
        for n in figures.FIGURES
    ],
)
def test_every_figure_draws_and_tells_every_setting_apart(inputs, big, tmp_path, name):
    result = figures.FIGURES[name](inputs)
    assert not isinstance(result, figures.Skipped), result
    for item in figures.drawn(result):
        fig = item.figure
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        styles = _styles(fig)
        if name in Y:
            # Every setting in the data is drawn, each in one look, no look twice.
            # (accuracy_vs_heterogeneity draws its references as lines, not as series.)
            series = item.data[
                item.data.get("panel", pd.Series(index=item.data.index)) != "reference"
            ]
            assert set(styles) == set(series["label"])
            assert all(len(s) == 1 for s in styles.values()), styles
            looks = [next(iter(s)) for s in styles.values()]
            assert len(looks) == len(set(looks))
        # No legend covers any axes' data area.
        legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
        for legend in legends:
            box = legend.get_window_extent(renderer)
            for ax in fig.axes:
                if ax.get_visible() and ax.get_label() != "<colorbar>":
                    assert not box.overlaps(ax.get_window_extent(renderer)), (name, ax.get_title())
        plotted = _plotted(fig, name)
        path = figures.save(item, tmp_path)
        csv = pd.read_csv(path.with_suffix(".csv"))
        assert path.is_file() and len(csv) == len(item.data)
        if name in Y:
            # Each drawn value is in the CSV among its setting's rows.
            for label, values in plotted.items():
                kept = csv.loc[csv["label"] == label, Y[name]].to_numpy()
                assert all(abs(kept - v).min() < 1e-9 for v in values), (name, label)
        if name == "heatmap":
            # Cell texts are the CSV's means in percent (first line of each annotation).
            shown = sorted(plotted["cells"])
            assert shown == sorted(f"{100 * m:.1f}" for m in csv["accuracy_mean"])


def _plotted(fig, name):
    if name == "heatmap":
        texts = [t.get_text().split("\n")[0] for t in fig.axes[0].texts]
        return {"cells": texts}
    out: dict[str, list[float]] = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_gid() is not None and line.get_marker() in MARKERS:
                out.setdefault(line.get_gid(), []).extend(map(float, line.get_ydata()))
    return out


def test_shades_follow_strength_and_references_keep_their_colours(inputs):
    series = {s.label: s for s in inputs.series.values()}
    # alpha 0.05 < 0.1 < 0.5: darkest first (lightness rises with alpha).
    light = [
        sum(mcolors.to_rgb(series[f"dirichlet (α={a}), fedavg"].color)) for a in (0.05, 0.1, 0.5)
    ]
    assert light == sorted(light) and len(set(light)) == 3
    # For sigma a larger value is the stronger skew (its record says so): sigma 0.5 darker.
    noise = [
        sum(mcolors.to_rgb(series[f"feature_noise (σ={v}), fedavg"].color)) for v in (0.5, 0.2)
    ]
    assert noise[0] < noise[1]
    assert series["iid, fedavg"].color == "#000000"
    assert series["centralized, fedprox"].linestyle == ":"
    # The algorithm picks the marker: one per algorithm, whatever the strategy.
    assert {s.marker for s in series.values() if s.label.endswith("fedprox")} == {"s"}


def test_more_strategies_than_hue_families_still_look_apart(results_dir):
    from tests.analysis.builders import write

    for i in range(11):  # 11 unregistered strategies, one setting each: hues repeat past 8
        write(results_dir, [0.5], partition=f"plugin{i:02d}", metrics={R.LABEL_EMD: i / 10})
    series = figures.Inputs.read(results_dir).series
    looks = [s.look for s in series.values()]
    assert len(series) == 11 and len(set(looks)) == 11


def test_an_option_its_algorithm_determines_stays_out_of_labels(inputs):
    # algorithm.mu is 0.01 for fedprox and null for fedavg: the algorithm already says it.
    runs = inputs.runs.assign(**{"algorithm.mu": inputs.runs[R.ALGORITHM].map({"fedprox": 0.01})})
    labels = {s.label for s in figures.Inputs(runs=runs).series.values()}
    assert labels == {s.label for s in inputs.series.values()}
    assert "dirichlet (α=0.05), fedprox" in labels and not any("mu" in x for x in labels)
    # Seed 0 of every setting at mu=0.1 (the others keep 0.01 or null): 24 settings split
    # in two, 48, mu now tells settings of one algorithm apart and is named.
    mu = runs["algorithm.mu"].where(runs[R.SEED] != 0, 0.1)
    runs = runs.assign(**{"algorithm.mu": mu})
    series = figures.Inputs(runs=with_settings(runs.drop(columns=SETTING))).series
    labels = {s.label for s in series.values()}
    assert {"iid, fedprox, algorithm.mu=0.1", "iid, fedprox, algorithm.mu=0.01"} <= labels
    assert len({s.look for s in series.values()}) == len(series) == 48
