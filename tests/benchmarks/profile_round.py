"""Where a round's time goes: one table per case, one row per step of the round loop.

Run from the repository root::

    .venv/bin/python -m tests.benchmarks.profile_round                  # fedbench's path
    .venv/bin/python -m tests.benchmarks.profile_round --path datasets  # the previous one
    .venv/bin/python -m tests.benchmarks.profile_round --clients 10 100 --rounds 3

Cases: Synthetic(1, 1) with 1,000 writers, natural partition, linear model, at each
``--clients`` per round; and digits (IID, 10 clients, linear). Each round runs the
same steps as :func:`fedbench.training.loop.run_rounds`, timed one by one; round 1
(tracing, compiling) is left out and the median over the other rounds reported.

Steps:

- ``sample``: :func:`fedbench.seeding.sample_clients`;
- ``client input``: what a round sends as the clients' data (``--path datasets``, the
  path before the client store, :mod:`tests.training.previous_path`: a ``tf.data``
  dataset per client; ``--path resident``: each client's id and example order);
- ``serialise``: TFF turning the client input into protos (inside ``process.next``);
- ``TFF call``: the rest of ``process.next`` (gRPC, the worker's computation);
- ``  of which drift``: ``process.next`` minus the same round through an identical
  process whose aggregator is TFF's plain ``MeanFactory`` (measured in the same round);
- ``evaluate``: the test set and per-client held-out data;
- ``record``: metrics, divergence check, the round's record.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator

import numpy as np
import tensorflow_federated as tff

from fedbench import seeding
from fedbench.clients import PartitionedData, training_data
from fedbench.data import load_dataset
from fedbench.heterogeneity import heterogeneity
from fedbench.partitioning import partition
from fedbench.spec import RunSpec
from fedbench.training import algorithms, loop
from fedbench.training.client_store import ClientStore, client_store
from fedbench.training.optimizers import client_sgd
from fedbench.training.runtime import tff_worker
from fedbench.training.tff_model import initial_keras_model, make_model_fn
from fedbench.training.train import loop_settings, optimizer_settings
from tests.training.previous_path import client_datasets, previous_process

STEPS = (
    "sample",
    "client input",
    "serialise",
    "TFF call",
    "  of which drift",
    "evaluate",
    "record",
    "round",
)


def synthetic_spec(clients_per_round: int, num_writers: int = 1000) -> RunSpec:
    """Synthetic(1, 1), ``num_writers`` writers as natural clients, linear model."""
    return RunSpec.create(
        dataset="synthetic",
        dataset_options={"num_writers": num_writers},
        partition="natural",
        num_clients=num_writers,
        clients_per_round=clients_per_round,
        client_lr=0.01,
    )


def digits_spec() -> RunSpec:
    """Digits, IID over 10 clients, all sampled, linear model."""
    return RunSpec.create(num_clients=10, clients_per_round=10)


def partitioned(spec: RunSpec) -> PartitionedData:
    """``spec``'s dataset and partition, as :func:`fedbench.app.job.prepare.prepare` makes."""
    dataset = load_dataset(spec.dataset.name, spec.dataset.options)
    writers = {"writer_ids": dataset.train.writers} if spec.partition.name == "natural" else {}
    parts = partition(
        spec.partition.name,
        dataset.train.y,
        spec.fl.num_clients,
        seed=spec.seed,
        **spec.partition.options,
        **writers,
    )
    return PartitionedData(dataset, parts, heterogeneity(dataset.train.y, parts))


class Timer:
    """Seconds per step, accumulated within a round."""

    def __init__(self) -> None:
        self.round: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.round[step] += time.perf_counter() - started


@contextlib.contextmanager
def timing_serialisation(timer: Timer) -> Iterator[None]:
    """Count the time TFF spends serialising argument values into ``timer['serialise']``."""
    from tensorflow_federated.python.core.impl.executors import remote_executor

    original = remote_executor.value_serialization.serialize_value

    def timed(*args, **kwargs):
        with timer("serialise"):
            return original(*args, **kwargs)

    remote_executor.value_serialization.serialize_value = timed
    try:
        yield
    finally:
        remote_executor.value_serialization.serialize_value = original


def processes(spec: RunSpec, shape: tuple[int, ...], num_classes: int, store: ClientStore | None):
    """``spec``'s FedAvg process, the same with TFF's plain mean in place of the drift
    aggregator, and the Keras model of the initial weights.

    Without a ``store``, the process is the previous path's
    (:func:`tests.training.previous_path.previous_process`: ``tf.data`` datasets,
    ``DATASET_REDUCE``, the previous drift aggregator); with one, fedbench's.
    """
    model_fn = make_model_fn(spec.model.name, dict(spec.model.options), shape, num_classes)
    settings = optimizer_settings(spec)
    loop_kind = algorithms.LOOP if store else tff.learning.LoopImplementation.DATASET_REDUCE
    mean_only = tff.learning.algorithms.build_weighted_fed_avg(
        model_fn,
        client_optimizer_fn=client_sgd(settings),
        server_optimizer_fn=tff.learning.optimizers.build_sgdm(settings.server_lr),
        model_aggregator=tff.aggregators.MeanFactory(),
        loop_implementation=loop_kind,
    )
    if store is None:
        process, model = previous_process(spec, shape, num_classes)  # builds the model last
        return process, mean_only, model
    process = algorithms.build_process(
        spec.algorithm.name, model_fn, settings, **dict(spec.algorithm.options)
    )
    process = store.compose(process, spec.fl.batch_size)
    mean_only = store.compose(mean_only, spec.fl.batch_size)
    # Built last: tracing a process invalidates Keras models made before it.
    init_seed = seeding.int_seed(spec.seed, seeding.MODEL_INIT)
    model = initial_keras_model(spec.model.name, {}, shape, num_classes, init_seed)
    return process, mean_only, model


def profile(spec: RunSpec, rounds: int, path: str = "datasets") -> dict[str, float]:
    """Median seconds per step over rounds 2..``rounds`` of ``spec``, through ``path``.

    Parameters
    ----------
    spec
        The run.
    rounds
        Rounds to time; the first is left out of the medians.
    path
        ``"datasets"``: a ``tf.data`` dataset per sampled client each round, as before
        the client store; ``"resident"``: the clients' data in a :class:`ClientStore`,
        a round sends ids and example orders (what :func:`fedbench.training.train.train` does).
    """
    data = training_data(spec, partitioned(spec))
    settings = loop_settings(spec)
    clients = data.clients
    per_round: list[dict[str, float]] = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(tff_worker())
        store = stack.enter_context(client_store(clients)) if path == "resident" else None

        def client_input(sampled: np.ndarray, round_num: int) -> list:
            if store is None:
                return client_datasets(clients, sampled, settings, round_num)
            return store.round_input(
                sampled,
                round_num,
                local_epochs=settings.local_epochs,
                seed=settings.seed,
                shuffle=settings.shuffle_clients,
            )

        process, baseline, model = processes(spec, data.example_shape, data.num_classes, store)
        state = loop.initial_state(process, model)
        base_state = loop.initial_state(baseline, model)
        for round_num in range(1, rounds + 1):
            timer = Timer()
            started = time.perf_counter()
            with timer("sample"):
                sampled = seeding.sample_clients(
                    spec.seed, round_num, clients.num_clients, spec.fl.clients_per_round
                )
            with timer("client input"):
                datasets = client_input(sampled, round_num)
            with timing_serialisation(timer), timer("TFF call"):
                output, _ = loop.step(process, state, datasets)
            state = output.state
            with timer("record"):
                metrics = loop.round_metrics(output)
                weights = process.get_model_weights(state)
                dropped = loop.dropped_updates(output, clients, sampled, settings.local_epochs)
                diverged = loop.check_divergence(metrics, weights, dropped)
            with timer("evaluate"):
                scores = loop.evaluate(model, weights, clients, data.test_x, data.test_y)
            with timer("record"):
                loop.make_record(
                    round_num,
                    metrics,
                    scores,
                    diverged=diverged,
                    round_seconds=time.perf_counter() - started,
                    train_seconds=1.0,
                )
            timer.round["round"] = time.perf_counter() - started
            # The same round without the drift aggregator, outside the round's timing.
            baseline_timer = Timer()
            datasets = client_input(sampled, round_num)
            with timing_serialisation(baseline_timer), baseline_timer("TFF call"):
                base_output, _ = loop.step(baseline, base_state, datasets)
            base_state = base_output.state
            drift = (timer.round["TFF call"] - timer.round["serialise"]) - (
                baseline_timer.round["TFF call"] - baseline_timer.round["serialise"]
            )
            timer.round["TFF call"] -= timer.round["serialise"]
            timer.round["  of which drift"] = drift
            per_round.append(dict(timer.round))
    measured = per_round[1:] or per_round
    return {step: statistics.median(r.get(step, 0.0) for r in measured) for step in STEPS}


def _table(results: dict[str, dict[str, float]], clients: dict[str, int]) -> str:
    names = list(results)
    lines = [
        "| step | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for step in STEPS:
        cells = [f"{1000 * results[name][step]:.0f}" for name in names]
        lines.append(f"| {step} (ms) | " + " | ".join(cells) + " |")
    per_client = [f"{1000 * results[name]['round'] / clients[name]:.1f}" for name in names]
    lines.append("| round per client (ms) | " + " | ".join(per_client) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Profile the cases and print a Markdown table (milliseconds, medians)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="*", default=[10, 100, 300])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--path", choices=["datasets", "resident"], default="resident")
    parser.add_argument("--no-digits", action="store_true")
    args = parser.parse_args(argv)
    results, counts = {}, {}
    for k in args.clients:
        name = f"synthetic {k}/round"
        results[name] = profile(synthetic_spec(k), args.rounds, args.path)
        counts[name] = k
        print(name, {s: round(1000 * v) for s, v in results[name].items()}, flush=True)
    if not args.no_digits:
        results["digits 10/round"] = profile(digits_spec(), args.rounds, args.path)
        counts["digits 10/round"] = 10
    print(f"\npath: {args.path}; medians over rounds 2..{args.rounds}\n")
    print(_table(results, counts))


if __name__ == "__main__":
    main()
