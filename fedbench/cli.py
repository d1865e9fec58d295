"""Command-line entry points: ``fedbench`` (train) and ``fedbench-partition`` (report).

Both are Hydra apps over ``conf/``. Before Hydra runs any job, every job of the
command line is checked (:mod:`fedbench.preflight`); a problem ends the command
with one line on stderr and exit status 2, before any training and without
touching ``results_dir``. Set ``FEDBENCH_TRACEBACK=1`` to see the traceback.
"""

from __future__ import annotations

import os

# Before TensorFlow is imported: keep its C++ start-up chatter off stderr, which
# carries fedbench's own one-line errors. Set TF_CPP_MIN_LOG_LEVEL=0 to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import logging
import sys
from collections.abc import Callable

import hydra
from omegaconf import DictConfig, OmegaConf

from fedbench.config import register_schemas
from fedbench.errors import FedbenchError
from fedbench.pipeline import normalize
from fedbench.preflight import CONF_DIR, PRIMARY_CONFIG, check_argv
from fedbench.training.runtime import WorkerTerminated

log = logging.getLogger("fedbench")
EXIT_USAGE = 2
#: 128 + the signal number, as shells report a process ended by SIGINT / SIGTERM.
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


def _fail(error: BaseException) -> None:
    if os.environ.get("FEDBENCH_TRACEBACK"):
        raise error
    print(f"fedbench: error: {error}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def _guarded(task: Callable[[dict], object]) -> Callable[[DictConfig], object]:
    """Resolve the job's config to plain containers; user errors end the command in one line."""

    def job(cfg: DictConfig) -> object:
        try:
            return task(normalize(OmegaConf.to_container(cfg, resolve=True)))
        except FedbenchError as error:
            _fail(error)
        return None

    return job


def _train(config: dict) -> str:
    from fedbench import experiment

    return experiment.run(config)


def _report(config: dict) -> str:
    from fedbench import partition_report

    return str(partition_report.report(config))


def _launch(task: Callable[[dict], object], *, kept_on_interrupt: str) -> None:
    """Check every job, then run them; Ctrl-C or SIGTERM ends in one line saying what is kept."""
    register_schemas()
    app = hydra.main(config_path=str(CONF_DIR), config_name=PRIMARY_CONFIG, version_base="1.3")
    kept = "before any job ran: nothing was written"  # while the jobs are checked
    try:
        try:
            check_argv(sys.argv[1:])
        except FedbenchError as error:
            _fail(error)
        kept = kept_on_interrupt
        app(_guarded(task))()
    except (KeyboardInterrupt, WorkerTerminated) as stop:
        if os.environ.get("FEDBENCH_TRACEBACK"):
            raise
        code = stop.code if isinstance(stop, WorkerTerminated) else EXIT_INTERRUPTED
        signal = "SIGTERM" if code == EXIT_TERMINATED else "Ctrl-C"
        print(f"fedbench: stopped by {signal} {kept}", file=sys.stderr)
        sys.exit(code)


def train_main() -> None:
    """``fedbench``: train every configured run through TFF and write its Parquet."""
    _launch(
        _train,
        kept_on_interrupt="; finished runs are kept and the interrupted one is saved as "
        "failed: run the same command again to resume",
    )


def partition_main() -> None:
    """``fedbench-partition``: partition, measure and report, without training."""
    _launch(_report, kept_on_interrupt="; the reports written so far are kept")
