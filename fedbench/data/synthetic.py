"""Synthetic(alpha, beta) of Li et al. 2020 (FedProx, MLSys), also used by LEAF.

Generator, following the reference code (litian96/FedProx,
``data/synthetic_1_1/generate_synthetic.py``), for writer ``k``:

* size ``n_k = int(LogNormal(4, 2)) + 50`` (power-law-like, heavy tailed);
* model ``W_k ~ N(u_k, 1)`` (``dim x C``), ``b_k ~ N(u_k, 1)``, with ``u_k ~ N(0, alpha)``;
* features ``x ~ N(v_k, Sigma)``, ``v_k ~ N(B_k, 1)``, ``B_k ~ N(0, beta)``,
  ``Sigma = diag(j^-1.2)``, ``j = 1..dim``;
* label ``y = argmax(softmax(W_k^T x + b_k))``.

``alpha`` controls how much the local models differ, ``beta`` how much the
local feature distributions differ. As in the reference code, ``alpha`` and
``beta`` are the **standard deviations** of ``u_k`` and ``B_k`` (the paper writes
``N(0, alpha)``). Deviations: the reference keeps 90 % of each writer's examples
for training; here ``test_fraction`` (default 0.2) is held out per writer, the
first ``int((1 - test_fraction) * n_k)`` examples (they are i.i.d.) train. The
random draws come from a numpy ``Generator`` seeded by ``data_seed``, so values
differ from the reference's global-RNG files.

``data_seed`` is a property of the dataset, separate from the run's ``seed``:
runs with different seeds share one dataset unless ``dataset.data_seed`` changes.
Writers (``f_00000`` ...) are the natural clients (``partition=natural``); other
partitions pool their training examples.
"""

from __future__ import annotations

import numpy as np

from fedbench import seeding
from fedbench.data.base import FederatedDataset, Split
from fedbench.data.cache import cached_load
from fedbench.rules import NON_NEGATIVE_INT, OPEN_FRACTION, POSITIVE_INT, at_least, number_at_least

#: Named random stream of the generator (see :mod:`fedbench.seeding`).
STREAM = "synthetic_data"
_LOGNORMAL_MEAN, _LOGNORMAL_SIGMA, _MIN_SIZE = 4.0, 2.0, 50


def check_synthetic(
    alpha: float = 1.0,
    beta: float = 1.0,
    num_writers: int = 30,
    dim: int = 60,
    num_classes: int = 10,
    test_fraction: float = 0.2,
    data_seed: int = 0,
) -> None:
    """Validate the options of :func:`load_synthetic` (raises ``ConfigError``)."""
    number_at_least(0.0).check("dataset.alpha", alpha)
    number_at_least(0.0).check("dataset.beta", beta)
    POSITIVE_INT.check("dataset.num_writers", num_writers)
    POSITIVE_INT.check("dataset.dim", dim)
    at_least(2).check("dataset.num_classes", num_classes)
    OPEN_FRACTION.check("dataset.test_fraction", test_fraction)
    NON_NEGATIVE_INT.check("dataset.data_seed", data_seed)


def load_synthetic(
    alpha: float = 1.0,
    beta: float = 1.0,
    num_writers: int = 30,
    dim: int = 60,
    num_classes: int = 10,
    test_fraction: float = 0.2,
    data_seed: int = 0,
) -> FederatedDataset:
    """Generate Synthetic(alpha, beta) with writers as natural clients (memoised in-process).

    Parameters
    ----------
    alpha
        Spread (std) of the per-writer model means ``u_k``; 0 = same model everywhere.
    beta
        Spread (std) of the per-writer feature means ``B_k``; 0 = same features everywhere.
    num_writers
        Number of writers (natural clients); the reference uses 30.
    dim
        Feature dimension (60 in the paper).
    num_classes
        Number of classes (10 in the paper).
    test_fraction
        Share of each writer's examples held out as its test data, in ``(0, 1)``.
    data_seed
        Seed of the generator (not the run seed).

    Returns
    -------
    FederatedDataset
        ``(n, dim)`` float32 features, writers ``f_00000`` ... on both splits.

    """
    options = dict(
        alpha=alpha,
        beta=beta,
        num_writers=num_writers,
        dim=dim,
        num_classes=num_classes,
        test_fraction=test_fraction,
        data_seed=data_seed,
    )
    check_synthetic(**options)
    return cached_load("synthetic", options, lambda: _generate(**options), disk=False)


def _generate(
    alpha: float,
    beta: float,
    num_writers: int,
    dim: int,
    num_classes: int,
    test_fraction: float,
    data_seed: int,
) -> FederatedDataset:
    rng = seeding.rng(data_seed, STREAM)
    sizes = (
        rng.lognormal(_LOGNORMAL_MEAN, _LOGNORMAL_SIGMA, num_writers).astype(np.int64) + _MIN_SIZE
    )
    u = rng.normal(0.0, alpha, num_writers)
    big_b = rng.normal(0.0, beta, num_writers)
    v = rng.normal(big_b[:, None], 1.0, (num_writers, dim))
    std = np.arange(1, dim + 1, dtype=np.float64) ** (-1.2 / 2)  # sqrt of diag(j^-1.2)
    parts: dict[str, list[np.ndarray]] = {"x_train": [], "y_train": [], "x_test": [], "y_test": []}
    w_train, w_test = [], []
    for k, n in enumerate(sizes):
        w = rng.normal(u[k], 1.0, (dim, num_classes))
        b = rng.normal(u[k], 1.0, num_classes)
        x = v[k] + std * rng.standard_normal((n, dim))
        y = np.argmax(x @ w + b, axis=1)  # softmax is monotone: argmax of the logits
        n_train = int((1.0 - test_fraction) * n)
        parts["x_train"].append(x[:n_train])
        parts["y_train"].append(y[:n_train])
        parts["x_test"].append(x[n_train:])
        parts["y_test"].append(y[n_train:])
        w_train.append(np.full(n_train, k, dtype=np.int64))
        w_test.append(np.full(n - n_train, k, dtype=np.int64))
    return FederatedDataset(
        name="synthetic",
        train=Split(
            np.concatenate(parts["x_train"]).astype(np.float32),
            np.concatenate(parts["y_train"]).astype(np.int64),
            np.concatenate(w_train),
        ),
        test=Split(
            np.concatenate(parts["x_test"]).astype(np.float32),
            np.concatenate(parts["y_test"]).astype(np.int64),
            np.concatenate(w_test),
        ),
        num_classes=num_classes,
        writer_names=tuple(f"f_{k:05d}" for k in range(num_writers)),
    )
