"""Cost of the heterogeneity metrics at EMNIST scale: label metrics, feature metrics, one pass.

Run with ``make bench`` or
``.venv/bin/pytest tests/benchmarks/test_heterogeneity_speed.py -m benchmark --benchmark-only``.
The metrics are measured once per run and per partition report, never per round. Each
group times, on the same arrays in the same run, the label metrics alone, all metrics
with the features, and one matrix product of the features with a 784 x 32 matrix (the
least any measure of every feature must cost), so read them as ratios.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from fedbench.heterogeneity import heterogeneity

#: The feature metrics' budget at EMNIST-digits scale with 100 clients (issue 21: "well
#: under a second"), checked on the median.
EMNIST_BUDGET_SECONDS = 1.0


@dataclass(frozen=True)
class Scale:
    """Images, labels and an IID partition of one size."""

    name: str
    features: np.ndarray
    labels: np.ndarray
    parts: list[np.ndarray]


def make_scale(name: str, n: int, num_classes: int, num_clients: int) -> Scale:
    """``n`` random 28x28 float32 images in [0, 1), uniform labels, ``num_clients`` IID parts."""
    rng = np.random.default_rng(0)
    features = rng.random((n, 28, 28), dtype=np.float32)
    labels = rng.integers(0, num_classes, n)
    parts = [np.sort(p) for p in np.array_split(rng.permutation(n), num_clients)]
    return Scale(name, features, labels, parts)


@pytest.fixture(scope="module")
def scales() -> dict[str, Scale]:
    return {
        # TFF's federated EMNIST, digits only: 341,873 training examples, 10 classes;
        # fedbench's runs use it with about 100 clients.
        "emnist_digits": make_scale("emnist_digits", 341_873, 10, 100),
        # The same examples as writers: 3,400 clients of 62 classes (many small cells).
        "emnist_writers": make_scale("emnist_writers", 341_873, 62, 3_400),
    }


@pytest.mark.benchmark(group="heterogeneity")
@pytest.mark.parametrize("scale_name", ["emnist_digits", "emnist_writers"])
@pytest.mark.parametrize("case", ["label_metrics", "all_metrics", "one_pass"])
def test_heterogeneity_speed(benchmark, scales, case, scale_name):
    scale = scales[scale_name]
    benchmark.group = f"heterogeneity-{scale_name}"
    if case == "label_metrics":
        metrics = benchmark(heterogeneity, scale.labels, scale.parts)
        assert np.isnan(metrics["feature_frechet"])
    elif case == "all_metrics":
        metrics = benchmark.pedantic(
            heterogeneity,
            (scale.labels, scale.parts),
            {"features": scale.features},
            rounds=5,
            iterations=1,
        )
        assert np.isfinite(metrics["feature_frechet"])
        if scale_name == "emnist_digits" and benchmark.stats is not None:
            assert benchmark.stats.stats.median < EMNIST_BUDGET_SECONDS
    else:
        matrix = np.ones((28 * 28, 32), dtype=np.float32)
        flat = scale.features.reshape(len(scale.features), -1)
        benchmark.pedantic(np.matmul, (flat, matrix), rounds=5, iterations=1)
