"""``train(spec, data)``: one run through TFF, round by round."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff

from fedbench import fl_keys, records, seeding
from fedbench.clients import TrainingData
from fedbench.errors import ResultsNotWritable
from fedbench.spec import RunSpec
from fedbench.training.algorithms import build_round_process
from fedbench.training.checkpoints import Checkpoints, checkpoint_path
from fedbench.training.client_store import ClientStore, client_store
from fedbench.training.client_table import scratch_table_dir, table_dir
from fedbench.training.composed import keeps_client_state, with_disk_table
from fedbench.training.loop import LoopSettings, RoundHooks, RoundRecord, run_rounds
from fedbench.training.optimizers import OptimizerSettings
from fedbench.training.participation import participation
from fedbench.training.runtime import tff_worker
from fedbench.training.session import TrainingSession
from fedbench.training.session import active as active_session
from fedbench.training.sharded import build_sharded_process, for_job
from fedbench.training.shards import shard_input, split_clients
from fedbench.training.tff_model import initial_keras_model, make_keras_fn, make_model_fn

log = logging.getLogger(__name__)


def loop_settings(spec: RunSpec, eval_rounds: Iterable[int] = ()) -> LoopSettings:
    """The round loop's settings of ``spec``, evaluating also at ``eval_rounds``."""
    fl = spec.fl
    return LoopSettings(
        rounds=fl.rounds,
        clients_per_round=fl.clients_per_round,
        local_epochs=fl.local_epochs,
        batch_size=fl.batch_size,
        eval_every=fl.eval_every,
        shuffle_clients=fl.shuffle_clients,
        seed=spec.seed,
        eval_rounds=frozenset(eval_rounds),
        checkpoint_every=fl.checkpoint_every,
        work=fl_keys.work_settings(fl),
    )


def optimizer_settings(spec: RunSpec, num_clients: int | None = None) -> OptimizerSettings:
    """The client and server optimizer settings of ``spec`` (its server step resolved).

    ``population`` is the clients that may train: ``num_clients`` (the store's; default
    ``fl.num_clients``) less those ``fl.heldout_clients`` keeps out, as
    :func:`fedbench.training.participation.participation` counts them.
    """
    fl = spec.fl
    clients = fl.num_clients if num_clients is None else num_clients
    population = clients - fl_keys.heldout_count(clients, fl.heldout_clients)
    return OptimizerSettings(
        fl.client_lr, fl.client_momentum, fl.server_lr, fl.weight_decay, population
    )


def learning_process(
    spec: RunSpec,
    example_shape: tuple[int, ...],
    num_classes: int,
    store: ClientStore,
    session: TrainingSession | None = None,
) -> tuple[tff.learning.templates.LearningProcess, tf.keras.Model]:
    """Build ``spec``'s learning process and the Keras model holding its seeded initial weights.

    Call inside :func:`fedbench.training.runtime.tff_worker`. The process reads its
    clients' data from ``store`` and takes :func:`round_inputs` each round (one input per
    shard with ``fl.execution=sharded``, per client with ``per_client``). The Keras
    model is also the one the round loop copies the global weights into for evaluation.
    With a ``session``, a sharded process built for an earlier job of the same
    :func:`process_key` serves again.

    Returns
    -------
    (process, initial_model)

    """
    model, options = spec.model.name, dict(spec.model.options)
    model_fn = make_model_fn(model, options, example_shape, num_classes)
    batch_size = spec.fl.batch_size

    def fresh_weights(stream: str) -> list[np.ndarray]:
        """The trainable weights of the model initialized from (seed, ``stream``)."""
        init_seed = seeding.int_seed(spec.seed, stream)
        fresh = initial_keras_model(model, options, example_shape, num_classes, init_seed)
        return [np.asarray(w) for w in fresh.trainable_weights]

    algorithm, algorithm_options = spec.algorithm.name, dict(spec.algorithm.options)
    if spec.fl.execution == "sharded":
        keras_fn = make_keras_fn(model, options, example_shape, num_classes)

        def build() -> Any:
            return build_sharded_process(
                algorithm,
                model_fn,
                keras_fn,
                optimizer_settings(spec, store.num_clients),
                store,
                batch_size,
                fresh_weights,
                **algorithm_options,
            )

        if session is None:
            process = build()
        else:
            shared = session.process(process_key(spec, example_shape, num_classes, store), build)
            process = for_job(shared, algorithm, store, fresh_weights, **algorithm_options)
    else:
        process = build_round_process(
            algorithm,
            model_fn,
            optimizer_settings(spec, store.num_clients),
            store.client_inputs(batch_size),
            functools.partial(store.compose, batch_size=batch_size),
            fresh_weights,
            **algorithm_options,
        )
    # Built after the process: TFF traces model_fn in graph mode, which invalidates
    # Keras models created before it in the same process.
    init_seed = seeding.int_seed(spec.seed, seeding.MODEL_INIT)
    return process, initial_keras_model(model, options, example_shape, num_classes, init_seed)


def process_key(
    spec: RunSpec, example_shape: tuple[int, ...], num_classes: int, store: ClientStore
) -> tuple:
    """Everything a sharded process's computations depend on: the jobs that share it.

    The model, the algorithm and its options, the ``fl`` values compiled into the
    computations (batch size, client and server steps, momentum, weight decay), the
    input shapes and the store's feature type; and, for an algorithm that keeps state
    per client, the number of clients and of those that train (SCAFFOLD's ``1/N``). Not
    the seed, the partition or the store's directory: they reach the process as inputs.
    """
    algorithm = spec.algorithm
    per_client_state = records.ALGORITHMS[algorithm.name].client_state is not None
    settings = optimizer_settings(spec, store.num_clients)  # population: SCAFFOLD's N alone
    return (
        spec.model.name,
        tuple(sorted(spec.model.options.items())),
        algorithm.name,
        tuple(sorted(algorithm.options.items())),
        spec.fl.batch_size,
        settings if per_client_state else dataclasses.replace(settings, population=0),
        tuple(example_shape),
        num_classes,
        store.compact,
        store.num_clients if per_client_state else None,
    )


def shard_count(spec: RunSpec, threads: int) -> int:
    """Shards a round's clients are split into.

    ``fl.shards``, else one per thread of the job (its ``threads``, else the cores this
    process may run on), never more than the clients of a round: an empty shard would
    only cost a TFF call.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    wanted = spec.fl.shards or threads or cores or 1
    return max(1, min(wanted, spec.fl.clients_per_round))


def limit_threads(threads: int) -> None:
    """Set this process's TensorFlow thread pools to ``threads`` (0: leave them).

    TensorFlow fixes its pools when it first runs an op; in a process that already
    has (a reused launcher worker), the pools stay as they are.
    """
    if threads <= 0:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # "cannot be modified after initialization"
        log.debug("TensorFlow's thread pools are already set; keeping them")


def train(
    spec: RunSpec,
    data: TrainingData,
    *,
    worker_log: Path | None = None,
    threads: int = 0,
    eval_rounds: Iterable[int] = (),
    checkpoints: Checkpoints | None = None,
    kept_rounds: int = 0,
    before_checkpoint: Callable[[int], None] = lambda round_num: None,
    session: TrainingSession | None = None,
) -> Iterator[RoundRecord]:
    """Train ``spec``'s model and algorithm on ``data`` through TFF, one record per round.

    Starts a TFF worker for the run and stops it when the iteration ends, however it
    ends (also when the caller stops iterating early). The spec's dataset and
    partition are not read here: ``data`` already holds the clients they made
    (:func:`fedbench.clients.training_data`), or any clients a caller builds.

    Parameters
    ----------
    spec
        The run spec: model, algorithm, ``fl`` settings and seed.
    data
        The clients and the global test set.
    worker_log
        Where the TFF worker's output goes (``None`` discards it).
    threads
        TensorFlow threads, here and in the TFF worker (0: TensorFlow's default).
    eval_rounds
        Rounds to evaluate besides every ``fl.eval_every`` and the last.
    checkpoints
        The run's checkpoint: resumed from when it fits (rounds up to its round are
        not trained again and yield no record), saved every ``fl.checkpoint_every``
        rounds, at the end and when the iteration is stopped. ``None``: from round 1,
        nothing saved. A per-client state table (SCAFFOLD's) lives on disk beside it
        (:mod:`fedbench.training.client_table`); without checkpoints, in a scratch
        folder there, removed at the end.
    kept_rounds
        The rounds 1..``kept_rounds`` whose records the caller holds; only a
        checkpoint within them is resumed from.
    before_checkpoint
        Called with the round before each checkpoint is saved (to save the records
        through that round first, so a checkpoint never gets ahead of its records).
    session
        The TFF worker and learning processes shared with other jobs of this process
        (default: the active one, :func:`fedbench.training.session.active`, if any).

    Yields
    ------
    RoundRecord
        One per round trained; the last has ``diverged=True`` if the run diverged.

    """
    label = f"{spec.dataset.name}/{spec.partition.name}/{spec.model.name}/{spec.algorithm.name}"
    limit_threads(threads)
    settings = loop_settings(spec, eval_rounds)
    session = active_session() if session is None else session
    if session is None:
        worker = tff_worker(worker_log, threads=threads)
    else:
        worker = session.worker(worker_log, threads)
    with worker, client_store(data.clients) as store, contextlib.ExitStack() as scratch:
        process, init_model = learning_process(
            spec, data.example_shape, data.num_classes, store, session
        )
        shards = shard_count(spec, threads) if spec.fl.execution == "sharded" else 0
        restored, save = None, None
        if keeps_client_state(process):
            home = scratch.enter_context(_table_home(spec, checkpoints))
            process = with_disk_table(process, *home)
        table = getattr(process, "table", None)
        if checkpoints is not None:
            restored = checkpoints.load(process.initialize(), max_round=kept_rounds)
            if restored is not None:
                log.info("run %s: resuming after round %d", checkpoints.hash, restored.round)

            def save(round_num: int, state: tff.learning.templates.LearningAlgorithmState) -> None:
                before_checkpoint(round_num)
                try:
                    checkpoints.save(round_num, state)
                except OSError as error:
                    raise ResultsNotWritable(
                        f"run {checkpoints.hash}: the checkpoint of round {round_num} could "
                        f"not be written to {checkpoints.path} ({error.strerror or error}); "
                        "fix that and run the same command again to resume"
                    ) from None

        if restored is None and table is not None:
            table.reset()  # from round 1: no client row written yet
        yield from run_rounds(
            process,
            init_model,
            round_inputs(store, settings, shards),
            data,
            settings,
            resume=restored,
            hooks=RoundHooks(label, save),
            participation=participation(spec.fl, spec.seed, data.clients.train_y),
        )


@contextlib.contextmanager
def _table_home(spec: RunSpec, checkpoints: Checkpoints | None) -> Iterator[tuple[Path, str]]:
    """Where a run's client table lives: beside its checkpoint, else a scratch folder there.

    A scratch folder goes when the block ends: nothing resumes from it.
    """
    if checkpoints is not None:
        yield table_dir(checkpoints.path), checkpoints.hash
        return
    checkpoints_dir = checkpoint_path(spec.results_dir, spec.config_hash).parent
    with scratch_table_dir(checkpoints_dir, spec.config_hash) as scratch:
        yield scratch, spec.config_hash


def round_inputs(
    store: ClientStore, settings: LoopSettings, shards: int = 0
) -> Callable[..., list[collections.OrderedDict]]:
    """What a store-composed process takes each round, from ``(clients, round_num, epochs)``.

    ``epochs``, each client's local epochs, may be left out: every client then trains
    ``settings.local_epochs``.

    Parameters
    ----------
    store
        The clients' training data.
    settings
        The loop's settings (local epochs, seed, shuffling).
    shards
        ``0``: one input per sampled client (the per-client path); else the sampled
        clients split into this many shards, one input each (the sharded path).

    """

    def client_inputs(
        sampled: np.ndarray, round_num: int, epochs: np.ndarray | None = None
    ) -> list[collections.OrderedDict]:
        if epochs is None:
            epochs = np.full(len(sampled), settings.local_epochs, dtype=np.int64)
        if shards == 0:
            return store.round_input(
                sampled,
                round_num,
                local_epochs=epochs,
                seed=settings.seed,
                shuffle=settings.shuffle_clients,
            )
        sampled, epochs = np.asarray(sampled, np.int64), np.asarray(epochs, np.int64)
        return [
            shard_input(
                sampled[part],
                store.sizes,
                round_num,
                directory=str(store.directory),
                local_epochs=epochs[part],
                seed=settings.seed,
                shuffle=settings.shuffle_clients,
            )
            for part in split_clients(np.arange(len(sampled)), shards)
        ]

    return client_inputs
