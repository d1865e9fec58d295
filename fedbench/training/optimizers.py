"""Client and server optimizers of the learning processes (``tff.learning.optimizers``)."""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

import tensorflow as tf
import tensorflow_federated as tff


@dataclass(frozen=True)
class OptimizerSettings:
    """Client and server optimiser settings (``fl.*``; ``server_lr`` resolved by the spec)."""

    client_lr: float
    client_momentum: float
    server_lr: float
    weight_decay: float
    #: Clients that may train (``fl.num_clients`` less ``fl.heldout_clients``): SCAFFOLD's
    #: N in ``c <- c + sum dc_i / N``; 0: every client of the store.
    population: int = 0


class WeightDecay(tff.learning.optimizers.Optimizer):
    """An optimizer whose gradients carry an L2 penalty: ``g + weight_decay * w``.

    The penalty is added before the inner optimizer's step (and so before its
    momentum), as PyTorch's ``SGD(weight_decay=...)`` does; NIID-Bench trains its
    clients that way.

    Parameters
    ----------
    inner
        The optimizer that takes the step.
    weight_decay
        The L2 coefficient (> 0).

    """

    def __init__(self, inner: tff.learning.optimizers.Optimizer, weight_decay: float) -> None:
        self._inner = inner
        self._weight_decay = weight_decay

    def initialize(self, specs: Any) -> Any:
        """The inner optimizer's state."""
        return self._inner.initialize(specs)

    def next(self, state: Any, weights: Any, gradients: Any) -> tuple[Any, Any]:
        """One step of the inner optimizer on the penalised gradients."""
        decay = self._weight_decay
        gradients = tf.nest.map_structure(lambda g, w: g + decay * w, gradients, weights)
        return self._inner.next(state, weights, gradients)

    def get_hparams(self, state: Any) -> Any:
        """The inner optimizer's hyperparameters."""
        return self._inner.get_hparams(state)

    def set_hparams(self, state: Any, hparams: Any) -> Any:
        """Set the inner optimizer's hyperparameters."""
        return self._inner.set_hparams(state, hparams)


class Proximal(tff.learning.optimizers.Optimizer):
    """An optimizer whose gradients carry FedProx's proximal term ``mu (w - w_0)``.

    ``w_0`` is the weights at the first step of a client's local training (the global
    model it received), held in the state. This is the gradient of Li et al.'s
    ``mu/2 ||w - w_0||^2``. TFF 0.87's ``build_weighted_fed_prox`` adds ``mu (w_0 - w)``
    instead (``proximal_client_work``: ``delta_l2_regularizer * (y - x)`` with ``x`` the
    current and ``y`` the initial weights), which pushes each client away from the
    global model; fedbench builds FedProx from FedAvg with this optimizer instead.

    Parameters
    ----------
    inner
        The optimizer that takes the step (after the term is added).
    mu
        The proximal strength (> 0).

    """

    def __init__(self, inner: tff.learning.optimizers.Optimizer, mu: float) -> None:
        self._inner = inner
        self._mu = mu

    def initialize(self, specs: Any) -> Any:
        """The inner optimizer's state, the anchor ``w_0`` (zeros) and whether it is set."""
        anchor = tf.nest.map_structure(lambda s: tf.zeros(s.shape, s.dtype), specs)
        return collections.OrderedDict(
            inner=self._inner.initialize(specs), anchor=anchor, anchored=tf.constant(False)
        )

    def next(self, state: Any, weights: Any, gradients: Any) -> tuple[Any, Any]:
        """One step of the inner optimizer on ``g + mu (w - w_0)``; ``w_0`` set on the first."""
        anchored = state["anchored"]
        anchor = tf.nest.map_structure(
            lambda a, w: tf.where(anchored, a, w), state["anchor"], weights
        )
        mu = self._mu
        gradients = tf.nest.map_structure(
            lambda g, w, w0: g + mu * (w - w0), gradients, weights, anchor
        )
        inner, updated = self._inner.next(state["inner"], weights, gradients)
        new_state = collections.OrderedDict(inner=inner, anchor=anchor, anchored=tf.constant(True))
        return new_state, updated

    def get_hparams(self, state: Any) -> Any:
        """The inner optimizer's hyperparameters."""
        return self._inner.get_hparams(state["inner"])

    def set_hparams(self, state: Any, hparams: Any) -> Any:
        """Set the inner optimizer's hyperparameters."""
        new_state = collections.OrderedDict(state)
        new_state["inner"] = self._inner.set_hparams(state["inner"], hparams)
        return new_state


def client_sgd(settings: OptimizerSettings) -> tff.learning.optimizers.Optimizer:
    """Client SGD at ``client_lr``, with momentum and weight decay when they are set."""
    momentum = settings.client_momentum or None  # build_sgdm(momentum=None) is plain SGD
    sgd = tff.learning.optimizers.build_sgdm(settings.client_lr, momentum=momentum)
    return WeightDecay(sgd, settings.weight_decay) if settings.weight_decay else sgd


def server_sgd(
    settings: OptimizerSettings, momentum: float = 0.0
) -> tff.learning.optimizers.Optimizer:
    """Server SGD at ``server_lr`` (with ``momentum``; 0 is plain averaging at step 1)."""
    return tff.learning.optimizers.build_sgdm(settings.server_lr, momentum=momentum or None)
