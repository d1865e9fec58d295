"""MNIST-style IDX files (gzip'd or not): Fashion-MNIST, MNIST and any folder like them.

The IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): two zero bytes,
a type code (``0x08`` ubyte, ``0x09`` byte, ``0x0B`` short, ``0x0C`` int, ``0x0D``
float, ``0x0E`` double), the number of dimensions, then each dimension as a
big-endian uint32, then the data in C order, big-endian. A file whose length
disagrees with its header is truncated or corrupt and is refused.

MNIST and Fashion-MNIST store 0 = background, 255 = ink, upright: pixels become
``k / 255`` with no flip.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from fedbench.data._common import check_labels, expand, require_dir, unit_from_u8
from fedbench.data.base import FederatedDataset, Split
from fedbench.data.cache import cached_load
from fedbench.errors import DataError, bad_file

_TYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"

#: The four files of an MNIST-style folder, by role.
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

#: Where ``dataset=fmnist`` looks when ``dataset.path`` is null, in order:
#: Debian's ``dataset-fashion-mnist`` package, then Keras' download cache.
FMNIST_SEARCH = ("/usr/share/datasets/fashion-mnist", "~/.keras/datasets/fashion-mnist")


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (gzip'd or plain, told apart by its first bytes).

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    numpy.ndarray
        The array in native byte order, shape as in the header.

    Raises
    ------
    DataError
        Missing, unreadable, not IDX, or truncated/corrupt (length disagrees with the header).

    """
    try:
        raw = path.read_bytes()
        if raw[:2] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(
            bad_file(
                path, f"cannot read it as a gzip'd IDX file ({err}); it is truncated or corrupt"
            )
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPE_CODES or raw[3] == 0:
        raise DataError(
            bad_file(path, f"not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
        )
    dtype, ndim = _TYPE_CODES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(bad_file(path, f"truncated IDX header ({len(raw)} bytes, {header} needed)"))
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "has trailing bytes"
        raise DataError(
            bad_file(
                path,
                f"IDX file {problem}: header says {shape} {dtype.name} "
                f"({expected} bytes), file has {len(raw)} bytes",
            )
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def read_images_labels(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an images file (``n x H x W`` ubyte) and its labels file (``n`` ubyte).

    Returns
    -------
    tuple
        ``(images uint8 (n, H, W), labels (n,))``.

    """
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise DataError(
            bad_file(images, f"expected ubyte images of shape (n, H, W), found {x.dtype} {x.shape}")
        )
    if y.ndim != 1:
        raise DataError(bad_file(labels, f"expected a 1-D labels file, found shape {y.shape}"))
    if len(x) != len(y):
        raise DataError(
            f"{images} has {len(x)} images but {labels} has {len(y)} labels; "
            "replace both with intact copies of the same release"
        )
    return x, y


def idx_files(folder: Path, names: dict[str, str], key: str = "dataset.path") -> dict[str, Path]:
    """Locate each of ``names`` in ``folder`` (``name`` or, for ``*.gz``, its unzipped form).

    Raises
    ------
    DataError
        A file is missing: names the folder and every missing file.

    """
    found, missing = {}, []
    for role, name in names.items():
        candidates = [folder / name, folder / name.removesuffix(".gz")]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            missing.append(name)
        else:
            found[role] = path
    if missing:
        raise DataError(
            f"{key}={str(folder)!r}: missing {', '.join(missing)}; place the IDX files there "
            f"(gzip'd or not) or point {key} at the folder that holds them"
        )
    return found


def load_idx_folder(
    name: str, folder: Path, num_classes: int, names: dict[str, str] = MNIST_FILES
) -> FederatedDataset:
    """Load a folder of MNIST-style IDX files (cached), pooled, no writers.

    Parameters
    ----------
    name
        The dataset's name.
    folder
        The folder holding the four files.
    num_classes
        Labels must lie in ``[0, num_classes)``.
    names
        File name per role (``train_images``, ``train_labels``, ``test_images``, ``test_labels``).

    Returns
    -------
    FederatedDataset

    """
    files = idx_files(folder, names)

    def build() -> FederatedDataset:
        splits = {}
        for split in ("train", "test"):
            x, y = read_images_labels(files[f"{split}_images"], files[f"{split}_labels"])
            y = check_labels(y, num_classes, files[f"{split}_labels"])
            splits[split] = Split(unit_from_u8(x), y)
        return FederatedDataset(name, splits["train"], splits["test"], num_classes)

    return cached_load(name, {"num_classes": num_classes}, build, files.values())


def _find_folder(path: str | None, search: tuple[str, ...], what: str, install: str) -> Path:
    if path is not None and str(path).strip():
        return require_dir("dataset.path", expand(path), f"a folder holding {what}")
    for candidate in map(expand, search):
        if all(
            (candidate / n).is_file() or (candidate / n.removesuffix(".gz")).is_file()
            for n in MNIST_FILES.values()
        ):
            return candidate
    raise DataError(
        f"dataset.path=None: {what} not found in {' or '.join(search)}; {install}, "
        f"or set dataset.path to a folder holding {', '.join(MNIST_FILES.values())}"
    )


def fmnist_files(path: str | None = None) -> dict[str, Path]:
    """Return the four Fashion-MNIST files (``path`` or the default search); nothing is read."""
    folder = _find_folder(
        path,
        FMNIST_SEARCH,
        "Fashion-MNIST's four IDX files",
        "install them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu)",
    )
    return idx_files(folder, MNIST_FILES)


def load_fmnist(path: str | None = None) -> FederatedDataset:
    """Load Fashion-MNIST (Xiao et al. 2017): 60,000 train / 10,000 test 28x28 images, 10 classes.

    Parameters
    ----------
    path
        Folder holding the four gzip'd IDX files; ``None`` searches
        :data:`FMNIST_SEARCH` (Debian's package folder, then Keras' cache).

    Returns
    -------
    FederatedDataset
        Pooled (no writers), pixels in ``[0, 1]`` with 0 = background.

    """
    folder = fmnist_files(path)["train_images"].parent
    return load_idx_folder("fmnist", folder, num_classes=10)


def mnist_files(path: str | None = None) -> dict[str, Path]:
    """Return the four MNIST files in ``path`` (required); nothing is read."""
    if path is None or not str(path).strip():
        raise DataError(
            "dataset.path=None: set dataset.path to a folder holding MNIST's "
            f"{', '.join(MNIST_FILES.values())} (no copy of MNIST ships with this machine)"
        )
    folder = require_dir("dataset.path", expand(path), "a folder holding MNIST's four IDX files")
    return idx_files(folder, MNIST_FILES)


def load_mnist(path: str | None = None) -> FederatedDataset:
    """Load MNIST (or any MNIST-style folder with 10 classes) from its four IDX files.

    Parameters
    ----------
    path
        Folder holding ``train-images-idx3-ubyte.gz`` and the other three files.

    Returns
    -------
    FederatedDataset
        Pooled (no writers), pixels in ``[0, 1]`` with 0 = background.

    """
    folder = mnist_files(path)["train_images"].parent
    return load_idx_folder("mnist", folder, num_classes=10)
