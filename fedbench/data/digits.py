"""scikit-learn's bundled handwritten digits (1,797 real 8x8 images, offline)."""

from __future__ import annotations

import functools

import numpy as np

from fedbench import seeding
from fedbench.data.base import FederatedDataset, Split
from fedbench.errors import ConfigError, invalid

#: sklearn's digits pixels are integers 0..16 with 0 = background.
_MAX_PIXEL = 16.0


def load_digits(test_fraction: float = 0.2, split_seed: int = 0) -> FederatedDataset:
    """Load scikit-learn's digits with a fixed, seeded, stratified train/test split.

    Parameters
    ----------
    test_fraction
        Share of the 1,797 examples held out as the test split, in ``(0, 1)``.
    split_seed
        Seed of the train/test split. It is a dataset property, fixed by default,
        so that runs with different ``seed`` values share one test set.

    Returns
    -------
    FederatedDataset
        8x8 images in ``[0, 1]`` (0 = background), 10 classes, no writers.

    """
    from sklearn.model_selection import train_test_split  # heavy: only when loading

    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(invalid("dataset.test_fraction", test_fraction, "a float in (0, 1)"))
    images, target = _bundled()
    x = (images / _MAX_PIXEL).astype(np.float32)  # new arrays: the caller's own
    y = target.astype(np.int64)
    split_rng = seeding.int_seed(split_seed, seeding.DATA_SPLIT)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=split_rng
    )
    return FederatedDataset(
        name="digits",
        train=Split(x_train, y_train),
        test=Split(x_test, y_test),
        num_classes=10,
    )


@functools.cache
def _bundled() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's images and labels, read once a process (a sweep checks every job's).

    Read-only: :func:`load_digits` hands out new arrays made from them.
    """
    from sklearn.datasets import load_digits as _sklearn_load_digits

    bunch = _sklearn_load_digits()
    images, target = bunch.images, bunch.target
    images.flags.writeable = target.flags.writeable = False
    return images, target
