"""The round loop's steps on constructed inputs, and a run resumed mid-way through TFF."""

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow_federated as tff

from fedbench import seeding
from fedbench.clients import ClientArrays, TrainingData
from fedbench.seeding import sample_clients
from fedbench.training import loop
from fedbench.training.checkpoints import Restored
from fedbench.training.loop import (
    Evaluation,
    LoopSettings,
    RoundMetrics,
    RoundRecord,
    check_divergence,
    due_for_evaluation,
    evaluate,
    make_record,
    round_metrics,
    run_rounds,
)
from fedbench.training.tff_model import initial_keras_model
from tests.training.previous_path import client_datasets, round_dataset

FEATURES, CLASSES = 4, 3


def _settings(**changes):
    base = LoopSettings(
        rounds=7,
        clients_per_round=2,
        local_epochs=2,
        batch_size=2,
        eval_every=3,
        shuffle_clients=True,
        seed=5,
    )
    return dataclasses.replace(base, **changes)


def _output(examples, loss=0.7, accuracy=0.25, drift=1.5):
    train = {"num_examples": examples, "loss": loss, "sparse_categorical_accuracy": accuracy}
    return SimpleNamespace(
        metrics={"client_work": {"train": train}, "aggregator": {"client_drift": drift}}
    )


def _weights(*trainable, non_trainable=()):
    return tff.learning.models.ModelWeights(
        trainable=[np.asarray(w, np.float32) for w in trainable],
        non_trainable=[np.asarray(w, np.float32) for w in non_trainable],
    )


FINITE = RoundMetrics(train_examples=8, train_loss=0.5, train_accuracy=0.5, client_drift=0.1)


def test_global_weights_are_read_from_a_tff_learning_state_without_asking_the_process():
    held = _weights([1.0, 2.0], non_trainable=[3.0])
    state = SimpleNamespace(global_model_weights=held)

    class NoCalls:
        def get_model_weights(self, state):
            raise AssertionError("a TFF call for weights the state holds")

    assert loop.global_weights(NoCalls(), state) is held


def test_global_weights_of_another_state_come_from_the_process():
    held = _weights([4.0])
    asked = []

    class Process:
        def get_model_weights(self, state):
            asked.append(state)
            return held

    state = {"model": "elsewhere"}
    assert loop.global_weights(Process(), state) is held and asked == [state]


def test_round_metrics_reads_tffs_means_and_the_drift():
    metrics = round_metrics(_output(np.int64(12), np.float32(0.75), np.float32(0.5), 2.0))
    assert metrics == RoundMetrics(
        train_examples=12, train_loss=0.75, train_accuracy=0.5, client_drift=2.0
    )
    assert type(metrics.train_examples) is int and type(metrics.train_loss) is float


def test_round_metrics_has_no_train_mean_without_examples():
    # TFF reports a mean of 0 over no step at all: that measures nothing.
    metrics = round_metrics(_output(0, loss=0.0, accuracy=0.0, drift=0.0))
    assert metrics.train_examples == 0
    assert math.isnan(metrics.train_loss) and math.isnan(metrics.train_accuracy)
    assert metrics.client_drift == 0.0


def test_finite_loss_weights_and_no_dropped_update_is_no_divergence():
    assert not check_divergence(FINITE, _weights(np.ones((2, 2)), np.zeros(2)), dropped=0)


@pytest.mark.parametrize("loss", [math.inf, -math.inf, math.nan])
def test_a_non_finite_loss_of_clients_that_trained_is_divergence(loss):
    metrics = dataclasses.replace(FINITE, train_loss=loss)
    assert check_divergence(metrics, _weights(np.ones(3)), dropped=0)


def test_no_loss_from_clients_without_examples_is_no_divergence():
    metrics = round_metrics(_output(0))  # NaN loss, but nobody trained
    assert not check_divergence(metrics, _weights(np.ones(3)), dropped=0)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_trainable_weight_is_divergence(bad):
    weights = _weights(np.ones((2, 2)), [0.0, bad])
    assert check_divergence(FINITE, weights, dropped=0)


def test_only_trainable_weights_are_checked():
    weights = _weights(np.ones(2), non_trainable=[[math.nan]])
    assert not check_divergence(FINITE, weights, dropped=0)


def test_a_dropped_client_update_is_divergence_even_with_finite_loss_and_weights():
    assert check_divergence(FINITE, _weights(np.ones(2)), dropped=5)


def test_evaluation_is_due_every_eval_every_rounds_and_on_the_last():
    settings = _settings(rounds=7, eval_every=3)
    assert [r for r in range(1, 8) if due_for_evaluation(r, settings)] == [3, 6, 7]
    every = _settings(rounds=3, eval_every=1)
    assert all(due_for_evaluation(r, every) for r in (1, 2, 3))


def test_make_record_maps_an_evaluated_round():
    scores = Evaluation(
        test_loss=1.25,
        test_accuracy=0.5,
        client_accuracy_mean=0.75,
        client_accuracy_p10=0.25,
        heldout_client_accuracy=0.625,
        participation_gap=0.125,
        out_of_sample_gap=0.0625,
    )
    record = make_record(
        4,
        FINITE,
        scores,
        diverged=False,
        round_seconds=3.0,
        train_seconds=2.0,
        local_steps=np.array([2, 4]),
    )
    assert record == RoundRecord(
        round=4,
        evaluated=True,
        train_loss=0.5,
        train_accuracy=0.5,
        test_loss=1.25,
        test_accuracy=0.5,
        client_accuracy_mean=0.75,
        client_accuracy_p10=0.25,
        heldout_client_accuracy=0.625,
        participation_gap=0.125,
        out_of_sample_gap=0.0625,
        client_drift=0.1,
        round_seconds=3.0,
        examples_per_second=4.0,  # 8 examples over 2 s of TFF round
        train_examples=8,
        local_steps_mean=3.0,  # (2 + 4) / 2
        local_steps_std=1.0,  # sqrt(((2 - 3)^2 + (4 - 3)^2) / 2)
        diverged=False,
    )


def test_make_record_of_a_round_without_evaluation_has_nan_scores():
    record = make_record(2, FINITE, None, diverged=True, round_seconds=1.0, train_seconds=0.0)
    assert not record.evaluated and record.diverged
    for field in (
        "test_loss",
        "test_accuracy",
        "client_accuracy_mean",
        "client_accuracy_p10",
        "heldout_client_accuracy",
        "participation_gap",
        "out_of_sample_gap",
    ):
        assert math.isnan(getattr(record, field)), field
    assert math.isnan(record.examples_per_second)  # no measurable TFF time
    assert math.isnan(record.local_steps_mean) and math.isnan(record.local_steps_std)
    assert record.round == 2 and record.train_examples == 8 and record.client_drift == 0.1


def test_evaluate_scores_the_given_weights_not_the_models_own():
    # Zero weights give all-zero logits: a uniform softmax (loss log C per example)
    # and argmax class 0 for every example.
    model = initial_keras_model("linear", {}, (FEATURES,), CLASSES, init_seed=0)
    zeros = tff.learning.models.ModelWeights(
        trainable=[np.zeros_like(w) for w in model.get_weights()], non_trainable=[]
    )
    rng = np.random.default_rng(0)
    test_x = rng.normal(size=(6, FEATURES)).astype(np.float32)
    test_y = np.array([0, 1, 2, 0, 1, 0])
    holdout_y = [np.array([0, 0, 1, 2]), np.array([1]), np.zeros(0, np.int64), np.array([0])]
    clients = ClientArrays(
        train_x=[np.zeros((1, FEATURES), np.float32)] * 4,
        train_y=[np.zeros(1, np.int64)] * 4,
        holdout_x=[rng.normal(size=(len(y), FEATURES)).astype(np.float32) for y in holdout_y],
        holdout_y=holdout_y,
    )
    scores = evaluate(model, zeros, clients, test_x, test_y)
    assert scores.test_loss == pytest.approx(np.log(CLASSES), rel=1e-6)
    assert scores.test_accuracy == pytest.approx(3 / 6)
    # Per-client accuracies 2/4, 0/1, 1/1; the client without held-out data is left out.
    # Mean 0.5; 10th percentile of [0, 0.5, 1] interpolates 0.2 of the way from 0 to 0.5.
    assert scores.client_accuracy_mean == pytest.approx(0.5)
    assert scores.client_accuracy_p10 == pytest.approx(0.1)
    for w in model.get_weights():  # the weights were copied into the model
        assert not np.any(w)

    without_holdout = dataclasses.replace(clients, holdout_x=None, holdout_y=None)
    scores = evaluate(model, zeros, without_holdout, test_x, test_y)
    assert math.isnan(scores.client_accuracy_mean) and math.isnan(scores.client_accuracy_p10)


def _batches(dataset):
    return [(b["x"].numpy(), b["y"].numpy()) for b in dataset]


def test_client_datasets_follow_the_sampled_order_and_the_round_seeded_shuffle():
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(n, FEATURES)).astype(np.float32) for n in (3, 5, 4)]
    clients = ClientArrays(train_x=xs, train_y=[np.arange(len(x)) for x in xs])
    settings = _settings()
    sampled = np.array([0, 2])
    datasets = client_datasets(clients, sampled, settings, round_num=3)
    assert len(datasets) == 2
    for k, dataset in zip(sampled, datasets, strict=True):
        expected = round_dataset(
            xs[k],
            clients.train_y[k],
            batch_size=2,
            local_epochs=2,
            shuffle_rng=seeding.rng(5, seeding.SHUFFLE, 3, int(k)),
        )
        got, want = _batches(dataset), _batches(expected)
        assert len(got) == len(want)
        for (gx, gy), (wx, wy) in zip(got, want, strict=True):
            np.testing.assert_array_equal(gx, wx)
            np.testing.assert_array_equal(gy, wy)
        # Two epochs, each a permutation of the client's examples (labels are indices).
        labels = np.concatenate([y for _, y in got])
        n = len(xs[k])
        assert sorted(labels[:n]) == sorted(labels[n:]) == list(range(n))


def test_client_datasets_keep_the_stored_order_without_shuffling():
    x = np.arange(3 * FEATURES, dtype=np.float32).reshape(3, FEATURES) / 255
    clients = ClientArrays(train_x=[x], train_y=[np.array([2, 0, 1])])
    (dataset,) = client_datasets(clients, np.array([0]), _settings(shuffle_clients=False), 1)
    # Batches of 2 never straddle the two epochs: [2, 0], [1], [2, 0], [1].
    assert [y.tolist() for _, y in _batches(dataset)] == [[2, 0], [1], [2, 0], [1]]


def test_start_round_below_one_is_refused():
    with pytest.raises(ValueError, match="start_round"):
        next(run_rounds(None, None, None, None, _settings(), resume=Restored(-1, None)))


@pytest.mark.slow
@pytest.mark.tff
def test_a_run_resumed_from_the_state_of_round_two_replays_rounds_three_and_four():
    from fedbench.training.algorithms import build_process
    from fedbench.training.client_store import client_store
    from fedbench.training.optimizers import OptimizerSettings
    from fedbench.training.runtime import tff_worker
    from fedbench.training.tff_model import make_model_fn
    from fedbench.training.train import round_inputs

    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(n, FEATURES)).astype(np.float32) for n in (6, 9, 4)]
    clients = ClientArrays(train_x=xs, train_y=[rng.integers(0, CLASSES, size=len(x)) for x in xs])
    data = TrainingData(clients, np.concatenate(xs), np.concatenate(clients.train_y), CLASSES)
    settings = _settings(rounds=4, eval_every=2, batch_size=3)
    timing = {"round_seconds", "examples_per_second"}

    def fields(records):  # NaN as a string: NaN != NaN, and the timings differ
        return [
            {
                k: "nan" if isinstance(v, float) and math.isnan(v) else v
                for k, v in dataclasses.asdict(r).items()
                if k not in timing
            }
            for r in records
        ]

    with tff_worker(), client_store(clients) as store:
        process = build_process(
            "fedavg",
            make_model_fn("linear", {}, (FEATURES,), CLASSES),
            OptimizerSettings(0.3, 0.0, 1.0, 0.0),
        )
        process = store.compose(process, settings.batch_size)
        client_input = round_inputs(store, settings)
        model = initial_keras_model("linear", {}, (FEATURES,), CLASSES, init_seed=0)
        full = list(run_rounds(process, model, client_input, data, settings))

        model = initial_keras_model("linear", {}, (FEATURES,), CLASSES, init_seed=0)
        state = loop.initial_state(process, model)
        for round_num in (1, 2):
            sampled = sample_clients(5, round_num, 3, 2)
            output, seconds = loop.step(process, state, client_input(sampled, round_num))
            state = output.state
            assert seconds > 0
        resumed = list(
            run_rounds(process, model, client_input, data, settings, resume=Restored(2, state))
        )

    assert [r.round for r in full] == [1, 2, 3, 4]
    assert [r.evaluated for r in full] == [False, True, False, True]
    assert fields(resumed) == fields(full[2:])
