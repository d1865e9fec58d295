"""Schemas of the ``model`` group: one dataclass per model."""

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
