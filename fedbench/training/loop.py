"""The FedAvg round loop: sample clients, run one TFF round, evaluate, yield a record."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff
from tqdm.auto import tqdm

from fedbench import seeding
from fedbench.training import evaluation, runtime
from fedbench.training.client_data import ClientArrays, round_dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopSettings:
    """The ``fl.*`` keys the loop needs."""

    rounds: int
    clients_per_round: int
    local_epochs: int
    batch_size: int
    eval_every: int
    shuffle_clients: bool
    seed: int


@dataclass(frozen=True)
class RoundRecord:
    """What one round measured. Evaluation fields are NaN on rounds without evaluation.

    ``round_seconds`` is the whole round's wall time (datasets, TFF round, evaluation);
    ``examples_per_second`` is client training examples over the TFF round's wall
    time alone (evaluation excluded; round 1 includes TFF compiling the round).
    ``train_loss`` and ``train_accuracy`` are TFF's running means over every local
    step of the sampled clients (client models while training, not the new global
    model); NaN when those clients hold no example.
    """

    round: int
    evaluated: bool
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float
    client_accuracy_mean: float
    client_accuracy_p10: float
    client_drift: float
    round_seconds: float
    examples_per_second: float
    train_examples: int
    diverged: bool


def sample_clients(
    seed: int, round_num: int, num_clients: int, clients_per_round: int
) -> np.ndarray:
    """Clients sampled in ``round_num``: a function of (seed, round) only, so any round replays.

    Returns
    -------
    numpy.ndarray
        ``clients_per_round`` distinct client indices, sorted.

    """
    chosen = seeding.rng(seed, seeding.SAMPLING, round_num).choice(
        num_clients, size=clients_per_round, replace=False
    )
    return np.sort(chosen)


def _all_finite(weights: tff.learning.models.ModelWeights) -> bool:
    return all(np.all(np.isfinite(np.asarray(w))) for w in tf.nest.flatten(weights.trainable))


def dropped_updates(
    output: tff.learning.templates.LearningProcessOutput,
    clients: ClientArrays,
    sampled: np.ndarray,
    local_epochs: int,
) -> int:
    """Examples whose client's update TFF zeroed for not being finite (0 when none).

    TFF weighs each client by the examples it trained on and gives weight 0 to a
    client whose update holds a NaN or an infinity; the aggregator's
    ``client_weight_total`` then falls short of what the sampled clients hold.

    Parameters
    ----------
    output
        The round's ``process.next`` output (its ``aggregator`` measurements).
    clients
        Every client's arrays.
    sampled
        The clients of the round.
    local_epochs
        Passes each client made over its data.

    Returns
    -------
    int
        The shortfall in examples, after allowing for float32 rounding of the weights.
    """
    expected = local_epochs * sum(len(clients.train_y[k]) for k in sampled)
    aggregated = float(output.metrics["aggregator"]["client_weight_total"])
    # TFF hands each weight over as float32, exact only below 2**24: allow its rounding.
    return max(0, round(expected - aggregated - expected * 2.0**-24))


def run_rounds(
    process: tff.learning.templates.LearningProcess,
    initial_model: tf.keras.Model,
    clients: ClientArrays,
    test_x: np.ndarray,
    test_y: np.ndarray,
    settings: LoopSettings,
    describe: Callable[[], str] = lambda: "",
) -> Iterator[RoundRecord]:
    """Train for ``settings.rounds`` rounds, yielding one :class:`RoundRecord` per round.

    Parameters
    ----------
    process
        A ``tff.learning`` learning process whose aggregator reports ``client_drift``.
    initial_model
        A Keras model holding the seeded initial weights; it is also the model the
        global weights are copied into for evaluation.
    clients
        Every client's arrays.
    test_x, test_y
        The global test set.
    settings
        Rounds, sampling, batching and evaluation settings.
    describe
        Text for the progress bar.

    Yields
    ------
    RoundRecord
        One per round; the last one has ``diverged=True`` if the loss or the weights
        stopped being finite, and the loop ends there.

    """
    state = process.initialize()
    state = process.set_model_weights(
        state, tff.learning.models.ModelWeights.from_model(initial_model)
    )
    bar = tqdm(range(1, settings.rounds + 1), desc=describe(), unit="round", disable=None)
    for round_num in bar:
        runtime.raise_if_interrupted()  # a signal whose exception a gc callback swallowed
        started = time.perf_counter()
        sampled = sample_clients(
            settings.seed, round_num, clients.num_clients, settings.clients_per_round
        )
        datasets = [
            round_dataset(
                clients.train_x[k],
                clients.train_y[k],
                batch_size=settings.batch_size,
                local_epochs=settings.local_epochs,
                shuffle_rng=(
                    seeding.rng(settings.seed, seeding.SHUFFLE, round_num, int(k))
                    if settings.shuffle_clients
                    else None
                ),
            )
            for k in sampled
        ]
        train_started = time.perf_counter()
        output = process.next(state, datasets)
        train_seconds = time.perf_counter() - train_started
        state = output.state
        train = output.metrics["client_work"]["train"]
        examples = int(train["num_examples"])
        # Running means over the local steps; with no example at all there is no mean.
        train_loss = float(train["loss"]) if examples else math.nan
        train_accuracy = float(train["sparse_categorical_accuracy"]) if examples else math.nan
        weights = process.get_model_weights(state)
        dropped = dropped_updates(output, clients, sampled, settings.local_epochs)
        if dropped:
            log.warning(
                "round %d: %d examples' worth of client updates were not finite; "
                "TFF left them out of the average",
                round_num,
                dropped,
            )
        loss_blew_up = examples > 0 and not math.isfinite(train_loss)
        diverged = loss_blew_up or not _all_finite(weights) or dropped > 0
        evaluated = not diverged and (
            round_num % settings.eval_every == 0 or round_num == settings.rounds
        )
        test_loss = test_acc = client_mean = client_p10 = math.nan
        if evaluated:
            weights.assign_weights_to(initial_model)
            logits = evaluation.predict_logits(initial_model, test_x)
            test_loss, test_acc = evaluation.loss_and_accuracy(logits, test_y)
            if clients.holdout_y is not None:
                accuracies = evaluation.per_client_accuracy(
                    initial_model, clients.holdout_x, clients.holdout_y
                )
                if len(accuracies):
                    client_mean = float(np.mean(accuracies))
                    client_p10 = float(np.percentile(accuracies, 10))
        record = RoundRecord(
            round=round_num,
            evaluated=evaluated,
            train_loss=train_loss,
            train_accuracy=train_accuracy,
            test_loss=test_loss,
            test_accuracy=test_acc,
            client_accuracy_mean=client_mean,
            client_accuracy_p10=client_p10,
            client_drift=float(output.metrics["aggregator"]["client_drift"]),
            round_seconds=time.perf_counter() - started,
            examples_per_second=examples / train_seconds if train_seconds > 0 else math.nan,
            train_examples=examples,
            diverged=diverged,
        )
        if evaluated:
            bar.set_postfix(test_acc=f"{test_acc:.3f}", loss=f"{train_loss:.3f}")
        log.info(
            "round %d/%d: train_loss=%.4f train_acc=%.4f test_acc=%.4f drift=%.3f (%.2f s)",
            round_num,
            settings.rounds,
            train_loss,
            record.train_accuracy,
            test_acc,
            record.client_drift,
            record.round_seconds,
        )
        yield record
        if diverged:
            log.warning("round %d: non-finite loss or weights; the run diverged", round_num)
            break
    bar.close()
