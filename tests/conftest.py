"""Shared fixtures: quiet TensorFlow logs, an isolated results dir, and a TFF worker leak check."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The Ctrl-C tests need SIGINT as an interactive shell leaves it. A suite started in the
# background of a non-interactive shell (`make test &` in a script) inherits it ignored,
# as do the commands it starts, and Python and fedbench rightly keep ignoring it there.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
# Dataset caches of the tests go to a throwaway folder, never to ~/.cache/fedbench.
_CACHE = tempfile.mkdtemp(prefix="fedbench-test-cache-")
os.environ["FEDBENCH_CACHE_DIR"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

from pathlib import Path  # noqa: E402

import psutil  # noqa: E402
import pytest  # noqa: E402

from analysis.findings.studies import FEMNIST_TARBALL  # noqa: E402  (../shared's subset)

SHARED = FEMNIST_TARBALL.parents[2]


def worker_children() -> list[psutil.Process]:
    """TFF worker_binary processes that are descendants of this test process."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "worker_binary" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.fixture(autouse=True)
def no_leaked_tff_worker():
    """Every test must leave no TFF worker process behind."""
    yield
    leaked = worker_children()
    for process in leaked:  # stop them so one leak does not cascade into every later test
        process.kill()
    assert not leaked, f"TFF worker processes left running: {[p.pid for p in leaked]}"


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    return tmp_path / "results"


@pytest.fixture
def check(tmp_path):
    """Check (and prepare) every job of a command line; return the prepared runs."""
    from tests.cli_helpers import run_command

    def check_argv(argv, **kwargs):
        return run_command([*argv, f"results_dir={tmp_path / 'results'}"], tmp_path, **kwargs)

    return check_argv


@pytest.fixture
def shared_session(request):
    """The runs of one test share a TFF worker and built processes, as a sweep's jobs do.

    A run that ends with an exception closes the session and the next starts afresh
    (:mod:`fedbench.training.session`). A test named in its module's ``OWN_WORKER`` runs
    each job on its own worker, as a lone ``fedbench`` command does.
    """
    from fedbench.training import session

    if request.node.originalname in getattr(request.module, "OWN_WORKER", ()):
        yield None
        return
    with session.kept() as kept:
        yield kept


@pytest.fixture(scope="session")
def checked_sweep(tmp_path_factory):
    """The checked jobs of ``fedbench -m -cd sweeps -cn <name> [overrides]``, once a session.

    A sweep's pre-flight checks every job (the NIID-Bench grid: 84 runs, about 7 s
    here); the tests that read the same sweep share one.
    """
    from tests.cli_helpers import REPO, run_command

    checked: dict[tuple[str, ...], list] = {}

    def jobs(name: str, *overrides: str) -> list:
        key = (name, *overrides)
        if key not in checked:
            where = tmp_path_factory.mktemp("sweep")
            argv = ["-m", "-cd", str(REPO / "sweeps"), "-cn", name, *overrides]
            checked[key] = run_command([*argv, f"results_dir={where / 'results'}"], where)
        return checked[key]

    return jobs


@pytest.fixture(scope="session")
def femnist_leaf_dir(tmp_path_factory) -> Path:
    """The shared real FEMNIST subset, unpacked once per session (the LEAF data/ folder)."""
    import tarfile

    if not FEMNIST_TARBALL.is_file():
        pytest.skip(f"shared FEMNIST subset not found at {FEMNIST_TARBALL}")
    root = tmp_path_factory.mktemp("femnist")
    with tarfile.open(FEMNIST_TARBALL) as archive:
        archive.extractall(root, filter="data")
    (train,) = root.rglob("train")
    return train.parent
