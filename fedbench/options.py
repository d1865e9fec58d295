"""Model and algorithm options: one dataclass per option, its fields' defaults the defaults.

Plain dataclasses (no Hydra, no TensorFlow): Hydra uses them as the ``model`` and
``algorithm`` schemas, :class:`fedbench.spec.RunSpec` for their defaults.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LinearModel:
    """``model=linear``: softmax regression on flattened features."""

    name: str = "linear"


@dataclass
class MlpModel:
    """``model=mlp``: Flatten -> Dense(hidden, relu) -> Dense(C)."""

    name: str = "mlp"
    hidden: int = 128


@dataclass
class CnnModel:
    """``model=cnn``: NIID-Bench's simple CNN (LeNet-5 style)."""

    name: str = "cnn"


@dataclass
class CnnEmnistModel:
    """``model=cnn_emnist``: the EMNIST CNN of TFF's baselines (Reddi et al. 2021)."""

    name: str = "cnn_emnist"


MODEL_SCHEMAS = {
    "linear": LinearModel,
    "mlp": MlpModel,
    "cnn": CnnModel,
    "cnn_emnist": CnnEmnistModel,
}


@dataclass
class FedAvg:
    """``algorithm=fedavg``: weighted FedAvg, server SGD at ``fl.server_lr``."""

    name: str = "fedavg"


@dataclass
class FedAvgM:
    """``algorithm=fedavgm``: FedAvg with server momentum (Hsu et al. 2019)."""

    name: str = "fedavgm"
    server_momentum: float = 0.9


@dataclass
class FedProx:
    """``algorithm=fedprox``: proximal term ``mu/2 ||w - w_global||^2`` (Li et al. 2020)."""

    name: str = "fedprox"
    mu: float = 0.01


@dataclass
class FedAdam:
    """``algorithm=fedadam``: server Adam (Reddi et al. 2021); ``fl.server_lr`` is its step."""

    name: str = "fedadam"
    beta_1: float = 0.9
    beta_2: float = 0.99
    epsilon: float = 1e-3


ALGORITHM_SCHEMAS = {
    "fedavg": FedAvg,
    "fedavgm": FedAvgM,
    "fedprox": FedProx,
    "fedadam": FedAdam,
}
