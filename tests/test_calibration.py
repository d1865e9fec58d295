"""fedbench.calibrate: recovers the parameter behind a partition, refuses what it cannot reach."""

import math

import numpy as np
import pytest

import fedbench
from fedbench.calibration import SEEDS, calibratable
from fedbench.errors import PartitionError
from fedbench.partitioning import partition

#: 10 balanced classes of 300 examples, split over 20 clients (~150 examples each).
LABELS = np.repeat(np.arange(10), 300)
#: Recovered α within this factor of the true one. Measured over target seeds 100-102
#: (3,000 labels, 20 clients, 5 calibration seeds): the worst ratio was 1.28, since
#: one Dir(α) partition's label_emd varies by about ±5% between seeds.
ALPHA_FACTOR = 1.5


@pytest.mark.parametrize("alpha", [0.1, 0.3, 1.0, 3.0])
def test_dirichlet_alpha_is_recovered_from_a_dirichlet_partition(alpha):
    target = partition("dirichlet", LABELS, 20, seed=100, alpha=alpha)
    found = fedbench.calibrate("dirichlet", LABELS, target, seed=0)
    assert found.parameter == "alpha" and found.metric == "label_emd"
    assert abs(math.log(found.value / alpha)) < math.log(ALPHA_FACTOR), found.summary()
    # The bisection ends where the mean over the seeds meets the target.
    assert found.achieved == pytest.approx(found.target, abs=max(found.spread, 0.01))
    assert found.seeds == tuple(range(SEEDS)) and found.spread > 0


def test_pathological_classes_per_client_is_recovered_exactly():
    # #C=k fixes each client's class count: label_emd moves in clear steps between k's.
    target = partition("pathological", LABELS, 20, seed=100, classes_per_client=3)
    found = fedbench.calibrate("pathological", LABELS, target, seed=0)
    assert found.value == 3 and isinstance(found.value, int)


def _writers_with_noise(top: float) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """10 IID "writers" whose features carry noise of sd ``top * k / 9`` (their own skew)."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 100)
    features = rng.random((400, 8, 8)).astype(np.float32) + labels[:, None, None]
    parts = partition("iid", labels, 10, seed=0)
    for k, part in enumerate(parts):
        features[part] += rng.normal(0.0, top * k / 9, features[part].shape).astype(np.float32)
    return labels, features, parts


def test_feature_noise_sigma_matches_writers_with_noisy_features():
    # Calibration adds feature_noise's noise to the writers' own (noisy) features, so the
    # matching sigma is not the writers' top noise; it rises with it, and meets the target.
    found = []
    for top in (0.5, 1.0):
        labels, features, parts = _writers_with_noise(top)
        match = fedbench.calibrate(
            "feature_noise", labels, parts, seed=0, metric="feature_frechet", features=features
        )
        assert match.achieved == pytest.approx(match.target, abs=max(match.spread, 0.01))
        found.append(match.value)
    assert 0 < found[0] < found[1], found


def test_a_target_out_of_reach_is_refused_in_one_line():
    # Quantity skew leaves every client's labels IID: it cannot reach Dir(0.1)'s label_emd.
    target = partition("dirichlet", LABELS, 20, seed=100, alpha=0.1)
    with pytest.raises(PartitionError) as caught:
        fedbench.calibrate("quantity", LABELS, target, seed=0)
    message = str(caught.value)
    assert "\n" not in message
    assert "strategy='quantity' is invalid" in message and "label_emd=" in message
    assert "spans" in message and "choose another strategy or metric" in message


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        ({"strategy": "iid"}, "a strategy with a parameter to calibrate: dirichlet"),
        ({"strategy": "dirichlet", "metric": "accuracy"}, "metric='accuracy' is invalid"),
        ({"strategy": "dirichlet", "metric": "feature_frechet"}, "features=None is invalid"),
        ({"strategy": "dirichlet", "alpha": 0.5}, "alpha=0.5 is invalid: allowed is left out"),
    ],
)
def test_bad_calls_are_one_line(call, fragment):
    target = partition("iid", LABELS, 20, seed=0)
    strategy = call.pop("strategy")
    with pytest.raises(PartitionError, match=None) as caught:
        fedbench.calibrate(strategy, LABELS, target, seed=0, **call)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_every_strategy_with_a_search_says_so():
    assert set(calibratable()) == {
        "dirichlet",
        "dirichlet_quantity",
        "quantity",
        "pathological",
        "feature_noise",
        "rotation",
        "concept_shift",
    }
