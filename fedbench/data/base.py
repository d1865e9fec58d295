"""The in-memory form every dataset loader returns.

Pixel convention (all image datasets): ``float32`` in ``[0, 1]``, **0.0 = background,
1.0 = ink**, images upright, shape ``(n, height, width)``. Sources stored the other
way round (TFF's federated EMNIST and LEAF FEMNIST use 1.0 = background) are
inverted on load and inverted back on export. Tabular data (``synthetic``) has
shape ``(n, features)``. Labels are ``int64`` in ``[0, num_classes)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    """One split (train or test) of a dataset.

    Attributes
    ----------
    x
        Features: ``(n, height, width)`` images or ``(n, features)`` vectors, float32.
    y
        Integer labels, shape ``(n,)``, int64.
    writers
        For naturally federated data, the index (into
        :attr:`FederatedDataset.writer_names`) of the writer of each example,
        shape ``(n,)``, int64; ``None`` for pooled data.

    """

    x: np.ndarray
    y: np.ndarray
    writers: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} rows but y has {len(self.y)}")
        if self.writers is not None and len(self.writers) != len(self.y):
            raise ValueError(f"writers has {len(self.writers)} rows but y has {len(self.y)}")

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class FederatedDataset:
    """Features, labels, optional writer ids and a test split.

    Attributes
    ----------
    name
        The dataset's config name (``dataset=`` value).
    train, test
        The two splits. For naturally federated data both carry writer indices,
        so each writer's own test examples are known.
    num_classes
        Number of classes ``C``; labels lie in ``[0, C)``.
    writer_names
        Writer ids (e.g. ``"f3313_11"``) indexed by ``Split.writers``; ``None``
        for pooled data.

    """

    name: str
    train: Split
    test: Split
    num_classes: int
    writer_names: tuple[str, ...] | None = None

    @property
    def has_writers(self) -> bool:
        """Whether the data carries writer ids (needed by ``partition=natural``)."""
        return self.writer_names is not None and self.train.writers is not None

    @property
    def example_shape(self) -> tuple[int, ...]:
        """Shape of one example's features, e.g. ``(28, 28)`` or ``(60,)``."""
        return tuple(self.train.x.shape[1:])

    @property
    def is_image(self) -> bool:
        """Whether examples are 2-D images (convolutional models need them)."""
        return len(self.example_shape) == 2
