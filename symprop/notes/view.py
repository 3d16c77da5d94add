"""The view model of the notes and the formatting every section shares.

Dataclasses of already printed LaTeX and already formatted numbers (what the
templates receive), the escaping of free text for .tex and .md, the one
function that formats numbers, and the rough line-width measure that decides
where an equation breaks.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

SIGNIFICANT = 4  # significant figures of the worked example's numbers
MAX_COLUMN = 12  # a column of up to 12 entries is printed (as a transposed row)
MAX_ROWS, MAX_COLUMNS = 12, 8  # larger matrices are summarised by shape and norm, not printed in full

# ==========================================================================
# Escaping
# ==========================================================================

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}
_MARKDOWN_SPECIAL = set("\\`*_[]$|~")
_MARKDOWN_LINE_START = re.compile(r"^(#|[-+>]|\d+[.)])")


def _one_line(text) -> str:
    return re.sub(r"\s+", " ", str(text))


def escape_latex(text: str) -> str:
    """Free text (a network's name) made safe for LaTeX's text mode."""
    text = _one_line(text)  # no newlines: they could end a comment or a paragraph
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def escape_markdown(text: str) -> str:
    """Free text made inert in Markdown (no emphasis, links, math, tables or HTML)."""
    text = _one_line(text)
    out = []
    for ch in text:
        if ch in _MARKDOWN_SPECIAL:
            out.append("\\" + ch)
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == "&":
            out.append("&amp;")
        else:
            out.append(ch)
    escaped = "".join(out)
    if _MARKDOWN_LINE_START.match(escaped):  # a heading, list or quote marker if it starts a line
        escaped = "\\" + escaped
    return escaped


@dataclass(frozen=True)
class Math:
    """A piece of inline mathematics in prose (already LaTeX)."""

    tex: str


@dataclass(frozen=True)
class _Format:
    """What differs between the .tex and the .md: how prose text is escaped."""

    name: str  # "tex" | "md"

    def escape(self, text: str) -> str:
        return escape_latex(text) if self.name == "tex" else escape_markdown(text)

    def prose(self, *parts) -> str:
        """Text and inline math, e.g. prose("the gradient of ", Math("W"), ".")."""
        out = []
        for part in parts:
            if isinstance(part, Math):
                out.append(f"${part.tex}$")
            else:
                out.append(self.escape(part))
        return "".join(out)


# ==========================================================================
# Numbers
# ==========================================================================


MAX_SLICES = 4  # an image of up to 4 channels (kernels: 4 channel pairs) is written slice by slice


def format_number(value: float) -> str:
    """A number as the notes print it: 4 significant figures, integers as integers.

    8.0 -> "8", 0.731058 -> "0.7311", -0.0562813 -> "-0.05628", 1.2e-7 -> "1.2 \\times 10^{-7}".
    """
    value = float(np.asarray(value, dtype=float).reshape(-1)[0])  # a 1x1 array is a number too
    if not math.isfinite(value):
        return r"\infty" if value > 0 else (r"-\infty" if value < 0 else r"\mathrm{NaN}")
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    rounded = float(f"{value:.{SIGNIFICANT}g}")
    if rounded.is_integer() and abs(rounded) < 10**SIGNIFICANT:
        return str(int(rounded))
    text = f"{value:.{SIGNIFICANT}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text


def format_number_text(value: float) -> str:
    """format_number for plain text (Mermaid labels)."""
    return format_number(value).replace(r" \times 10^{", "e").replace("}", "").replace("\\", "")


def format_value(value, dims=None) -> str:
    """LaTeX of a scalar or an array: a number, a bmatrix, or a summary of a big matrix.

    ``dims``: the tensor an image or kernel matrix stands for, (C, H, W) or (O, C, kh, kw);
    small ones are written as their H x W (kh x kw) slices, channel by channel.
    """
    a = np.asarray(value, dtype=float)
    if dims is not None and a.size == int(np.prod(dims)):
        slices = a.reshape((-1,) + tuple(dims[-2:]))
        if len(slices) <= MAX_SLICES and dims[-1] <= MAX_COLUMNS and dims[-2] <= MAX_ROWS:
            return r"\left(" + r",\; ".join(format_value(m) for m in slices) + r"\right)"
        size = r" \times ".join(str(d) for d in dims)
        return rf"\left({size} \text{{ tensor of norm }} {format_number(np.linalg.norm(a))}\right)"
    if a.size == 1:
        return format_number(a.reshape(-1)[0])
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    rows, cols = a.shape
    if cols == 1 and rows <= MAX_COLUMN:  # a column, written as a transposed row to save space
        return rf"\begin{{bmatrix}} {' & '.join(format_number(v) for v in a[:, 0])} \end{{bmatrix}}^{{\top}}"
    if rows > MAX_ROWS or cols > MAX_COLUMNS:
        return rf"\left({rows} \times {cols} \text{{ matrix of norm }} {format_number(np.linalg.norm(a))}\right)"
    body = r" \\ ".join(" & ".join(format_number(v) for v in row) for row in a)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def _substitution(value: float) -> str:
    """A number put in place of a symbol inside an expression: negatives bracketed."""
    tex = format_number(value)
    return rf"\left({tex}\right)" if tex.startswith("-") else tex


# ==========================================================================
# The view model
# ==========================================================================


@dataclass(frozen=True)
class Equation:
    """One line of an aligned block: ``lhs rel rhs`` with an optional note and number."""

    lhs: str
    rel: str
    rhs: str
    note: str = ""  # math-mode annotation, e.g. \text{chain rule}
    tag: str = ""  # the step's number, on the line that states its final form
    label: str = ""  # "(7)": the tag as printed where \tag is not available


@dataclass(frozen=True)
class Block:
    """A piece of a section: prose, an equation block, a table, a note, a list, a framed box, a figure."""

    kind: str  # "text" | "equations" | "note" | "table" | "list" | "box" | "graph" | "plot"
    text: str = ""  # prose; a table's caption; a box's title
    equations: tuple = ()
    header: tuple = ()
    rows: tuple = ()
    graph: object = None  # graph: a graph.Graph; plot: a Plot
    inline_notes: bool = False  # equations: each note right after its line, not in a column
    items: tuple = ()  # list: one prose string per item
    blocks: tuple = ()  # box: the blocks inside the frame
    numbered: bool = False  # list: 1. 2. 3. rather than bullets
    columns: str = ""  # table: LaTeX column types (p{...} for prose that wraps); default one l per column


@dataclass(frozen=True)
class Series:
    """One line of a Plot."""

    label: str  # LaTeX
    text: str  # plain text (Mermaid)
    color: str
    points: tuple  # (x cm, y cm) in the picture
    values: tuple  # log10 of the plotted numbers (Mermaid)


@dataclass(frozen=True)
class Plot:
    """A line plot on a log scale, laid out in Python in cm; the template only draws it (Block("plot", graph=plot))."""

    width: float
    height: float
    x_ticks: tuple  # (x cm, label)
    y_ticks: tuple  # (y cm, LaTeX label)
    x_label: str
    y_label: str
    series: tuple
    categories: tuple  # the x values (Mermaid)
    y_text: str  # plain-text y label (Mermaid)


@dataclass(frozen=True)
class Section:
    title: str
    level: int  # 1: section, 2: subsection
    blocks: tuple
    kind: str = ""  # the builder's name: selects the section's template block


@dataclass(frozen=True)
class WorkedNumber:
    """A number the worked example prints, with the engine value it came from."""

    key: str  # Derivation.evaluate key, or "local:<consumer>/<of>" for a local derivative
    value: object  # float or array
    tex: str


@dataclass(frozen=True)
class Document:
    header: str  # the first line: the generated-by comment
    title: str
    subtitle: str
    sections: tuple
    numbers: tuple = ()  # WorkedNumber, for the tests
    pdf_creator: str = ""


# ==========================================================================
# Line widths
# ==========================================================================

_COMMAND = re.compile(r"\\[A-Za-z]+")
_MATRIX = re.compile(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}")
MAX_LINE_WIDTH = 78  # characters of printed maths that fit on a line of the page, roughly
NOTE_GAP = 14  # the space align* leaves between an equation and its note, and the number


def _visible_width(tex: str) -> int:
    """A rough width of printed LaTeX maths in characters (over-estimates fractions)."""
    tex = _MATRIX.sub(lambda m: "x" * (4 + max(len(row) for row in m.group(1).split(r"\\"))), tex)
    tex = tex.replace(r"\left", "").replace(r"\right", "").replace(r"\frac", "")
    tex = re.sub(r"\\(mathrm|operatorname|text|mathbf|hat)", "", tex)
    tex = _COMMAND.sub(lambda m: "xxx" if m.group(0)[1:] in _WORD_MACROS else "x", tex)
    # binary operators and relations are set with space around them
    spaced = len(re.findall(r" [-+=] | \\(cdot|odot|oslash) ", tex))
    return len(re.sub(r"[{}^_\s]", "", tex)) + 2 * spaced


_WORD_MACROS = {"log", "exp", "tanh", "max", "min", "sin", "cos", "diag", "tr"}


def _top_level_terms(tex: str) -> list:
    """``tex`` cut before each + and - between terms of its outermost sum: ["a", "+ b", "- c"]."""
    terms, depth, start, i = [], 0, 0, 0
    while i < len(tex):
        if tex.startswith((r"\left", r"\begin"), i):
            depth += 1
        elif tex.startswith((r"\right", r"\end"), i):
            depth -= 1
        elif tex[i] == "{":
            depth += 1
        elif tex[i] == "}":
            depth -= 1
        elif depth == 0 and tex.startswith((" + ", " - "), i) and i > start:
            terms.append(tex[start:i].strip())
            start = i + 1
        i += 1
    terms.append(tex[start:].strip())
    return terms


def _broken_sum(e) -> list:
    """An equation too wide for the page, broken before the + and - of its sum (as many terms a line as fit)."""
    terms = _top_level_terms(e.rhs)
    lines, current = [], terms[0]
    for term in terms[1:]:
        if _visible_width((e.lhs if not lines else r"\quad") + current + " " + term) > MAX_LINE_WIDTH:
            lines.append(current)
            current = term
        else:
            current += " " + term
    lines.append(current)
    if len(lines) == 1:
        return [e]
    out = [Equation(e.lhs, e.rel, lines[0])]
    out += [Equation("", "", r"\quad " + part) for part in lines[1:-1]]
    return out + [Equation("", "", r"\quad " + lines[-1], e.note, e.tag, e.label)]


def _equation_chain(lhs: str, rel: str, parts: list, note: str = "") -> list:
    """lhs = part = part = ..., continued on the next lines when it would not fit."""
    one_line = " = ".join(parts)
    if len(parts) == 1 or _visible_width(lhs + one_line) <= MAX_LINE_WIDTH:
        return [Equation(lhs, rel, one_line, note=note)]
    rest = " = ".join(parts[1:])
    if _visible_width(rest) <= MAX_LINE_WIDTH:
        return [Equation(lhs, rel, parts[0]), Equation("", "=", rest, note=note)]
    lines = [Equation(lhs, rel, parts[0])]
    lines += [Equation("", "=", part) for part in parts[1:-1]]
    return lines + [Equation("", "=", parts[-1], note=note)]
