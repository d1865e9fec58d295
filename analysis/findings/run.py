"""``make findings``' first half: run (or resume) every study's sweep.

Each sweep runs as its own ``fedbench -m`` process, so a finished run is skipped
(fedbench's sweeper resumes a results folder: nothing finished trains again) and an
interrupted one continues from its checkpoint. Ctrl-C or SIGTERM (SIGHUP) to the runner
is passed on to the running sweep, which saves its runs as far as they trained and stops
TFF's worker; the runner waits for it (killing it after :data:`STOP_SECONDS`) and stops
with the signal's exit status. A runner killed outright (``kill -9``) takes its sweep
with it: the sweep gets SIGTERM from the kernel.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from analysis.findings.studies import FEMNIST_SUBDIR, FEMNIST_TARBALL, Study
from fedbench.interrupts import Terminated, catching_signals, die_with_parent

#: Seconds a sweep gets to stop after Ctrl-C before it is killed.
STOP_SECONDS = 120


def unpack_femnist(root: Path, tarball: Path = FEMNIST_TARBALL) -> Path | None:
    """The FEMNIST subset's ``train/`` and ``test/`` under ``root``, unpacked once.

    The files go to a temporary folder beside the target first, renamed into place when
    complete, so an unpacking cut short is never taken for the data. Returns ``None``
    when it is not unpacked and ``tarball`` is missing.
    """
    target = root / FEMNIST_SUBDIR
    if (target / "train").is_dir() and (target / "test").is_dir():
        return target
    if not tarball.is_file():
        return None
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{FEMNIST_SUBDIR}-") as staging:
        with tarfile.open(tarball) as archive:
            for member in archive.getmembers():
                parts = Path(member.name).parts  # data/femnist/data/{train,test}/<file>.json
                if len(parts) > 3 and parts[3] in ("train", "test") and member.isfile():
                    member.name = str(Path(*parts[3:]))
                    archive.extract(member, staging, filter="data")
        shutil.rmtree(target, ignore_errors=True)  # a partial copy placed by hand
        os.replace(staging, target)
        Path(staging).mkdir()  # for TemporaryDirectory's clean-up
    return target


def _end_with_runner() -> None:  # runs in the sweep's process between fork and exec
    """SIGTERM the sweep when the runner dies (``kill -9``): it saves its runs and stops.

    The sweep runs in its own session, so no terminal signal reaches it; Linux's
    ``PR_SET_PDEATHSIG`` delivers one when its parent dies.
    """
    die_with_parent(signal.SIGTERM)


def run_sweep(study: Study, root: Path, extra: Sequence[str] = ()) -> int:
    """Run (or resume) ``study``'s sweep into ``root``; its exit status."""
    command = [
        sys.executable,
        "-m",
        "fedbench",
        "-m",
        "-cd",
        "sweeps",
        "-cn",
        study.name,
        *study.overrides(root),
        *extra,
    ]
    # Its own process group: a sweep that does not stop in time is killed with every
    # process it started (TFF's worker, a launcher's workers), not only itself.
    child = subprocess.Popen(command, start_new_session=True, preexec_fn=_end_with_runner)
    try:
        return child.wait()
    except (KeyboardInterrupt, Terminated) as stop:
        child.send_signal(signal.SIGINT if isinstance(stop, KeyboardInterrupt) else signal.SIGTERM)
        try:
            child.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        raise


def run_studies(
    studies: Sequence[Study],
    root: Path,
    extra: Sequence[str] = (),
    say: Callable[[str], None] = print,
) -> dict[str, int | None]:
    """Run every study's sweep in turn; the exit status of each (``None``: skipped, no data).

    Raises
    ------
    KeyboardInterrupt, fedbench.interrupts.Terminated
        Ctrl-C or SIGTERM, once the running sweep has stopped.

    """
    with catching_signals(raise_again=False):
        return _run_each(studies, root, extra, say)


def _run_each(
    studies: Sequence[Study], root: Path, extra: Sequence[str], say: Callable[[str], None]
) -> dict[str, int | None]:
    statuses: dict[str, int | None] = {}
    for study in studies:
        if study.needs_femnist and unpack_femnist(root) is None:
            say(
                f"findings: skipping {study.name}: no FEMNIST subset; place "
                f"{FEMNIST_TARBALL} (or its train/ and test/ under {root / FEMNIST_SUBDIR})"
            )
            statuses[study.name] = None
            continue
        say(f"findings: {study.command(root)}")
        start = time.monotonic()
        statuses[study.name] = run_sweep(study, root, extra)
        say(
            f"findings: {study.name} exited {statuses[study.name]} after "
            f"{time.monotonic() - start:.0f} s"
        )
    return statuses
