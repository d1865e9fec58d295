"""The executor that talks to fedbench's TFF worker: TFF's ``RemoteExecutor``, in fewer requests.

TFF's execution context sends a call to the worker as one gRPC request per step: the
computation (its whole serialized graph, every time), each top-level argument, a
struct of them, the call, and the fetch of its result. Every request costs the
worker's round trip and Python's (de)serialization; for a small model they are most
of a round. :func:`worker_executor_class` keeps TFF's ``RemoteExecutor`` and its wire
protocol and changes three things:

- **A computation is sent once.** The worker keeps it under a reference for as long as
  the executor holds it (a bounded cache, :data:`COMPUTATIONS_KEPT`; an evicted
  computation is disposed of on the worker as any value is).
- **A call's arguments travel in one request.** Values the context ingests are held
  in Python until a call (or a selection) needs them, then sent as one struct; a
  struct of held values stays held. The worker receives the same value it would have
  assembled from the separate requests.
- **A disposal on a closed channel is dropped.** A Ctrl-C or SIGTERM ends the wait for
  a round but not the round, which goes on in the context's own thread; a disposal it
  sends while the worker is stopped fails with ``CANCELLED`` (or ``ValueError`` once
  the channel is closed), and Python would print that finalizer's traceback. A value
  that cannot be disposed of belongs to a worker that is stopping or gone.

Results are bit for bit those of TFF's executor: the same computations run on the
same values; only how they reach the worker changes.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from typing import Any

log = logging.getLogger(__name__)

#: How many computations an executor keeps on the worker (a round, its evaluation and
#: the handful of small computations a run calls; the least recently used goes first).
COMPUTATIONS_KEPT = 32


def worker_executor_class(tff: Any, grpc: Any) -> type:
    """TFF's ``RemoteExecutor`` subclass described in the module doc (TFF imported late).

    Parameters
    ----------
    tff
        The ``tensorflow_federated`` module.
    grpc
        The ``grpc`` module.

    Returns
    -------
    type
        A ``tff.framework.RemoteExecutor`` subclass taking the same arguments.

    """
    from tensorflow_federated.python.common_libs import structure
    from tensorflow_federated.python.core.impl.computation import computation_impl
    from tensorflow_federated.python.core.impl.executors import executor_value_base

    class HeldValue(executor_value_base.ExecutorValue):
        """A value ingested but not yet sent: it travels with the call that uses it."""

        def __init__(self, value: Any, type_spec: Any) -> None:
            self.value, self._type_signature = value, type_spec

        @property
        def type_signature(self) -> Any:
            return self._type_signature

        @property
        def reference(self) -> Any:
            return None  # on no worker yet

        async def compute(self) -> Any:
            raise TypeError("a held value is sent with the call that uses it, not computed")

    class WorkerExecutor(tff.framework.RemoteExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._computations: collections.OrderedDict[int, tuple[Any, Any]] = (
                collections.OrderedDict()
            )

        async def create_value(self, value: Any, type_spec: Any = None) -> Any:
            if isinstance(value, computation_impl.ConcreteComputation):
                return await self._computation(value, type_spec)
            if type_spec is None or self._stream_structs:
                return await super().create_value(value, type_spec)
            return HeldValue(value, type_spec)

        async def _computation(self, comp: Any, type_spec: Any) -> Any:
            # Keyed by identity, the object kept with its reference: a compiled
            # computation is one object for as long as the context's compiler caches it.
            kept = self._computations.get(id(comp))
            if kept is not None:
                with contextlib.suppress(KeyError):  # evicted meanwhile by another call
                    self._computations.move_to_end(id(comp))
                return kept[1]
            remote = await super().create_value(comp, type_spec)
            self._computations[id(comp)] = (comp, remote)
            if len(self._computations) > COMPUTATIONS_KEPT:
                self._computations.popitem(last=False)
            return remote

        def set_cardinalities(self, cardinalities: Any) -> None:
            # A new executor on the worker: what the old one kept is gone with it.
            self._computations.clear()
            super().set_cardinalities(cardinalities)

        async def _sent(self, value: Any) -> Any:
            if isinstance(value, HeldValue):
                return await super().create_value(value.value, value.type_signature)
            return value

        async def create_struct(self, elements: Any) -> Any:
            named = structure.iter_elements(structure.from_container(elements))
            pairs = list(named)
            if all(isinstance(v, HeldValue) for _, v in pairs):
                types = [(k, v.type_signature) if k else v.type_signature for k, v in pairs]
                value = structure.Struct([(k or None, v.value) for k, v in pairs])
                return HeldValue(value, tff.StructType(types))
            sent = [(k or None, await self._sent(v)) for k, v in pairs]
            return await super().create_struct(structure.Struct(sent))

        async def create_call(self, comp: Any, arg: Any = None) -> Any:
            arg = None if arg is None else await self._sent(arg)
            return await super().create_call(await self._sent(comp), arg)

        async def create_selection(self, source: Any, index: int) -> Any:
            return await super().create_selection(await self._sent(source), index)

        def close(self) -> None:
            super().close()
            self._computations.clear()

        def _dispose(self, value_ref: Any, value_executor_id: Any) -> None:
            try:
                super()._dispose(value_ref, value_executor_id)
            except (grpc.RpcError, ValueError) as error:  # ValueError: channel already closed
                log.debug("value not disposed on the worker: %s", type(error).__name__)

    return WorkerExecutor
