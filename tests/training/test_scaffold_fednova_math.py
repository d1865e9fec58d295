"""SCAFFOLD and FedNova checked against closed form on a tiny linear model.

Softmax regression ``logits = x W + b`` on 4 features and 3 classes, from zero weights.
The gradient of the mean cross-entropy over a batch is ``X^T (P - Y) / n`` for ``W`` and
``mean(P - Y)`` for ``b`` (``P`` the softmax, ``Y`` one-hot labels); at zero weights
``P`` is uniform, 1/3. The processes are driven round by round with chosen clients.
"""

import numpy as np
import pytest

from fedbench.clients import ClientArrays
from fedbench.spec import RunSpec
from fedbench.training.client_store import client_store
from fedbench.training.loop import initial_state
from fedbench.training.runtime import tff_worker
from fedbench.training.train import learning_process, loop_settings, round_inputs

pytestmark = pytest.mark.tff

FEATURES, CLASSES, LR = 4, 3, 0.5


def _gradient(w, b, x, y):
    """Gradient of the mean softmax cross-entropy at (w, b) on the batch (x, y)."""
    logits = x @ w + b
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p_minus_y = p - np.eye(CLASSES)[y]
    return x.T @ p_minus_y / len(y), p_minus_y.mean(axis=0)


def _local_sgd(w, b, x, y, batch, *, momentum=0.0, correction=None):
    """The client's local epoch in numpy: batches in order, SGD (momentum as TFF's sgdm:
    m <- rho m + g, w <- w - lr m), then ``- lr * correction`` after each step.

    Returns the update ``(w0 - w, b0 - b)`` and the number of steps.
    """
    w0, b0 = w, b
    mw, mb = np.zeros_like(w), np.zeros_like(b)
    steps = 0
    for start in range(0, len(y), batch):
        gw, gb = _gradient(w, b, x[start : start + batch], y[start : start + batch])
        mw, mb = momentum * mw + gw, momentum * mb + gb
        w, b = w - LR * mw, b - LR * mb
        if correction is not None:
            w, b = w - LR * correction[0], b - LR * correction[1]
        steps += 1
    return (w0 - w, b0 - b), steps


@pytest.fixture(scope="module")
def two_clients():
    rng = np.random.default_rng(0)
    sizes = (3, 5)  # unequal: weighting by examples and unequal local steps matter
    xs = [rng.normal(size=(n, FEATURES)).astype(np.float32) for n in sizes]
    ys = [rng.integers(0, CLASSES, size=n).astype(np.int64) for n in sizes]
    return ClientArrays(train_x=xs, train_y=ys)


def _rounds(clients, algorithm, sampled_per_round, *, batch_size, momentum=0.0, **spec_keys):
    """Run ``process.next`` once per entry of ``sampled_per_round`` (client indices).

    ``spec_keys``: further ``RunSpec.create`` keywords (``model=``, ``algorithm_options=``).
    Returns the process states after each round (the initial state first).
    """
    spec = RunSpec.create(
        algorithm=algorithm,
        client_lr=LR,
        client_momentum=momentum,
        num_clients=clients.num_clients,
        clients_per_round=1,
        batch_size=batch_size,
        shuffle_clients=False,
        **spec_keys,
    )
    with tff_worker(), client_store(clients) as store:
        process, model = learning_process(spec, (FEATURES,), CLASSES, store)
        states = [initial_state(process, model)]
        # The spec's execution (sharded unless spec_keys say otherwise), in two shards.
        shards = 2 if spec.fl.execution == "sharded" else 0
        inputs_of = round_inputs(store, loop_settings(spec), shards)
        for round_num, sampled in enumerate(sampled_per_round, start=1):
            inputs = inputs_of(np.array(sampled), round_num)
            states.append(process.next(states[-1], inputs).state)
        weights = [process.get_model_weights(s) for s in states]
    return states, weights


def _close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=2e-5, atol=2e-6)


def test_scaffold_round_with_all_clients_then_one_client_not_sampled(two_clients):
    xs, ys = two_clients.train_x, two_clients.train_y
    n = np.array([3.0, 5.0])
    # Batches of 2: client 0 takes K = 2 steps (2 + 1 examples), client 1 K = 3 (2 + 2 + 1).
    states, weights = _rounds(two_clients, "scaffold", [[0, 1], [0]], batch_size=2)
    zero = (np.zeros((FEATURES, CLASSES)), np.zeros(CLASSES))

    # Round 1: c = c_i = 0, so no correction: plain local SGD from zero, and then
    # c_i+ = c_i - c + Δ_i / (K_i lr) = Δ_i / (K_i lr).
    (d0, k0), (d1, k1) = (_local_sgd(*zero, x, y, 2) for x, y in zip(xs, ys, strict=True))
    assert (k0, k1) == (2, 3)
    c_own = [[d0[j] / (k0 * LR) for j in (0, 1)], [d1[j] / (k1 * LR) for j in (0, 1)]]
    x1 = [zero[j] - (n[0] * d0[j] + n[1] * d1[j]) / n.sum() for j in (0, 1)]
    for j in (0, 1):
        _close(weights[1].trainable[j], x1[j])
        for k in (0, 1):
            _close(states[1].clients[k][j], c_own[k][j])
    # c <- c + (1/N) sum_{i in S} Δc_i with N = 2: the mean of the two clients' c_i.
    c1 = [(c_own[0][j] + c_own[1][j]) / 2 for j in (0, 1)]
    for j in (0, 1):
        _close(states[1].server["control"][j], c1[j])

    # Round 2: client 0 alone, from x1, each step corrected by -lr (c - c_0);
    # c_0+ = c_0 - c + Δ / (K lr).
    correction = [c1[j] - c_own[0][j] for j in (0, 1)]
    delta, k = _local_sgd(*x1, xs[0], ys[0], 2, correction=correction)
    assert k == 2
    c0_new = [c_own[0][j] - c1[j] + delta[j] / (k * LR) for j in (0, 1)]
    for j in (0, 1):
        _close(weights[2].trainable[j], x1[j] - delta[j])
        _close(states[2].clients[0][j], c0_new[j])
        # Client 1 was not sampled: its c_1 is kept as it was.
        _close(states[2].clients[1][j], c_own[1][j])
        # c <- c + (1/N) Δc_0 with N = 2 (|S|/N = 1/2 of the one client's change).
        _close(states[2].server["control"][j], c1[j] + (c0_new[j] - c_own[0][j]) / 2)


@pytest.mark.parametrize("execution", ["sharded", "per_client"])
def test_scaffold_divides_by_the_clients_that_train_not_the_held_out_ones(two_clients, execution):
    # A third client, held out by fl.heldout_clients (1 of 3), never trains: SCAFFOLD's
    # N in c <- c + sum dc_i / N is the 2 clients that may train, as with no third client.
    xs, ys = two_clients.train_x, two_clients.train_y
    three = ClientArrays(train_x=[*xs, xs[0]], train_y=[*ys, ys[0]])
    states, _ = _rounds(
        three, "scaffold", [[0, 1]], batch_size=2, heldout_clients=0.34, execution=execution
    )
    zero = (np.zeros((FEATURES, CLASSES)), np.zeros(CLASSES))
    (d0, k0), (d1, k1) = (_local_sgd(*zero, x, y, 2) for x, y in zip(xs, ys, strict=True))
    for j in (0, 1):
        mean_of_two = (d0[j] / (k0 * LR) + d1[j] / (k1 * LR)) / 2
        _close(states[1].server["control"][j], mean_of_two)


def test_scaffold_leaves_out_a_client_whose_update_is_not_finite(two_clients):
    # Client 0's features hold a NaN: its update is not finite, so it weighs 0, keeps its
    # c_i (zero) and adds nothing to c; the model moves by client 1's update alone.
    xs = [two_clients.train_x[0].copy(), two_clients.train_x[1]]
    xs[0][0, 0] = np.nan
    clients = ClientArrays(train_x=xs, train_y=two_clients.train_y)
    states, weights = _rounds(clients, "scaffold", [[0, 1]], batch_size=8)
    zero = (np.zeros((FEATURES, CLASSES)), np.zeros(CLASSES))
    d1, k1 = _local_sgd(*zero, xs[1], two_clients.train_y[1], 8)
    for j in (0, 1):
        _close(weights[1].trainable[j], -d1[j])
        _close(states[1].clients[0][j], 0.0 * zero[j])
        _close(states[1].clients[1][j], d1[j] / (k1 * LR))
        _close(states[1].server["control"][j], d1[j] / (k1 * LR) / 2)


@pytest.mark.parametrize("algorithm", ["scaffold", "fednova"])
def test_a_round_of_clients_without_examples_leaves_the_model_as_it_was(algorithm):
    # Client 0 holds no example: a round that samples it alone averages nothing (0/0);
    # the model stays finite and unchanged, as TFF's FedAvg leaves it.
    rng = np.random.default_rng(1)
    clients = ClientArrays(
        train_x=[
            np.zeros((0, FEATURES), np.float32),
            rng.normal(size=(5, FEATURES)).astype(np.float32),
        ],
        train_y=[np.zeros(0, np.int64), rng.integers(0, CLASSES, size=5)],
    )
    _, weights = _rounds(clients, algorithm, [[1], [0]], batch_size=2)
    for j in (0, 1):
        assert np.all(np.isfinite(weights[2].trainable[j]))
        np.testing.assert_array_equal(weights[2].trainable[j], weights[1].trainable[j])


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_fednova_normalises_updates_by_local_steps(two_clients, momentum):
    xs, ys = two_clients.train_x, two_clients.train_y
    n = np.array([3.0, 5.0])
    _, weights = _rounds(two_clients, "fednova", [[0, 1]], batch_size=2, momentum=momentum)
    zero_w, zero_b = np.zeros((FEATURES, CLASSES)), np.zeros(CLASSES)
    # Batches of 2: client 0 takes tau = 2 steps (2 + 1 examples), client 1 three (2+2+1).
    updates, taus = zip(
        *(
            _local_sgd(zero_w, zero_b, x, y, 2, momentum=momentum)
            for x, y in zip(xs, ys, strict=True)
        ),
        strict=True,
    )
    assert taus == (2, 3)
    rho = momentum
    a = np.array(
        [t if rho == 0 else (t - rho * (1 - rho**t) / (1 - rho)) / (1 - rho) for t in taus]
    )
    p = n / n.sum()
    tau_eff = float(p @ a)
    for j in (0, 1):
        expected = -tau_eff * sum(p[i] * updates[i][j] / a[i] for i in (0, 1))
        _close(weights[1].trainable[j], expected)
