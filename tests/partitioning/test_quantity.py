import numpy as np
import pytest

from fedbench.errors import PartitionError
from fedbench.heterogeneity import heterogeneity
from fedbench.partitioning import partition
from tests.partitioning.helpers import balanced_labels, strictly_decreasing

LABELS = balanced_labels(10, 1000)  # n = 10,000


def metrics(alpha: float, seed: int = 0) -> dict[str, float]:
    parts = partition("quantity", LABELS, 10, seed=seed, alpha=alpha, min_client_size=10)
    return heterogeneity(LABELS, parts)


def test_sizes_are_skewed_but_labels_are_not():
    # Sizes ~ n * Beta(0.5, 4.5): cv = sqrt(a b / ((a+b)^2 (a+b+1))) / mean
    # = sqrt(2.25 / 150) / 0.1 = 1.22 in expectation, so well above 0.5.
    # Content is IID: a client of size m has E sum_c |p_k(c) - 0.1| ~ 10 * sqrt(2/pi)
    # * sqrt(.09/m) = 2.39/sqrt(m); weighted by m/n and summed, label_emd <= 2.39 *
    # sqrt(K/n) = 2.39 * sqrt(10/10,000) = 0.076 (Cauchy-Schwarz).
    m = metrics(0.5)
    assert m["size_cv"] > 0.5
    assert m["label_emd"] < 0.2


def test_size_skew_falls_as_alpha_rises():
    cvs = [np.mean([metrics(a, s)["size_cv"] for s in range(3)]) for a in (0.2, 2.0, 20.0, 2000.0)]
    assert strictly_decreasing(cvs), cvs


def test_min_client_size_is_reached():
    parts = partition("quantity", LABELS, 10, seed=0, alpha=0.5, min_client_size=300)
    assert min(len(p) for p in parts) >= 300


def test_unreachable_min_client_size_fails_with_a_hint():
    # 100 clients of mean 100 with sizes ~ n * Beta(0.1, 9.9): P(one client >= 50) =
    # P(Beta(0.1, 9.9) >= 0.005) = 0.23 (scipy.stats.beta.sf), all 100 at once 0.23^100
    # ~ 1e-64 per draw, so 1,000 draws fail.
    with pytest.raises(PartitionError, match=r"min_client_size=50 .*raise alpha"):
        partition("quantity", LABELS, 100, seed=0, alpha=0.1, min_client_size=50)
