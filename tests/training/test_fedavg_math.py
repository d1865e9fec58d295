"""FedAvg checked by hand: one local step of a zero-initialised linear model, averaged in numpy."""

import numpy as np
import pytest

from fedbench.training.algorithms import OptimizerSettings, build_process
from fedbench.training.client_data import ClientArrays
from fedbench.training.loop import LoopSettings, run_rounds
from fedbench.training.runtime import tff_worker
from fedbench.training.tff_model import initial_keras_model, make_model_fn

FEATURES, CLASSES, LR = 4, 3, 0.5


def _one_step_update(x, y):
    """Update of one full-batch SGD step from W = 0, b = 0 on mean softmax cross-entropy.

    At zero weights every logit is 0, so the softmax is uniform (1/C). The gradient
    of the mean loss is X^T (P - Y) / n for W and mean(P - Y) for b; SGD moves by -LR
    times that.
    """
    p_minus_y = np.full((len(y), CLASSES), 1.0 / CLASSES) - np.eye(CLASSES)[y]
    return -LR * x.T @ p_minus_y / len(y), -LR * p_minus_y.mean(axis=0)


@pytest.fixture(scope="module")
def two_clients():
    rng = np.random.default_rng(0)
    sizes = (3, 5)  # unequal, so weighting by examples matters
    xs = [rng.normal(size=(n, FEATURES)).astype(np.float32) for n in sizes]
    ys = [rng.integers(0, CLASSES, size=n).astype(np.int64) for n in sizes]
    return ClientArrays(train_x=xs, train_y=ys)


def test_one_round_equals_the_example_weighted_average_of_local_steps(two_clients):
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

    settings = LoopSettings(
        rounds=1,
        clients_per_round=2,
        local_epochs=1,
        batch_size=8,  # >= every client's size: exactly one step per client
        eval_every=1,
        shuffle_clients=False,
        seed=0,
    )
    model_fn = make_model_fn("linear", {}, (FEATURES,), CLASSES)
    test_x, test_y = np.concatenate(xs), np.concatenate(ys)
    with tff_worker():
        process = build_process("fedavg", model_fn, OptimizerSettings(LR, 0.0, 1.0))
        model = initial_keras_model("linear", {}, (FEATURES,), CLASSES, init_seed=0)
        (record,) = list(run_rounds(process, model, two_clients, test_x, test_y, settings))

    kernel, bias = model.get_weights()  # the loop copied the new global weights in
    np.testing.assert_allclose(kernel, expected_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias, expected_b, rtol=1e-5, atol=1e-6)
    assert record.client_drift == pytest.approx(expected_drift, rel=1e-4)
    assert record.train_examples == 8
    # Train loss is measured during the step, at W = 0: log(C) for every example.
    assert record.train_loss == pytest.approx(np.log(CLASSES), rel=1e-5)
