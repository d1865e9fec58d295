"""The README and docs/ run as written: Python blocks, transcripts, commands, tables and links.

- Every ```python block of a page runs, in order and in one namespace, from a checkout
  after ``make run`` (the default sweep's results for one of its seeds, written by the
  ``fedbench`` command itself); every ```pycon block is a doctest run after the blocks
  before it.
- Every ``.venv/bin/fedbench`` (and ``fedbench-partition``) line passes the pre-flight
  (no training).
- The tables that restate a registry (strategies, sweeps) list what the registry holds.
- Every relative link names a file that exists and, with ``#anchor``, one of its headings.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fedbench.partitioning import STRATEGIES
from tests.docs_blocks import FENCE, LANGUAGES, PAGES, ROOT, blocks, fenced, page_name

FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def test_the_readme_is_short_and_the_docs_have_their_pages():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
    assert len(PAGES) - 1 >= 3


# --- Python blocks and transcripts --------------------------------------------------


@pytest.fixture(scope="session")
def checkout_after_make_run(tmp_path_factory) -> Path:
    """A folder like a checkout after ``make run``: ``results/`` of the default sweep.

    ``make run``'s training commands, ``fedbench -m -cd sweeps -cn default`` and
    ``default_centralized``, restricted to seed 0 (4 of their 12 runs, 30 rounds each),
    so the blocks read real results of the commands themselves in a fraction of the time.
    """
    checkout = tmp_path_factory.mktemp("checkout")
    for name in ("sweeps", "conf"):
        (checkout / name).symlink_to(ROOT / name)
    for sweep in ("default", "default_centralized"):
        command = [sys.executable, "-m", "fedbench", "-m", "-cd", "sweeps", "-cn", sweep]
        subprocess.run([*command, "seed=0"], cwd=checkout, check=True, capture_output=True)
    return checkout


PYTHON_PAGES = [p for p in PAGES if blocks(p, "python", "pycon")]


@pytest.mark.tff
@pytest.mark.subprocess
@pytest.mark.parametrize("page", PYTHON_PAGES, ids=page_name)
def test_every_python_block_runs_as_written(page, checkout_after_make_run):
    # A process of its own per page: a block may register a strategy, as a reader's
    # session would, without changing the registry the other tests see.
    code = f"from tests.docs_blocks import ROOT, run_page; run_page(ROOT / {page_name(page)!r})"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=checkout_after_make_run,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("page", PAGES, ids=page_name)
def test_every_block_names_a_language_the_tests_read_and_no_transcript_hides(page):
    # A ```py or ```Python block would never run; a transcript in a ```python block
    # would be executed and fail; one in a bare ``` block would never be checked.
    # Transcripts go in ```pycon or ```console.
    text = page.read_text()
    found = fenced(page)
    assert len(found) == len(re.findall(r"^[ \t]*(?:```|~~~)", text, re.M)) // 2, "a fence unread"
    for kind, body in found:
        assert kind in LANGUAGES, f"{page_name(page)}: a ```{kind} block (use one of {LANGUAGES})"
        assert not (kind == "python" and body.lstrip().startswith(">>>")), page_name(page)
        assert not (kind == "" and body.lstrip().startswith((">>>", "$ "))), page_name(page)


def test_the_block_reader_finds_what_a_test_must_not_skip(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "- item\n\n  ```python\n  x = 1\n  ```\n\n```Python\ny = 2\n```\n"
        "~~~python title=x\nz = 3\n~~~\n"
    )
    assert fenced(page) == [("python", "x = 1\n"), ("Python", "y = 2\n"), ("python", "z = 3\n")]


# --- Commands -----------------------------------------------------------------------

LAUNCH_ONLY = ("results_dir=", "hydra/launcher=", "hydra.launcher.")


def _sweep_only(args: list[str]) -> bool:
    """``-m -cd sweeps -cn <name>`` alone: tests/app/config/test_config.py checks each sweep."""
    return len(args) == 5 and args[:4] == ["-m", "-cd", "sweeps", "-cn"]


def documented_commands() -> list[tuple[str, str]]:
    """Each distinct ``fedbench`` command line of the pages (without placeholders).

    Launcher and results-folder keys do not change what is checked, so they are dropped
    and the command lines that then coincide are checked once.
    """
    found: dict[str, str] = {}
    pattern = re.compile(r"^\.venv/bin/(?:fedbench(?:-partition)?|python -m fedbench) (.+)$", re.M)
    for page in PAGES:
        text = re.sub(r"\\\n\s*", " ", page.read_text())  # a line continued with \
        for line in pattern.findall(text):
            if "<" in line:
                continue
            args = [a for a in line.split("#")[0].split() if not a.startswith(LAUNCH_ONLY)]
            if not _sweep_only(args):
                found.setdefault(" ".join(args), page_name(page))
    return sorted((command, page) for command, page in found.items())


@pytest.mark.parametrize(("command", "page"), documented_commands())
def test_the_commands_the_docs_show_pass_the_checks(check, command, page):
    if "dataset=fmnist" in command and not FMNIST_DIR.is_dir():
        pytest.skip(f"no Fashion-MNIST at {FMNIST_DIR}")
    args = command.split()
    args = [str(ROOT / "sweeps") if a == "sweeps" else a for a in args]
    assert len(check(args)) >= 1, f"{page}: {command}"


ANALYSIS_LINE = re.compile(
    r"^(?:\$ )?\.venv/bin/(fedbench-report|python -m analysis\.report|python -m analysis\.figures)"
    r" (.+)$",
    re.M,
)
MODULE = {
    "fedbench-report": "analysis.report",
    "python -m analysis.report": "analysis.report",
    "python -m analysis.figures": "analysis.figures",
}


def documented_analysis_commands() -> list[tuple[str, str, str]]:
    """Each distinct report or figure command line of the pages: (module, arguments, page)."""
    found: dict[tuple[str, str], str] = {}
    for page in PAGES:
        for program, line in ANALYSIS_LINE.findall(page.read_text()):
            args = line.split("#")[0].strip()
            if "<" not in args and "[" not in args:
                found.setdefault((MODULE[program], args), page_name(page))
    return sorted((module, args, page) for (module, args), page in found.items())


@pytest.mark.tff
@pytest.mark.subprocess
@pytest.mark.parametrize(("module", "args", "page"), documented_analysis_commands())
def test_the_report_and_figure_commands_run_on_make_runs_results(
    module, args, page, checkout_after_make_run
):
    done = subprocess.run(
        [sys.executable, "-m", module, *args.split()],
        cwd=checkout_after_make_run,
        capture_output=True,
        text=True,
    )
    if page == "README.md":  # the tour: each runs on what make run wrote
        assert done.returncode == 0, done.stderr[-2000:]
        return
    # A page's example for other results (Fashion-MNIST, NIID-Bench's folder) refuses
    # make run's in one line naming what is missing, or runs.
    refused = done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert done.returncode == 0 or refused, done.stderr[-2000:]


# --- Tables that restate a registry -------------------------------------------------


def strategy_rows() -> list[str]:
    """The strategy table of docs/heterogeneity.md, one row per registered strategy."""
    rows = []
    for name, strategy in STRATEGIES.items():
        params = ", ".join(f"`{k}`={v!r}" for k, v in strategy.defaults.items()) or "—"
        summary = (strategy.fn.__doc__ or "").strip().splitlines()[0]
        rows.append(f"| `{name}` | {strategy.skew} | {params} | {summary} |")
    return rows


def test_the_strategy_table_is_the_registry():
    text = (ROOT / "docs" / "heterogeneity.md").read_text()
    table = [line for line in text.splitlines() if re.match(r"\| `\w+` \| \w+ \|", line)]
    assert table == strategy_rows()


def test_the_sweep_table_lists_every_sweep_file():
    rows = [line for line in (ROOT / "docs" / "running.md").read_text().splitlines()]
    named = {
        name
        for line in rows
        if line.startswith("| `")
        for name in re.findall(r"`(\w+)`", line.split("|")[1])
    }
    assert {p.stem for p in (ROOT / "sweeps").glob("*.yaml")} <= named


# --- Links --------------------------------------------------------------------------


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of ``page``'s headings (lower case, punctuation dropped, - for spaces)."""
    found = set()
    text = FENCE.sub("", page.read_text())
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("page", PAGES, ids=page_name)
def test_every_relative_link_resolves(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", FENCE.sub("", page.read_text())):
        if re.match(r"\w+://", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page_name(page)} links to {target}: no such file"
        if anchor:
            assert anchor in anchors(linked), (
                f"{page_name(page)} links to {target}: no such heading"
            )


def test_the_column_table_lists_every_result_column():
    from fedbench import results as R

    text = (ROOT / "docs" / "results.md").read_text()
    start = text.index("<!-- columns:")
    table = text[start : text.index("\n\n", start)]
    first_cells = [line.split("|")[1] for line in table.splitlines()[3:]]
    listed = [name for cell in first_cells for name in re.findall(r"`(\w+)`", cell)]
    assert sorted(listed) == sorted(R.column_names())


def test_the_config_key_table_names_every_option_of_every_record():

    from fedbench.data import DATASETS
    from fedbench.partitioning import all_params
    from fedbench.records import ALGORITHMS, MODELS
    from fedbench.spec import FLSettings

    text = (ROOT / "docs" / "running.md").read_text()
    rows = {
        line.split("|")[1].strip(): line.split("|")[2]
        for line in text.splitlines()
        if line.startswith("| `")
    }

    def named(key: str) -> set[str]:
        return set(re.findall(r"`(\w+)`", rows[key]))

    assert set(DATASETS) <= named("`dataset=`")
    assert set(STRATEGIES) <= named("`partition=`")
    assert set(MODELS) <= named("`model=`")
    assert set(ALGORITHMS) <= named("`algorithm=`")
    keys = " ".join(rows)
    assert {f".{name}`" for name in all_params()} <= set(re.findall(r"\.\w+`", keys))
    assert {f"fl.{name}" for name in FLSettings().as_dict()} <= set(re.findall(r"fl\.\w+", keys))


def _resolves(dotted: str) -> bool:
    """Whether ``dotted`` names a module, or an attribute reached from one."""
    import importlib

    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=page_name)
def test_every_dotted_fedbench_name_the_pages_cite_exists(page):
    cited = set(re.findall(r"`((?:fedbench|analysis)(?:\.\w+)+)(?:[:(][^`]*)?`", page.read_text()))
    missing = sorted(name for name in cited if not _resolves(name))
    assert not missing, f"{page_name(page)} cites names that do not exist: {missing}"


def test_the_fl_key_table_is_the_records_table():
    from fedbench.fl_keys import docs_table

    text = (ROOT / "docs" / "running.md").read_text()
    marker = "<!-- fl keys: fedbench.fl_keys.docs_table() -->\n"
    start = text.index(marker) + len(marker)
    end = text.find("\n\n", start)
    assert text[start : end if end >= 0 else len(text)].rstrip("\n") == docs_table()
