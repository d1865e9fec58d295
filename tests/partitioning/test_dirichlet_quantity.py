import numpy as np

from fedbench.heterogeneity import heterogeneity
from fedbench.partitioning import partition
from tests.partitioning.helpers import balanced_labels, strictly_decreasing

LABELS = balanced_labels(10, 1000)  # n = 10,000
SEEDS = range(3)


def mean_metrics(alpha: float, quantity_alpha: float) -> dict[str, float]:
    runs = [
        heterogeneity(
            LABELS,
            partition(
                "dirichlet_quantity",
                LABELS,
                20,
                seed=s,
                alpha=alpha,
                quantity_alpha=quantity_alpha,
                min_client_size=0,
            ),
        )
        for s in SEEDS
    ]
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def test_alpha_moves_the_label_metrics():
    metrics = [mean_metrics(a, quantity_alpha=1.0) for a in (0.05, 0.5, 5.0, 500.0)]
    for name in ("label_emd", "label_jsd", "label_hellinger"):
        assert strictly_decreasing([m[name] for m in metrics]), name


def test_quantity_alpha_moves_size_cv():
    metrics = [mean_metrics(1.0, quantity_alpha=q) for q in (0.1, 1.0, 10.0, 1000.0)]
    assert strictly_decreasing([m["size_cv"] for m in metrics])


def test_the_knobs_are_separate():
    # alpha -> inf: labels near IID (as quantity: label_emd <= 2.39 sqrt(K/n) = 0.11 for
    # K = 20, n = 10,000) while sizes stay skewed by quantity_alpha = 0.5 (cv ~
    # sqrt((K - 1) / (K * alpha + 1)) = sqrt(19 / 11) = 1.3 for Dir(0.5) over 20).
    skewed_sizes = mean_metrics(1e4, quantity_alpha=0.5)
    assert skewed_sizes["label_emd"] < 0.25
    assert skewed_sizes["size_cv"] > 0.6
    # quantity_alpha -> inf: equal targets, so sizes are near equal under mild label skew.
    equal_sizes = mean_metrics(5.0, quantity_alpha=1e4)
    assert equal_sizes["size_cv"] < 0.2
    assert equal_sizes["label_emd"] > 0.3


def test_min_client_size_is_reached():
    parts = partition(
        "dirichlet_quantity", LABELS, 20, seed=0, alpha=0.5, quantity_alpha=2.0, min_client_size=100
    )
    assert min(len(p) for p in parts) >= 100
