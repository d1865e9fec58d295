"""The TFF worker process is stopped at the end of a block, on errors, Ctrl-C and SIGTERM."""

import gc
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
import tensorflow as tf
import tensorflow_federated as tff

from fedbench.interrupts import Terminated, raise_if_interrupted
from fedbench.training.runtime import Worker, tff_worker

pytestmark = pytest.mark.tff


@tff.tensorflow.computation(tf.int32)
def _add_one(x):
    return x + 1


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_worker_runs_computations_and_is_stopped_after_the_block():
    with tff_worker() as worker:
        assert _add_one(41) == 42
        assert psutil.Process(worker.pid).is_running()
    assert _gone(worker.pid)


def test_worker_is_stopped_when_the_block_raises():
    with pytest.raises(ZeroDivisionError), tff_worker() as worker:
        _add_one(1)
        1 / 0  # noqa: B018
    assert _gone(worker.pid)


def test_a_value_disposed_as_the_channel_closes_is_dropped_without_an_error():
    # A signal ends the wait for a round, not the round: its thread goes on disposing
    # values while close() stops the worker and shuts the channel. TFF's executor raises
    # the failed RPC from that finalizer, and Python prints it as "Exception ignored".
    from tensorflow_federated.proto.v0 import executor_pb2

    worker = Worker.start()
    try:
        with worker.installed():
            assert _add_one(1) == 2
        executor = worker._executors[0]
        worker.process.kill()
        worker.process.wait()
        pending = len(executor._dispose_request.value_ref)
        for _ in range(executor._dispose_batch_size - pending):  # the last one sends them
            executor._dispose(executor_pb2.ValueRef(id="gone"), executor._executor_id)
        assert not executor._dispose_request.value_ref  # the batch went out, and failed
    finally:
        worker.close()
    assert _gone(worker.process.pid)


def _ignored_signals(pid: int) -> int:
    """The SigIgn mask of /proc/<pid>/status: bit (n - 1) set means signal n is ignored."""
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("SigIgn:"))
    return int(line.split()[1], 16)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_worker_hears_sigint_even_when_python_ignores_it():
    # Under nohup, or in a script's background, Python ignores SIGINT and a child would
    # inherit that: the worker would shrug off the SIGINT that stops it, and every run
    # would wait out the stop timeout before killing it.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with tff_worker() as worker:
            assert _add_one(1) == 2
            assert not _ignored_signals(worker.pid) & (1 << (signal.SIGINT - 1))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert _gone(worker.pid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_worker_ignores_the_signals_slurm_sends_to_every_process_of_a_job():
    # Slurm signals every process of a job step: SIGUSR2 before a time limit (submitit's
    # --signal), SIGTERM on scancel or a requeue. They are for the Python process, which
    # saves the run and stops the worker; a worker killed by them would fail the round.
    with tff_worker() as worker:
        for sig in (signal.SIGTERM, signal.SIGUSR2):
            assert _ignored_signals(worker.pid) & (1 << (sig - 1))
            worker.send_signal(sig)
        assert _add_one(2) == 3  # still serving
    assert _gone(worker.pid)  # and stopped at the end of the block all the same


def test_sequential_blocks_each_get_a_fresh_worker():
    with tff_worker() as first:
        assert _add_one(1) == 2
    with tff_worker() as second:
        assert _add_one(2) == 3
    assert first.pid != second.pid
    assert _gone(first.pid) and _gone(second.pid)


_CHILD = textwrap.dedent(
    """
    import sys, time
    import tensorflow as tf, tensorflow_federated as tff
    from fedbench.training.runtime import Worker, tff_worker

    @tff.tensorflow.computation(tf.int32)
    def add_one(x):
        return x + 1

    with tff_worker() as worker:
        add_one(1)
        print(worker.pid, flush=True)
        time.sleep(120)
    """
)


@pytest.mark.parametrize(
    ("sig", "meaning"),
    [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM"), (signal.SIGKILL, "kill -9")],
)
def test_no_worker_survives_a_signal_to_python(sig, meaning):
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        worker_pid = int(child.stdout.readline())
        assert psutil.Process(worker_pid).is_running()
        child.send_signal(sig)
        child.wait(timeout=60)
        deadline = time.monotonic() + 15
        while not _gone(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(worker_pid), f"worker {worker_pid} survived {meaning}"
        # EOF arrives: no process holds Python's stdout open after it exits.
        assert child.stdout.read() == ""
    finally:
        if child.poll() is None:
            child.kill()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowing
@pytest.mark.parametrize(
    ("sig", "expected"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)]
)
def test_a_signal_swallowed_by_a_gc_callback_is_raised_again_between_rounds(sig, expected):
    """What CI saw: SIGTERM landed inside JAX's gc callback, whose exception Python
    prints as "Exception ignored" and drops, and training went on."""

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            gc.callbacks.remove(callback)
            signal.raise_signal(sig)  # the handler runs here, inside the callback

    with pytest.raises(expected), tff_worker():
        raise_if_interrupted()  # nothing pending yet
        gc.callbacks.append(callback)
        gc.collect()  # survives: the callback's exception is swallowed
        raise_if_interrupted()
    raise_if_interrupted()  # the block's end forgets it
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_leaving_the_block_waits_for_what_the_computation_thread_still_runs():
    # A Ctrl-C ends the main thread's wait for a computation, not the computation: TFF's
    # context keeps it on its own thread. _settle, which the block's exit calls, waits
    # for that thread's work (here a coroutine still sleeping) to end.
    import asyncio
    from types import SimpleNamespace

    from tensorflow_federated.python.common_libs.async_utils import AsyncThreadRunner

    from fedbench.training.runtime import _settle

    runner = AsyncThreadRunner()

    async def still_running() -> str:
        await asyncio.sleep(0.5)
        return "done"

    pending = asyncio.run_coroutine_threadsafe(still_running(), runner._event_loop)
    _settle(SimpleNamespace(_async_runner=runner))
    assert pending.done() and pending.result() == "done"
    _settle(SimpleNamespace(_async_runner=runner))  # idle: returns at once
    _settle(None)  # no context (the worker never came up): nothing to wait for


def test_worker_blocks_closed_out_of_order_leave_the_newest_open_blocks_context():
    # Two train() iterations advanced in turn open their blocks A, B and may close A first.
    # A's worker is a stand-in with a context of its own (no second worker process: one
    # started while another's gRPC threads run is not what this checks).
    from fedbench.training.runtime import _idle_context

    stack = tff.framework.get_context_stack()
    before = stack.current
    worker = Worker.start()
    stand_in = Worker(worker.process, None, None)
    stand_in.context = _idle_context()
    try:
        block_a, block_b = stand_in.installed(), worker.installed()
        block_a.__enter__()
        block_b.__enter__()
        block_a.__exit__(None, None, None)
        assert stack.current is worker.context
        assert _add_one(1) == 2  # B's rounds still run on B's worker
        block_b.__exit__(None, None, None)
        assert stack.current is before
    finally:
        worker.close()
