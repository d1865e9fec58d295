"""How a client's examples differ from the dataset's: feature noise, rotation, swapped labels.

A strategy that models feature or concept skew deals the examples like any other
(its function returns index arrays) and names, through its record's ``client_shift``,
what each client does to its examples when clients are built
(:mod:`fedbench.clients`): add Gaussian noise, rotate images, relabel classes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from fedbench import seeding


@dataclass(frozen=True)
class ShiftContext:
    """What a strategy's ``client_shift`` knows of the run besides its parameters.

    Attributes
    ----------
    num_clients
        ``K``.
    seed
        The run's seed (seeded choices per client draw from it).
    num_classes
        ``C``.
    example_shape
        Shape of one example's features, e.g. ``(28, 28)`` (an image) or ``(60,)``.

    """

    num_clients: int
    seed: int
    num_classes: int
    example_shape: tuple[int, ...]


@dataclass(frozen=True)
class ClientShift:
    """What one client does to its examples; ``None`` fields are not part of its strategy.

    Attributes
    ----------
    noise_sigma
        Standard deviation of the Gaussian noise added to every feature.
    rotation_degrees
        Counter-clockwise rotation of every image, in degrees.
    label_swaps
        Pairs of classes whose labels the client exchanges (disjoint pairs).
    shift_holdout
        Whether the client's held-out examples get the feature shift (noise, rotation)
        too; its label swaps always apply to them.

    """

    noise_sigma: float | None = None
    rotation_degrees: float | None = None
    label_swaps: tuple[tuple[int, int], ...] | None = None
    shift_holdout: bool = True

    def label_map(self, num_classes: int) -> np.ndarray:
        """Return ``map`` with the client's label of class ``c`` at ``map[c]``."""
        mapping = np.arange(num_classes)
        for a, b in self.label_swaps or ():
            mapping[a], mapping[b] = b, a
        return mapping

    def record(self) -> dict[str, Any]:
        """The fields that apply, as a per-client table shows them (swaps: ``"1<->4 2<->9"``)."""
        values = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "shift_holdout" or value is None:
                continue
            if field.name == "label_swaps":
                value = " ".join(f"{a}<->{b}" for a, b in value)
            values[field.name] = value
        return values


def client_ramp(top: float, num_clients: int) -> np.ndarray:
    """Return ``top * k / (K - 1)`` for clients ``k = 0..K-1`` (0 for ``K = 1``).

    The strength of a shift that grows from client 0 (none) to client ``K - 1`` (``top``).

    Examples
    --------
    >>> client_ramp(90, 4).tolist()
    [0.0, 30.0, 60.0, 90.0]

    """
    if num_clients == 1:
        return np.zeros(1)
    return top * np.arange(num_clients) / (num_clients - 1)


def rotate_images(images: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate every image counter-clockwise about its centre by ``degrees``.

    Bilinear interpolation; points that come from outside the image are background
    (0, the datasets' background value). Multiples of 90 degrees on square images
    permute the pixels exactly.

    Parameters
    ----------
    images
        ``(n, height, width)`` or ``(n, height, width, channels)``.
    degrees
        The angle.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype (float32 for integer input).

    Examples
    --------
    >>> rotate_images(np.arange(4.0).reshape(1, 2, 2), 90)[0].tolist()
    [[1.0, 3.0], [0.0, 2.0]]

    """
    images = np.asarray(images)
    dtype = images.dtype if np.issubdtype(images.dtype, np.floating) else np.float32
    if degrees % 360 == 0 or not len(images):
        return images.astype(dtype, copy=False)
    height, width = images.shape[1:3]
    theta = np.deg2rad(degrees)
    cos, sin = np.round(np.cos(theta), 12), np.round(np.sin(theta), 12)
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    cy, cx = (height - 1) / 2, (width - 1) / 2
    # Each output pixel takes the input at its position rotated back (row axis points down).
    y, x = rows - cy, cols - cx
    src_y = np.round(cos * y + sin * x + cy, 9)
    src_x = np.round(-sin * y + cos * x + cx, 9)
    y0, x0 = np.floor(src_y).astype(np.int64), np.floor(src_x).astype(np.int64)
    fy, fx = src_y - y0, src_x - x0
    out = np.zeros(images.shape, dtype=np.float64)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yy, xx = y0 + dy, x0 + dx
            inside = (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width) & (wy * wx > 0)
            weight = np.where(inside, wy * wx, 0.0)
            if images.ndim == 4:
                weight = weight[..., None]
            out += weight * images[:, np.clip(yy, 0, height - 1), np.clip(xx, 0, width - 1)]
    return out.astype(dtype)


def shifted(
    x: np.ndarray, y: np.ndarray, shift: ClientShift, *, seed: int, client: int, stream_key: int
) -> tuple[np.ndarray, np.ndarray]:
    """Apply one client's shift to its examples: rotate, add noise, swap labels.

    Parameters
    ----------
    x, y
        The client's features and labels.
    shift
        What the client does to them.
    seed, client, stream_key
        The noise draws from ``(seed, FEATURE_NOISE, client, stream_key)``
        (``stream_key`` 0 for training, 1 for held-out examples).

    Returns
    -------
    (x, y)
        New arrays where the shift changes them, else the inputs.

    """
    if shift.rotation_degrees:
        x = rotate_images(x, shift.rotation_degrees)
    if shift.noise_sigma:
        rng = seeding.rng(seed, seeding.FEATURE_NOISE, client, stream_key)
        x = (x + rng.normal(0.0, shift.noise_sigma, x.shape)).astype(np.float32)
    if shift.label_swaps:
        size = max(int(y.max(initial=-1)), *(b for _, b in shift.label_swaps)) + 1
        y = shift.label_map(size)[y].astype(y.dtype)
    return x, y
