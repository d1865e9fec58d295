"""``--format latex``: a booktabs ``tabular``, footnotes as a paragraph below."""

from __future__ import annotations

from analysis.report.request import MARK, Table

_LATEX_SPECIAL = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
}


def _latex(text: str) -> str:
    text = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    text = text.replace(" ± ", r" $\pm$ ").replace(MARK, r"\textsuperscript{\dag}")
    return text.replace("–", "--")


def render(table: Table) -> str:
    """A booktabs ``tabular`` (``\\usepackage{booktabs}``), footnotes as a paragraph below."""
    spec = "l" * len(table.header)
    out = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    out.append(" & ".join(_latex(h) for h in table.header) + r" \\")
    out.append(r"\midrule")
    out += [" & ".join(_latex(c) for c in row) + r" \\" for row in table.rows]
    out += [r"\bottomrule", r"\end{tabular}"]
    out += [r"\par\footnotesize " + _latex(n) for n in table.notes]
    return "\n".join(out) + "\n"
