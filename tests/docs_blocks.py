"""Reading the fenced blocks of README.md and docs/, and running a page's Python."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: A fenced block: its indent, its info string and its body, up to a fence as indented.
FENCE = re.compile(r"^([ \t]*)(```+|~~~+)[ \t]*([^\n]*)\n(.*?)^\1\2[ \t]*$", re.S | re.M)
#: The languages the pages' blocks may name: what runs, what is a transcript, shell lines.
LANGUAGES = {"python", "pycon", "console", "bash", ""}


def page_name(page: Path) -> str:
    """``page``'s path from the checkout's root."""
    return str(page.relative_to(ROOT))


def fenced(page: Path) -> list[tuple[str, str]]:
    """Every fenced block of ``page`` as ``(language, body)``, in order.

    The language is the info string's first word, as it is written (```` ```Python ````
    stays ``Python``, so a test can refuse it); an indented block (in a list item) has its
    body dedented by the fence's indent.
    """
    out = []
    for indent, _, info, body in FENCE.findall(page.read_text()):
        lines = body.splitlines(keepends=True)
        out.append(
            (
                info.split()[0] if info.split() else "",
                "".join(line[len(indent) :] if line.startswith(indent) else line for line in lines),
            )
        )
    return out


def blocks(page: Path, *kinds: str) -> list[tuple[str, str]]:
    """The fenced blocks of ``page`` whose language is among ``kinds``, in order."""
    return [(kind, body) for kind, body in fenced(page) if kind in kinds]


def run_page(page: Path) -> None:
    """Run ``page``'s Python blocks in order in one namespace, and its transcripts as doctests.

    Raises
    ------
    AssertionError
        A transcript's output differs from what its code prints.

    """
    namespace: dict = {"__name__": "__docs__"}
    for number, (kind, body) in enumerate(blocks(page, "python", "pycon"), 1):
        where = f"{page_name(page)}, block {number}"
        if kind == "python":
            exec(compile(body, where, "exec"), namespace)
            continue
        test = doctest.DocTestParser().get_doctest(body, namespace, where, where, 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test, clear_globs=False)
        assert runner.summarize(verbose=False).failed == 0, f"{where}: the transcript differs"
