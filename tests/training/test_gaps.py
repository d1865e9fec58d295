"""The held-out clients' accuracy and the two gaps of Yuan et al. (2022) on a hand-counted case."""

import math

import numpy as np
import pytest
import tensorflow as tf

from fedbench.clients import ClientArrays
from fedbench.training.evaluation import client_scores, per_client_accuracy

A, B = [1.0, 0.0], [0.0, 1.0]  # with identity logits, A is predicted class 0, B class 1


def _identity_model():
    """Logits = features: a 2-feature input is predicted as its larger feature's class."""
    model = tf.keras.Sequential([tf.keras.layers.Dense(2, use_bias=False, input_shape=(2,))])
    model.set_weights([np.eye(2, dtype=np.float32)])
    return model


def _arrays(*pairs):
    return [np.array(x, np.float32).reshape(-1, 2) for x, _ in pairs], [
        np.array(y, np.int64) for _, y in pairs
    ]


TRAIN_X, TRAIN_Y = _arrays(
    ([A, A, B], [0, 0, 0]),  # client 0: 2 of 3 right
    ([B, B], [1, 1]),  # client 1: 2 of 2
    ([A], [1]),  # client 2: 0 of 1
    ([A, A], [0, 0]),  # client 3: 2 of 2
)
HOLD_X, HOLD_Y = _arrays(
    ([A, B], [0, 0]),  # client 0: 1 of 2
    ([B, B, A, B], [1, 1, 1, 1]),  # client 1: 3 of 4
    ([B, B, A], [1, 1, 1]),  # client 2: 2 of 3
    ([], []),  # client 3: none
)
CLIENTS = ClientArrays(TRAIN_X, TRAIN_Y, HOLD_X, HOLD_Y)


def test_both_gaps_equal_their_hand_counted_values():
    scores = client_scores(_identity_model(), CLIENTS, np.array([2, 3]))
    # participating clients 0 and 1: held-out accuracies 1/2 and 3/4
    assert scores.client_accuracy_mean == pytest.approx(0.625)
    assert scores.client_accuracy_p10 == pytest.approx(0.5 + 0.1 * 0.25)  # linear interpolation
    # held-out clients, all their examples: client 2 (0 + 2) of 4, client 3 2 of 2
    assert scores.heldout_client_accuracy == pytest.approx((0.5 + 1.0) / 2)
    # training accuracy of clients 0 and 1: (2/3 + 1) / 2 = 5/6
    assert scores.out_of_sample_gap == pytest.approx(5 / 6 - 0.625)
    assert scores.participation_gap == pytest.approx(0.625 - 0.75)


def test_without_held_out_clients_the_per_client_accuracy_is_as_before():
    model = _identity_model()
    scores = client_scores(model, CLIENTS)
    before = per_client_accuracy(model, HOLD_X, HOLD_Y)  # clients 0, 1, 2 (3 has none)
    assert scores.client_accuracy_mean == float(np.mean(before))
    assert scores.client_accuracy_p10 == float(np.percentile(before, 10))
    assert math.isnan(scores.heldout_client_accuracy) and math.isnan(scores.participation_gap)
    # No generalisation study: the training data is not scored again (a forward pass over
    # every client's training data per evaluated round, which only fl.heldout_clients pays).
    assert math.isnan(scores.out_of_sample_gap)


def test_the_training_data_is_scored_only_with_held_out_clients(monkeypatch):
    from fedbench.training import evaluation

    scored = []
    real = evaluation.per_client_accuracy

    def counting(model, xs, ys):
        scored.append(sum(len(y) for y in ys))
        return real(model, xs, ys)

    monkeypatch.setattr(evaluation, "per_client_accuracy", counting)
    client_scores(_identity_model(), CLIENTS)
    assert sum(scored) == sum(len(y) for y in HOLD_Y)  # the held-out examples alone


def test_without_per_client_held_out_data_only_the_held_out_clients_are_scored():
    scores = client_scores(_identity_model(), ClientArrays(TRAIN_X, TRAIN_Y), np.array([2, 3]))
    assert scores.heldout_client_accuracy == pytest.approx((0.0 + 1.0) / 2)
    for gap in (scores.client_accuracy_mean, scores.participation_gap, scores.out_of_sample_gap):
        assert math.isnan(gap)
