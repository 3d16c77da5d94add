"""Is a Markdown file's maths KaTeX's? Delimiters, environments, commands, tables.

KaTeX (and the Markdown viewers built on it) renders ``$...$`` and ``$$...$$``
and a subset of LaTeX.  The allow-list below is taken from KaTeX's list of
supported functions (https://katex.org/docs/supported.html); a command the
notes start to use that is not on it fails the tests until someone checks
KaTeX's list and adds it.
"""

from __future__ import annotations

import re

GREEK = """alpha beta gamma Gamma delta Delta epsilon varepsilon zeta eta theta Theta vartheta iota kappa lambda Lambda mu nu
    xi Xi pi Pi rho varrho sigma Sigma tau upsilon phi Phi varphi chi psi Psi omega Omega"""
KATEX_COMMANDS = frozenset(GREEK.split()) | frozenset("""
    frac sqrt partial nabla sum prod int lim sup inf log ln exp sin cos tan cot sec csc arcsin arccos arctan
    sinh cosh tanh coth max min det dim ker circ pm mp div ast star bullet prime vdots ddots neq leq geq equiv sim propto
    mid vert Vert lvert rvert lbrace rbrace displaystyle textstyle limits overline underline widehat vec dot ddot
    left right big Big begin end text mathrm mathbf mathbb mathcal operatorname hat bar tilde
    top odot oslash otimes cdot times cdots ldots dots le ge ne approx to leftarrow rightarrow in infty
    lVert rVert langle rangle quad qquad kern boxed
""".split())
KATEX_ENVIRONMENTS = frozenset({"aligned", "bmatrix", "matrix", "cases", "array"})

_DISPLAY = re.compile(r"\$\$(.*?)\$\$", re.S)
_INLINE = re.compile(r"(?<!\\)\$([^$\n]+?)(?<!\\)\$")
_COMMAND = re.compile(r"\\([A-Za-z]+)")
_ENVIRONMENT = re.compile(r"\\begin\{([A-Za-z*]+)\}")


def math_segments(md: str) -> list:
    """The maths of a Markdown text: every $$...$$ block and every $...$ span."""
    display = _DISPLAY.findall(md)
    rest = _DISPLAY.sub("", md)
    return display + _INLINE.findall(rest)


def katex_problems(md: str) -> list:
    """What KaTeX would not render as meant, as readable lines (empty: none)."""
    problems = []
    lines = md.splitlines()
    if sum(1 for line in lines if line.strip() == "$$") % 2:
        problems.append("a $$ block is not closed")
    problems += [f"$$ not on a line of its own: {line[:60]}" for line in lines if "$$" in line and line.strip() != "$$"]
    outside = _DISPLAY.sub("", md)
    for line in outside.splitlines():
        if len(re.findall(r"(?<!\\)\$", line)) % 2:
            problems.append(f"unbalanced $ in: {line[:80]}")
    for segment in math_segments(md):
        for command in _COMMAND.findall(segment):
            if command not in KATEX_COMMANDS:
                problems.append(f"\\{command} is not in KaTeX's supported list")
        for environment in _ENVIRONMENT.findall(segment):
            if environment not in KATEX_ENVIRONMENTS:
                problems.append(f"environment {environment} is not KaTeX's")
        if r"\tag" in segment:
            problems.append(r"\tag inside aligned is not KaTeX's")
        if re.search(r"\\mathbb\{\d", segment):
            problems.append(r"KaTeX's \mathbb has no digits (\mathbb{1} renders as a plain 1)")
    problems += _table_problems(lines)
    return sorted(set(problems))


def _table_problems(lines) -> list:
    """A | inside a table cell (in maths too) splits the cell: every row must have the header's number of cells."""
    problems = []
    width = None
    for line in lines:
        if not line.startswith("|"):
            width = None
            continue
        cells = len(re.findall(r"(?<!\\)\|", line)) - 1
        if any("|" in math for math in _INLINE.findall(line)):
            problems.append(f"a | in maths in a table row (GFM takes it for a cell border or an escape): {line[:80]}")
        if width is None:
            width = cells
        elif cells != width:
            problems.append(f"table row with {cells} cells under a header of {width}: {line[:80]}")
    return problems
