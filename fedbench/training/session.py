"""What a process that trains several jobs keeps across them: one TFF worker, built processes.

A job alone starts a TFF worker, builds its learning process and stops the worker when
it ends (:func:`fedbench.training.runtime.tff_worker`). Inside a :func:`kept` block (a
command's multirun in one process) or a process marked by :func:`keep_for_process` (a
joblib worker running a sweep's jobs one after another) the jobs share instead:

- one worker, restarted only when a job asks for another thread count or log file, or
  the worker died;
- the sharded learning processes, by everything their computations depend on
  (:func:`fedbench.training.train.process_key`: model, algorithm and options, the
  ``fl`` values compiled into them, input shapes; not the seed nor the clients, which
  reach the process as inputs), at most :data:`MAX_PROCESSES` of them, the least
  recently used dropped first. The worker keeps what it compiled for them, so a
  job's first round costs what its later rounds cost.

A job that ends with an exception or a signal closes the session (the worker is
stopped and the processes forgotten) before the exception goes on: nothing of a job
that failed serves the next one. The session is closed when the block ends, or for a
process when it exits.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any

from fedbench.interrupts import catching_signals
from fedbench.training.runtime import Worker

#: Built learning processes a session keeps at most.
MAX_PROCESSES = 4


class TrainingSession:
    """A TFF worker and built learning processes shared by the jobs of one process."""

    def __init__(self, max_processes: int = MAX_PROCESSES) -> None:
        self._worker: Worker | None = None
        self._worker_key: tuple[Path | None, int] | None = None
        self._processes: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()
        self._max_processes = max_processes
        #: Workers started and processes built so far (what the tests and benchmarks read).
        self.workers_started = 0
        self.processes_built = 0

    @contextlib.contextmanager
    def worker(self, log_path: Path | None = None, threads: int = 0) -> Iterator[Any]:
        """Run the block's computations on the session's worker (started if need be).

        Yields
        ------
        subprocess.Popen
            The worker process.

        """
        key = (log_path, threads)
        if self._worker is not None and (self._worker_key != key or not self._worker.alive()):
            self._stop_worker()
        try:
            with catching_signals():
                if self._worker is None:
                    self._worker = Worker.start(log_path, threads)
                    self._worker_key = key
                    self.workers_started += 1
                with self._worker.installed() as process:
                    yield process
        except BaseException:
            self.close()
            raise

    def process(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The learning process built for ``key``, built by ``build`` the first time."""
        if key in self._processes:
            self._processes.move_to_end(key)
            return self._processes[key]
        built = build()
        self.processes_built += 1
        self._processes[key] = built
        while len(self._processes) > self._max_processes:
            self._processes.popitem(last=False)
        return built

    def close(self) -> None:
        """Stop the worker and forget the built processes."""
        self._processes.clear()
        self._stop_worker()

    def _stop_worker(self) -> None:
        worker, self._worker, self._worker_key = self._worker, None, None
        if worker is not None:
            worker.close()


_active: TrainingSession | None = None


def active() -> TrainingSession | None:
    """The session the jobs of this process share, or ``None`` (each job on its own)."""
    return _active


@contextlib.contextmanager
def kept() -> Iterator[TrainingSession]:
    """Share one session among the jobs trained in this block; close it at the end."""
    global _active
    previous, session = _active, TrainingSession()
    _active = session
    try:
        yield session
    finally:
        _active = previous
        session.close()


def keep_for_process() -> TrainingSession:
    """Share one session among every job this process trains from now on, until it exits."""
    global _active
    if _active is None:
        _active = TrainingSession()
        atexit.register(_active.close)
    return _active
