"""Partitioning speed at EMNIST scale and at a small scale, and against flwr-datasets.

Run with ``make bench`` or
``.venv/bin/pytest tests/benchmarks/test_partition_speed.py -m benchmark --benchmark-only``.
The flwr-datasets comparison skips unless ``flwr_datasets`` is importable (it is
not in requirements.lock); it times the same labels in the same run, so read it
as a ratio (``--benchmark-group-by=group`` puts the pairs side by side).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from fedbench.partitioning import STRATEGIES, partition

#: The issue's budget for one partition at EMNIST scale on this 2-core machine.
EMNIST_BUDGET_SECONDS = 0.5


@dataclass(frozen=True)
class Scale:
    """Synthetic labels and writer ids of one size."""

    name: str
    labels: np.ndarray
    writer_ids: np.ndarray
    num_clients: int


def make_scale(name: str, n: int, num_classes: int, num_clients: int, seed: int = 0) -> Scale:
    """Labels with an EMNIST-like imbalance and ``num_clients`` writers of uneven size.

    EMNIST ByClass: about half the examples are the 10 digits, the 52 letters share the
    rest with roughly a 10x spread between common and rare letters. Here digits get
    weight 5 each and letters lognormal(0, 0.8) weights (95% within a 4.8x factor of the
    median either way). Writers get 1 + multinomial sizes with lognormal(0, 0.5) weights.
    """
    rng = np.random.default_rng(seed)
    digits = min(10, num_classes)
    weights = np.concatenate([np.full(digits, 5.0), rng.lognormal(0, 0.8, num_classes - digits)])
    labels = rng.choice(num_classes, size=n, p=weights / weights.sum())
    writer_weights = rng.lognormal(0, 0.5, num_clients)
    sizes = 1 + rng.multinomial(n - num_clients, writer_weights / writer_weights.sum())
    writer_ids = rng.permutation(np.repeat(np.arange(num_clients), sizes))
    return Scale(name, labels, writer_ids, num_clients)


@pytest.fixture(scope="module")
def scales() -> dict[str, Scale]:
    return {
        # EMNIST ByClass train: 814,255 examples, 62 classes, 3,400 writers.
        "emnist": make_scale("emnist", 814_255, 62, 3_400),
        # scikit-learn digits' default train split: 1,437 examples, 10 classes.
        "small": make_scale("small", 1_437, 10, 10),
    }


def params(strategy: str, scale: Scale) -> dict[str, object]:
    """Config defaults, except min_client_size=0 for the quantity skews at EMNIST scale.

    With sizes ~ Dir(0.5) over 3,400 clients a client is ~ n/K * Gamma(0.5)/0.5, below
    10 examples with probability erf(sqrt(10 / 480)) = 0.16, so no draw ever has all
    3,400 clients at 10 or more: the defaults raise there (by design, after MAX_DRAWS).
    """
    out: dict[str, object] = dict(STRATEGIES[strategy].defaults)
    if scale.name == "emnist" and strategy in ("quantity", "dirichlet_quantity"):
        out["min_client_size"] = 0
    if strategy == "natural":
        out["writer_ids"] = scale.writer_ids
    return out


@pytest.mark.benchmark(group="fedbench")
@pytest.mark.parametrize("scale_name", ["small", "emnist"])
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_fedbench_partition_speed(benchmark, scales, strategy, scale_name):
    scale = scales[scale_name]
    benchmark.group = f"fedbench-{scale_name}"
    parts = benchmark(
        partition, strategy, scale.labels, scale.num_clients, seed=0, **params(strategy, scale)
    )
    assert len(parts) == scale.num_clients
    assert sum(len(p) for p in parts) == len(scale.labels)
    if scale_name == "emnist" and benchmark.stats is not None:
        assert benchmark.stats.stats.median < EMNIST_BUDGET_SECONDS


# --- flwr-datasets on the same labels ------------------------------------------------


def _flwr_cases():
    """strategy -> (make partitioner, trigger the full assignment) for flwr-datasets 0.6."""
    from flwr_datasets import partitioner as fp

    def all_partitions(p):
        for i in range(p.num_partitions):
            p.load_partition(i)

    return {
        # IidPartitioner is lazy per partition (a contiguous Dataset.shard, no shuffle).
        "iid": (lambda k: fp.IidPartitioner(k), all_partitions),
        # self_balancing=True is NIID-Bench's balancing step, as in fedbench's dirichlet.
        "dirichlet": (
            lambda k: fp.DirichletPartitioner(
                k, "label", alpha=0.5, min_partition_size=10, self_balancing=True, seed=0
            ),
            lambda p: p.num_partitions,
        ),
        # first-deterministic is NIID-Bench's #C=k, as in fedbench's pathological.
        "pathological": (
            lambda k: fp.PathologicalPartitioner(
                k, "label", 2, class_assignment_mode="first-deterministic", seed=0
            ),
            lambda p: p.num_partitions,
        ),
        "shards": (
            lambda k: fp.ShardPartitioner(k, "label", num_shards_per_partition=2, seed=0),
            lambda p: p.num_partitions,
        ),
        # Builds every writer's index list, then selects partition 0.
        "natural": (lambda k: fp.NaturalIdPartitioner("writer"), lambda p: p.load_partition(0)),
    }


FLWR_STRATEGIES = ["iid", "dirichlet", "pathological", "shards", "natural"]


@pytest.fixture(scope="module")
def hf_datasets(scales):
    pytest.importorskip(
        "flwr_datasets",
        reason="flwr-datasets is not installed (not pinned in requirements.lock); "
        "install it to compare",
    )
    import datasets

    return {
        name: datasets.Dataset.from_dict({"label": s.labels, "writer": s.writer_ids})
        for name, s in scales.items()
    }


@pytest.mark.benchmark(group="versus-flwr")
@pytest.mark.parametrize("scale_name", ["small", "emnist"])
@pytest.mark.parametrize("strategy", FLWR_STRATEGIES)
@pytest.mark.parametrize("library", ["fedbench", "flwr_datasets"])
def test_versus_flwr_datasets(benchmark, scales, hf_datasets, strategy, scale_name, library):
    scale = scales[scale_name]
    benchmark.group = f"versus-flwr-{scale_name}-{strategy}"
    if library == "fedbench":
        strategy_params = params(strategy, scale)
        benchmark.pedantic(
            lambda: partition(strategy, scale.labels, scale.num_clients, seed=0, **strategy_params),
            rounds=3,
            iterations=1,
        )
        return
    make, trigger = _flwr_cases()[strategy]

    def setup():
        p = make(scale.num_clients)
        p.dataset = hf_datasets[scale_name]
        return (p,), {}

    benchmark.pedantic(trigger, setup=setup, rounds=3, iterations=1)
