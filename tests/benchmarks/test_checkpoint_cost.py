"""What a checkpoint costs: saving a learning process's state beside one round of the same run.

The same groups hold what a round's TensorBoard events cost (:class:`EventLog` adding one
round's row and flushing, as at a checkpoint taken every round), and what a job pays once
at its start to read how far the events of a 1,000-round run go (:func:`events_on_disk`).

Run with ``make bench`` (or ``.venv/bin/pytest tests/benchmarks/test_checkpoint_cost.py -m
benchmark --benchmark-only``). Each group holds one round of the full run loop (sampling,
datasets, the TFF round, evaluation) and one checkpoint save of that run's state (the
rows written before it are a few kB of Parquet, small beside the state), so the ratio is
the share of a round a checkpoint adds when taken every round; ``fl.checkpoint_every``
divides it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fedbench import results as R
from fedbench.clients import training_data
from fedbench.results.tensorboard import SCALARS, EventLog, events_on_disk, run_dir
from fedbench.spec import RunSpec
from fedbench.training.checkpoints import Checkpoints, Restored
from fedbench.training.client_store import client_store
from fedbench.training.loop import initial_state, run_rounds
from fedbench.training.runtime import tff_worker
from fedbench.training.train import learning_process, loop_settings, round_inputs

pytestmark = pytest.mark.benchmark

CASES = {
    # the default sweep's run: a 650-parameter linear model, FedAvg (no server state)
    "digits-linear-fedavg": {"dataset": "digits", "model": "linear", "algorithm": "fedavg"},
    # a 1.7M-parameter CNN with FedAdam: the state is three copies of the weights. Two of
    # the ten clients per round keep the round short; a round of all ten takes ~5x longer.
    "fmnist-cnn_emnist-fedadam": {
        "dataset": "fmnist",
        "model": "cnn_emnist",
        "algorithm": "fedadam",
        "clients_per_round": 2,
    },
}
FMNIST = Path("/usr/share/datasets/fashion-mnist")  # where dataset=fmnist looks by default


@pytest.fixture(scope="module", params=sorted(CASES))
def run(request, tmp_path_factory):
    from fedbench.app.job.prepare import prepare

    case = request.param
    results = tmp_path_factory.mktemp(case)
    options = CASES[case]
    if options["dataset"] == "fmnist" and not FMNIST.is_dir():
        pytest.skip("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)")
    spec = RunSpec.create(
        results_dir=str(results), **{"num_clients": 10, "clients_per_round": 10, **options}
    )
    prepared = prepare(spec)
    return case, spec, training_data(spec, prepared.load())


def test_one_round(benchmark, run):
    case, spec, data = run
    benchmark.group = f"checkpoint cost: {case}"
    with tff_worker(), client_store(data.clients) as store:  # as train() runs a round
        process, init = learning_process(spec, data.example_shape, data.num_classes, store)
        start = Restored(0, initial_state(process, init))
        settings = loop_settings(spec)

        def one_round():
            rounds = run_rounds(
                process, init, round_inputs(store, settings), data, settings, resume=start
            )
            return next(rounds)

        one_round()  # the first round traces and compiles

        benchmark.extra_info["case"] = "round"
        benchmark.pedantic(one_round, rounds=3, warmup_rounds=1)


def test_checkpoint_save(benchmark, run):
    case, spec, data = run
    benchmark.group = f"checkpoint cost: {case}"
    benchmark.extra_info["case"] = "checkpoint"
    with tff_worker(), client_store(data.clients) as store:
        process, _ = learning_process(spec, data.example_shape, data.num_classes, store)
        state = process.initialize()
    checkpoints = Checkpoints(spec.results_dir, spec.config_hash)
    path = benchmark.pedantic(lambda: checkpoints.save(1, state), rounds=10, warmup_rounds=1)
    benchmark.extra_info["bytes"] = path.stat().st_size


def test_tensorboard_events(benchmark, run):
    case, spec, _ = run
    benchmark.group = f"checkpoint cost: {case}"
    benchmark.extra_info["case"] = "tensorboard events of a round"
    events = EventLog(spec, stored=0)
    rounds = iter(range(1, 1_000_000))

    def add_round():
        events.add([{R.ROUND: next(rounds), **dict.fromkeys(SCALARS, 0.5)}])

    add_round()  # opens the writer and writes the run's HParams
    benchmark.pedantic(add_round, rounds=50, warmup_rounds=1)
    events.close()


#: Rounds of the run whose event files a job reads at its start.
READ_ROUNDS = 1_000


def test_tensorboard_events_read_at_a_jobs_start(benchmark, run):
    case, spec, _ = run
    benchmark.group = f"checkpoint cost: {case}"
    benchmark.extra_info["case"] = f"reading a {READ_ROUNDS}-round run's events (once a job)"
    events = EventLog(spec, stored=0)
    events.add([{R.ROUND: r, **dict.fromkeys(SCALARS, 0.5)} for r in range(1, READ_ROUNDS + 1)])
    events.close()
    read = benchmark.pedantic(lambda: events_on_disk(run_dir(spec)), rounds=5, warmup_rounds=1)
    assert read == (READ_ROUNDS, True)
