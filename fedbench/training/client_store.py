"""Clients' training data written once per run where the TFF worker reads it by client id.

A round then sends each sampled client's id and its example order for the round
(a small index tensor), not its data: the learning process is composed with a
dataset computation (``tff.simulation.compose_dataset_computation_with_learning_process``)
that, inside the worker, reads the client's file and gathers mini-batches by index.

Each client's file holds its labels (int64) and its features, as uint8 codes when
every client's features lie on the 8-bit grid (:func:`fedbench.data._common.u8_codes`),
decoded in the graph (:func:`fedbench.training.client_data.decode_pixels`), else as
float32. A round's orders are :func:`fedbench.training.client_data.epoch_orders`:
per-epoch permutations keyed on (seed, round, client); batches never straddle two
epochs. The batches are bit for bit those of the path before the store (a ``tf.data``
dataset per client shipped every round), which the tests keep as their reference.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff

from fedbench.clients import ClientArrays
from fedbench.data._common import u8_codes
from fedbench.errors import ResultsNotWritable
from fedbench.training.client_data import epoch_orders, gather_batch, shuffle_rng
from fedbench.training.composed import ClientInputs

#: Name of a round input's fields: the client's index and its example order.
CLIENT, ORDER = "client", "order"
_LABEL_BYTES = 8  # int64


def _file_name(client: int) -> str:
    return f"{client}.bin"


def fast_options() -> tf.data.Options:
    """``tf.data`` options that skip the graph rewrites tf.data runs when iteration starts.

    The rewrites (autotuning, fusions, prefetch injection) run again for every
    client's dataset in every round and gain nothing on a client's few small
    batches; they do not change the elements.
    """
    options = tf.data.Options()
    optimization = options.experimental_optimization
    optimization.apply_default_optimizations = False
    optimization.inject_prefetch = False
    optimization.map_and_batch_fusion = False
    optimization.map_parallelization = False
    optimization.noop_elimination = False
    optimization.parallel_batch = False
    optimization.shuffle_and_repeat_fusion = False
    options.autotune.enabled = False
    options.experimental_slack = False
    return options


@dataclass(frozen=True)
class ClientStore:
    """Every client's training data in ``directory``, one file per client.

    Attributes
    ----------
    directory
        Where the files are.
    sizes
        Each client's number of training examples.
    example_shape
        Shape of one example's features.
    compact
        Whether features are stored as uint8 codes (else float32).

    """

    directory: Path
    sizes: np.ndarray
    example_shape: tuple[int, ...]
    compact: bool

    @property
    def num_clients(self) -> int:
        """Number of clients."""
        return len(self.sizes)

    def input_type(self) -> tff.types.Type:
        """TFF type of one client's round input: ``<client=int32, order=int32[?, ?]>``."""
        return tff.StructType(
            [
                (CLIENT, tff.TensorType(np.int32)),
                (ORDER, tff.TensorType(np.int32, [None, None])),
            ]
        )

    def read_client(
        self, client: tf.Tensor | int, directory: tf.Tensor | str | None = None
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """One client's features and labels, read from its file (eagerly or inside a graph).

        ``directory`` (a string tensor) reads the file from another store of the same
        layout (example shape and feature type): a computation built once then serves
        every store given to it as an input. ``None``: this store's directory.

        Returns
        -------
        features : tf.Tensor
            ``uint8[n, ...]`` codes when the store is compact, else ``float32[n, ...]``.
        labels : tf.Tensor
            ``int64[n]``.

        """
        shape = list(self.example_shape)
        stored = tf.uint8 if self.compact else tf.float32
        example_bytes = _LABEL_BYTES + int(np.prod(shape, dtype=np.int64)) * stored.size
        client = tf.convert_to_tensor(client, tf.int32)
        folder = str(self.directory) if directory is None else directory
        path = tf.strings.join([folder, "/", tf.strings.as_string(client), ".bin"])
        content = tf.io.read_file(path)
        # The file holds n labels, then n examples' features.
        label_bytes = _LABEL_BYTES * (tf.strings.length(content) // example_bytes)
        labels = tf.io.decode_raw(tf.strings.substr(content, 0, label_bytes), tf.int64)
        raw = tf.strings.substr(content, label_bytes, tf.strings.length(content) - label_bytes)
        return tf.reshape(tf.io.decode_raw(raw, stored), [-1, *shape]), labels

    def dataset(
        self, client: tf.Tensor | int, order: tf.Tensor | np.ndarray, batch_size: int
    ) -> tf.data.Dataset:
        """One client's round dataset, read from its file (eagerly or inside a graph).

        Parameters
        ----------
        client
            The client's index.
        order
            ``int32[local_epochs, n]``: each row one local epoch's order of the client's
            ``n`` examples.
        batch_size
            Mini-batch size; an epoch's last batch may be smaller.

        Returns
        -------
        tf.data.Dataset
            ``OrderedDict(x=float32[?, ...], y=int64[?])`` batches, epoch after epoch.

        """
        compact = self.compact

        def load(client: tf.Tensor, order: tf.Tensor) -> tf.data.Dataset:
            features, labels = self.read_client(client)
            epochs = tf.data.Dataset.from_tensor_slices(order)
            batches = epochs.flat_map(
                lambda epoch: tf.data.Dataset.from_tensor_slices(epoch).batch(batch_size)
            )
            return batches.map(lambda idx: gather_batch(features, labels, idx, compact=compact))

        client = tf.convert_to_tensor(client, tf.int32)
        order = tf.convert_to_tensor(order, tf.int32)
        dataset = tf.data.Dataset.from_tensors((client, order)).flat_map(load)
        return dataset.with_options(fast_options())

    def dataset_computation(self, batch_size: int) -> tff.Computation:
        """The TFF computation :meth:`dataset`: a client's round input -> its round dataset.

        Parameters
        ----------
        batch_size
            Mini-batch size.

        Returns
        -------
        tff.Computation
            ``<client=int32, order=int32[?, ?]> -> <x=float32[?, ...], y=int64[?]>*``.

        """

        @tff.tensorflow.computation(self.input_type())
        def client_dataset(round_input: object) -> tf.data.Dataset:
            return self.dataset(round_input[CLIENT], round_input[ORDER], batch_size)

        return client_dataset

    def client_inputs(self, batch_size: int) -> ClientInputs:
        """The round inputs' type and how a client reads its data from its input, in batches."""
        return ClientInputs(
            input_type=self.input_type(),
            dataset=lambda round_input: self.dataset(
                round_input[CLIENT], round_input[ORDER], batch_size
            ),
            num_clients=self.num_clients,
        )

    def compose(
        self, process: tff.learning.templates.LearningProcess, batch_size: int
    ) -> tff.learning.templates.LearningProcess:
        """``process`` with its client datasets built in the worker from round inputs.

        Parameters
        ----------
        process
            A learning process whose ``next`` takes the clients' datasets.
        batch_size
            Mini-batch size of the datasets.

        Returns
        -------
        tff.learning.templates.LearningProcess
            The same process (state, weights, hyperparameters) whose ``next`` takes one
            :meth:`round_input` entry per sampled client.

        """
        return tff.simulation.compose_dataset_computation_with_learning_process(
            self.dataset_computation(batch_size), process
        )

    def round_input(
        self,
        sampled: np.ndarray,
        round_num: int,
        *,
        local_epochs: int | np.ndarray,
        seed: int,
        shuffle: bool,
    ) -> list[collections.OrderedDict]:
        """The sampled clients' inputs for round ``round_num``: their ids and example orders.

        Parameters
        ----------
        sampled
            The clients of the round.
        round_num
            The round (1-based).
        local_epochs
            Passes each client makes over its data (rows of ``order``): one number for
            all, or one per client of ``sampled``.
        seed
            The run's seed.
        shuffle
            Whether each epoch is a fresh permutation; client ``k`` draws its epochs in
            turn from :func:`fedbench.training.client_data.shuffle_rng`. Else the stored order.

        Returns
        -------
        list of collections.OrderedDict
            ``OrderedDict(client=int32, order=int32[epochs_k, n_k])`` per sampled
            client, in the order of ``sampled``.

        """
        inputs = []
        epochs = np.broadcast_to(np.asarray(local_epochs, dtype=np.int64), np.shape(sampled))
        for k, own_epochs in zip(sampled, epochs, strict=True):
            rng = shuffle_rng(seed, round_num, k, shuffle=shuffle)
            order = epoch_orders(int(self.sizes[k]), int(own_epochs), rng).astype(np.int32)
            inputs.append(collections.OrderedDict([(CLIENT, np.int32(k)), (ORDER, order)]))
        return inputs


def write_client_store(clients: ClientArrays, directory: Path) -> ClientStore:
    """Write every client's training data into ``directory`` (which must exist).

    Parameters
    ----------
    clients
        Every client's arrays (feature noise applied, held-out data already split off).
    directory
        An existing, empty directory.

    Returns
    -------
    ClientStore

    """
    shapes = {x.shape[1:] for x in clients.train_x}
    if len(shapes) != 1:
        raise ValueError(f"clients' examples differ in shape: {sorted(shapes)}")
    codes = [u8_codes(x) if len(x) else np.zeros(x.shape, np.uint8) for x in clients.train_x]
    compact = all(c is not None for c in codes)
    for k, (x, y) in enumerate(zip(clients.train_x, clients.train_y, strict=True)):
        features = codes[k] if compact else np.asarray(x, np.float32)
        with open(directory / _file_name(k), "wb") as out:
            out.write(np.ascontiguousarray(y, "<i8").tobytes())
            out.write(np.ascontiguousarray(features, "<f4" if not compact else np.uint8).tobytes())
    return ClientStore(
        directory=directory,
        sizes=np.array([len(y) for y in clients.train_y], dtype=np.int64),
        example_shape=tuple(shapes.pop()),
        compact=compact,
    )


#: Prefix of a store's temporary directory; the owning process's id follows it.
STORE_PREFIX = "fedbench-clients-"


def store_bytes(clients: ClientArrays) -> int:
    """What :func:`write_client_store` writes for ``clients`` at most (features as float32)."""
    labels = sum(len(y) for y in clients.train_y) * _LABEL_BYTES
    return labels + sum(np.asarray(x).size * 4 for x in clients.train_x)


def remove_orphaned_stores(folder: Path) -> list[Path]:
    """Remove the stores in ``folder`` whose process is gone (killed: no cleanup ran).

    Returns
    -------
    list of pathlib.Path
        The directories removed.

    """
    removed = []
    host = socket.gethostname()
    for directory in folder.glob(f"{STORE_PREFIX}*-*"):
        pid = directory.name[len(STORE_PREFIX) :].split("-", 1)[0]
        mine = directory.name.startswith(_prefix(pid, host))  # another host's: not ours to judge
        if pid.isdigit() and mine and not _alive(int(pid)):
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
    return removed


def _prefix(pid: int | str, host: str) -> str:
    return f"{STORE_PREFIX}{pid}-{host}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def client_store(clients: ClientArrays) -> Iterator[ClientStore]:
    """Write ``clients``' training data to a temporary directory, removed when the block ends.

    The directory is in ``TMPDIR`` (:func:`tempfile.gettempdir`) and names this process
    and host, so a later run on the host removes the stores of runs that were killed
    (:func:`remove_orphaned_stores`).

    Yields
    ------
    ClientStore

    Raises
    ------
    ResultsNotWritable
        ``TMPDIR`` has no room for the store, or it cannot be written there (a run
        cannot train; the sweep stops, as for a full results folder).

    """
    folder = Path(tempfile.gettempdir())
    remove_orphaned_stores(folder)
    needed = store_bytes(clients)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise ResultsNotWritable(_no_room(folder, f"{needed >> 20} MiB, {free >> 20} MiB free"))
    try:
        prefix = _prefix(os.getpid(), socket.gethostname())
        directory = Path(tempfile.mkdtemp(prefix=prefix, dir=folder))
    except OSError as error:
        raise ResultsNotWritable(_no_room(folder, error.strerror or str(error))) from None
    try:
        try:
            store = write_client_store(clients, directory)
        except OSError as error:
            raise ResultsNotWritable(_no_room(folder, error.strerror or str(error))) from None
        yield store
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _no_room(folder: Path, why: str) -> str:
    return (
        f"the clients' training data cannot be written to {folder} ({why}), where the TFF "
        "worker reads it; set TMPDIR to a folder with room and run the same command again"
    )
