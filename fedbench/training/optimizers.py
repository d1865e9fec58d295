"""Client and server optimizers of the learning processes (``tff.learning.optimizers``)."""

from __future__ import annotations

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
