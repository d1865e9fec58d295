"""``partition=feature_noise``: an IID split whose clients see different input noise."""

from __future__ import annotations

import numpy as np

from fedbench.partitioning import _validation
from fedbench.partitioning.iid import iid
from fedbench.partitioning.shift import ClientShift, client_ramp
from fedbench.partitioning.strategy import Param, Search, Strategy
from fedbench.rules import NON_NEGATIVE_FLOAT


def feature_noise(
    labels: np.ndarray, num_clients: int, rng: np.random.Generator, *, sigma: float = 0.1
) -> list[np.ndarray]:
    """Split IID; the feature skew comes from per-client Gaussian noise applied later.

    NIID-Bench's "noise-based feature imbalance" (Li et al., "Federated Learning
    on Non-IID Data Silos: An Experimental Study", ICDE 2022, Sec. III-C): the
    data is split homogeneously and client ``k`` of ``K`` adds
    ``N(0, (sigma * k / (K - 1))^2)`` noise to its features. This function only
    makes the split; the clients add the noise with the standard deviations of
    :func:`client_noise_sigmas` when they are built (training and held-out data).

    Parameters
    ----------
    labels, num_clients, rng
        As for :func:`fedbench.partitioning.iid.iid`.
    sigma
        Noise level of the last client, ``>= 0``.

    Returns
    -------
    list of numpy.ndarray
        The IID parts.

    """
    _validation.check_params(STRATEGY, num_clients, {"sigma": sigma})
    return iid(labels, num_clients, rng)


def client_noise_sigmas(sigma: float, num_clients: int) -> np.ndarray:
    """Return client ``k``'s noise standard deviation ``sigma * k / (K - 1)``.

    Parameters
    ----------
    sigma
        Noise level of the last client, ``>= 0``.
    num_clients
        Number of clients ``K >= 1``; with ``K = 1`` the single client gets 0.

    Returns
    -------
    numpy.ndarray
        Shape ``(K,)`` float64, from 0 (client 0) up to ``sigma`` (client ``K - 1``).

    Examples
    --------
    >>> client_noise_sigmas(0.3, 4).round(6).tolist()
    [0.0, 0.1, 0.2, 0.3]

    """
    _validation.check_params(STRATEGY, num_clients, {"sigma": sigma})
    return client_ramp(sigma, num_clients)


STRATEGY = Strategy(
    "feature_noise",
    feature_noise,
    (
        Param(
            "sigma",
            NON_NEGATIVE_FLOAT,
            "Noise standard deviation of the last client (client k gets sigma*k/(K-1)).",
            label="σ",
            stronger="larger",
        ),
    ),
    client_shift=lambda params, context: [
        ClientShift(noise_sigma=float(s))
        for s in client_noise_sigmas(params["sigma"], context.num_clients)
    ],
    skew="feature",
    search=Search("sigma", 0.0, 4.0, "linear"),
)
