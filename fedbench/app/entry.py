"""The console scripts, quick to import.

Ctrl-C and SIGTERM are caught before Hydra, pandas or TensorFlow load, so a signal at
any moment ends the command in one line.
"""

from __future__ import annotations

import os
import sys

from fedbench._starting import started
from fedbench.interrupts import (
    Terminated,
    catching_signals,
    exit_code,
    raise_if_interrupted,
    stop_name,
)


def _run(command: str) -> None:
    try:
        with catching_signals():
            try:
                from fedbench.app.commands import cli  # Hydra, pandas, ...: seconds of imports

                raise_if_interrupted()  # a signal swallowed during the imports
                getattr(cli, command)()
            except (KeyboardInterrupt, Terminated) as stop:  # before cli took over
                if os.environ.get("FEDBENCH_TRACEBACK"):
                    raise
                print(
                    f"fedbench: stopped by {stop_name(stop)} before any job ran: "
                    "nothing was written",
                    file=sys.stderr,
                )
                sys.exit(exit_code(stop))
    finally:
        started()  # the start-up handlers, back when this block ended, give way too


def train_main() -> None:
    """``fedbench``: train every configured run through TFF and write its Parquet."""
    _run("train_main")


def partition_main() -> None:
    """``fedbench-partition``: partition, measure and report, without training."""
    _run("partition_main")
