"""Signals as exceptions that are never lost, and never printed as "Exception ignored"."""

import gc
import os
import signal
import sys
import textwrap

import pytest

from fedbench import _starting, interrupts


class _SignalsInFinalizer:
    """An object whose finalizer receives SIGINT, as JAX's gc callback may during imports."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs between two bytecodes of this frame
            pass


def test_a_signal_swallowed_by_a_finalizer_is_not_printed_and_raised_at_the_next_safe_point(
    monkeypatch,
):
    reported = []  # what Python would print as "Exception ignored in: ... Traceback"
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    with interrupts.catching_signals():
        _SignalsInFinalizer()  # finalized at once: the handler raises inside __del__
        gc.collect()
        assert reported == []
        with pytest.raises(KeyboardInterrupt):
            interrupts.raise_if_interrupted()


def test_an_unrelated_unraisable_exception_still_reaches_the_hook(monkeypatch):
    class Broken:
        def __del__(self):
            raise ValueError("boom")

    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    with interrupts.catching_signals():
        Broken()
        gc.collect()
    assert [str(u.exc_value) for u in reported] == ["boom"]
    assert sys.unraisablehook == reported.append  # given back when the block ends


def test_a_second_signal_does_not_cut_short_the_first_ones_unwinding_when_asked():
    saved = []
    with pytest.raises(KeyboardInterrupt), interrupts.catching_signals(raise_again=False):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # e.g. the sweep's parent, right after
            for _ in range(1000):
                pass
            saved.append(True)  # the saving that the first signal started goes on
    assert saved == [True]


def test_callbacks_run_before_the_signal_is_raised():
    seen = []
    with pytest.raises(interrupts.Terminated) as stop:
        with interrupts.catching_signals(), interrupts.on_stop(seen.append):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):
                pass
    assert seen == [signal.SIGTERM] and stop.value.code == 143


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["python", "-m", "fedbench", "-m", "seed=0,1"], "fedbench"),
        (["python", "/venv/bin/fedbench", "-m", "seed=0,1"], "fedbench"),
        (["python", "-X", "importtime", "-m", "fedbench.partition"], "fedbench.partition"),
        (["python", "-c", "import fedbench"], None),
        (["python", "-m", "pytest", "-m", "fedbench"], "pytest"),
        (["python", "script.py", "-m", "fedbench"], "script.py"),
    ],
)
def test_only_a_fedbench_command_stops_at_once_while_it_starts(argv, command):
    assert _starting.command_of(argv) == command


@pytest.mark.subprocess
def test_a_coroutine_left_unawaited_by_a_stop_is_not_reported():
    import subprocess
    import textwrap

    code = textwrap.dedent(
        """
        import gc, os, signal
        from fedbench.interrupts import Terminated, catching_signals

        async def step():
            pass

        try:
            with catching_signals():
                pending = step()  # as TFF's context holds one when the signal comes
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(1000):
                    pass
        except Terminated:
            del pending
            gc.collect()
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def _blocks_of_two_generators():
    """Two generators that each hold a block: advanced in turn, the first one closes first."""

    def rounds():
        with interrupts.catching_signals(also=(signal.SIGUSR2,)):
            yield

    first, second = rounds(), rounds()
    next(first)
    next(second)
    return first, second


def test_blocks_closed_out_of_order_leave_the_remaining_block_and_then_the_original_handlers(
    monkeypatch,
):
    original_hook = sys.unraisablehook
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGUSR2)}
    first, second = _blocks_of_two_generators()
    first.close()  # the older block closes while the newer one is still open
    handler = signal.getsignal(signal.SIGUSR2)  # still the newer block's handler
    assert callable(handler) and handler is not before[signal.SIGUSR2]
    with pytest.raises(interrupts.Terminated):
        handler(signal.SIGUSR2, None)
    second.close()
    assert {sig: signal.getsignal(sig) for sig in before} == before
    assert sys.unraisablehook is original_hook


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_asked_to_die_with_its_parent_gets_the_signal_when_the_parent_dies():
    import subprocess
    import time

    # A parent that starts a sleeping child asking for SIGTERM on the parent's death,
    # prints the child's id and exits at once: the child must not outlive it.
    parent = textwrap.dedent(
        """
        import signal, subprocess, sys
        from fedbench.interrupts import die_with_parent
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"],
            preexec_fn=lambda: die_with_parent(signal.SIGTERM),
        )
        print(child.pid, flush=True)
        """
    )
    out = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, check=True)
    child = int(out.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(child):
        time.sleep(0.05)
    survived = _running(child)
    if survived:
        os.kill(child, signal.SIGKILL)
    assert not survived


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_block_closed_on_another_thread_still_ends_its_bookkeeping():
    # The garbage collector may close a generator holding a block on any thread, where
    # no signal handler can be set: the block must still end (hook back, depth 0).
    import threading

    original_hook = sys.unraisablehook
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    handlers = {sig: signal.getsignal(sig) for sig in signals}

    def rounds():
        with interrupts.catching_signals():
            yield

    held = rounds()
    next(held)
    closing = threading.Thread(target=held.close)
    closing.start()
    closing.join()
    try:
        assert sys.unraisablehook is original_hook
        assert interrupts._depth == 0 and interrupts._blocks == []
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
