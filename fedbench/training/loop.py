"""The FedAvg round loop: sample clients, run one TFF round, evaluate, yield a record."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff
from tqdm.auto import tqdm

from fedbench import interrupts
from fedbench.clients import ClientArrays, TrainingData
from fedbench.training import client_work, evaluation
from fedbench.training.checkpoints import Restored
from fedbench.training.participation import Participation, uniform

log = logging.getLogger(__name__)

#: What ``process.next`` takes for a round's clients, from ``(clients, round_num, epochs)``:
#: the clients that train and each one's local epochs (:mod:`fedbench.training.client_work`).
ClientInput = Callable[[np.ndarray, int, np.ndarray], list]


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
    #: Rounds evaluated besides every ``eval_every`` and the last (shorter settings of a sweep).
    eval_rounds: frozenset[int] = frozenset()
    #: Rounds between checkpoints (0: only when stopped and at the end).
    checkpoint_every: int = 0
    #: Stragglers and unequal local epochs (``None``: every client ``local_epochs``).
    work: client_work.WorkSettings | None = None

    @property
    def client_work(self) -> client_work.WorkSettings:
        """What sampled clients do: :attr:`work`, or ``local_epochs`` each."""
        return self.work or client_work.WorkSettings(self.local_epochs)


@dataclass(frozen=True)
class RoundRecord:
    """What one round measured. Evaluation fields are NaN on rounds without evaluation.

    ``round_seconds`` is the whole round's wall time (datasets, TFF round, evaluation);
    ``examples_per_second`` is client training examples over the TFF round's wall
    time alone (evaluation excluded; round 1 includes TFF compiling the round).
    ``train_loss`` and ``train_accuracy`` are TFF's running means over every local
    step of the sampled clients (client models while training, not the new global
    model); NaN when those clients hold no example. ``local_steps_mean`` and
    ``local_steps_std`` are the mean and (population) standard deviation of the local
    steps the clients that trained took (``epochs * ceil(n / batch_size)`` each; dropped
    stragglers take none and are not counted).
    """

    round: int
    evaluated: bool
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float
    client_accuracy_mean: float
    client_accuracy_p10: float
    heldout_client_accuracy: float
    participation_gap: float
    out_of_sample_gap: float
    client_drift: float
    round_seconds: float
    examples_per_second: float
    train_examples: int
    local_steps_mean: float
    local_steps_std: float
    diverged: bool


def _all_finite(weights: tff.learning.models.ModelWeights) -> bool:
    return all(np.all(np.isfinite(np.asarray(w))) for w in tf.nest.flatten(weights.trainable))


def dropped_updates(
    output: tff.learning.templates.LearningProcessOutput,
    clients: ClientArrays,
    sampled: np.ndarray,
    local_epochs: int | np.ndarray,
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
        The clients that trained in the round.
    local_epochs
        Passes each client made over its data: one number for all, or one per client of
        ``sampled``.

    Returns
    -------
    int
        The shortfall in examples, after allowing for float32 rounding of the weights.
    """
    epochs = np.broadcast_to(np.asarray(local_epochs, dtype=np.int64), np.shape(sampled))
    expected = int(sum(e * len(clients.train_y[k]) for k, e in zip(sampled, epochs, strict=True)))
    aggregated = float(output.metrics["aggregator"]["client_weight_total"])
    # TFF hands each weight over as float32, exact only below 2**24: allow its rounding.
    return max(0, round(expected - aggregated - expected * 2.0**-24))


@dataclass(frozen=True)
class RoundMetrics:
    """What TFF measured in one round (``process.next``'s metrics).

    ``train_loss`` and ``train_accuracy`` are NaN when the sampled clients hold no
    example: TFF then reports 0, which measures nothing.
    """

    train_examples: int
    train_loss: float
    train_accuracy: float
    client_drift: float


@dataclass(frozen=True)
class Evaluation:
    """The global model's scores on the test set and on the clients' data.

    The per-client fields are :class:`fedbench.training.evaluation.ClientScores`' (NaN
    where there is no data to score).
    """

    test_loss: float
    test_accuracy: float
    client_accuracy_mean: float = math.nan
    client_accuracy_p10: float = math.nan
    heldout_client_accuracy: float = math.nan
    participation_gap: float = math.nan
    out_of_sample_gap: float = math.nan


_NOT_EVALUATED = Evaluation(test_loss=math.nan, test_accuracy=math.nan)


def initial_state(
    process: tff.learning.templates.LearningProcess, initial_model: tf.keras.Model
) -> tff.learning.templates.LearningAlgorithmState:
    """The process's initial state with the global weights set to ``initial_model``'s.

    Returns
    -------
    tff.learning.templates.LearningAlgorithmState
        ``process.initialize()`` holding the seeded initial weights.

    """
    state = process.initialize()
    return process.set_model_weights(
        state, tff.learning.models.ModelWeights.from_model(initial_model)
    )


def global_weights(
    process: tff.learning.templates.LearningProcess,
    state: tff.learning.templates.LearningAlgorithmState,
) -> tff.learning.models.ModelWeights:
    """The global model's weights in ``state``.

    A ``tff.learning`` state that ``process.next`` returned holds them as
    ``global_model_weights`` (numpy arrays): they are read there, since
    ``process.get_model_weights`` is a TFF computation that returns that very field at
    the cost of a call to the worker (about a third of a small model's round). Any
    other state asks the process.
    """
    held = getattr(state, "global_model_weights", None)
    if isinstance(held, tff.learning.models.ModelWeights):
        return held
    return process.get_model_weights(state)


def step(
    process: tff.learning.templates.LearningProcess,
    state: tff.learning.templates.LearningAlgorithmState,
    datasets: list,
) -> tuple[tff.learning.templates.LearningProcessOutput, float]:
    """Run one TFF round on ``datasets`` (or the round inputs a composed process takes).

    Returns
    -------
    output : tff.learning.templates.LearningProcessOutput
        ``process.next``'s output: the new state and the round's metrics.
    train_seconds : float
        Wall time of ``process.next`` alone.

    """
    started = time.perf_counter()
    output = process.next(state, datasets)
    return output, time.perf_counter() - started


def round_metrics(output: tff.learning.templates.LearningProcessOutput) -> RoundMetrics:
    """Read the training metrics and the client drift off a round's output.

    Returns
    -------
    RoundMetrics
        TFF's running means over every local step of the sampled clients, and the
        aggregator's ``client_drift``.

    """
    train = output.metrics["client_work"]["train"]
    examples = int(train["num_examples"])
    # Running means over the local steps; with no example at all there is no mean.
    return RoundMetrics(
        train_examples=examples,
        train_loss=float(train["loss"]) if examples else math.nan,
        train_accuracy=float(train["sparse_categorical_accuracy"]) if examples else math.nan,
        client_drift=float(output.metrics["aggregator"]["client_drift"]),
    )


def check_divergence(
    metrics: RoundMetrics, weights: tff.learning.models.ModelWeights, dropped: int
) -> bool:
    """Whether the run diverged in this round.

    Parameters
    ----------
    metrics
        The round's metrics.
    weights
        The new global weights.
    dropped
        Examples whose client's update TFF left out (:func:`dropped_updates`).

    Returns
    -------
    bool
        True if clients that held examples had a non-finite loss, a trainable global
        weight is not finite, or TFF dropped a non-finite client update.

    """
    loss_blew_up = metrics.train_examples > 0 and not math.isfinite(metrics.train_loss)
    return loss_blew_up or not _all_finite(weights) or dropped > 0


def due_for_evaluation(round_num: int, settings: LoopSettings) -> bool:
    """Whether round ``round_num`` is evaluated (when it did not diverge).

    Returns
    -------
    bool
        True every ``settings.eval_every`` rounds, on the last round and on the rounds
        of ``settings.eval_rounds``.

    """
    return (
        round_num % settings.eval_every == 0
        or round_num == settings.rounds
        or round_num in settings.eval_rounds
    )


def evaluate(
    model: tf.keras.Model,
    weights: tff.learning.models.ModelWeights,
    clients: ClientArrays,
    test_x: np.ndarray,
    test_y: np.ndarray,
    heldout: np.ndarray | None = None,
) -> Evaluation:
    """Score the global ``weights`` on the test set and on the clients' data.

    Parameters
    ----------
    model
        A Keras model of the process's architecture; ``weights`` are copied into it.
    weights
        The global weights.
    clients
        Every client's arrays (``holdout_x``/``holdout_y`` for per-client accuracy).
    test_x, test_y
        The global test set.
    heldout
        The clients that never train (``fl.heldout_clients``); ``None``: none.

    Returns
    -------
    Evaluation
        Test loss and accuracy, and :func:`fedbench.training.evaluation.client_scores`.

    """
    weights.assign_weights_to(model)
    logits = evaluation.predict_logits(model, test_x)
    test_loss, test_accuracy = evaluation.loss_and_accuracy(logits, test_y)
    scores = evaluation.client_scores(model, clients, heldout)
    return Evaluation(test_loss, test_accuracy, **dataclasses.asdict(scores))


def make_record(
    round_num: int,
    metrics: RoundMetrics,
    scores: Evaluation | None,
    *,
    diverged: bool,
    round_seconds: float,
    train_seconds: float,
    local_steps: np.ndarray | None = None,
) -> RoundRecord:
    """Assemble a round's :class:`RoundRecord`.

    Parameters
    ----------
    round_num
        The round (1-based).
    metrics
        The round's training metrics and client drift.
    scores
        The evaluation, or ``None`` when the round was not evaluated (its fields are NaN).
    diverged
        Whether the run diverged in this round.
    round_seconds
        The whole round's wall time.
    train_seconds
        Wall time of the TFF round alone; ``examples_per_second`` is NaN when it is not > 0.
    local_steps
        The local steps of each client that trained (their mean and spread are recorded;
        ``None`` or empty: NaN).

    Returns
    -------
    RoundRecord
        The round's record.

    """
    evaluated = scores is not None
    if scores is None:
        scores = _NOT_EVALUATED
    examples = metrics.train_examples
    return RoundRecord(
        round=round_num,
        evaluated=evaluated,
        train_loss=metrics.train_loss,
        train_accuracy=metrics.train_accuracy,
        test_loss=scores.test_loss,
        test_accuracy=scores.test_accuracy,
        client_accuracy_mean=scores.client_accuracy_mean,
        client_accuracy_p10=scores.client_accuracy_p10,
        heldout_client_accuracy=scores.heldout_client_accuracy,
        participation_gap=scores.participation_gap,
        out_of_sample_gap=scores.out_of_sample_gap,
        client_drift=metrics.client_drift,
        round_seconds=round_seconds,
        examples_per_second=examples / train_seconds if train_seconds > 0 else math.nan,
        train_examples=examples,
        local_steps_mean=evaluation.mean_or_nan(local_steps),
        local_steps_std=_std(local_steps),
        diverged=diverged,
    )


def _std(values: np.ndarray | None) -> float:
    return float(np.std(values)) if values is not None and len(values) else math.nan


def _log_round(record: RoundRecord, rounds: int) -> None:
    log.info(
        "round %d/%d: train_loss=%.4f train_acc=%.4f test_acc=%.4f drift=%.3f (%.2f s)",
        record.round,
        rounds,
        record.train_loss,
        record.train_accuracy,
        record.test_accuracy,
        record.client_drift,
        record.round_seconds,
    )


def _due_for_checkpoint(round_num: int, settings: LoopSettings) -> bool:
    every = settings.checkpoint_every
    return every > 0 and round_num % every == 0


def _one_round(
    process: tff.learning.templates.LearningProcess,
    state: tff.learning.templates.LearningAlgorithmState,
    model: tf.keras.Model,
    client_input: ClientInput,
    data: TrainingData,
    settings: LoopSettings,
    round_num: int,
    participation: Participation,
) -> tuple[RoundRecord, tff.learning.templates.LearningAlgorithmState]:
    """Sample, train one TFF round, check, evaluate when due: the record and the new state."""
    interrupts.raise_if_interrupted()  # a signal whose exception a gc callback swallowed
    started = time.perf_counter()
    clients = data.clients
    sampled = participation.sample(round_num)
    work = client_work.assign(settings.seed, round_num, sampled, settings.client_work)
    output, train_seconds = step(process, state, client_input(work.clients, round_num, work.epochs))
    metrics = round_metrics(output)
    weights = global_weights(process, output.state)
    dropped = dropped_updates(output, clients, work.clients, work.epochs)
    if dropped:
        log.warning(
            "round %d: %d examples' worth of client updates were not finite; "
            "TFF left them out of the average",
            round_num,
            dropped,
        )
    diverged = check_divergence(metrics, weights, dropped)
    scores = None
    if not diverged and due_for_evaluation(round_num, settings):
        scores = evaluate(model, weights, clients, data.test_x, data.test_y, participation.heldout)
    record = make_record(
        round_num,
        metrics,
        scores,
        diverged=diverged,
        round_seconds=time.perf_counter() - started,
        train_seconds=train_seconds,
        local_steps=client_work.local_steps(
            work.epochs, [len(clients.train_y[k]) for k in work.clients], settings.batch_size
        ),
    )
    return record, output.state


@dataclass(frozen=True)
class RoundHooks:
    """What the round loop reports to besides its records.

    Attributes
    ----------
    label
        Text of the progress bar.
    checkpoint
        Called with a round and the process state after it: every
        ``settings.checkpoint_every`` rounds, after the last round, and when the loop
        is stopped (a signal, an error, or the caller closing it) with the state
        after the last round whose record the caller received. Never for a state
        that diverged. The record of that round has been yielded before. ``None``:
        nothing is saved.

    """

    label: str = ""
    checkpoint: Callable[[int, tff.learning.templates.LearningAlgorithmState], None] | None = None


def run_rounds(
    process: tff.learning.templates.LearningProcess,
    initial_model: tf.keras.Model,
    client_input: ClientInput,
    data: TrainingData,
    settings: LoopSettings,
    *,
    resume: Restored | None = None,
    hooks: RoundHooks = RoundHooks(),
    participation: Participation | None = None,
) -> Iterator[RoundRecord]:
    """Train the rounds after ``resume`` to ``settings.rounds``, one :class:`RoundRecord` each.

    Parameters
    ----------
    process
        A learning process whose aggregator reports ``client_drift``.
    initial_model
        A Keras model holding the seeded initial weights; it is also the model the
        global weights are copied into for evaluation.
    client_input
        What ``process.next`` takes for a round's clients, from ``(sampled, round_num)``:
        for a process composed by :meth:`fedbench.training.client_store.ClientStore.compose`
        (or a ``composed`` algorithm's of :data:`fedbench.records.ALGORITHMS`, reading the
        store), the store's ``round_input`` (:func:`fedbench.training.train.round_inputs`).
    data
        Every client's arrays and the global test set.
    settings
        Rounds, sampling, batching and evaluation settings.
    resume
        The round to continue after and the process state then (a checkpoint read
        back). Sampling and shuffling depend on the round alone, so a run resumed after
        round ``r`` from the state after it replays the same clients and batches.
        ``None``: from round 1, at :func:`initial_state` (the weights of ``initial_model``).
    hooks
        The progress bar's label and the checkpoint.
    participation
        Which clients each round samples, and which never train
        (:func:`fedbench.training.participation.participation`). ``None``: every round
        draws ``settings.clients_per_round`` of all the clients uniformly.

    Yields
    ------
    RoundRecord
        One per round; the last one has ``diverged=True`` if the loss or the weights
        stopped being finite, and the loop ends there.

    Raises
    ------
    ValueError
        If ``resume`` is before round 0 (a start_round below 1).

    """
    if resume is None:
        resume = Restored(0, initial_state(process, initial_model))
    start_round, state = resume.round + 1, resume.state
    if start_round < 1:
        raise ValueError(
            f"start_round must be at least 1 (resume after round 0 or later), got {start_round}"
        )
    if participation is None:
        participation = uniform(data.clients.num_clients, settings.clients_per_round, settings.seed)
    checkpoint = hooks.checkpoint
    bar = tqdm(
        range(start_round, settings.rounds + 1),
        desc=hooks.label,
        unit="round",
        disable=None,
        initial=start_round - 1,
        total=max(settings.rounds, start_round - 1),
    )
    saved = done = start_round - 1  # the state we start from needs no saving
    done_state = state
    try:
        for round_num in bar:
            record, state = _one_round(
                process,
                state,
                initial_model,
                client_input,
                data,
                settings,
                round_num,
                participation,
            )
            if record.evaluated:
                bar.set_postfix(
                    test_acc=f"{record.test_accuracy:.3f}", loss=f"{record.train_loss:.3f}"
                )
            _log_round(record, settings.rounds)
            yield record
            if record.diverged:
                log.warning("round %d: non-finite loss or weights; the run diverged", round_num)
                saved = done  # a diverged run is final: nothing to resume
                return
            done, done_state = round_num, state
            if checkpoint is not None and _due_for_checkpoint(round_num, settings):
                checkpoint(round_num, state)
                saved = round_num
    finally:
        bar.close()
        if checkpoint is not None and done > saved:  # the end, or stopped: keep what was trained
            checkpoint(done, done_state)
