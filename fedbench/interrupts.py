"""Ctrl-C and SIGTERM as exceptions that are never lost.

Python runs a signal handler between two bytecodes of the main thread, which may be
inside a ``__del__`` or a garbage-collector callback (JAX registers one,
``_xla_gc_callback``, that runs while TensorFlow is imported). An exception raised
there is printed as "Exception ignored" and dropped, and the command would go on.
:func:`catching_signals` turns SIGINT and SIGTERM into exceptions that are also
remembered; :func:`raise_if_interrupted`, called at safe points (after imports,
before each job, between rounds), raises a swallowed one again.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

#: 128 + SIGINT's number, as shells report a process ended by Ctrl-C (SIGTERM: 143).
EXIT_INTERRUPTED = 130


class Terminated(SystemExit):
    """Raised in the main thread when the process receives SIGTERM (or SIGHUP).

    Also for a signal a :func:`catching_signals` block was given (``also``: a submitit
    job's ``SIGUSR2``).

    A ``SystemExit`` (exit status 128 + signal number), not an ``Exception``: like
    Ctrl-C it unwinds through ``finally`` blocks (the worker is stopped, the rounds
    so far are written) and ends the whole sweep instead of failing one job.
    """


#: The exception of a signal received inside :func:`catching_signals`, not yet seen to end it.
_pending_interrupt: BaseException | None = None
#: How many :func:`catching_signals` blocks are open (nested blocks share one memory).
_depth = 0
#: Whether a signal after the first raises again (set by the outermost block).
_raise_again = True
#: What runs before the handler raises (see :func:`on_stop`), innermost last.
_on_stop: list[Callable[[int], None]] = []


#: The parent process a launcher's job must outlive no longer than a round (see watch_parent).
_parent_pid: int | None = None
#: The blocks open now, oldest first: each with the handlers its own replaced.
_blocks: list[dict[int, Any]] = []
#: ``sys.unraisablehook`` before the outermost block.
_outer_unraisable_hook: Callable[[Any], object] | None = None


def watch_parent() -> None:
    """End this process (as SIGTERM would) once its parent is gone, at the next safe point.

    A launcher's job runs in a child process; when the sweep's parent is killed
    (``kill -9``), its children are not told. :func:`raise_if_interrupted` then notices
    that the parent changed and raises :class:`Terminated`, so the job saves its rows,
    stops its TFF worker and frees its run's claim.
    """
    global _parent_pid
    _parent_pid = os.getppid()


def raise_if_interrupted() -> None:
    """Raise again the exception of a SIGINT or SIGTERM that was swallowed.

    Python runs a signal handler between two bytecodes of the main thread, which
    may be inside a ``__del__`` or a garbage-collector callback (JAX registers one,
    ``_xla_gc_callback``). An exception raised there is printed as "Exception
    ignored" and dropped, and the command would go on. The commands call this at
    safe points (the round loop between rounds), so such a signal still ends them.

    Raises
    ------
    KeyboardInterrupt or Terminated
        If a signal arrived inside the current :func:`catching_signals` block.

    """
    if _pending_interrupt is not None:
        raise _pending_interrupt
    if _parent_pid is not None and os.getppid() != _parent_pid:
        raise Terminated(128 + signal.SIGTERM)


@contextlib.contextmanager
def on_stop(callback: Callable[[int], None]) -> Iterator[None]:
    """Run ``callback(signum)`` when a signal stops the command, before its exception is raised.

    Inside a :func:`catching_signals` block, the handler of SIGINT, SIGTERM or SIGHUP calls
    the callbacks registered here (each once) before it raises: a sweep's parent tells
    its launcher's jobs to save their state before the launcher tears its pool down.
    A callback's own ``Exception`` is ignored; a second signal during it ends the wait.
    """
    _on_stop.append(callback)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # already run and removed by the handler
            _on_stop.remove(callback)


@contextlib.contextmanager
def catching_signals(
    *, raise_again: bool = True, also: tuple[signal.Signals, ...] = ()
) -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into exceptions, also remembered (main thread only).

    SIGHUP (the terminal or ssh session went away) ends the command as SIGTERM does, and
    so does each signal of ``also`` (a submitit job's ``SIGUSR2``: its time limit is near).

    A signal ignored when the block starts (``nohup``) stays ignored. On exit the
    previous handlers come back; when the outermost block exits, the remembered
    signal is forgotten.

    Parameters
    ----------
    raise_again
        Whether a signal that comes while the first one unwinds raises again (the
        outermost block decides). ``False`` for a job that a Ctrl-C in its terminal
        and its sweep's parent may both stop, or that Slurm signals more than once: the
        second signal must not cut short the saving that the first one started.
    also
        Further signals that raise :class:`Terminated` (exit status 128 + the signal's
        number), as SIGTERM does.

    """
    global _pending_interrupt, _depth, _raise_again, _outer_unraisable_hook
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        global _pending_interrupt
        if _pending_interrupt is not None and not _raise_again:
            return  # the first signal is being handled; its exception is remembered
        if signum == signal.SIGINT:
            _pending_interrupt = KeyboardInterrupt()
        else:
            _pending_interrupt = Terminated(128 + signum)
        # A round stopped inside TFF's asyncio context leaves a coroutine never awaited:
        # the stop is reported in one line, not by Python's warning about that coroutine.
        warnings.filterwarnings(
            "ignore", message=r"coroutine '.*' was never awaited", category=RuntimeWarning
        )
        stop = _pending_interrupt
        callbacks = list(_on_stop)
        _on_stop.clear()
        for callback in reversed(callbacks):
            with contextlib.suppress(Exception):
                callback(signum)
        raise stop

    if _depth == 0:
        _pending_interrupt = None
        _raise_again = raise_again
        _outer_unraisable_hook = sys.unraisablehook
        sys.unraisablehook = _quiet_for_signals(_outer_unraisable_hook)
    _depth += 1
    replaced = {
        sig: signal.signal(sig, handler)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, *also)
        if signal.getsignal(sig) is not signal.SIG_IGN  # e.g. nohup: stay ignored
    }
    _blocks.append(replaced)
    try:
        yield
    finally:
        try:
            _restore_handlers(replaced)
        finally:
            _depth -= 1
            if _depth == 0:
                _pending_interrupt = None
                _raise_again = True
                sys.unraisablehook = _outer_unraisable_hook


def _restore_handlers(replaced: dict[int, Any]) -> None:
    """Give back the handlers a closing block replaced, whatever order blocks close in.

    Blocks close in the reverse order they opened, except around generators: two
    ``train()`` iterations advanced in turn open A, then B, and may close A first. A
    block whose handler is still the live one puts back the one it replaced; one whose
    handler a later block replaced hands its predecessor to that block instead.
    """
    position = next(i for i, block in enumerate(_blocks) if block is replaced)
    try:
        for sig, previous in replaced.items():
            later = next((block for block in _blocks[position + 1 :] if sig in block), None)
            if later is not None:
                later[sig] = previous
            elif threading.current_thread() is threading.main_thread():
                signal.signal(sig, previous)
            # else: a generator holding the block was closed on another thread (by the
            # garbage collector), where no handler can be set; the block's stays.
    finally:
        del _blocks[position]


def exit_code(stop: KeyboardInterrupt | Terminated) -> int:
    """The exit status of a command that ``stop`` ended: 128 + the signal's number."""
    return stop.code if isinstance(stop, Terminated) else EXIT_INTERRUPTED


def _quiet_for_signals(hook: Callable[[Any], object]) -> Callable[[Any], object]:
    """``sys.unraisablehook`` that drops the exception of a remembered signal, quietly.

    A handler that raised inside a ``__del__`` or a garbage-collector callback had its
    exception swallowed there, and Python would print "Exception ignored ... Traceback"
    for it; the signal is remembered and :func:`raise_if_interrupted` raises it again at
    the next safe point, so nothing needs printing. Anything else goes to ``hook``.
    """

    def quiet(unraisable: Any) -> None:
        if unraisable.exc_value is not None and unraisable.exc_value is _pending_interrupt:
            return
        hook(unraisable)

    return quiet


def stop_name(stop: BaseException) -> str:
    """How a one-line message names what stopped the command: ``Ctrl-C``, ``SIGTERM``, ..."""
    if isinstance(stop, Terminated) and isinstance(stop.code, int) and stop.code > 128:
        return signal.Signals(stop.code - 128).name
    return "Ctrl-C"


#: Linux's ``prctl`` option that signals a process when its parent dies.
_PR_SET_PDEATHSIG = 1


def _load_libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None


#: libc, loaded at import: a child between ``fork`` and ``exec`` must not load a library
#: (another thread of its parent may have held the loader's lock when it forked).
LIBC = _load_libc()


def die_with_parent(sig: signal.Signals) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (``PR_SET_PDEATHSIG``).

    For a child to call between ``fork`` and ``exec`` (a ``preexec_fn``): plain libc calls
    only, and nothing raised (on a system without ``prctl`` it does nothing).
    """
    if LIBC is not None:
        with contextlib.suppress(AttributeError):
            LIBC.prctl(_PR_SET_PDEATHSIG, sig)
