"""``partition=rotation``: an IID split whose clients see their images rotated (covariate shift)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fedbench.errors import param_invalid
from fedbench.partitioning import _validation
from fedbench.partitioning.iid import iid
from fedbench.partitioning.shift import ClientShift, ShiftContext, client_ramp
from fedbench.partitioning.strategy import Param, Search, Strategy
from fedbench.rules import BOOLEAN, NON_NEGATIVE_FLOAT


def rotation(
    labels: np.ndarray,
    num_clients: int,
    rng: np.random.Generator,
    *,
    max_degrees: float = 90.0,
    rotate_holdout: bool = True,
) -> list[np.ndarray]:
    """Split IID; client ``k`` of ``K`` sees its images rotated by ``max_degrees * k / (K - 1)``.

    Covariate shift as in the rotated-MNIST studies (e.g. Ghosh et al., "An Efficient
    Framework for Clustered Federated Learning", NeurIPS 2020, which rotate each
    cluster of clients' MNIST images by a multiple of 90 degrees): every client holds
    the same classes, drawn alike, but sees them at its own angle, from 0 (client 0)
    to ``max_degrees`` (client ``K - 1``) in equal steps rather than in clusters. This
    function only makes the split; the clients rotate their images when they are
    built (:func:`client_shift`).

    Parameters
    ----------
    labels, num_clients, rng
        As for :func:`fedbench.partitioning.iid.iid`.
    max_degrees
        Rotation of the last client's images, ``>= 0`` degrees, counter-clockwise.
    rotate_holdout
        Whether a client's held-out examples (per-client evaluation) are rotated like
        its training examples (true: each client is evaluated on its own distribution)
        or left upright (false). The global test set is never rotated.

    Returns
    -------
    list of numpy.ndarray
        The IID parts.

    """
    _validation.check_params(
        STRATEGY, num_clients, {"max_degrees": max_degrees, "rotate_holdout": rotate_holdout}
    )
    return iid(labels, num_clients, rng)


def client_shift(params: Mapping[str, Any], context: ShiftContext) -> list[ClientShift]:
    """Each client's rotation; refuses examples that are not images.

    Raises
    ------
    PartitionError
        The dataset's examples are not ``(height, width)`` or ``(height, width, channels)``.

    """
    if len(context.example_shape) not in (2, 3):
        raise param_invalid(
            "strategy",
            "rotation",
            f"a dataset of images, and this one's examples have shape {context.example_shape}",
            "choose an image dataset (e.g. dataset=digits) or another {strategy}",
        )
    return [
        ClientShift(rotation_degrees=float(d), shift_holdout=params["rotate_holdout"])
        for d in client_ramp(params["max_degrees"], context.num_clients)
    ]


STRATEGY = Strategy(
    "rotation",
    rotation,
    (
        Param(
            "max_degrees",
            NON_NEGATIVE_FLOAT,
            "Rotation of the last client's images in degrees (client k: max_degrees*k/(K-1)).",
            label="θ",
            stronger="larger",
        ),
        Param(
            "rotate_holdout",
            BOOLEAN,
            "Rotate each client's held-out examples like its training examples.",
        ),
    ),
    client_shift=client_shift,
    skew="feature",
    search=Search("max_degrees", 0.0, 180.0, "linear"),
)
