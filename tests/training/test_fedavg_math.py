"""FedAvg checked by hand: one local step of a zero-initialised linear model, averaged in numpy."""

import numpy as np
import pytest

from fedbench.clients import ClientArrays, TrainingData
from fedbench.seeding import sample_clients
from fedbench.spec import RunSpec
from fedbench.training.client_store import client_store
from fedbench.training.loop import run_rounds
from fedbench.training.runtime import tff_worker
from fedbench.training.train import learning_process, loop_settings, round_inputs

FEATURES, CLASSES, LR = 4, 3, 0.5


def _one_step_update(x, y):
    """Update of one full-batch SGD step from W = 0, b = 0 on mean softmax cross-entropy.

    At zero weights every logit is 0, so the softmax is uniform (1/C). The gradient
    of the mean loss is X^T (P - Y) / n for W and mean(P - Y) for b; SGD moves by -LR
    times that.
    """
    p_minus_y = np.full((len(y), CLASSES), 1.0 / CLASSES) - np.eye(CLASSES)[y]
    return -LR * x.T @ p_minus_y / len(y), -LR * p_minus_y.mean(axis=0)


@pytest.fixture(params=["sharded", "per_client"])
def execution(request):
    """Both ways a round trains its clients (fl.execution) must do this arithmetic."""
    return request.param


def _train_linear(clients, lr, *, rounds, clients_per_round, execution, test=None):
    """Train the zero-initialised linear model with FedAvg: one full batch per client
    and epoch (batch 8 >= every client's size), no shuffling, seed 0; two shards."""
    spec = RunSpec.create(
        execution=execution,
        client_lr=lr,
        rounds=rounds,
        num_clients=clients.num_clients,
        clients_per_round=clients_per_round,
        batch_size=8,
        shuffle_clients=False,
    )
    test_x, test_y = test or (np.concatenate(clients.train_x), np.concatenate(clients.train_y))
    data, settings = TrainingData(clients, test_x, test_y, CLASSES), loop_settings(spec)
    # The loop itself, to read the global weights it copies into the model.
    with tff_worker(), client_store(clients) as store:
        process, model = learning_process(spec, (FEATURES,), CLASSES, store)
        shards = 2 if execution == "sharded" else 0
        inputs = round_inputs(store, settings, shards)
        records = list(run_rounds(process, model, inputs, data, settings))
    return records, model


@pytest.fixture(scope="module")
def two_clients():
    rng = np.random.default_rng(0)
    sizes = (3, 5)  # unequal, so weighting by examples matters
    xs = [rng.normal(size=(n, FEATURES)).astype(np.float32) for n in sizes]
    ys = [rng.integers(0, CLASSES, size=n).astype(np.int64) for n in sizes]
    return ClientArrays(train_x=xs, train_y=ys)


@pytest.mark.tff
def test_one_round_equals_the_example_weighted_average_of_local_steps(two_clients, execution):
    xs, ys = two_clients.train_x, two_clients.train_y
    updates = [_one_step_update(x, y) for x, y in zip(xs, ys, strict=True)]
    n = np.array([len(y) for y in ys], dtype=float)
    expected_w = sum(nk * u[0] for nk, u in zip(n, updates, strict=True)) / n.sum()
    expected_b = sum(nk * u[1] for nk, u in zip(n, updates, strict=True)) / n.sum()
    # client_drift = (sum_k n_k ||Δ_k - Δ̄|| / sum_k n_k) / ||Δ̄||, over W and b together
    flat = [np.concatenate([w.ravel(), b]) for w, b in updates]
    mean = np.concatenate([expected_w.ravel(), expected_b])
    expected_drift = np.dot(n, [np.linalg.norm(f - mean) for f in flat]) / n.sum()
    expected_drift /= np.linalg.norm(mean)

    (record,), model = _train_linear(
        two_clients, LR, rounds=1, clients_per_round=2, execution=execution
    )

    kernel, bias = model.get_weights()  # the loop copied the new global weights in
    np.testing.assert_allclose(kernel, expected_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias, expected_b, rtol=1e-5, atol=1e-6)
    assert record.client_drift == pytest.approx(expected_drift, rel=1e-4)
    assert record.train_examples == 8
    # Train loss is measured during the step, at W = 0: log(C) for every example.
    assert record.train_loss == pytest.approx(np.log(CLASSES), rel=1e-5)


@pytest.mark.tff
def test_a_client_update_tff_drops_for_being_non_finite_ends_the_run_as_diverged(execution):
    # One step at lr 1e37 from W = 0: the gradient X^T (P - Y) / n has entries of order
    # |x|, so client 0 (features ~100) moves W by ~1e39 > float32's max 3.4e38: its update
    # is inf, and TFF silently gives it weight 0. Client 1 (features ~0.01) moves by
    # ~1e35, finite, so the average, the new global weights and the loss (measured at
    # W = 0: log C) all stay finite; only the missing 5 examples tell.
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(5, FEATURES)).astype(np.float32) * s for s in (100.0, 0.01)]
    ys = [rng.integers(0, CLASSES, size=5) for _ in xs]
    clients = ClientArrays(train_x=xs, train_y=ys)
    records, _ = _train_linear(clients, 1e37, rounds=3, clients_per_round=2, execution=execution)
    assert len(records) == 1 and records[0].diverged
    assert records[0].train_loss == pytest.approx(np.log(CLASSES), rel=1e-5)


@pytest.mark.tff
def test_a_round_whose_sampled_clients_hold_nothing_has_no_train_loss(execution):
    # Client 0 is empty; with one client per round, the rounds that sample it train on
    # nothing: TFF reports a loss of 0 there, which is no measurement (NaN), and the
    # global model is left as it was, so the run goes on.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, FEATURES)).astype(np.float32)
    y = rng.integers(0, CLASSES, size=6)
    clients = ClientArrays(
        train_x=[np.zeros((0, FEATURES), np.float32), x], train_y=[np.zeros(0, np.int64), y]
    )
    empty_rounds = [r for r in range(1, 7) if sample_clients(0, r, 2, 1).tolist() == [0]]
    assert 0 < len(empty_rounds) < 6  # seed 0 samples both kinds of round
    records, _ = _train_linear(
        clients, LR, rounds=6, clients_per_round=1, execution=execution, test=(x, y)
    )
    assert len(records) == 6 and not any(r.diverged for r in records)
    for r in records:
        empty = r.round in empty_rounds
        assert r.train_examples == (0 if empty else 6)
        assert np.isnan(r.train_loss) == empty and np.isnan(r.train_accuracy) == empty


def test_float32_rounding_of_large_client_weights_is_not_a_dropped_update():
    # TFF hands weights over as float32: EMNIST-62's 671,585 examples x 25 epochs on one
    # client is 16,789,625, which float32 rounds to 16,789,624. That is no dropped
    # client; 5 examples' worth missing from a small round is.
    from types import SimpleNamespace

    from fedbench.training.loop import dropped_updates

    def output(total):
        return SimpleNamespace(metrics={"aggregator": {"client_weight_total": total}})

    big = ClientArrays(train_x=[np.zeros((671_585, 1))], train_y=[np.zeros(671_585, np.int64)])
    assert float(np.float32(671_585 * 25)) == 16_789_624.0
    assert dropped_updates(output(16_789_624.0), big, np.array([0]), local_epochs=25) == 0
    small = ClientArrays(train_x=[np.zeros((5, 1))] * 2, train_y=[np.zeros(5, np.int64)] * 2)
    assert dropped_updates(output(5.0), small, np.array([0, 1]), local_epochs=1) == 5
