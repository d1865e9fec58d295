import numpy as np
from PIL import Image

from fedbench.app.job.partition_tables import (
    client_table,
    heatmap_rows,
    label_heatmap,
    plot_label_heatmap,
    summary_line,
)
from fedbench.heterogeneity import heterogeneity, label_counts
from fedbench.partitioning import partition


def test_client_table_has_one_row_per_client_with_counts():
    labels = np.array([0, 1, 1, 2, 2, 2])
    parts = [np.array([0, 3]), np.array([1, 2, 4, 5]), np.array([], dtype=np.int64)]
    table = client_table(labels, parts, num_classes=4)
    assert list(table.columns) == [
        "client_id",
        "num_examples",
        "count_0",
        "count_1",
        "count_2",
        "count_3",
    ]
    assert table.to_numpy().tolist() == [[0, 2, 1, 0, 1, 0], [1, 4, 0, 2, 2, 0], [2, 0, 0, 0, 0, 0]]
    assert all(str(t) == "int64" for t in table.dtypes)


def test_summary_line_is_one_short_line_with_three_decimals():
    # One class per client over 10 balanced classes: label_emd 1.8 (see test_heterogeneity).
    labels = np.repeat(np.arange(10), 5)
    parts = [np.flatnonzero(labels == c) for c in range(10)]
    line = summary_line(heterogeneity(labels, parts), unassigned=3)
    assert "\n" not in line and len(line) < 160
    assert line.startswith("10 clients, 50 examples (3 unassigned); ")
    assert (
        "label_emd=1.800" in line and "effective_classes=1.000" in line and "size_cv=0.000" in line
    )
    assert "feature_frechet" not in line  # not measured without features


def test_summary_line_shows_the_feature_metrics_when_measured():
    # Both clients hold the same four rows (two per class): features match the pooled ones.
    labels = np.array([0, 0, 1, 1] * 2)
    features = np.array([[0.0], [1.0], [2.0], [3.0]] * 2)
    metrics = heterogeneity(labels, [np.arange(4), np.arange(4, 8)], features=features)
    line = summary_line(metrics, unassigned=0)
    assert "\n" not in line and len(line) < 260
    assert "feature_hellinger=0.000 feature_frechet=0.000 conditional_frechet=0.000" in line


def test_heatmap_rows_all_clients_in_id_order_when_few():
    rows, caption = heatmap_rows(np.array([5, 1, 3]), max_rows=10)
    assert rows.tolist() == [0, 1, 2] and caption == "all 3 clients"


def test_heatmap_rows_sample_evenly_by_size_when_many():
    # 1,000 clients of sizes 0..999 (client i has size i) shown in 100 rows: ranks
    # round(linspace(0, 999, 100)) of the largest-first order, so the first row is
    # client 999, the last client 0, and the caption says it is a sample.
    rows, caption = heatmap_rows(np.arange(1000), max_rows=100)
    assert len(rows) == 100 and len(set(rows.tolist())) == 100
    assert rows[0] == 999 and rows[-1] == 0
    assert np.all(np.diff(rows) < 0)
    assert caption.startswith("100 of 1,000 clients, evenly spaced by size rank")


def test_heatmap_at_10_and_1000_clients_is_drawn_readably(tmp_path):
    labels = np.random.default_rng(0).integers(0, 62, 50_000)
    for num_clients, rows, caption in (
        (10, 10, "all 10 clients"),
        # 1,000 clients shown as 100 rows: a sample, and the title says so.
        (1000, 100, "100 of 1,000 clients, evenly spaced by size rank"),
    ):
        parts = partition("dirichlet", labels, num_clients, seed=0, alpha=0.3, min_client_size=0)
        counts = label_counts(labels, parts, 62)
        fig = label_heatmap(counts, title="test", max_rows=100)
        heat = fig.axes[0]
        assert heat.collections[0].get_array().shape == (rows, 62)  # one cell per row x class
        assert caption in fig.get_suptitle()
        assert len(heat.get_yticklabels()) <= 40  # row labels stay legible
        path = plot_label_heatmap(counts, tmp_path / f"h{num_clients}.png", title="t")
        with Image.open(path) as image:
            assert image.format == "PNG"
