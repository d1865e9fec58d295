import numpy as np
import pytest

from fedbench.errors import PartitionError
from fedbench.heterogeneity import heterogeneity, label_counts
from fedbench.partitioning import MAX_DRAWS, partition
from fedbench.partitioning.dirichlet import label_skew_counts
from tests.partitioning.helpers import balanced_labels, strictly_decreasing

LABELS = balanced_labels(10, 500)  # n = 5,000, 10 classes
ALPHAS = (0.05, 0.5, 5.0, 500.0)


def mean_metrics(alpha: float, seeds=range(3)) -> dict[str, float]:
    runs = [
        heterogeneity(
            LABELS, partition("dirichlet", LABELS, 20, seed=s, alpha=alpha, min_client_size=0)
        )
        for s in seeds
    ]
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def test_heterogeneity_rises_strictly_as_alpha_falls():
    metrics = [mean_metrics(a) for a in ALPHAS]
    for name in ("label_emd", "label_jsd", "label_hellinger"):
        assert strictly_decreasing([m[name] for m in metrics]), name
    assert strictly_decreasing([-m["effective_classes"] for m in metrics])


def test_balancing_step_caps_client_sizes():
    # NIID-Bench's balancing: a client holding >= n/K = 5,000/20 = 250 examples gets no
    # more, so a client ends below 250 + the largest class (500) = 750. Without it,
    # alpha = 0.05 hands whole classes to random clients and some client collects two
    # (birthday bound over 10 classes and 20 clients: 1 - prod(1 - i/20, i<10) ~ 0.93).
    for seed in range(5):
        parts = partition("dirichlet", LABELS, 20, seed=seed, alpha=0.05, min_client_size=0)
        assert max(len(p) for p in parts) < 750


def test_min_client_size_is_reached():
    parts = partition("dirichlet", LABELS, 20, seed=0, alpha=0.5, min_client_size=100)
    assert min(len(p) for p in parts) >= 100


def test_exhausted_redraws_say_what_was_reached_and_what_to_relax():
    # alpha = 0.05 gives whole classes to few clients; 20 clients of >= 200 out of
    # 5,000 (n/K = 250) is never reached.
    with pytest.raises(PartitionError) as error:
        partition("dirichlet", LABELS, 20, seed=0, alpha=0.05, min_client_size=200)
    message = str(error.value)
    assert message.startswith("min_client_size=200 is invalid")
    assert f"the best of {MAX_DRAWS} draws still left a client with only" in message
    assert "raise alpha" in message and "fewer num_clients" in message


def test_min_client_size_larger_than_an_even_share_is_refused_before_drawing():
    # 5,000 examples / 20 clients = 250 at most.
    with pytest.raises(PartitionError, match=r"min_client_size=251 .*at most 250"):
        partition("dirichlet", LABELS, 20, seed=0, alpha=0.5, min_client_size=251)


def test_tiny_alpha_gives_one_class_per_client_and_loses_nothing():
    # alpha = 1e-4: gamma(1e-4) draws underflow to 0 for most clients, so the whole
    # class goes to one open client. 10 classes, 10 clients: the balancing step closes a
    # client once it holds 500 = n/K, so each client ends with exactly one class.
    parts = partition("dirichlet", LABELS, 10, seed=0, alpha=1e-4, min_client_size=0)
    counts = label_counts(LABELS, parts, 10)
    assert sorted(counts.max(axis=1).tolist()) == [500] * 10
    assert (counts > 0).sum(axis=1).tolist() == [1] * 10


def test_an_underflowed_draw_goes_to_an_open_client_uniformly_not_by_target():
    # alpha = 1e-300: both Gamma(alpha) draws underflow to 0, so the one class of 10
    # goes whole to one client. As alpha -> 0 the largest gamma wins whatever the
    # targets (9 and 1), so each client is chosen with probability 1/2. Over 2,000 draws
    # the share for client 0 has sd sqrt(0.25 / 2000) = 0.011: 0.45..0.55 is +-4.5 sd,
    # and a choice weighted by target (0.9) is far outside.
    rng = np.random.default_rng(0)
    targets = np.array([9, 1])
    draws = [label_skew_counts(np.array([10]), targets, 1e-300, rng)[0] for _ in range(2000)]
    to_first = np.mean([d[0] == 10 for d in draws])
    assert all(sorted(d.tolist()) == [0, 10] for d in draws)
    assert 0.45 <= to_first <= 0.55
