"""TensorFlow Federated's federated EMNIST (``tff.simulation.datasets.emnist.load_data``).

Same file, same semantics as TFF: ``<cache_dir>/emnist_all.sqlite`` (TFF's
default ``cache_dir`` is ``~/.tff``), split ``digits_only_train``/``digits_only_test``
(10 classes, 3,383 writers) or ``all_train``/``all_test`` (62 classes, 3,400
writers); elements ``label`` (int) and ``pixels`` (float32 28x28, **1.0 =
background**, inverted on load). Every writer has examples in both splits; the
writer index is shared between train and test, so each writer's own test data
is known. The file is read directly (:mod:`fedbench.data.tff_sql`), not through
TFF's ``ClientData``, so that it can be cached and indexed by writer. When it is
missing and ``download=True``, ``tff.simulation.datasets.emnist.load_data`` fetches
it into ``cache_dir`` first (TFF's own download, needs the internet); by default
nothing is fetched and a missing file is a one-line error saying where to put it.
"""

from __future__ import annotations

import os
import tempfile
from functools import partial
from pathlib import Path

from fedbench.data._common import check_labels, require_path, to_unit, writer_table
from fedbench.data.base import FederatedDataset, Split
from fedbench.data.cache import cached_load
from fedbench.data.tff_sql import read_split
from fedbench.errors import ConfigError, DataError, invalid

FILE_NAME = "emnist_all.sqlite"
#: TFF's default cache folder (``download.get_compressed_file``).
DEFAULT_CACHE_DIR = "~/.tff"
#: ``only_digits`` -> (train split, test split, number of classes), as in TFF's ``emnist.py``.
SPLITS = {True: ("digits_only_train", "digits_only_test", 10), False: ("all_train", "all_test", 62)}
IMAGE_SHAPE = (28, 28)


def emnist_file(
    cache_dir: str | None = DEFAULT_CACHE_DIR, only_digits: bool = True, download: bool = False
) -> Path:
    """Check the options and that ``emnist_all.sqlite`` exists (fetching it if asked to).

    Returns
    -------
    pathlib.Path
        ``<cache_dir>/emnist_all.sqlite``.

    Raises
    ------
    ConfigError
        ``only_digits`` or ``download`` is not a boolean, or ``cache_dir`` is empty.
    DataError
        The file is missing (and could not be downloaded): says where to place it
        and how TFF fetches it when online.

    """
    for key, value in (("only_digits", only_digits), ("download", download)):
        if not isinstance(value, bool):
            raise ConfigError(invalid(f"dataset.{key}", value, "true or false"))
    folder = require_path("dataset.cache_dir", cache_dir, "the folder holding emnist_all.sqlite")
    path = folder / FILE_NAME
    if not path.is_file() and download:
        _download(folder, only_digits)
    if not path.is_file():
        raise DataError(
            f"dataset.cache_dir={str(folder)!r}: {FILE_NAME} not found; place TFF's "
            f"federated EMNIST file {FILE_NAME} in {folder} "
            "(or set dataset.cache_dir to the folder that has it), "
            "or set dataset.download=true to have TFF fetch it when online: "
            'python -c "import tensorflow_federated as tff; '
            f"tff.simulation.datasets.emnist.load_data(cache_dir='{folder}')\""
        )
    return path


def _download(folder: Path, only_digits: bool) -> None:
    """Let TFF fetch ``emnist_all.sqlite`` into ``folder``; a failure is one line.

    TFF writes the file in place as it decompresses, so an interrupted download
    would leave a truncated file that looks present; it downloads into a temporary
    folder here and the file is moved into ``folder`` only once complete.
    """
    import tensorflow_federated as tff

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".emnist-download.", dir=folder) as tmp:
            tff.simulation.datasets.emnist.load_data(only_digits=only_digits, cache_dir=tmp)
            os.replace(Path(tmp) / FILE_NAME, folder / FILE_NAME)
    except Exception as err:  # network, disk, or a bad archive: all end the same way
        reason = (str(err).strip().splitlines() or [""])[0]
        raise DataError(
            f"dataset.download=true: TFF could not download {FILE_NAME} into {folder} "
            f"({type(err).__name__}: {reason}); place the file there yourself, "
            "or run once where the internet is reachable"
        ) from None


def load_emnist(
    cache_dir: str | None = DEFAULT_CACHE_DIR, only_digits: bool = True, download: bool = False
) -> FederatedDataset:
    """Load TFF's federated EMNIST from ``<cache_dir>/emnist_all.sqlite`` (cached).

    Parameters
    ----------
    cache_dir
        TFF's cache folder, the one holding ``emnist_all.sqlite`` (default ``~/.tff``).
    only_digits
        ``True``: digits only, 10 classes, 3,383 writers (341,873 train / 40,832 test).
        ``False``: 62 classes, 3,400 writers (671,585 train / 77,483 test).
    download
        Fetch the file with TFF's ``emnist.load_data`` when it is missing.

    Returns
    -------
    FederatedDataset
        28x28 images in ``[0, 1]`` (0 = background), writers on both splits;
        ``writer_names`` sorted (train writers first, as in :func:`writer_table`).

    """
    path = emnist_file(cache_dir, only_digits, download)
    train_split, test_split, num_classes = SPLITS[only_digits]
    convert = partial(to_unit, invert=True, source=path)

    def build() -> FederatedDataset:
        features = {"pixels": IMAGE_SHAPE}
        train_ids, x_train, y_train = read_split(path, train_split, features, convert)
        test_ids, x_test, y_test = read_split(path, test_split, features, convert)
        y_train = check_labels(y_train, num_classes, f"{path} (split {train_split!r})")
        y_test = check_labels(y_test, num_classes, f"{path} (split {test_split!r})")
        names, w_train, w_test = writer_table(train_ids, test_ids)
        return FederatedDataset(
            name="emnist",
            train=Split(x_train, y_train, w_train),
            test=Split(x_test, y_test, w_test),
            num_classes=num_classes,
            writer_names=names,
        )

    return cached_load("emnist", {"only_digits": only_digits}, build, [path])
