"""NIST's EMNIST in gzip'd IDX files (Cohen et al. 2017, "EMNIST: an extension of MNIST").

NIST distributes ``gzip.zip``; unzipped, its ``gzip/`` folder holds
``emnist-<split>-{train,test}-{images-idx3,labels-idx1}-ubyte.gz`` for six splits.
Writers are not part of these files: the data is pooled.

Two fixes are applied on load:

* **Orientation.** NIST's files store each image transposed (rows and columns
  swapped; viewed as is, a glyph looks mirrored and rotated by 90 degrees).
  Every image is transposed back, so glyphs are upright like MNIST's.
* **Letters.** The ``letters`` split labels ``a/A .. z/Z`` as ``1 .. 26`` (0 is
  unused); they become ``0 .. 25``. Every other split starts at 0 already.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fedbench.data._common import check_labels, require_dir, require_path, unit_from_u8
from fedbench.data.base import FederatedDataset, Split
from fedbench.data.cache import cached_load
from fedbench.data.idx import idx_files, read_images_labels
from fedbench.errors import ConfigError, invalid

#: Classes per split, from the EMNIST paper's Table II.
NUM_CLASSES = {
    "balanced": 47,
    "byclass": 62,
    "bymerge": 47,
    "digits": 10,
    "letters": 26,
    "mnist": 10,
}
#: Splits whose labels start at 1 in NIST's files.
_ONE_BASED = frozenset({"letters"})


def _names(split: str) -> dict[str, str]:
    stem = f"emnist-{split}"
    return {
        "train_images": f"{stem}-train-images-idx3-ubyte.gz",
        "train_labels": f"{stem}-train-labels-idx1-ubyte.gz",
        "test_images": f"{stem}-test-images-idx3-ubyte.gz",
        "test_labels": f"{stem}-test-labels-idx1-ubyte.gz",
    }


def emnist_idx_files(path: str | None = None, split: str = "balanced") -> dict[str, Path]:
    """Check the options and return the split's four files; nothing is read.

    ``path`` may be the folder holding the files or the one holding NIST's ``gzip/`` folder.
    """
    if split not in NUM_CLASSES:
        raise ConfigError(invalid("dataset.split", split, f"one of {sorted(NUM_CLASSES)}"))
    folder = require_path("dataset.path", path, "folder holding NIST's emnist-*-ubyte.gz files")
    require_dir("dataset.path", folder, "the folder holding NIST's emnist-*-ubyte.gz files")
    if not (folder / _names(split)["train_images"]).exists() and (folder / "gzip").is_dir():
        folder = folder / "gzip"
    return idx_files(folder, _names(split))


def load_emnist_idx(path: str | None = None, split: str = "balanced") -> FederatedDataset:
    """Load one split of NIST's EMNIST, upright, pooled (no writers).

    Parameters
    ----------
    path
        Folder holding ``emnist-<split>-*-ubyte.gz`` (or NIST's ``gzip/`` folder).
    split
        ``balanced`` (47 classes), ``byclass`` (62), ``bymerge`` (47), ``digits``
        (10), ``letters`` (26, labels shifted from 1..26 to 0..25) or ``mnist`` (10).

    Returns
    -------
    FederatedDataset
        28x28 images in ``[0, 1]`` (0 = background), upright.

    """
    files = emnist_idx_files(path, split)
    num_classes = NUM_CLASSES[split]
    offset = 1 if split in _ONE_BASED else 0

    def build() -> FederatedDataset:
        parts = {}
        for part in ("train", "test"):
            x, y = read_images_labels(files[f"{part}_images"], files[f"{part}_labels"])
            y = check_labels(y.astype(np.int64) - offset, num_classes, files[f"{part}_labels"])
            parts[part] = Split(unit_from_u8(np.ascontiguousarray(x.transpose(0, 2, 1))), y)
        return FederatedDataset("emnist_idx", parts["train"], parts["test"], num_classes)

    return cached_load("emnist_idx", {"split": split}, build, files.values())
