"""Jobs that a launcher runs in child processes of the sweep: bound to the sweep's life.

joblib's loky workers are children of the command's process and wait for work until
an idle timeout, or forever when their parent died holding loky's process lock; a
``kill -9`` of the sweep left them orphaned, each holding TensorFlow in memory.
Loky (and Python's ``multiprocessing``) does not stop its workers when their parent
dies, and ``PR_SET_PDEATHSIG`` fires when the *thread* that spawned a worker ends
(loky respawns workers from its manager thread), so a job here watches instead:

- :func:`job_process` wraps each job. It tells a launcher's child from the command's
  own process by the :class:`CommandProcess` the job was handed (not by the
  environment). In a direct child of the command (a joblib worker) it starts, once per
  process, a watchdog thread
  that polls the parent's pid; when the parent is gone it sends the process SIGTERM,
  so the running job saves its rows and checkpoint, stops its TFF worker and frees
  its run's claim, and ends the process (at once when no job runs).
- A signal that stops a job in such a child (the parent's :func:`stop_children`, a
  Ctrl-C in the terminal) unwinds the job, then ends the process instead of letting it
  take the sweep's next job.

submitit's jobs are not direct children: they are meant to outlive the command
(a cluster's jobs do), and notice a lost parent only at their next round
(:func:`fedbench.interrupts.watch_parent`).

What this module keeps is the child process's own (one watchdog thread, whether a job
runs, the training session its jobs share), never a command's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fedbench.interrupts import (
    Terminated,
    catching_signals,
    exit_code,
    raise_if_interrupted,
    watch_parent,
)
from fedbench.results.lock import claim_holder, claimed_elsewhere

#: How often a launcher's child looks whether its parent is still there.
WATCH_SECONDS = 0.5
#: How long a stopped job may take to save its state and stop its TFF worker.
STOP_GRACE_SECONDS = 120.0

_in_job = threading.Event()
_watchdog: threading.Thread | None = None


@dataclass(frozen=True)
class CommandProcess:
    """The process that runs a command, as its jobs are told it (pickled with them)."""

    host: str
    pid: int

    @classmethod
    def this(cls) -> CommandProcess:
        """The process calling it."""
        return cls(socket.gethostname(), os.getpid())

    def is_parent(self) -> bool:
        """Whether this process is a direct child of the command's (a joblib worker)."""
        return self.host == socket.gethostname() and self.pid == os.getppid()


@contextlib.contextmanager
def job_process(command: CommandProcess, *, training: bool) -> Iterator[Any]:
    """Run one job so that, in a launcher's child, it ends with the sweep (see the module).

    In the command's own process this only re-raises a signal swallowed meanwhile.

    Yields
    ------
    TrainingSession or None
        The session that the training jobs of a direct child share (``None``: the
        command's own process, whose command holds its session; a submitit job, which
        trains alone; a command that does not train).

    """
    if command == CommandProcess.this():
        raise_if_interrupted()  # a signal swallowed while the last job ended
        yield None
        return
    watch_parent()  # any launcher's child: ends at its next round once its parent is gone
    _progress_bars_lock_within_process()
    if not command.is_parent():  # submitit's: may outlive the sweep
        raise_if_interrupted()
        yield None
        return
    _start_watchdog(os.getppid())
    session = None
    if training:
        from fedbench.training.session import keep_for_process

        session = keep_for_process()  # the jobs this worker runs one after another share it
    logging.raiseExceptions = False  # a full disk: the parent says so in one line
    _in_job.set()
    try:
        with catching_signals(raise_again=False):
            raise_if_interrupted()  # a signal swallowed while the last job ended
            yield session
    except BaseException as error:
        stop = _signal_behind(error)
        if stop is None:
            raise
        _exit(exit_code(stop))  # not back to the launcher's loop for the next job
    finally:
        _in_job.clear()


def _signal_behind(error: BaseException) -> KeyboardInterrupt | Terminated | None:
    """The signal's exception that ``error`` is, or arose while handling (saving failed)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (KeyboardInterrupt, Terminated)):
            return seen
        seen = seen.__context__
    return None


def _progress_bars_lock_within_process() -> None:
    """Give tqdm a thread lock instead of the ``multiprocessing`` lock it would create.

    That lock is a named semaphore registered with the sweep's ``resource_tracker``
    (loky's children share their parent's); a child killed or ended by ``os._exit``
    never unregisters it, and the tracker then warns about a "leaked semaphore" on the
    command's stderr. One job's progress bar needs no lock across processes.
    """
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())


def _start_watchdog(parent: int) -> None:
    global _watchdog
    if _watchdog is None:
        _watchdog = threading.Thread(
            target=_watch, args=(parent,), name="fedbench-parent-watchdog", daemon=True
        )
        _watchdog.start()


def _watch(parent: int) -> None:
    """End this process once ``parent`` is no longer its parent (it died)."""
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    if _in_job.is_set():  # the job saves and stops its worker, then ends the process
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while _in_job.is_set() and time.monotonic() < deadline:
            time.sleep(WATCH_SECONDS)
    _exit(128 + signal.SIGTERM)


def _exit(code: int) -> None:
    """End this process now, its logs flushed, without returning to the launcher's loop."""
    with contextlib.suppress(Exception):
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def stop_children(runs: Iterable[tuple[str, str]], grace: float = STOP_GRACE_SECONDS) -> None:
    """Ask this process's children that train one of ``runs`` to stop; wait until they let go.

    Each child holding the claim of a run (``(results_dir, config_hash)``) gets SIGTERM:
    its job saves its rows and checkpoint, as a single run does when stopped, and frees
    the claim. Returns once every such claim is free, or after ``grace`` seconds.
    """
    me = os.getpid()
    held = []
    for results_dir, hash_ in runs:
        pid = claim_holder(results_dir, hash_)  # a finished claim names its last owner
        if pid is not None and claimed_elsewhere(results_dir, hash_) and _parent_of(pid) == me:
            held.append((results_dir, hash_))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while held and time.monotonic() < deadline:
        time.sleep(0.1)
        held = [run for run in held if claimed_elsewhere(*run)]


def _parent_of(pid: int) -> int | None:
    import psutil

    try:
        return psutil.Process(pid).ppid()
    except psutil.Error:
        return None
