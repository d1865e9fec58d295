"""Invariants every registered strategy must keep, parametrized over the registry."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedbench.errors import PartitionError
from fedbench.partitioning import STRATEGIES, UnassignedExamplesWarning, partition
from tests.partitioning.helpers import assert_valid_parts, counts_of, params_for

ALL = sorted(STRATEGIES)
NUM_CLIENTS = 20
NUM_WRITERS = 40


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """2,000 shuffled labels of 10 imbalanced classes (50, 80, ..., 320 examples) and 40 writers.

    50 + 80 + ... + 320 = 10 * (50 + 320) / 2 = 1,850 ... plus 150 of class 0 to reach 2,000.
    Writer w gets examples i with i mod 40 == w after shuffling: 50 each.
    """
    sizes = 50 + 30 * np.arange(10)  # 50, 80, ..., 320; sum 1,850
    sizes[0] += 150  # sum 2,000
    rng = np.random.default_rng(1234)
    labels = rng.permutation(np.repeat(np.arange(10), sizes))
    writer_ids = np.arange(len(labels)) % NUM_WRITERS
    return labels, writer_ids


def run(strategy: str, labels: np.ndarray, writer_ids: np.ndarray, seed: int = 0):
    # min_client_size=2 keeps the resampling path in play but feasible for every seed:
    # quantity_alpha=0.5 over 20 clients of mean size 100 often leaves one below 10.
    params = params_for(strategy, writer_ids, min_client_size=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parts = partition(strategy, labels, NUM_CLIENTS, seed=seed, **params)
    unassigned = [w for w in caught if issubclass(w.category, UnassignedExamplesWarning)]
    return parts, unassigned


def test_registry_has_exactly_the_contract_keys():
    expected = {
        "iid",
        "dirichlet",
        "pathological",
        "shards",
        "quantity",
        "feature_noise",
        "natural",
        "dirichlet_quantity",
        "rotation",
        "concept_shift",
    }
    assert set(STRATEGIES) == expected


@pytest.mark.parametrize("strategy", ALL)
def test_signature_parameters_are_the_record_parameters_with_their_defaults(strategy):
    record = STRATEGIES[strategy]
    signature = inspect.signature(record.fn)
    names = list(signature.parameters)
    assert names[:3] == ["labels", "num_clients", "rng"]
    assert sorted(names[3:]) == sorted([*record.param_names, *record.data])
    for name in record.param_names:
        assert record.defaults[name] == signature.parameters[name].default
        record.params[record.param_names.index(name)].check(record.defaults[name])


@pytest.mark.parametrize("strategy", [n for n in ALL if STRATEGIES[n].client_shift])
def test_a_strategy_that_shifts_clients_deals_exactly_like_iid(strategy, data):
    # Feature and concept skew come from each client's shift, not from the split: same
    # seed, same generator stream, the same parts as iid.
    labels, writers = data
    parts, _ = run(strategy, labels, writers, seed=3)
    plain, _ = run("iid", labels, writers, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(parts, plain, strict=True))


@pytest.mark.parametrize("strategy", ALL)
def test_parts_are_valid(strategy, data):
    labels, writers = data
    parts, _ = run(strategy, labels, writers)
    assert_valid_parts(parts, len(labels), NUM_CLIENTS)


@pytest.mark.parametrize("strategy", ALL)
def test_nothing_lost_unless_reported(strategy, data):
    labels, writers = data
    parts, warned = run(strategy, labels, writers)
    lost = len(labels) - sum(len(p) for p in parts)
    if strategy == "natural":
        # writer_mode=sample keeps 20 of 40 writers of 50 examples: 20 * 50 = 1,000 lost.
        assert lost == 1000
    else:
        assert lost == 0
    assert len(warned) == (1 if lost else 0)
    if lost:
        assert f"{lost} of {len(labels)} examples" in str(warned[0].message)


@pytest.mark.parametrize("strategy", ALL)
def test_same_seed_same_partition(strategy, data):
    labels, writers = data
    first, _ = run(strategy, labels, writers, seed=7)
    second, _ = run(strategy, labels, writers, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("strategy", ALL)
def test_other_seed_other_partition(strategy, data):
    labels, writers = data
    first, _ = run(strategy, labels, writers, seed=0)
    second, _ = run(strategy, labels, writers, seed=1)
    assert not all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("strategy", ALL)
def test_input_order_does_not_change_the_label_table(strategy, data):
    # Every strategy decides per-client label counts from the class counts (and, for
    # natural, the writers) and the seed alone; permuting the input must leave the
    # (clients x classes) count table identical, not just similar.
    labels, writers = data
    perm = np.random.default_rng(99).permutation(len(labels))
    parts, _ = run(strategy, labels, writers, seed=5)
    permuted, _ = run(strategy, labels[perm], writers[perm], seed=5)
    assert np.array_equal(counts_of(labels, parts), counts_of(labels[perm], permuted))
    # ... while the examples themselves are not the same positions (input order is not used).
    assert not all(np.array_equal(a, b) for a, b in zip(parts, permuted, strict=True))


@pytest.mark.parametrize("strategy", sorted(set(ALL) - {"natural"}))
def test_examples_within_a_class_are_drawn_at_random(strategy):
    # One class of 400 examples over 4 clients: a client given "the next block in input
    # order" would hold a contiguous run of indices. A random 100-subset of 400 is
    # contiguous with probability 301 / C(400, 100) ~ 1e-95.
    labels = np.zeros(400, dtype=np.int64)
    # One class: one class per client for #C=k, no pair of classes to swap.
    overrides = {"classes_per_client": 1, "swaps": 0}
    parts = partition(strategy, labels, 4, seed=0, **params_for(strategy, **overrides))
    for part in parts:
        assert len(part) >= 2
        assert not np.all(np.diff(part) == 1), f"client got a contiguous block {part[[0, -1]]}"


@st.composite
def problems(draw):
    """A random label vector (some class ids may be absent), a client count and writer ids."""
    num_classes = draw(st.integers(1, 8))
    n = draw(st.integers(1, 120))
    labels = np.array(draw(st.lists(st.integers(0, num_classes - 1), min_size=n, max_size=n)))
    num_clients = draw(st.integers(1, n))
    num_writers = draw(st.integers(num_clients, max(num_clients, n)))
    # Every writer id 0..num_writers-1 appears once, the rest at random: W writers exactly.
    extra = draw(st.lists(st.integers(0, num_writers - 1), min_size=n, max_size=n))
    writer_ids = np.array(extra)
    writer_ids[: min(n, num_writers)] = np.arange(min(n, num_writers))
    seed = draw(st.integers(0, 2**32 - 1))
    return labels, num_clients, writer_ids, seed


@pytest.mark.parametrize("strategy", ALL)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=problems())
def test_random_inputs_keep_the_invariants(strategy, problem):
    labels, num_clients, writer_ids, seed = problem
    n, num_classes = len(labels), len(np.unique(labels))
    overrides = {
        "min_client_size": 0,
        "classes_per_client": min(2, num_classes),
        "shards_per_client": min(2, n // num_clients),
        # concept_shift swaps disjoint pairs of the max(labels) + 1 classes.
        "swaps": min(1, (int(labels.max()) + 1) // 2),
    }
    params = params_for(strategy, writer_ids, **overrides)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parts = partition(strategy, labels, num_clients, seed=seed, **params)
        except PartitionError as error:
            # #C=k alone refuses inputs that pass the common checks: a class with fewer
            # examples than the clients holding it would leave a client empty.
            assert strategy == "pathological", error
            assert "would get no examples" in str(error)
            return
    assert_valid_parts(parts, n, num_clients)
    if strategy == "pathological":
        assert all(len(p) for p in parts)
    lost = n - sum(len(p) for p in parts)
    warned = [w for w in caught if issubclass(w.category, UnassignedExamplesWarning)]
    assert len(warned) == (1 if lost else 0)
    if lost:
        assert f"{lost} of {n} examples" in str(warned[0].message)
    if strategy in (
        "iid",
        "feature_noise",
        "dirichlet",
        "quantity",
        "shards",
        "dirichlet_quantity",
        "rotation",
        "concept_shift",
    ):
        assert lost == 0
