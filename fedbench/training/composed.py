"""Learning processes fedbench composes from TFF computations, with per-client state.

TFF 0.87 has no SCAFFOLD or FedNova, and its ``LearningProcess`` returns only
server-placed values, so a client's state (SCAFFOLD's control variate ``c_i``) has no
place in it. A :class:`ComposedProcess` is the same interface the round loop and the
checkpoints use (``initialize``, ``next``, ``get_model_weights``, ``set_model_weights``)
over two TFF computations:

- ``initialize_fn() -> server_state@SERVER``, where ``server_state`` holds ``model``
  (``tff.learning.models.ModelWeights``) and whatever else the server keeps;
- ``next_fn(server_state@SERVER, client_inputs@CLIENTS)`` ->
  ``<server_state@SERVER, metrics@SERVER>``, or with client state
  ``<server_state@SERVER, metrics@SERVER, client_states@CLIENTS>``.

The per-client state lives in a table beside the server state
(:class:`ComposedState`): one row per client, a tuple of arrays (the leaves of its
state), before the client is first sampled its initial row: zeros, or what the
process's ``initial_row`` gives for the client's index (a function of the run's seed and
the index only, so a row can be made for any client at any time). Never-sampled clients
whose initial rows are the same object share it, so an unsampled client costs no
memory. The server state starts as ``initialize_fn`` makes it, with the fields of
``initial_server`` (if any) replaced. A round reads the sampled
clients' rows into their inputs (``OrderedDict(data=<round input>, state=<row>)``) and
returns a new table in which only their rows are replaced: the old state stays whole
(the round loop checkpoints it when a round is interrupted) at the cost of one row per
sampled client, not a copy of the table. The table is part of the state that
:mod:`fedbench.training.checkpoints` saves, so its layout (clients, model shapes) is
checked on resume like the rest.

With a :class:`fedbench.training.client_table.DiskTable` (``table``, which
:func:`with_disk_table` sets for a run that checkpoints), the table is on disk instead:
the state holds a :class:`~fedbench.training.client_table.TableView`, a round reads its
sampled clients' rows from the file and returns its new rows pending in the new state's
view, and the checkpoint records the table's id instead of copying it.

A sharded process (``sharded``) exchanges its clients' rows with the shards through
files (:mod:`fedbench.training.staged_rows`), in the table's staging folder of the
round, or for a table in memory in a temporary folder read back after the round: the
rows never cross TFF.
"""

from __future__ import annotations

import collections
import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff

from fedbench.training import staged_rows
from fedbench.training.client_table import DiskTable, Row, TableView

#: Fields of a client's input when the process keeps client state.
DATA, STATE = "data", "state"
#: The server state's fields holding the global model and the aggregator's state.
MODEL, AGGREGATOR = "model", "aggregator"


class ComposedState(NamedTuple):
    """A composed process's state: the server's, and one row per client (``()`` if none)."""

    server: Any
    clients: tuple[tuple[np.ndarray, ...], ...] | TableView


def model_weights(value: Any) -> tff.learning.models.ModelWeights:
    """``value`` (a ``ModelWeights`` or a TFF struct of its two fields) as ``ModelWeights``."""
    trainable, non_trainable = (value.trainable, value.non_trainable)
    return tff.learning.models.ModelWeights(list(trainable), list(non_trainable))


@dataclass(frozen=True)
class ClientInputs:
    """What a round sends each sampled client, and how the client reads its data from it.

    Attributes
    ----------
    input_type
        TFF type of one client's round input (e.g. the client store's
        ``<client=int32, order=int32[?, ?]>``).
    dataset
        Inside a TF computation: a client's round input -> its ``tf.data.Dataset``.
    num_clients
        Clients in the run (rows of a client-state table).

    """

    input_type: tff.types.Type
    dataset: Any
    num_clients: int


@dataclass
class ComposedProcess:
    """A learning process over TFF computations, with an optional per-client state table.

    Parameters
    ----------
    initialize_fn
        ``() -> server_state@SERVER``; ``server_state`` has a ``model`` field.
    next_fn
        ``(server_state@SERVER, client_inputs@CLIENTS) -> <state, metrics[, client_states]>``.
    client_state
        The zero state of one client (a sequence of arrays) when the process keeps state
        per client, else ``None``.
    num_clients
        Rows of the client-state table.
    initial_row
        Client index -> the row that client starts from (arrays shaped as
        ``client_state``), a function of the run's seed and the index only. ``None``:
        zeros. The table calls it for every client at :meth:`initialize`.
    initial_server
        ``() ->`` server-state fields (name -> arrays) that start from other values than
        ``initialize_fn``'s; ``None``: none.
    sharded
        Whether ``next_fn``'s CLIENTS are shards of the round's clients
        (:mod:`fedbench.training.sharded`): each takes the folder where its clients'
        rows are staged, writes their new rows there and returns how many it wrote.
    table
        The client table on disk (:func:`with_disk_table`); ``None``: in memory.

    """

    initialize_fn: tff.Computation
    next_fn: tff.Computation
    client_state: Sequence[np.ndarray] | None = None
    num_clients: int = 0
    initial_row: Callable[[int], tuple[np.ndarray, ...]] | None = None
    initial_server: Callable[[], Mapping[str, Sequence[np.ndarray]]] | None = None
    sharded: bool = False
    table: DiskTable | None = None

    def initialize(self) -> ComposedState:
        """The initial state: the server's, and every client's initial row."""
        server = self.initialize_fn()
        if self.initial_server is not None:
            server = collections.OrderedDict(server)
            server.update({k: list(v) for k, v in self.initial_server().items()})
        table = ()
        if self.table is not None:
            return ComposedState(server, TableView(self.table, 0))
        if self.client_state is not None:
            if self.initial_row is None:
                zeros = tuple(np.zeros_like(np.asarray(leaf)) for leaf in self.client_state)
                table = (zeros,) * self.num_clients  # one shared row until a client is sampled
            else:
                table = tuple(self.initial_row(k) for k in range(self.num_clients))
        return ComposedState(server, table)

    def next(
        self, state: ComposedState, round_inputs: Sequence[Any]
    ) -> tff.learning.templates.LearningProcessOutput:
        """Run one round for the clients of ``round_inputs`` (each names its client, once).

        Parameters
        ----------
        state
            The state after the previous round.
        round_inputs
            One input per sampled client, each with its ``client`` index (the client
            store's round inputs).

        Returns
        -------
        tff.learning.templates.LearningProcessOutput
            The new state (a new table whose sampled clients' rows are replaced; the
            old state is left as it was) and the round's metrics.

        """
        if self.client_state is None:
            server, metrics = self.next_fn(state.server, list(round_inputs))
            return tff.learning.templates.LearningProcessOutput(ComposedState(server, ()), metrics)
        if self.sharded:
            return self._next_sharded(state, round_inputs)
        clients = [int(round_input["client"]) for round_input in round_inputs]
        inputs = [
            collections.OrderedDict([(DATA, round_input), (STATE, self._row(state, k))])
            for round_input, k in zip(round_inputs, clients, strict=True)
        ]
        server, metrics, new_rows = self.next_fn(state.server, inputs)
        # TFF returns a CLIENTS value in the order of its inputs: row i is client clients[i].
        rows = {
            k: tuple(np.asarray(value) for value in tf.nest.flatten(row))
            for k, row in zip(clients, new_rows, strict=True)
        }
        return tff.learning.templates.LearningProcessOutput(
            ComposedState(server, _replaced(state.clients, rows)), metrics
        )

    def _next_sharded(
        self, state: ComposedState, shards: Sequence[Any]
    ) -> tff.learning.templates.LearningProcessOutput:
        """:meth:`next` over shard inputs, the clients' rows staged in files (module doc)."""
        members = [[int(k) for k in shard["clients"]] for shard in shards]
        sampled = [k for clients in members for k in clients]
        on_disk = isinstance(state.clients, TableView)
        if on_disk:  # absolute: the worker, shared by a sweep's jobs, has its own cwd
            folder = state.clients.table.staging(state.clients.version + 1).absolute()
            shutil.rmtree(folder, ignore_errors=True)  # a round tried before and not kept
            folder.mkdir(parents=True)
        else:
            folder = Path(tempfile.mkdtemp(prefix="fedbench-rows-"))
        try:
            shapes, dtype = self._row_layout()
            for k in sampled:  # one row in memory at a time
                path = staged_rows.staged_path(folder, k, staged_rows.BEFORE)
                staged_rows.write_row(path, self._row(state, k), dtype)
            inputs = [
                collections.OrderedDict([(DATA, shard), (STATE, str(folder))]) for shard in shards
            ]
            server, metrics, written = self.next_fn(state.server, inputs)
            counts = [int(n) for n in written]
            if counts != [len(clients) for clients in members]:
                raise RuntimeError(
                    f"the shards wrote {counts} client rows, not {[len(c) for c in members]}"
                )
            for k in sampled:
                staged_rows.staged_path(folder, k, staged_rows.BEFORE).unlink()
            rows: Mapping[int, Row] = staged_rows.StagedRows(folder, sampled, shapes, dtype)
            if not on_disk:  # read back before the folder goes
                rows = dict(rows)
        finally:
            if not on_disk:
                shutil.rmtree(folder, ignore_errors=True)
        return tff.learning.templates.LearningProcessOutput(
            ComposedState(server, _replaced(state.clients, rows)), metrics
        )

    def _row_layout(self) -> tuple[list[tuple[int, ...]], np.dtype]:
        """The shapes of a client row's leaves and their dtype (one for all)."""
        leaves = [np.asarray(leaf) for leaf in self.client_state or ()]
        dtypes = {leaf.dtype for leaf in leaves}
        if len(dtypes) != 1:
            raise ValueError(f"a client row has one dtype, not {sorted(map(str, dtypes))}")
        return [leaf.shape for leaf in leaves], dtypes.pop()

    @staticmethod
    def _row(state: ComposedState, client: int) -> list[np.ndarray]:
        return list(state.clients[client])

    def get_model_weights(self, state: ComposedState) -> tff.learning.models.ModelWeights:
        """The global model's weights in ``state``."""
        return model_weights(state.server[MODEL])

    def set_model_weights(
        self, state: ComposedState, weights: tff.learning.models.ModelWeights
    ) -> ComposedState:
        """``state`` with the global model's weights replaced by ``weights``."""
        server = collections.OrderedDict(state.server)
        server[MODEL] = model_weights(weights)
        return ComposedState(server, state.clients)


def _replaced(clients: tuple[Row, ...] | TableView, rows: Mapping[int, Row]) -> Any:
    """The client table after a round wrote ``rows`` (client -> its new row).

    In memory: a new tuple (the old one stays whole). On disk: the view of the next round,
    ``rows`` pending, the file first brought to the view's round.
    """
    if isinstance(clients, TableView):
        clients.table.settle(clients)
        return TableView(clients.table, clients.version + 1, rows)
    table = list(clients)
    for k in rows:
        table[k] = rows[k]
    return tuple(table)


def keeps_client_state(process: Any) -> bool:
    """Whether ``process`` keeps a state row per client (SCAFFOLD's ``c_i``): it has a table."""
    return isinstance(process, ComposedProcess) and process.client_state is not None


def with_disk_table(process: Any, directory: str | Path, config_hash: str) -> Any:
    """``process`` with its client table on disk in ``directory`` (else ``process`` as it is).

    Only a :class:`ComposedProcess` keeping client state has a table; the folder is opened
    when the run resets or restores it (:class:`fedbench.training.client_table.DiskTable`).
    """
    if not keeps_client_state(process):
        return process
    table = DiskTable(
        directory,
        config_hash,
        [np.asarray(leaf) for leaf in process.client_state],
        process.initial_row,
        num_clients=process.num_clients,
    )
    return dataclasses.replace(process, table=table)


@dataclass(frozen=True)
class ModelTypes:
    """The TFF types of a model's weights and updates, and its metrics' aggregation.

    Attributes
    ----------
    weights
        ``ModelWeights`` type (trainable and non-trainable).
    trainable
        Type of the trainable weights: a client's update, SCAFFOLD's control variates.
    aggregate_metrics
        Federated computation: clients' local unfinalized metrics -> finalized metrics
        (``tff.learning.metrics.sum_then_finalize``, as TFF's client work aggregates them).
    metric_finalizers
        The model's ``metric_finalizers()``: metric name -> function of its summed
        unfinalized values (:meth:`finalize_metrics` applies them inside a computation).

    """

    weights: tff.types.StructType
    trainable: tff.types.Type
    aggregate_metrics: Any
    metric_finalizers: Any

    @classmethod
    def of(cls, model_fn: Any) -> ModelTypes:
        """The types of the model ``model_fn`` builds."""
        with tf.Graph().as_default():  # keeps the model's variables out of the caller's graph
            model = model_fn()
            finalizers = model.metric_finalizers()
            aggregate = tff.learning.metrics.sum_then_finalize(finalizers)
        weights = tff.learning.models.weights_type_from_model(model)
        return cls(weights, weights.trainable, aggregate, finalizers)

    def finalize_metrics(self, summed: Any) -> collections.OrderedDict:
        """Finalize summed unfinalized metrics as :attr:`aggregate_metrics` does (in TF)."""
        return collections.OrderedDict(
            (name, finalizer(summed[name])) for name, finalizer in self.metric_finalizers.items()
        )


def initial_server_state(model_fn: Any, zeros_like_trainable: Sequence[str] = ()) -> Any:
    """A TF computation: the server state ``OrderedDict(model=..., <name>=zeros, ...)``.

    Parameters
    ----------
    model_fn
        Builds the model whose fresh weights start the state (a run then installs its
        seeded initial weights with ``set_model_weights``).
    zeros_like_trainable
        Names of further fields, each zeros shaped like the trainable weights.

    """

    @tff.tensorflow.computation
    def initialize() -> collections.OrderedDict:
        weights = tff.learning.models.ModelWeights.from_model(model_fn())
        state = collections.OrderedDict([(MODEL, weights)])
        for name in zeros_like_trainable:
            state[name] = [tf.zeros_like(w) for w in weights.trainable]
        return state

    return initialize


def initialize_computation(
    model_fn: Any, aggregation: Any, zeros_like_trainable: Sequence[str] = ()
) -> Any:
    """The federated ``initialize_fn`` of a composed process.

    It returns, at SERVER, the state of :func:`initial_server_state` with the aggregation
    process's initial state under ``aggregator``.
    """
    init_server = initial_server_state(model_fn, zeros_like_trainable)

    @tff.federated_computation
    def initialize_fn() -> object:
        server = tff.federated_eval(init_server, tff.SERVER)
        fields = [(name, server[name]) for name in (MODEL, *zeros_like_trainable)]
        fields.append((AGGREGATOR, aggregation.initialize()))
        return tff.federated_zip(collections.OrderedDict(fields))

    return initialize_fn


def round_metrics(train: Any, aggregator: Any) -> Any:
    """The metrics of a round at the server, laid out as TFF's FedAvg reports them.

    ``client_work.train`` holds the clients' training metrics, ``aggregator`` the
    aggregation's measurements (``client_drift``, ``client_weight_total``).
    """
    client_work = tff.federated_zip(collections.OrderedDict(train=train))
    return tff.federated_zip(
        collections.OrderedDict(client_work=client_work, aggregator=aggregator)
    )
