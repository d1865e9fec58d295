"""Clients' work through TFF: dropped stragglers, partial and unequal epochs, FedNova's a_i.

A linear softmax model on 4 features and 3 classes from zero weights, trained on both
executions (sharded in two shards, and per-client).
"""

import dataclasses

import numpy as np
import pytest

from fedbench.clients import ClientArrays, TrainingData
from fedbench.seeding import sample_clients
from fedbench.spec import RunSpec
from fedbench.training import client_work
from fedbench.training.client_store import client_store
from fedbench.training.loop import RoundHooks, initial_state, run_rounds
from fedbench.training.runtime import tff_worker
from fedbench.training.train import learning_process, loop_settings, round_inputs

pytestmark = [pytest.mark.tff, pytest.mark.usefixtures("shared_session")]

FEATURES, CLASSES, LR = 4, 3, 0.5
TIMING = ("round_seconds", "examples_per_second")


@pytest.fixture(params=["sharded", "per_client"])
def execution(request):
    """Both ways a round trains its clients (fl.execution) must do the same work."""
    return request.param


def _clients(sizes, seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=(n, FEATURES)).astype(np.float32) for n in sizes]
    ys = [rng.integers(0, CLASSES, size=n).astype(np.int64) for n in sizes]
    return ClientArrays(train_x=xs, train_y=ys)


def _spec(clients, execution, **fl):
    values = dict(
        execution=execution,
        client_lr=LR,
        num_clients=clients.num_clients,
        clients_per_round=clients.num_clients,
        batch_size=4,
        eval_every=1,
    )
    return RunSpec.create(**{**values, **fl})


def _run(spec, clients):
    """Every round's record and the process state after the last, through the round loop."""
    data = TrainingData(
        clients, np.concatenate(clients.train_x), np.concatenate(clients.train_y), CLASSES
    )
    settings = loop_settings(spec)
    saved = {}
    with tff_worker(), client_store(clients) as store:
        process, model = learning_process(spec, (FEATURES,), CLASSES, store)
        shards = 2 if spec.fl.execution == "sharded" else 0
        inputs = round_inputs(store, settings, shards)
        hooks = RoundHooks(checkpoint=lambda r, state: saved.__setitem__(r, state))
        records = list(run_rounds(process, model, inputs, data, settings, hooks=hooks))
        weights = process.get_model_weights(saved[max(saved)])
    return records, weights


def _fields(records):
    return [{k: v for k, v in dataclasses.asdict(r).items() if k not in TIMING} for r in records]


def _same(a, b):
    for ours, theirs in zip(_fields(a), _fields(b), strict=True):
        for key in ours:
            assert np.array_equal(ours[key], theirs[key], equal_nan=True), (ours["round"], key)


@pytest.mark.slow  # three runs; test_client_work's plans equal to the defaults' are the fast tier
def test_no_stragglers_and_no_draw_train_exactly_as_the_defaults(execution):
    # 0 stragglers (whatever they would do) and a minimum equal to fl.local_epochs draw
    # nothing that changes the work: the rows are the defaults' bit for bit.
    clients = _clients((6, 9, 4, 7))
    base = dict(rounds=3, clients_per_round=3, local_epochs=2)
    default, _ = _run(_spec(clients, execution, **base), clients)
    for changed in (
        dict(stragglers=0.0, straggler_work="partial"),
        dict(local_epochs_min=2),
    ):
        other, _ = _run(_spec(clients, execution, **base, **changed), clients)
        _same(other, default)
    assert [r.local_steps_mean for r in default] == [  # 2 epochs of ceil(n / 4) batches
        2 * np.mean([-(-len(clients.train_y[k]) // 4) for k in sample_clients(0, r, 4, 3)])
        for r in (1, 2, 3)
    ]


def test_dropped_stragglers_contribute_nothing(execution):
    # Half of 4 clients straggle and are dropped: the round equals a round over the 2 others.
    clients = _clients((6, 9, 4, 7))
    spec = _spec(clients, execution, rounds=1, stragglers=0.5, local_epochs=2)
    records, weights = _run(spec, clients)
    plan = client_work.assign(0, 1, np.arange(4), loop_settings(spec).client_work)
    assert len(plan.clients) == 2 and len(plan.stragglers) == 2
    others = np.setdiff1d(np.arange(4), plan.stragglers)
    np.testing.assert_array_equal(plan.clients, others)
    assert records[0].train_examples == 2 * sum(len(clients.train_y[k]) for k in others)

    # The same round by hand, over the others alone, from the same initial state.
    with tff_worker(), client_store(clients) as store:
        process, model = learning_process(spec, (FEATURES,), CLASSES, store)
        shards = 2 if execution == "sharded" else 0
        inputs = round_inputs(store, loop_settings(spec), shards)(others, 1)
        alone = process.get_model_weights(process.next(initial_state(process, model), inputs).state)
    for ours, theirs in zip(weights.trainable, alone.trainable, strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    "keys", [dict(stragglers=0.5, straggler_work="partial"), dict(local_epochs_min=1)]
)
def test_clients_train_exactly_the_epochs_drawn(execution, keys):
    # TFF counts the examples each client trained on: sum_k epochs_k * n_k when every
    # client k ran exactly its drawn epochs (and the steps, epochs_k * ceil(n_k / 4)).
    clients = _clients((6, 9, 4, 7, 5))
    spec = _spec(clients, execution, rounds=4, local_epochs=4, **keys)
    records, _ = _run(spec, clients)
    sizes = np.array([len(y) for y in clients.train_y])
    fewer = False
    for record in records:
        plan = client_work.assign(0, record.round, np.arange(5), loop_settings(spec).client_work)
        assert len(plan.clients) == 5  # partial work drops nobody
        fewer |= bool((plan.epochs < 4).any())
        assert record.train_examples == int(plan.epochs @ sizes[plan.clients])
        assert not record.diverged  # TFF's weights total what the drawn epochs trained
        steps = client_work.local_steps(plan.epochs, sizes[plan.clients], 4)
        assert record.local_steps_mean == pytest.approx(steps.mean())
        assert record.local_steps_std == pytest.approx(steps.std())
    assert fewer  # some client trained fewer than 4 epochs: the test can fail


def _gd_epochs(x, y, epochs):
    """``epochs`` full-batch SGD steps from zero weights (batch 8 >= the client's size).

    Returns the update ``(w0 - w, b0 - b)`` in TFF's sign.
    """
    w, b = np.zeros((FEATURES, CLASSES)), np.zeros(CLASSES)
    for _ in range(epochs):
        logits = x @ w + b
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p_minus_y = p - np.eye(CLASSES)[y]
        w, b = w - LR * x.T @ p_minus_y / len(y), b - LR * p_minus_y.mean(axis=0)
    return -w, -b


def _one_round(algorithm, clients, epochs, execution):
    spec = RunSpec.create(
        algorithm=algorithm,
        execution=execution,
        client_lr=LR,
        num_clients=2,
        clients_per_round=2,
        local_epochs=5,
        local_epochs_min=1,
        batch_size=8,
        shuffle_clients=False,
    )
    with tff_worker(), client_store(clients) as store:
        process, model = learning_process(spec, (FEATURES,), CLASSES, store)
        shards = 2 if execution == "sharded" else 0
        inputs = round_inputs(store, loop_settings(spec), shards)(np.arange(2), 1, epochs)
        state = process.next(initial_state(process, model), inputs).state
        return process.get_model_weights(state)


def test_fednova_with_unequal_local_steps_against_closed_form(execution):
    # Client sizes 3 and 5 in batches of 8: one step an epoch, so epochs (2, 5) are
    # tau = (2, 5) steps. Each client is weighted by the examples it trained on,
    # w = (2 * 3, 5 * 5); FedNova: a_i = tau_i (no momentum), tau_eff = sum w a / sum w,
    # x = -tau_eff * sum w_i d_i / a_i / sum w  (d_i = w0 - w_i); FedAvg: x = -sum w d / sum w.
    clients = _clients((3, 5))
    epochs = np.array([2, 5])
    updates = [
        _gd_epochs(x, y, e)
        for x, y, e in zip(clients.train_x, clients.train_y, epochs, strict=True)
    ]
    w = epochs * np.array([3.0, 5.0])
    a = epochs.astype(float)
    tau_eff = float(w @ a / w.sum())
    fednova = _one_round("fednova", clients, epochs, execution)
    fedavg = _one_round("fedavg", clients, epochs, execution)
    for j in (0, 1):
        nova = -tau_eff * sum(w[i] * updates[i][j] / a[i] for i in (0, 1)) / w.sum()
        avg = -sum(w[i] * updates[i][j] for i in (0, 1)) / w.sum()
        np.testing.assert_allclose(fednova.trainable[j], nova, rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(fedavg.trainable[j], avg, rtol=2e-5, atol=2e-6)
        assert np.abs(nova - avg).max() > 1e-3  # the closed forms differ, and so do the runs
        assert (
            np.abs(np.asarray(fednova.trainable[j]) - np.asarray(fedavg.trainable[j])).max() > 1e-3
        )
