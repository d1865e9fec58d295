"""Schemas of the ``algorithm`` group: one dataclass per FedAvg-family algorithm."""

from __future__ import annotations

from dataclasses import dataclass


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
