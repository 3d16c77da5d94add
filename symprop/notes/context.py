"""The shared context of the section builders: one derivation, one format, one worked example.

``Notes`` holds what every section reads - the derivation and its steps by
name, the LaTeX printer in the derivation's notation, the worked example's
values - and the helpers they share: names, partial derivatives, prose and
notes, aligned equation blocks, the numbers of the worked example (each
recorded with the engine value it came from, for the tests).
"""

from __future__ import annotations

import re
from typing import Optional

import numpy as np
import sympy as sp

from .. import algebra as alg

from .. import ops
from ..batch import EXAMPLE_SUFFIX
from ..errors import EvaluationError
from ..printing import LatexPrinter, latex_name
from ..printing import latex as latex_expr
from .options import LEARNING_RATE_SYMBOLS, NoteOptions
from .structure import numeric_value
from .view import (
    MAX_LINE_WIDTH,
    NOTE_GAP,
    Block,
    Equation,
    Math,
    WorkedNumber,
    _broken_sum,
    _Format,
    _visible_width,
    escape_latex,
    format_value,
    _substitution,
)

DEFAULT_LEARNING_RATE = 0.1
LONG_DERIVATIVE = 30  # characters: an activation's derivative longer than this is named f'(z) after it is written out
MOMENTUM = 0.9
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8


def first_step(theta, gradient, optimizer: str, learning_rate: float):
    """(theta after the optimizer's first step from zero state, [(state letter, its value)]).

    The worked example of the notes and the terminal of ``symprop derive --values`` both use it.
    """
    if optimizer == "sgd":
        return theta - learning_rate * gradient, []
    if optimizer == "momentum":
        # v = mu * 0 + g: the first step is plain gradient descent
        return theta - learning_rate * gradient, [("v", gradient)]
    # s-hat = g and r-hat = g * g at t = 1: each entry moves by about eta against its sign
    first, second = (1 - ADAM_BETA1) * gradient, (1 - ADAM_BETA2) * gradient * gradient
    new = theta - learning_rate * (first / (1 - ADAM_BETA1)) / (np.sqrt(second / (1 - ADAM_BETA2)) + ADAM_EPSILON)
    return new, [("s", first), ("r", second)]


class Notes:
    """What the sections of one derivation's notes share, for one output format."""

    def __init__(self, derivation, fmt: _Format, values=None, learning_rate=None, options: NoteOptions = NoteOptions()):
        self.options = options
        self.optimizer = options.optimizer
        self.d = derivation
        self.net = derivation.network
        self.param_set = frozenset(self.net.params)  # membership tests: a list scan per test is O(depth)
        self.fmt = fmt
        self.scalar = bool(self.net.is_scalar)
        self.steps = derivation.steps
        self.by_symbol = {s.symbol: s for s in self.steps if s.kind != "update"}
        self.by_name = {s.name: s for s in self.steps}
        self.nodes = {n.name: n for n in self.net.nodes}
        self.declared = {s.name: s for s in self.net.declared}
        self.derivative_names = frozenset(
            s.name for s in self.steps if s.kind in ("adjoint", "gradient") and not s.name.startswith("delta")
        ) | frozenset(
            s.batched_symbol.name
            for s in self.steps
            if s.kind in ("adjoint", "gradient") and isinstance(s.batched_symbol, sp.MatrixSymbol)
            and not s.batched_symbol.name.startswith("Delta")
        )
        self.lr = LEARNING_RATE_SYMBOLS[options.learning_rate_symbol]  # LaTeX of the learning rate
        self.printer_settings = dict(
            bracket_layers=options.layer_style or ("_l" if self.scalar else "[l]"),
            learning_rate=self.lr,
            params=tuple(p.name for p in self.net.params),
            derivative_names=self.derivative_names | {n + EXAMPLE_SUFFIX for n in self.derivative_names},
        )
        self.printer = LatexPrinter(self.printer_settings)
        self.abbreviations = self._long_derivatives()
        if self.abbreviations:
            self.printer_settings["abbreviations"] = self.abbreviations
            self.printer = LatexPrinter(self.printer_settings)
        # the variable of f(z) and f'(z) in general, unless the network has a node named z
        self.dummy = sp.Symbol("t" if "z" in self.nodes or "z" in self.declared else "z")
        self.numbers: list = []
        self.notes_made: set = set()
        self.values = None
        self.learning_rate = None
        if values is not None:
            self.learning_rate = DEFAULT_LEARNING_RATE if learning_rate is None else float(learning_rate)
            self.values = derivation.evaluate(values, learning_rate=self.learning_rate)
            self.given = given_values(derivation, values)
            self.numeric_namespace = self._namespace()

    def _long_derivatives(self) -> dict:
        """{f'(z) written out: (f', z)} for the activations whose derivative is too long to repeat.

        A custom activation's derivative (mish's runs over a line) is written out
        once, where the layer's error signal is derived; everywhere else - the
        later forms, the batch form, the worked example - it is f'(z^[l]).
        """
        from ..batch import NotBatchable, batcher_for, indexed

        batcher = batcher_for(self.net, self.steps)
        out = {}
        for s in self.steps:
            if s.kind != "adjoint" or s.role != "pre-activation" or s.local_derivative is None or len(s.contributions) != 1:
                continue
            node = self.nodes.get(s.contributions[0].consumer)
            rule = ops.activation_rule(node.activation) if node is not None and node.activation else None
            if not isinstance(rule, ops.ScalarFunction) or not rule.latex:
                continue
            if _visible_width(self.tex(s.local_derivative)) <= LONG_DERIVATIVE:
                continue
            name, z = rf"{rule.latex}'", self.nodes[s.of].symbol
            out[s.local_derivative] = (name, z)
            if self.scalar:
                out[indexed(s.local_derivative, batcher.per_example)] = (name, indexed(z, batcher.per_example))
            else:
                try:
                    out[batcher.columns(s.local_derivative)] = (name, batcher.symbol(z))
                except NotBatchable:
                    pass
        return out

    # -- printing helpers ------------------------------------------------------
    def tex(self, expr) -> str:
        return self.printer.doprint(expr)

    def name(self, name: str) -> str:
        return latex_name(name, self.printer_settings["bracket_layers"], self.derivative_names)

    def entry(self, name_tex: str, *indices) -> str:
        """Entry (i, j) of a matrix whose LaTeX is ``name_tex`` (1-based): W^{[1]}_{2,3}; (W_{out})_{2,3} for a subscripted name."""
        base = rf"\left({name_tex}\right)" if "_" in name_tex else name_tex
        return rf"{base}_{{{','.join(str(i) for i in indices)}}}"

    def interleaved(self) -> bool:
        """True if each step is followed at once by its numbers (option interleaved, with a worked example)."""
        return self.options.interleaved and self.values is not None and self.shows("worked")

    def shows(self, key: str) -> bool:
        """True if the options select the section ``key`` (whether or not it applies to this network)."""
        return (self.options.sections is None or key in self.options.sections) and key not in self.options.omit

    def layered(self, base: str, index: str) -> str:
        """``base`` with a symbolic layer index in the notes' layer style: W^{[l+1]}, W^{(l+1)} or W_{l+1}."""
        style = self.printer_settings["bracket_layers"]
        if style == "_l":
            return rf"{base}_{{{index}}}"
        return rf"{base}^{{[{index}]}}" if style == "[l]" else rf"{base}^{{({index})}}"

    def partial(self, top: str, bottom: str) -> str:
        """\\frac{\\partial a}{\\partial z} for the names ``top`` and ``bottom``."""
        return rf"\frac{{\partial {self.name(top)}}}{{\partial {self.name(bottom)}}}"

    def adjoint_of(self, name: str) -> str:
        """dL/d(name), whatever the adjoint is called (delta1 for z1)."""
        return rf"\frac{{\partial L}}{{\partial {self.name(name)}}}"

    def shape_tex(self, shape) -> str:
        if not shape:
            return r"\mathbb{R}"
        rows, cols = (_dim(shape[0]), _dim(shape[1]))
        if cols == "1":
            return rf"\mathbb{{R}}^{{{rows}}}"
        return rf"\mathbb{{R}}^{{{rows} \times {cols}}}"

    def value_shape_tex(self, sym) -> str:
        """The shape of a declared symbol or named value: an image's C x H x W, kernels' O x C x kh x kw."""
        dims = getattr(sym, "dims", None)
        if dims is not None:
            product = r" \times ".join(str(d) for d in dims)
            return rf"\mathbb{{R}}^{{{product}}}"
        return self.shape_tex(alg.shape_of(sym))

    def shape_words(self, shape) -> str:
        return f"{_dim(shape[0])} x {_dim(shape[1])}" if shape else "scalar"

    def shape_math(self, shape) -> str:
        return rf"{_dim(shape[0])} \times {_dim(shape[1])}" if shape else "1"

    def bracketed(self, expr) -> str:
        tex = self.tex(expr)
        return rf"\left({tex}\right)" if isinstance(expr, sp.Add) else tex

    def value(self, value, symbol=None) -> str:
        """A number or matrix of the worked example; in the .tex a matrix wider than the page is scaled to fit (\\symfit).

        ``symbol``: what the value is of; an image or a bank of kernels is written channel by channel."""
        tex = format_value(value, getattr(symbol, "dims", None))
        return rf"\symfit{{{tex}}}" if self.fmt.name == "tex" and r"\begin{bmatrix}" in tex else tex

    def cell(self, tex: str) -> str:
        return self.fmt.prose(Math(tex))

    def p(self, *parts) -> Block:
        return Block("text", text=self.fmt.prose(*parts))

    def note(self, *parts) -> Optional[Block]:
        """A one-line note; None if the same note was already made (W^T appears in several steps)."""
        text = self.fmt.prose(*parts)
        if text in self.notes_made:
            return None
        self.notes_made.add(text)
        return Block("note", text=text)

    def reason(self, text: str) -> str:
        """A form's reason as a math-mode annotation; substitutions cite the equation."""
        if text.startswith("substitute "):
            names = [n.strip() for n in text[len("substitute "):].split(",")]
            cited = [self.by_name[n] for n in names if n in self.by_name]
            if len(cited) == len(names):
                refs = r" \text{ and } ".join(rf"{self.tex(s.symbol)} \text{{ from ({s.number})}}" for s in cited)
                return rf"\text{{substituting }} {refs}"
        for a in self.d.assumptions:
            if a.text == text:
                return rf"\text{{since }} {self.tex(a.lhs)} = {self.tex(a.rhs)}"
        if self.scalar and text == "cancel entrywise":
            text = "cancel"  # there are no entries in a scalar network
        return rf"\text{{{escape_latex(text)}}}"

    def equations(self, lines) -> Block:
        """An aligned block; reasons in a column of their own unless a line is too long for that.

        The column of reasons is as wide as the widest reason on every line, so
        a long form would run into the margin: then each reason follows its
        own line, or goes below it.
        """
        def width(e):
            return _visible_width(e.lhs + e.rhs + e.note) + NOTE_GAP

        lines = [part for e in lines for part in (_broken_sum(e) if _visible_width(e.lhs + e.rhs) > MAX_LINE_WIDTH else [e])]
        if all(width(e) <= MAX_LINE_WIDTH for e in lines):
            return Block("equations", equations=tuple(lines))
        out = []
        for e in lines:
            if e.note and width(e) > MAX_LINE_WIDTH:
                out.append(Equation(e.lhs, e.rel, e.rhs))
                out.append(Equation("", "", "", note=e.note, tag=e.tag, label=e.label))
            else:
                out.append(e)
        return Block("equations", equations=tuple(out), inline_notes=True)

    def first_step(self, name: str):
        """(the parameter after the optimizer's first step, [(state name, its value)]) at the worked example."""
        theta = np.asarray(self.given[name], dtype=float)
        gradient = np.asarray(self.values[f"dL/d{name}"], dtype=float).reshape(theta.shape)
        return first_step(theta, gradient, self.optimizer, self.learning_rate)

    def loss_after_the_step(self) -> float:
        """The loss of a fresh forward pass at the parameters after the first step (not a first-order estimate)."""
        values = dict(self.given)
        for p in self.net.params:
            values[p.name] = self.first_step(p.name)[0].reshape(np.shape(self.given[p.name]))
        return float(np.asarray(self.d.evaluate(values)["L"], dtype=float).reshape(-1)[0])

    # -- numbers -------------------------------------------------------------------
    def _record(self, key, value):
        self.numbers.append(WorkedNumber(key, value, format_value(value)))

    def _namespace(self) -> dict:
        """Every symbol's value, in its declared shape (evaluate gives 1x1 values as floats)."""
        ns = dict(self.given)
        for s in self.steps:
            if s.key in self.values:
                value = self.values[s.key]
                if isinstance(s.symbol, sp.MatrixSymbol) and all(d.is_Integer for d in s.symbol.shape):
                    value = np.asarray(value, dtype=float).reshape(tuple(int(d) for d in s.symbol.shape))
                elif isinstance(s.symbol, sp.MatrixSymbol):  # n x m over a batch: the shape the values have
                    value = np.asarray(value, dtype=float).reshape(int(s.symbol.shape[0]), -1)
                ns[s.name] = value
        ns["eta"] = self.learning_rate
        # NumPy scalars, not Python floats: 1/0 is inf (under errstate), never a ZeroDivisionError
        return {name: np.float64(v) if isinstance(v, (int, float)) else v for name, v in ns.items()}

    def evaluate_expr(self, expr):
        """The value of an expression of the derivation's symbols at the worked example."""
        return numeric_value(expr, self.numeric_namespace)

    def with_numbers(self, expr) -> str:
        """``expr`` printed with the worked example's numbers in place of its symbols."""
        substitutions = {}
        for sym in expr.free_symbols:
            if isinstance(sym, sp.Symbol) and sym.name in self.numeric_namespace:
                value = self.numeric_namespace[sym.name]
                if _is_scalar_value(value):
                    substitutions[sym.name] = _substitution(float(np.asarray(value).reshape(-1)[0]))
        printer = LatexPrinter(dict(self.printer_settings, values=substitutions))
        # a bracketed negative number as a function's argument: sigma((-0.67)) -> sigma(-0.67)
        return _DOUBLE_BRACKETS.sub(r"\\left(\1\\right)", printer.doprint(expr))


class SectionBuilder:
    """One section of the notes (or a run of consecutive sections), built from the shared ``Notes``.

    A builder reads the context's attributes and helpers as its own
    (``self.tex``, ``self.values``, ``self.equations``), so its methods read
    like those of one class; its state is its own.  ``key`` is the name that
    selects or switches off the section and picks its template block
    (templates/sections/<name>.<tex|md>.j2 when the section has a layout of its
    own, templates/section.<tex|md>.j2 otherwise).
    """

    key = ""
    after_the_rest = False  # True: built last, from the other sections (summarize), but placed where it stands

    def __init__(self, notes: Notes):
        self.notes = notes

    def __getattr__(self, attribute):
        if attribute == "notes":  # not set yet: no recursion
            raise AttributeError(attribute)
        return getattr(self.notes, attribute)

    def build(self) -> list:
        """The sections (view-model ``Section``s) this builder contributes; [] when it does not apply."""
        raise NotImplementedError


_DOUBLE_BRACKETS = re.compile(r"\\left\(\\left\((-[^()]*?)\\right\)\\right\)")


# ==========================================================================
# Small helpers
# ==========================================================================


def _dim(d) -> str:
    """A dimension as the notes write it: 4, or m for the size of a batch."""
    return str(int(d)) if d.is_Integer else latex_expr(d)


def _join_math(items: list) -> list:
    """[a, b, c] -> [a, ", ", b, " and ", c] for prose()."""
    out = []
    for i, item in enumerate(items):
        if i:
            out.append(" and " if i == len(items) - 1 else ", ")
        out.append(item)
    return out


def _prime(rule, argument: str) -> str:
    """f'(z) in the rule's own notation: \\sigma'(z), \\operatorname{ReLU}'(z)."""
    return rf"{rule.latex}'\left({argument}\right)"


def _is_scalar_value(value) -> bool:
    return np.asarray(value).size == 1


def _symbol_like(declared: dict, nodes: dict, name: str):
    if name in declared:
        return declared[name]
    return nodes[name].symbol


def _transposed_parameters(expr, params) -> list:
    """The parameter matrices that appear transposed in ``expr`` (sorted by name)."""
    found = {t.arg for t in expr.atoms(sp.Transpose) if t.arg in params and isinstance(t.arg, sp.MatrixSymbol)}
    found = {a for a in found if a.shape[0] != 1 or a.shape[1] != 1}
    return sorted(found, key=lambda a: a.name)


def _outer_product_factors(expr):
    """(column, row) if ``expr`` is a column times a row, else None."""
    if isinstance(expr, sp.MatMul) and len(expr.args) == 2:
        column, row = expr.args
        if isinstance(column, sp.MatrixExpr) and isinstance(row, sp.MatrixExpr) and column.shape[1] == 1 and row.shape[0] == 1:
            return column, row
    return None


def given_values(derivation, values: dict) -> dict:
    """The declared values as floats or arrays of their declared shapes (validated by numeric)."""
    from ..numeric import _as_array, _lookup

    out = {}
    for sym in derivation.network.declared:
        try:
            out[sym.name] = _as_array(sym.name, _lookup(values, sym), sym)
        except KeyError:
            raise EvaluationError(f"no value given for {sym.name}") from None
    return out
