"""Own TFF's C++ worker process for exactly the span of a run.

TFF 0.87's default execution context starts ``tensorflow_federated/data/worker_binary``
the first time a computation runs and only stops it from a ``__del__``: it was seen
outliving Python, holding the parent's stdout and stderr open (a caller reading
them to EOF hangs). :func:`tff_worker` instead starts the worker itself, installs an
execution context that talks to it over gRPC (in few requests:
:mod:`fedbench.training.worker_executor`), and stops it when the block exits,
whether it ends normally, by an exception, by Ctrl-C (SIGINT) or by SIGTERM. On
Linux the worker also gets ``PR_SET_PDEATHSIG``, so it dies with the Python
process even if that is killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fedbench.interrupts import LIBC, catching_signals, die_with_parent
from fedbench.training.worker_executor import worker_executor_class

log = logging.getLogger(__name__)

#: How long to wait for the worker's gRPC server to come up.
_STARTUP_TIMEOUT_S = 60.0
#: How long the worker gets to exit after SIGINT before it is killed.
_STOP_TIMEOUT_S = 10.0
_GRPC_OPTIONS = [
    ("grpc.max_message_length", 2_000_000_000),
    ("grpc.max_receive_message_length", 2_000_000_000),
    ("grpc.max_send_message_length", 2_000_000_000),
]
#: The variables that set TensorFlow's (and OpenMP's) thread pools in the worker.
_THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")


def _idle_context() -> object:
    """An execution context that starts nothing and says where computations must run."""
    import tensorflow_federated as tff

    def refuse(cardinalities: dict) -> None:
        raise RuntimeError("run TFF computations inside fedbench.training.runtime.tff_worker()")

    return tff.framework.SyncExecutionContext(tff.framework.ResourceManagingExecutorFactory(refuse))


def _release_tff_default_context() -> None:
    """Drop TFF's import-time context while the interpreter is intact.

    Its ``ServiceManager.__del__`` otherwise runs during interpreter teardown, when
    ``subprocess`` is already gone, and prints an ignored AttributeError on stderr.
    """
    tff = sys.modules.get("tensorflow_federated")
    if tff is None:  # never imported: nothing to release (importing it now would crash)
        return
    with contextlib.suppress(Exception):
        tff.framework.get_context_stack().set_default_context(_idle_context())


atexit.register(_release_tff_default_context)


#: The contexts of the :meth:`Worker.installed` blocks open now, oldest first (each in a
#: list of its own, so a block finds its entry by identity).
_open_contexts: list[list[Any]] = []
#: The TFF context current before the oldest open block.
_context_before_blocks: Any = None


def worker_binary_path() -> Path:
    """Return the path of TFF's ``worker_binary`` inside the installed package."""
    import tensorflow_federated

    return Path(tensorflow_federated.__file__).parent / "data" / "worker_binary"


def _prepare_worker() -> None:  # runs in the child between fork and exec
    """Let the worker die with its parent, hear SIGINT, and ignore the job's signals.

    A process started under ``nohup`` or in the background of a script ignores
    SIGINT, and an exec'd child inherits that; :func:`_stop` would then wait out
    its timeout on every run before killing the worker. Slurm signals every process
    of a job step: ``SIGUSR2`` before a time limit, ``SIGTERM`` on ``scancel`` or a
    requeue. Those are for the Python process, which saves the run and stops the
    worker itself; a worker killed by them mid-round would fail the round instead.
    Plain libc calls only: this runs between ``fork`` and ``exec``.
    """
    die_with_parent(signal.SIGKILL)
    if LIBC is not None:
        LIBC.signal(signal.SIGINT, ctypes.c_void_p(0))  # SIG_DFL
        for ignored in (signal.SIGTERM, signal.SIGUSR2):
            LIBC.signal(ignored, ctypes.c_void_p(1))  # SIG_IGN


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)  # what TFF itself sends
    try:
        process.wait(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _settle(context: object | None, timeout: float = _STOP_TIMEOUT_S) -> None:
    """Wait until the thread that runs ``context``'s computations has nothing left to do.

    TFF's ``SyncExecutionContext`` runs computations on a daemon thread of its own
    (an asyncio loop). A Ctrl-C or SIGTERM ends the wait for a computation but not the
    computation, which may still be in TensorFlow's or gRPC's C++ code. If the
    interpreter is already exiting when it comes back for the GIL, Python ends the
    thread with ``pthread_exit``, and unwinding the C++ frames aborts the process
    ("FATAL: exception not rethrown", SIGABRT instead of exit status 130). With the
    worker stopped and the channel closed, what is left fails at its next call; the
    loop is then idle, waiting in ``epoll`` with nothing registered, until the process
    ends.
    """
    runner = getattr(context, "_async_runner", None)  # tff's AsyncThreadRunner
    loop = getattr(runner, "_event_loop", None)
    if loop is None or loop.is_closed() or not loop.is_running():
        return

    async def others_done() -> None:
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        await asyncio.gather(*others, return_exceptions=True)

    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(others_done(), loop).result(timeout)


class Worker:
    """A started TFF worker process and the execution context that talks to it.

    Use :meth:`start`, then :meth:`installed` around the computations that should run
    on it, and :meth:`close` to stop it (:func:`tff_worker` does all three for a block).
    """

    def __init__(self, process: subprocess.Popen, out: Any, log_path: Path | None) -> None:
        self.process = process
        self._out, self._log_path = out, log_path
        self._channel: Any = None
        self.context: Any = None
        self._executors: list[Any] = []

    @classmethod
    def start(cls, log_path: Path | None = None, threads: int = 0) -> Worker:
        """Start a worker (see :func:`tff_worker` for the parameters) and wait until it serves."""
        import grpc
        import portpicker
        import tensorflow_federated as tff

        binary = worker_binary_path()
        if not binary.is_file():
            raise RuntimeError(
                f"TFF worker binary not found at {binary}; reinstall the environment"
            )
        port = portpicker.pick_unused_port()
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        env = None
        if threads > 0:
            env = {**os.environ, **dict.fromkeys(_THREAD_VARIABLES, str(threads))}
        process = subprocess.Popen(
            [str(binary), f"--port={port}", "--max_concurrent_computation_calls=-1"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL,
            preexec_fn=_prepare_worker if sys.platform.startswith("linux") else None,
        )
        worker = cls(process, out, log_path)
        try:
            with catching_signals():
                worker._connect(grpc, tff, port)
        except BaseException:
            worker.close()
            raise
        log.debug("TFF worker pid %d on port %d", process.pid, port)
        return worker

    def _connect(self, grpc: Any, tff: Any, port: int) -> None:
        from tensorflow_federated.python.common_libs import tracing

        process, executors = self.process, self._executors
        self._channel = grpc.insecure_channel(f"localhost:{port}", _GRPC_OPTIONS)
        stub = tff.framework.RemoteExecutorGrpcStub(self._channel)
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not stub.is_ready:
            if process.poll() is not None:
                raise RuntimeError(f"TFF worker exited with code {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"TFF worker not ready after {_STARTUP_TIMEOUT_S:.0f} s")
            time.sleep(0.05)
        remote_executor = worker_executor_class(tff, grpc)

        def executor_fn(cardinalities: dict) -> tff.framework.RemoteExecutor:
            if process.poll() is not None:
                raise RuntimeError(f"TFF worker died with exit code {process.returncode}")
            executor = remote_executor(stub)
            cardinalities.setdefault(tff.CLIENTS, 0)
            executor.set_cardinalities(cardinalities)
            executors.append(executor)
            return executor

        # TFF wraps each step of a call in a tracing span that its default provider turns
        # into a debug log line nobody reads: ~150 per call, a tenth of a small round's
        # time. That provider goes (for the process); one a user added stays.
        tracing.set_tracing_providers(
            [
                provider
                for provider in tracing._global_tracing_providers
                if not isinstance(provider, tracing.LoggingTracingProvider)
            ]
        )
        self.context = tff.framework.SyncExecutionContext(
            executor_fn=tff.framework.ResourceManagingExecutorFactory(executor_fn),
            compiler_fn=tff.backends.native.desugar_and_transform_to_native,
            transform_args=tff.tensorflow.transform_args,
            transform_result=tff.tensorflow.transform_result,
        )

    def alive(self) -> bool:
        """Whether the worker process is still running."""
        return self.process.poll() is None

    @contextlib.contextmanager
    def installed(self) -> Iterator[subprocess.Popen]:
        """Run the block's TFF computations on this worker; the previous context after it.

        Blocks may close in another order than they opened (two ``train()`` iterations
        advanced in turn): the context after a block is the newest block still open's,
        or the one before the oldest when none is.
        """
        import tensorflow_federated as tff

        global _context_before_blocks
        context_stack = tff.framework.get_context_stack()
        if not _open_contexts:
            _context_before_blocks = context_stack.current
        entry = [self.context]  # a list: each block's own entry, found by identity
        _open_contexts.append(entry)
        context_stack.set_default_context(self.context)
        try:
            yield self.process
        finally:
            del _open_contexts[next(i for i, e in enumerate(_open_contexts) if e is entry)]
            newest = _open_contexts[-1][0] if _open_contexts else _context_before_blocks
            context_stack.set_default_context(newest)
            if not _open_contexts:
                _context_before_blocks = None

    def close(self) -> None:
        """Stop the worker and release its connection (also after a failed start)."""
        # Values still referenced (a traceback's frames after a signal) are disposed by
        # finalizers later; a closed executor makes them skip the call to the worker,
        # which is about to stop (else each prints "Exception ignored ... RpcError").
        for executor in self._executors:
            executor.close()  # RemoteExecutor.close swallows a broken connection itself
        if self._channel is not None:
            self._channel.close()
        _stop(self.process)
        _settle(self.context)
        if self._log_path:
            self._out.close()


@contextlib.contextmanager
def tff_worker(log_path: Path | None = None, threads: int = 0) -> Iterator[subprocess.Popen]:
    """Run TFF computations against a worker process owned by this block.

    Parameters
    ----------
    log_path
        Where the worker's stdout and stderr go; ``None`` discards them. The worker
        never inherits this process's streams.
    threads
        TensorFlow's intra- and inter-op threads in the worker (and OpenMP's); 0 leaves
        TensorFlow's default, every core.

    Yields
    ------
    subprocess.Popen
        The worker process (its ``pid`` is what tests check is gone afterwards).

    Notes
    -----
    The previous default execution context is restored on exit, so nested or
    sequential blocks each get a fresh worker. A process that trains several jobs
    keeps one worker across them with :mod:`fedbench.training.session`.

    """
    worker = None
    try:
        with catching_signals():
            worker = Worker.start(log_path, threads)
            with worker.installed() as process:
                yield process
    finally:
        if worker is not None:
            worker.close()
