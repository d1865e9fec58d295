"""SCAFFOLD's two starts of the control variates (``algorithm.control_start``).

``network`` is NIID-Bench's start: ``c`` and every ``c_i`` begin at the trainable weights
``W`` of one freshly initialized network (the run's model from its seed, stream
``CONTROL_INIT``); ``zeros`` begins them at zero. A small MLP (its Keras init is not
zero, unlike ``model=linear``'s) on 4 features and 3 classes, driven round by round with
chosen clients, no shuffling, client lr 0.5, server lr 1.
"""

import numpy as np
import pytest

from fedbench import seeding
from fedbench.clients import ClientArrays
from fedbench.training.tff_model import initial_keras_model
from tests.training.test_scaffold_fednova_math import CLASSES, FEATURES, LR
from tests.training.test_scaffold_fednova_math import _rounds as math_rounds

pytestmark = [pytest.mark.tff, pytest.mark.usefixtures("shared_session")]

HIDDEN, SEED = 8, 0
EPS = float(np.finfo(np.float32).eps)  # 2^-23, float32's spacing at 1


@pytest.fixture(scope="module")
def three_clients():
    rng = np.random.default_rng(0)
    sizes = (4, 6, 5)
    xs = [rng.normal(size=(n, FEATURES)).astype(np.float32) for n in sizes]
    ys = [rng.integers(0, CLASSES, size=n).astype(np.int64) for n in sizes]
    return ClientArrays(train_x=xs, train_y=ys)


def _rounds(clients, start, sampled_per_round, *, batch_size):
    """The process states after each round (the initial state first) and their models."""
    states, weights = math_rounds(
        clients,
        "scaffold",
        sampled_per_round,
        batch_size=batch_size,
        model="mlp",
        model_options={"hidden": HIDDEN},
        algorithm_options={"control_start": start},
        seed=SEED,
    )
    return states, [[np.asarray(w) for w in model.trainable] for model in weights]


def _network_by_hand():
    """W: the MLP's trainable weights initialized from (seed, CONTROL_INIT), built here."""
    init_seed = seeding.int_seed(SEED, seeding.CONTROL_INIT)
    model = initial_keras_model("mlp", {"hidden": HIDDEN}, (FEATURES,), CLASSES, init_seed)
    return [np.asarray(w) for w in model.trainable_weights]


def _control(state):
    return [np.asarray(leaf) for leaf in state.server["control"]]


def _max_diff(a, b):
    return max(
        float(np.abs(np.asarray(x) - np.asarray(y)).max()) for x, y in zip(a, b, strict=True)
    )


def _bitwise(a, b):
    for left, right in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(left), np.asarray(right))


def test_partial_participation_network_start_corrects_by_c_minus_c_i_from_the_network(
    three_clients,
):
    # One client of N = 3 a round: client 0, then client 1 (never sampled before). Batches
    # of 8 hold a client's data whole: one local step (K = 1) a round.
    n = three_clients.num_clients
    sampled = [[0], [1]]
    zero, zero_x = _rounds(three_clients, "zeros", sampled, batch_size=8)
    net, net_x = _rounds(three_clients, "network", sampled, batch_size=8)
    w = _network_by_hand()
    assert max(float(np.abs(leaf).max()) for leaf in w) > 0.1  # W is not zero
    # Another draw than the global model's initial weights.
    assert not np.array_equal(w[0], net_x[0][0])

    # Start: c = W and every c_i = W (NIID-Bench loads c_global into every c_nets[i]);
    # zeros: all zero.
    _bitwise(_control(net[0]), w)
    for row in net[0].clients:
        _bitwise(row, w)
    assert all(not np.any(leaf) for leaf in _control(zero[0]))
    assert all(not np.any(leaf) for row in zero[0].clients for leaf in row)

    # Round 1: c - c_0 = W - W = 0 exactly, as 0 - 0: the same model and the same c_0+ bit
    # for bit; the unsampled clients keep W.
    _bitwise(net_x[1], zero_x[1])
    _bitwise(net[1].clients[0], zero[1].clients[0])
    _bitwise(net[1].clients[1], w)
    _bitwise(net[1].clients[2], w)
    # c <- c + (1/N) (c_0+ - c_0): W + (c_0+ - W)/N with the network start, c_0+/N with zeros.
    c0 = [np.asarray(leaf) for leaf in net[1].clients[0]]
    c1_net, c1_zero = _control(net[1]), _control(zero[1])
    for j, leaf in enumerate(w):
        scale = 4 * EPS * max(1.0, float(np.abs(leaf).max()), float(np.abs(c0[j]).max()))
        np.testing.assert_allclose(c1_net[j], leaf + (c0[j] - leaf) / n, rtol=0, atol=scale)
        np.testing.assert_allclose(c1_zero[j], c0[j] / n, rtol=0, atol=scale)

    # Round 2, client 1: its correction is c - c_1, with c_1 = W (network) or 0 (zeros).
    # From the same model x1 on the same batch, one SGD step then the correction:
    # y = x1 - lr grad - lr (c - c_1), so with server lr 1 (x2 = y)
    # x2_net - x2_zero = -lr [(c1_net - W) - (c1_zero - 0)], by hand from the states above;
    # in closed form -lr (W + (c_0+ - W)/N - W - c_0+/N) = lr W / N.
    for j, leaf in enumerate(w):
        by_hand = -LR * ((c1_net[j] - leaf) - c1_zero[j])
        # Each side is a few float32 roundings of values of size <= 1 + |W| + |c|.
        size = 1.0 + float(np.abs(leaf).max()) + float(np.abs(c0[j]).max())
        atol = 16 * EPS * size
        np.testing.assert_allclose(net_x[2][j] - zero_x[2][j], by_hand, rtol=0, atol=atol)
        np.testing.assert_allclose(net_x[2][j] - zero_x[2][j], LR * leaf / n, rtol=0, atol=atol)
    # ... which is far from rounding: with partial participation the two starts differ.
    assert _max_diff(net_x[2], zero_x[2]) > 1e-2


def test_full_participation_both_starts_give_the_same_rows_up_to_float32_rounding(
    three_clients,
):
    # Every client every round, batches of 2: K = 2, 3, 3 local steps, 6 rounds.
    rounds, all_clients = 6, [[0, 1, 2]]
    zero, zero_x = _rounds(three_clients, "zeros", all_clients * rounds, batch_size=2)
    net, net_x = _rounds(three_clients, "network", all_clients * rounds, batch_size=2)
    w = _network_by_hand()
    size = max(float(np.abs(leaf).max()) for leaf in w)
    # Round 1 is the same computation bit for bit (c - c_i = W - W = 0 - 0 = 0, and
    # c_i+ = (c_i - c) + Δ/(K lr) = 0 + Δ/(K lr)). W then leaves every c_i, and c only
    # through float32 rounding: c = W + (1/N) Σ (c_i+ - W) against (1/N) Σ c_i+ differ by
    # at most about (N + 3) roundings of values of size |W| + |c_i| (below 2 |W| here),
    # i.e. δ <= (N + 3) · 2|W| · eps / 2. From round 2 on the two runs are the same
    # computation from inputs δ apart: a correction δ off moves y by K lr δ (<= 1.5 δ) and
    # c_i+ by about δ. Allowing the rounds to compound that (a factor 2 a round, far
    # above what the small steps here can amplify), every value stays within
    # 2^R (N + 3) |W| eps.
    n = three_clients.num_clients
    atol = 2**rounds * (n + 3) * size * EPS
    _bitwise(net_x[1], zero_x[1])
    for r in range(2, rounds + 1):
        for a, b in zip(net_x[r], zero_x[r], strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=atol)
        for row_net, row_zero in zip(net[r].clients, zero[r].clients, strict=True):
            for a, b in zip(row_net, row_zero, strict=True):
                np.testing.assert_allclose(a, b, rtol=0, atol=atol)
        for a, b in zip(_control(net[r]), _control(zero[r]), strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=atol)
    # The tolerance is far below what an offset that did not cancel would leave: the
    # network start moves c and the c_i by W, of size `size`.
    assert atol < 1e-3 * size
    # And the two runs did learn: the model moved well beyond the tolerance.
    assert _max_diff(zero_x[-1], zero_x[0]) > 1e3 * atol
