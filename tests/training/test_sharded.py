"""The sharded path (``fl.execution=sharded``) against the per-client path, algorithm by algorithm.

Both paths take the same steps on the same batches from the same state; they differ in
the order of float32 sums: the per-client path sums client terms in TFF's aggregation,
the sharded path sums a shard's clients in its loop and then the shards. Each sum of m
float32 terms may round differently by at most about m * 2**-24 of its magnitude; over
a handful of rounds on these small problems that stays below 1e-5 relative in every
loss, drift and weight (observed: ~1e-8 on the weights). An accuracy is a count over
examples: a weight moved by 1e-8 could flip an example lying on a decision boundary,
so accuracies are compared to within one example of their set.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from fedbench.app.job.prepare import prepare
from fedbench.clients import ClientArrays, TrainingData, training_data
from fedbench.spec import RunSpec
from fedbench.training.shards import shard_input, split_clients
from fedbench.training.train import train

pytestmark = [pytest.mark.tff, pytest.mark.usefixtures("shared_session")]

ALGORITHMS = ["fedavg", "fedavgm", "fedprox", "fedadam", "scaffold", "fednova"]
#: Relative tolerance of losses and drift (see the module docstring).
RTOL = 1e-5
LOSSES = ("train_loss", "test_loss", "client_drift")
ACCURACIES = ("train_accuracy", "test_accuracy", "client_accuracy_mean", "client_accuracy_p10")


def _spec(algorithm: str, **fl) -> RunSpec:
    options = {"mu": 0.1} if algorithm == "fedprox" else {}
    return RunSpec.create(
        algorithm=algorithm,
        algorithm_options=options,
        partition="dirichlet",
        partition_options={"alpha": 0.3},
        num_clients=10,
        clients_per_round=4,
        client_holdout=0.2,
        local_epochs=2,
        rounds=3,
        **fl,
    )


def _records(spec: RunSpec, data: TrainingData) -> list[dict]:
    return [dataclasses.asdict(r) for r in train(spec, data)]


def _assert_close(sharded: list[dict], reference: list[dict], *, examples: int) -> None:
    assert [r["round"] for r in sharded] == [r["round"] for r in reference]
    for mine, theirs in zip(sharded, reference, strict=True):
        assert mine["train_examples"] == theirs["train_examples"]
        assert mine["diverged"] == theirs["diverged"]
        for key in LOSSES:
            assert mine[key] == pytest.approx(theirs[key], rel=RTOL, nan_ok=True), key
        for key in ACCURACIES:
            assert mine[key] == pytest.approx(theirs[key], abs=1.0 / examples, nan_ok=True), key


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_sharded_rows_equal_the_per_client_rows(algorithm):
    reference_spec = _spec(algorithm, execution="per_client")
    data = training_data(reference_spec, prepare(reference_spec).load())
    reference = _records(reference_spec, data)
    # Three shards of 2, 1 and 1 clients: unequal shards (equal ones: the one-per-client test).
    sharded = _records(_spec(algorithm, execution="sharded", shards=3), data)
    _assert_close(sharded, reference, examples=len(data.test_y))
    assert all(math.isfinite(r["client_drift"]) for r in reference)


@pytest.mark.parametrize("algorithm", ["fedavg", "scaffold"])
def test_one_client_per_shard_agrees_as_closely_as_tff_rounds(algorithm):
    """With a shard per client, every sum but the shards' own is the same sum.

    The per-client path's weighted sum is TFF's federated sum of ``w_k u_k``; one client
    per shard makes the shard's sum ``0 + w_k u_k`` (exact) and leaves the federated sum
    of the same terms. Only TFF's own order of that sum may differ between two calls.
    """
    reference_spec = _spec(algorithm, execution="per_client")
    data = training_data(reference_spec, prepare(reference_spec).load())
    reference = _records(reference_spec, data)
    sharded = _records(_spec(algorithm, execution="sharded", shards=4), data)
    for mine, theirs in zip(sharded, reference, strict=True):
        for key in (*LOSSES, *ACCURACIES):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-6, nan_ok=True), key


def _with_clients(data: TrainingData, train_x: list, train_y: list) -> TrainingData:
    clients = ClientArrays(train_x=train_x, train_y=train_y)
    return dataclasses.replace(data, clients=clients)


@pytest.fixture(scope="module")
def digits():
    spec = RunSpec.create(num_clients=6, clients_per_round=6)
    return training_data(spec, prepare(spec).load())


def test_unequal_shards_and_a_client_without_examples(digits):
    """Shards of 2 and 1 clients, an empty client weighing 0: the per-client path's round."""
    xs, ys = list(digits.clients.train_x), list(digits.clients.train_y)
    xs[2], ys[2] = xs[2][:0], ys[2][:0]  # client 2 holds no example
    data = _with_clients(digits, xs, ys)
    for algorithm in ("fedavg", "scaffold", "fednova"):
        base = dict(num_clients=6, clients_per_round=3, rounds=3, algorithm=algorithm)
        reference = _records(RunSpec.create(**base, execution="per_client"), data)
        sharded = _records(RunSpec.create(**base, shards=2), data)  # shards of 2 and 1
        _assert_close(sharded, reference, examples=len(data.test_y))


#: FedAvgM, FedProx and FedAdam take FedAvg's sharded round (``sharded_tff_process``) with
#: another server optimizer or client rule: in the slow tier where each costs a build.
SAME_ROUND_AS_FEDAVG = {"fedavgm", "fedprox", "fedadam"}


@pytest.mark.parametrize(
    "algorithm",
    [
        pytest.param(a, marks=pytest.mark.slow) if a in SAME_ROUND_AS_FEDAVG else a
        for a in ALGORITHMS
    ],
)
def test_a_non_finite_client_update_is_left_out_and_the_run_diverges(digits, algorithm):
    xs = [np.array(x) for x in digits.clients.train_x]
    xs[1][0, 0] = np.inf  # client 1's update cannot be finite
    data = _with_clients(digits, xs, list(digits.clients.train_y))
    base = dict(num_clients=6, clients_per_round=6, rounds=2, algorithm=algorithm)
    reference = _records(RunSpec.create(**base, execution="per_client"), data)
    sharded = _records(RunSpec.create(**base, shards=2), data)
    assert [r["diverged"] for r in sharded] == [r["diverged"] for r in reference] == [True]
    _assert_close(sharded, reference, examples=len(data.test_y))


def test_a_shard_input_holds_its_clients_orders_back_to_back():
    sizes = np.array([3, 0, 5, 2])
    shards = split_clients(np.array([0, 1, 2, 3]), 3)
    assert [list(s) for s in shards] == [[0, 1], [2], [3]]
    first = shard_input(shards[0], sizes, 1, directory="/x", local_epochs=2, seed=0, shuffle=True)
    assert list(first["sizes"]) == [3, 0] and list(first["epochs"]) == [2, 2]
    # Client 0's two epochs (two permutations of its 3 examples), then nothing for client 1.
    order = first["order"]
    assert len(order) == 2 * 3 and sorted(order[:3]) == sorted(order[3:]) == [0, 1, 2]
    empty = shard_input(
        np.array([], dtype=np.int64), sizes, 1, directory="/x", local_epochs=2, seed=0, shuffle=True
    )
    assert len(empty["clients"]) == len(empty["order"]) == 0


def test_a_checkpoint_resumes_under_the_other_execution_with_one_line(tmp_path, caplog):
    from fedbench.training.checkpoints import Checkpoints

    base = dict(algorithm="scaffold", num_clients=6, clients_per_round=3, checkpoint_every=2)
    spec = RunSpec.create(**base, rounds=2, execution="per_client")
    data = training_data(spec, prepare(spec).load())
    saved = Checkpoints(tmp_path, spec.config_hash, "per_client")
    first = [dataclasses.asdict(r) for r in train(spec, data, checkpoints=saved)]
    resumed_spec = RunSpec.create(**base, rounds=4, execution="sharded")
    assert resumed_spec.config_hash == spec.config_hash  # the mode is not the run's identity
    resumed = Checkpoints(tmp_path, spec.config_hash, "sharded")
    with caplog.at_level("INFO"):
        rest = [
            dataclasses.asdict(r)
            for r in train(resumed_spec, data, checkpoints=resumed, kept_rounds=2)
        ]
    assert [r["round"] for r in rest] == [3, 4]  # resumed after round 2, not from round 1
    lines = [r.getMessage() for r in caplog.records if "fl.execution=per_client" in r.getMessage()]
    assert len(lines) == 1 and "resuming it with fl.execution=sharded" in lines[0]
    straight = _records(RunSpec.create(**base, rounds=4, execution="per_client"), data)
    _assert_close(first + rest, straight, examples=len(data.test_y))


def test_an_empty_shard_changes_nothing(digits):
    """More shards than clients (as ``fl.shards`` can ask): empty shards add zeros."""
    from fedbench.seeding import sample_clients
    from fedbench.training.client_store import client_store
    from fedbench.training.loop import initial_state
    from fedbench.training.runtime import tff_worker
    from fedbench.training.train import learning_process, loop_settings, round_inputs

    spec = RunSpec.create(num_clients=6, clients_per_round=3, algorithm="scaffold")
    with tff_worker(), client_store(digits.clients) as store:
        process, model = learning_process(spec, digits.example_shape, digits.num_classes, store)
        state = initial_state(process, model)
        sampled = sample_clients(spec.seed, 1, 6, 3)
        outputs = []
        for shards in (3, 5):  # 5 shards for 3 clients: two are empty
            inputs = round_inputs(store, loop_settings(spec), shards)(sampled, 1)
            assert sum(len(i["clients"]) == 0 for i in inputs) == (shards - 3)
            outputs.append(process.next(state, inputs))
        weights = [process.get_model_weights(o.state).trainable for o in outputs]
        for a, b in zip(*weights, strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
        for k in sampled:
            for a, b in zip(outputs[0].state.clients[k], outputs[1].state.clients[k], strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_run_without_checkpoints_keeps_its_client_table_in_its_own_scratch_folder(tmp_path):
    """Two runs of one configuration at once must not share it; it goes when the run ends."""
    spec = dataclasses.replace(_spec("scaffold", execution="sharded"), results_dir=str(tmp_path))
    data = training_data(spec, prepare(spec).load())
    rounds = train(spec, data)
    next(rounds)
    scratch = list((tmp_path / "checkpoints").glob(f"{spec.config_hash}.scratch-*.table"))
    assert len(scratch) == 1 and (scratch[0] / "meta.json").is_file()
    other = train(spec, data)
    next(other)  # the same configuration, running beside it
    both = set((tmp_path / "checkpoints").glob(f"{spec.config_hash}.scratch-*.table"))
    assert len(both) == 2 and scratch[0] in both
    assert len(list(rounds)) == len(list(other)) == spec.fl.rounds - 1
    assert list((tmp_path / "checkpoints").glob("*.table")) == []
