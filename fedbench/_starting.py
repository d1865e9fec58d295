"""A fedbench command's handling of SIGINT/SIGTERM/SIGHUP while its package loads.

Imported first by ``fedbench/__init__.py``, with nothing but ``os``, ``signal`` and
``sys``: the handlers must be in place before numpy and the rest load. Only in the
process of a ``fedbench`` or ``fedbench-partition`` command are they set (see
:func:`stop_at_once_while_starting`); importing fedbench as a library leaves signals alone.
"""

from __future__ import annotations

import os
import signal
import sys

#: The console scripts, and the modules that ``python -m`` runs as them.
_COMMANDS = frozenset({"fedbench", "fedbench-partition", "fedbench.partition"})
#: Interpreter options that take the next argument as their value.
_OPTIONS_WITH_VALUE = frozenset({"-W", "-X", "--check-hash-based-pycs"})
#: The handlers :func:`stop_at_once_while_starting` replaced, until :func:`started`.
_before_start: dict = {}


def command_of(argv: list[str]) -> str | None:
    """What the interpreter of ``argv`` (``sys.orig_argv``) runs: a module, a script's name."""
    args = iter(argv[1:])
    for arg in args:
        if arg == "-m":
            return next(args, None)
        if arg in _OPTIONS_WITH_VALUE:
            next(args, None)
        elif arg == "-c" or not arg.startswith("-"):
            return None if arg == "-c" else os.path.basename(arg)
    return None


def stop_at_once_while_starting(argv: list[str] | None = None) -> None:
    """In a fedbench command, end at once on SIGINT/SIGTERM/SIGHUP until its handlers are set.

    Importing the ``fedbench`` package (numpy, the strategies) comes before the console
    scripts' own handlers (:mod:`fedbench.app.entry`); a Ctrl-C then would print Python's
    traceback. In the process of a ``fedbench`` or ``fedbench-partition`` command
    (``sys.orig_argv``: the console script, or ``python -m fedbench[.partition]``) the
    handler set here prints one line and exits with 128 + the signal's number (nothing is
    written before a job runs).
    """
    argv = list(sys.orig_argv) if argv is None else argv
    if command_of(argv) not in _COMMANDS:
        return

    def stop(signum: int, frame: object) -> None:
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        line = f"fedbench: stopped by {name} before any job ran: nothing was written\n"
        try:
            os.write(2, line.encode())
        finally:
            os._exit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(sig) is not signal.SIG_IGN:
                _before_start[sig] = signal.signal(sig, stop)
        except ValueError:  # not the main thread: nothing to do
            return


def started() -> None:
    """The command's own handling took over: the handlers of before the start come back.

    So a signal once the command is done (at interpreter exit) is not reported as a stop
    before any job ran.
    """
    while _before_start:
        sig, handler = _before_start.popitem()
        signal.signal(sig, handler)
