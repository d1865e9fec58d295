"""SCAFFOLD (Karimireddy et al., ICML 2020), control variates of option II, as in NIID-Bench.

With the global model ``x``, the server control variate ``c`` and client ``i``'s own
``c_i``, a round is:

1. each sampled client starts from ``y_i = x`` and takes its ``K_i`` local steps; after
   each optimizer step, ``y_i <- y_i - lr * (c - c_i)`` (``lr`` the client step);
2. it sets ``c_i+ = c_i - c + (x - y_i) / (K_i * lr)`` and sends the model update
   ``x - y_i`` (weighted by its examples) and ``Δc_i = c_i+ - c_i``;
3. the server sets ``x <- x - server_lr * mean_w(x - y_i)`` (the examples-weighted mean,
   as FedAvg; ``server_lr = 1`` is NIID-Bench's plain average of the client models)
   and ``c <- c + (1/N) sum_{i in S} Δc_i``, i.e. ``(|S|/N) mean(Δc_i)`` over the
   ``|S|`` sampled of ``N`` clients.

Where ``c`` and every ``c_i`` start (``control_start``), before any client is sampled:

- ``zeros``: all zero, the usual reading of the paper (its Algorithm 1 takes them as
  inputs).
- ``network``: NIID-Bench's code (``experiments.py``, the ``scaffold`` branch of its main
  loop). It builds ``c_global`` as a network from its own ``init_nets`` call (freshly
  initialized weights, another draw than the global model's) and ``c_nets``, one
  network per party, then loads ``c_global``'s weights into every ``c_nets[i]``: ``c``
  and every ``c_i`` start at the same weights ``W`` of one fresh network. Here ``W`` is
  the trainable weights of the run's model initialized from the run's seed, stream
  :data:`fedbench.seeding.CONTROL_INIT` (Keras' initializers: Glorot-uniform kernels and
  zero biases, where PyTorch draws both; ``model=linear`` starts at zero, so ``W = 0``).

The first round's correction ``c - c_i`` is then zero with either start. The offset
``W`` cancels out of every correction when every client is sampled every round (``c``
stays the mean of the ``c_i``, and after round 1 every ``c_i`` has lost its ``W``), so the
two starts agree up to float32 rounding at full participation. With ``|S| < N`` it does
not: after round 1, ``c`` keeps ``(1 - |S|/N) W`` while the sampled ``c_i`` have none and
the others keep ``W``, and later corrections carry the difference.

The start is in the process's initial state only (``c`` at the server, the client
table's initial rows), not in the client update; the rows are the same for every client
and a function of the seed, so a row can be made for any client at any time.

Deviations, both as in NIID-Bench's code: the correction is applied after the
optimizer's step rather than added to the gradient (they differ only with client
momentum), and control variates cover the trainable weights only. A client with no
example, or whose update is not finite, keeps its ``c_i`` and sends ``Δc_i = 0`` and
weight 0 (the round loop then reports the run as diverged).
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff

from fedbench import seeding
from fedbench.training import local_training as local
from fedbench.training.composed import (
    AGGREGATOR,
    DATA,
    MODEL,
    STATE,
    ClientInputs,
    ComposedProcess,
    ModelTypes,
    initialize_computation,
    model_weights,
    round_metrics,
)
from fedbench.training.drift import DriftMeasuringFactory
from fedbench.training.optimizers import OptimizerSettings, client_sgd

#: The server state's field holding ``c``.
CONTROL = "control"


def scaffold(
    model_fn: Callable[[], tff.learning.models.VariableModel],
    settings: OptimizerSettings,
    clients: ClientInputs,
    fresh_weights: Callable[[str], Sequence[np.ndarray]],
    *,
    control_start: str,
) -> ComposedProcess:
    """Build SCAFFOLD's learning process, keeping each client's control variate.

    Parameters
    ----------
    model_fn
        No-argument function returning a new ``tff.learning.models.VariableModel``.
    settings
        Client SGD (step, momentum, weight decay) and the server step.
    clients
        The clients' round inputs and how each reads its data.
    fresh_weights
        Seed stream name -> the trainable weights of a freshly initialized network of the
        run's model, drawn from the run's seed and that stream (called once, at the
        first :meth:`ComposedProcess.initialize`, for ``control_start="network"``).
    control_start
        ``"zeros"`` or ``"network"``: where ``c`` and every ``c_i`` start (module
        docstring).

    Returns
    -------
    ComposedProcess
        Its state holds ``x`` and ``c`` at the server and ``c_i`` for every client.

    """
    types = ModelTypes.of(model_fn)
    control_type = types.trainable
    client_lr, server_lr = settings.client_lr, settings.server_lr
    inverse_clients = 1.0 / (settings.population or clients.num_clients)  # held-out never train
    aggregation = DriftMeasuringFactory().create(types.trainable, tff.TensorType(np.float32))
    broadcast_type = tff.StructType([(MODEL, types.weights), (CONTROL, control_type)])
    client_input_type = tff.StructType([(DATA, clients.input_type), (STATE, control_type)])

    @tff.tensorflow.computation(broadcast_type, client_input_type)
    def client_update(server: object, client: object) -> collections.OrderedDict:
        train = local.build_local_training(model_fn, client_sgd(settings), client_lr)
        c, c_i = list(server[CONTROL]), list(client[STATE])
        correction = tuple(g - own for g, own in zip(c, c_i, strict=True))
        result = train(model_weights(server[MODEL]), clients.dataset(client[DATA]), correction)
        update = local.usable_update(result)
        usable, scale = update["usable"], 1.0 / (tf.maximum(update["steps"], 1.0) * client_lr)
        new_c_i = [
            tf.where(usable, own - g + d * scale, own)
            for own, g, d in zip(c_i, c, update["delta"], strict=True)
        ]
        return collections.OrderedDict(
            delta=update["delta"],
            weight=update["weight"],
            control=new_c_i,
            control_delta=[new - own for new, own in zip(new_c_i, c_i, strict=True)],
            metrics=result[local.METRICS],
        )

    server_update = server_update_computation(types, server_lr, inverse_clients)

    initialize_fn = initialize_computation(model_fn, aggregation, (CONTROL,))

    state_type = initialize_fn.type_signature.result

    @tff.federated_computation(state_type, tff.FederatedType(client_input_type, tff.CLIENTS))
    def next_fn(state: object, client_inputs: object) -> tuple:
        shared = tff.federated_zip(
            collections.OrderedDict([(MODEL, state[MODEL]), (CONTROL, state[CONTROL])])
        )
        out = tff.federated_map(client_update, (tff.federated_broadcast(shared), client_inputs))
        averaged = aggregation.next(state[AGGREGATOR], out["delta"], out["weight"])
        control_sum = tff.federated_sum(out["control_delta"])
        server = tff.federated_map(
            server_update, (state[MODEL], state[CONTROL], averaged.result, control_sum)
        )
        new_state = tff.federated_zip(
            collections.OrderedDict(
                [(MODEL, server[MODEL]), (CONTROL, server[CONTROL]), (AGGREGATOR, averaged.state)]
            )
        )
        metrics = round_metrics(types.aggregate_metrics(out["metrics"]), averaged.measurements)
        return new_state, metrics, out["control"]

    zero_control = [np.zeros(t.shape, t.dtype.type) for t in control_type]
    return ComposedProcess(
        initialize_fn,
        next_fn,
        zero_control,
        clients.num_clients,
        **start_hooks(control_start, fresh_weights, zero_control),
    )


def server_update_computation(
    types: ModelTypes, server_lr: float, inverse_clients: float
) -> tff.Computation:
    """SCAFFOLD's server step: ``x <- x - server_lr * mean``, ``c <- c + sum Δc_i / N``.

    ``(model, c, mean_delta, control_sum) -> OrderedDict(model, control)``; a mean that is
    not finite leaves the model as it was (:func:`fedbench.training.local_training.applied`).
    """
    control_type = types.trainable

    @tff.tensorflow.computation(types.weights, control_type, types.trainable, control_type)
    def server_update(
        model: object, c: object, mean_delta: object, control_sum: object
    ) -> collections.OrderedDict:
        return server_step(model, c, mean_delta, control_sum, server_lr, inverse_clients)

    return server_update


def server_step(
    model: Any,
    c: Any,
    mean_delta: Any,
    control_sum: Any,
    server_lr: float,
    inverse_clients: float,
) -> collections.OrderedDict:
    """SCAFFOLD's server step in TensorFlow (:func:`server_update_computation`'s body).

    Returns
    -------
    collections.OrderedDict
        ``model`` (``ModelWeights``) and ``control`` (the new ``c``).

    """
    trainable = local.applied(list(model.trainable), list(mean_delta), server_lr)
    weights = tff.learning.models.ModelWeights(trainable, list(model.non_trainable))
    new_c = [g + inverse_clients * s for g, s in zip(c, control_sum, strict=True)]
    return collections.OrderedDict([(MODEL, weights), (CONTROL, new_c)])


def start_hooks(
    control_start: str,
    fresh_weights: Callable[[str], Sequence[np.ndarray]],
    zero_control: Sequence[np.ndarray],
) -> dict[str, Any]:
    """The :class:`ComposedProcess` hooks that start ``c`` and every ``c_i`` (``control_start``).

    Returns
    -------
    dict
        Nothing for ``zeros``; for ``network``, ``initial_row`` and ``initial_server``
        both giving the trainable weights of one network from (seed, ``CONTROL_INIT``).

    """
    if control_start == "zeros":
        return {}

    @functools.cache
    def network() -> tuple[np.ndarray, ...]:
        weights = [np.asarray(w) for w in fresh_weights(seeding.CONTROL_INIT)]
        shapes = [z.shape for z in zero_control]
        if [w.shape for w in weights] != shapes:
            raise ValueError(f"fresh weights of shapes {[w.shape for w in weights]}, not {shapes}")
        return tuple(w.astype(z.dtype) for w, z in zip(weights, zero_control, strict=True))

    return {
        "initial_row": lambda _client: network(),  # NIID-Bench: every c_i is a copy of c
        "initial_server": lambda: {CONTROL: network()},
    }
