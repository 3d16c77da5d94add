"""Printers: SymPy's own printers, subclassed (``_print_<ClassName>`` dispatch).

* ``LatexPrinter`` - textbook notation: W^{[l]}, \\delta^{[l]}, \\odot, ^{\\top},
  \\hat{y}, \\mathbf{1}; transposes of sums stay as written.
* ``NumPyPrinter`` - NumPy code in the mathematical layout (columns are
  examples): used by ``Derivation.evaluate``; the batch-first printer of the
  generated modules extends it.
* ``TextPrinter`` - one-line Unicode for the terminal (``symprop derive``).

Symbol names reach this module already validated as identifiers (see
network.py), so they are safe in code; their LaTeX is built from their parts.
"""

from __future__ import annotations

import functools
import re

import numpy as np

import sympy as sp
from sympy.printing.latex import LatexPrinter as _SympyLatexPrinter
from sympy.printing.latex import translate as _latex_translate
from sympy.printing.numpy import NumPyPrinter as _SympyNumPyPrinter
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.str import StrPrinter as _SympyStrPrinter
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from . import algebra as alg
from . import ops
from .algebra import T

_TRAILING_DIGITS = re.compile(r"^(.*?)(\d+)$")


class _Hole(sp.Symbol):
    """Where an entrywise function's argument goes while the function's body is printed.

    It prints as the argument itself, and binds like it: SymPy's printers
    bracket it by its ``precedence``, so exp(-z^2) of W x + b prints as
    e^{-(W x + b)^2}, never e^{-W x + b^2}.
    """

    precedence = PRECEDENCE["Atom"]  # a symbol: never bracketed


class _CompoundHole(_Hole):
    precedence = PRECEDENCE["Add"]  # a sum or product of matrices: bracketed inside any tighter operation


_HOLE = _Hole("_hole")
_COMPOUND_HOLE = _CompoundHole("_compound_hole")


def _hole_for(arg):
    """The hole that binds like ``arg``: a plain symbol (or its transpose), or anything compound."""
    plain = isinstance(arg, (sp.Symbol, sp.MatrixSymbol, sp.Indexed)) or (
        isinstance(arg, sp.Transpose) and isinstance(arg.arg, sp.MatrixSymbol)
    )
    return _HOLE if plain else _COMPOUND_HOLE


# ==========================================================================
# Names
# ==========================================================================


_ACCENTS = ("hat", "tilde", "bar")


@functools.lru_cache(maxsize=65536)  # every equation prints the same few hundred names again
def _latex_base(base: str) -> str:
    """LaTeX of a name without its layer index: greek letters, \\hat, \\mathrm.

    ``_`` separates subscripts (W_out -> W_{\\mathrm{out}}, a_b_c -> a_{b,c}):
    several parts share one subscript, so no name can make a double subscript.
    """
    if base == "":
        return ""
    head, *subs = base.split("_")
    accent = next((a for a in _ACCENTS if head.endswith(a) and len(head) > len(a)), None)
    if head == "var":
        head_tex = r"\sigma^{2}"  # the variance of batch/layer norm, as the notes write it
    elif accent is not None:
        inner = head[: -len(accent)]
        inner_tex = _latex_translate(inner) if _latex_translate(inner) != inner else inner
        if len(inner) == 1 or inner_tex != inner:
            head_tex = rf"\{accent}{{{inner_tex}}}"  # yhat, Zhat, Ztilde: \hat{y}, \hat{Z}, \tilde{Z}
        else:
            head_tex = rf"\mathrm{{{head}}}"
    elif head == "delta":
        head_tex = r"\delta"
    elif head == "Delta":
        head_tex = r"\Delta"
    else:
        translated = _latex_translate(head)
        if translated != head:
            head_tex = translated
        elif len(head) == 1:
            head_tex = head
        else:
            head_tex = rf"\mathrm{{{head}}}"
    parts = [s if len(s) == 1 or s.isdigit() else rf"\mathrm{{{s}}}" for s in subs if s]
    if parts:
        head_tex += "_{" + ",".join(parts) + "}"
    if base.endswith("_"):  # x_ must not print as x
        head_tex += r"\_"
    return head_tex


def is_derivative_name(name: str, derivative_names=None) -> bool:
    """True for the names derive gives adjoints and gradients (dW1, dyhat; not delta1).

    With ``derivative_names`` (the names a derivation actually made), a user's
    own name such as ``decay`` is never mistaken for d(ecay).
    """
    if derivative_names is not None:
        return name in derivative_names
    return name.startswith("d") and len(name) > 1 and not name.startswith("delta") and name[1:2] != "_"


LAYER_STYLES = ("[l]", "(l)", "_l")  # W^{[1]}, W^{(1)}, W_{1}


def latex_name(name: str, bracket_layers=True, derivative_names=None) -> str:
    """LaTeX of an identifier: W1 -> W^{[1]} (matrix nets) or w_{1} (scalar nets).

    ``bracket_layers``: True (W^{[1]}), False (w_{1}) or a layer style of
    LAYER_STYLES.  ``dX`` is dL/dX; a ``__i`` suffix marks example i of a batch
    (x^{(i)}, a^{[1](i)}; with the (l) style, a^{(1)\\langle i\\rangle}).
    """
    style = bracket_layers if isinstance(bracket_layers, str) else ("[l]" if bracket_layers else "_l")
    example = name.endswith("__i")
    example_mark = r"\langle i\rangle" if style == "(l)" else "(i)"
    core = name[:-3] if example else name
    if is_derivative_name(core, derivative_names):
        inner = latex_name(core[1:] + ("__i" if example else ""), bracket_layers, derivative_names)
        return rf"\frac{{\partial L}}{{\partial {inner}}}"
    match = _TRAILING_DIGITS.match(core)
    if match and match.group(1) and not match.group(1).endswith("_"):
        base, index = match.groups()
        base_tex = _latex_base(base)
        if style != "_l":
            layer = (f"[{index}]" if style == "[l]" else f"({index})") + (example_mark if example else "")
            if base_tex.endswith("}") and "^{" in base_tex and base_tex.rindex("^{") > base_tex.rfind("_{"):
                # a name with a superscript of its own (sigma^2): one superscript, sigma^{2 [1]}
                head, _, sup = base_tex.rpartition("^{")
                return rf"{head}^{{{sup[:-1]}\,{layer}}}"
            return rf"{base_tex}^{{{layer}}}"
        tex = rf"{base_tex}_{{{index}}}"
    else:
        tex = _latex_base(core)
    return tex + "^{" + example_mark + "}" if example else tex


# ==========================================================================
# LaTeX
# ==========================================================================


def _is_negative_term(term) -> bool:
    c, _ = alg.coefficient_split(term) if alg.is_matrix(term) else term.as_coeff_Mul()
    return bool(c.is_number and c.is_negative)


def ordered_terms(expr) -> list:
    """Terms of a scalar sum as a textbook writes them: w x + b, a - y (negatives last)."""
    return sorted(expr.as_ordered_terms(order="grlex"), key=_is_negative_term)


# Textbook order of the factors of a scalar product: numbers, the learning
# rate, adjoints (delta, dL/d.), parameters, other symbols, function
# applications, other compound factors, then log and exp: "2 (a - y)",
# "eta dL/dw", "delta2 w2 a1 (1 - a1)", "w x", "sigma(z) (1 - sigma(z))",
# "(1 - y) log(1 - yhat)".
_RANK_NUMBER, _RANK_ETA, _RANK_ADJOINT, _RANK_PARAM, _RANK_SYMBOL, _RANK_FUNCTION, _RANK_COMPOUND = range(7)


class LatexPrinter(_SympyLatexPrinter):
    """Textbook notation for derivations.

    Settings beyond SymPy's:

    * ``bracket_layers`` - W^{[1]} (matrix nets) or w_{1} (scalar nets);
    * ``params`` - parameter names, written before other symbols in products (w x);
    * ``derivative_names`` - the adjoint/gradient names of the derivation;
    * ``values`` - name -> LaTeX of a number, to print an expression with the
      numbers of a worked example in place of the symbols (3 \\cdot 2 + 1).
    """

    _default_settings = dict(
        _SympyLatexPrinter._default_settings,
        bracket_layers=True,
        mul_symbol=None,
        parenthesize_super=True,  # (\hat{y}^{[2]})^{2}, not {\hat{y}^{[2]}}^{2}
        params=(),
        derivative_names=None,
        values=None,
        learning_rate=r"\eta",
        abbreviations=None,
    )

    def __init__(self, settings=None):
        super().__init__(settings)
        self._bracket = self._settings["bracket_layers"]
        self._params = frozenset(self._settings["params"])
        names = self._settings["derivative_names"]
        self._derivative_names = None if names is None else frozenset(names)
        self._values = self._settings["values"] or {}

    def _as_ordered_terms(self, expr, order=None):
        return ordered_terms(expr) if isinstance(expr, sp.Add) else super()._as_ordered_terms(expr, order)

    def _print(self, expr, **kwargs):
        # ``abbreviations``: {expression: (name, argument)} - a long expression named once in the notes
        # (mish'(z) written out) prints as its name applied to its argument, name(argument)
        abbreviated = self._settings["abbreviations"].get(expr) if self._settings["abbreviations"] else None
        if abbreviated is not None:
            name, argument = abbreviated
            return rf"{name}\left({self._print(argument)}\right)"
        return super()._print(expr, **kwargs)

    def _name(self, name):
        if name in self._values:
            return self._values[name]
        if name == "eta":
            return self._settings["learning_rate"]  # \eta, or \alpha in a course that writes it so
        return latex_name(name, self._bracket, self._derivative_names)

    # leaves -------------------------------------------------------------
    def _print_Symbol(self, expr, style="plain"):
        if isinstance(expr, _Hole):
            return self._hole_text
        if expr.name.startswith("_"):
            return super()._print_Symbol(expr)
        return self._name(expr.name)

    def _print_MatrixSymbol(self, expr):
        return self._name(expr.name)

    def _print_Indexed(self, expr):
        # x[i] of a scalar network's batch: example i, x^{(i)}
        label = expr.base.label
        if isinstance(label, sp.Symbol) and len(expr.indices) == 1 and expr.indices[0].name == "i":
            return latex_name(label.name + "__i", self._bracket, self._derivative_names)
        return rf"{self._print(label)}^{{({','.join(map(self._print, expr.indices))})}}"

    def _print_OneMatrix(self, expr):
        rows, cols = expr.shape
        if rows == 1 and cols == 1:
            return "1"
        length = cols if rows == 1 else rows
        ones = r"\mathbf{1}" if length.is_Integer else rf"\mathbf{{1}}_{{{self._print(length)}}}"
        return ones + r"^{\top}" if rows == 1 else ones

    def _print_ZeroMatrix(self, expr):
        return r"\mathbf{0}"

    def _print_Identity(self, expr):
        return r"I"

    # products -----------------------------------------------------------
    def _factor_rank(self, f) -> int:
        if f.is_number:
            return _RANK_NUMBER
        base = f.base if isinstance(f, sp.Pow) and f.exp.is_positive else f
        if isinstance(base, sp.Indexed):
            base = base.base.label
        if isinstance(base, sp.Symbol):
            name = base.name
            if name == "eta":
                return _RANK_ETA
            if name.startswith(("delta", "Delta")) or is_derivative_name(name, self._derivative_names):
                return _RANK_ADJOINT
            return _RANK_PARAM if name in self._params else _RANK_SYMBOL
        if isinstance(base, (sp.log, sp.exp)) or _is_indicator(base):
            # written last, like an operator: (1 - y) log(1 - yhat), and 2 (a - y) 1[z > 0]
            # (2 1[z > 0] reads as twenty-one)
            return _RANK_COMPOUND + 1
        if isinstance(base, sp.Function):
            return _RANK_FUNCTION  # sigma(z) (1 - sigma(z))
        return _RANK_COMPOUND

    def _ordered_factors(self, expr) -> list:
        factors = expr.as_ordered_factors() if isinstance(expr, sp.Mul) else [expr]
        return sorted(factors, key=self._factor_rank)  # stable: SymPy's order within a rank

    def _join_factors(self, factors) -> str:
        separator = r" \cdot " if self._values else " "
        if len(factors) == 1:
            return self._print(factors[0])
        out = []
        for i, f in enumerate(factors):
            tex = self._print(f)
            if self._needs_mul_brackets(f, first=(i == 0), last=(i == len(factors) - 1)) or (
                self._values and tex.startswith("-") and i > 0
            ):
                tex = rf"\left({tex}\right)"
            out.append(tex)
        return separator.join(out)

    def _print_Mul(self, expr):
        from sympy.simplify import fraction

        if expr.could_extract_minus_sign():
            inner = self._print_Mul(-expr) if isinstance(-expr, sp.Mul) else self._print(-expr)
            if precedence(-expr) < PRECEDENCE["Mul"]:  # a sum, or a hole holding one
                inner = rf"\left({inner}\right)"
            return "- " + inner
        numer, denom = fraction(expr, exact=True)
        if denom == 1:
            return self._join_factors(self._ordered_factors(expr))
        numer_factors = self._ordered_factors(numer) if numer != 1 else []
        if denom.is_Symbol or denom.is_Integer:
            # the batch mean 1/m (and 1/2, 1/n): \frac{1}{m} written in front
            if any(isinstance(f, sp.Sum) for f in numer_factors) or (denom.is_Symbol and denom.name == "m"):
                body = self._join_factors(numer_factors) if numer_factors else "1"
                return rf"\frac{{1}}{{{self._print(denom)}}} {body}" if numer_factors else rf"\frac{{1}}{{{self._print(denom)}}}"
        numer_tex = self._join_factors(numer_factors) if numer_factors else "1"
        denom_tex = self._join_factors(self._ordered_factors(denom))
        return rf"\frac{{{numer_tex}}}{{{denom_tex}}}"

    def _factor(self, arg, parent):
        """``arg`` printed as an operand of the matrix product or Hadamard product ``parent``."""
        tex = self._print(arg)
        if self._settings["abbreviations"] and arg in self._settings["abbreviations"]:
            return tex  # f'(z): a name applied to an argument needs no brackets
        if isinstance(arg, (sp.MatAdd, sp.Add)) or _is_compound_application(arg):
            return rf"\left({tex}\right)"
        if isinstance(parent, sp.HadamardProduct):
            # (W^T delta) \odot f'(z): a matrix product inside a Hadamard product is bracketed
            if isinstance(arg, sp.MatMul) and (len(arg.args) > 1) or _is_hadamard_division(arg):
                return rf"\left({tex}\right)"
        elif isinstance(arg, (sp.HadamardProduct, sp.HadamardPower)) or (
            isinstance(arg, sp.MatMul) and alg.coefficient_split(arg)[0] != 1
        ):
            return rf"\left({tex}\right)"
        return tex

    def _print_MatMul(self, expr):
        c, rest = alg.coefficient_split(expr)
        factors = rest.args if isinstance(rest, sp.MatMul) else (rest,)
        if len(factors) == 1:
            # c A: only a sum needs brackets (2 (a - y), -y \oslash \hat{y})
            body = self._print(rest)
            if isinstance(rest, sp.MatAdd):
                body = rf"\left({body}\right)"
        elif _ones_times_scalar(factors):
            # 1 (1^T y), not 1 1^T y (which reads as eleven): the sum bracketed
            ones, rest = _ones_times_scalar(factors)
            body = self._print(ones) + r" \left(" + " ".join(self._factor(f, expr) for f in rest) + r"\right)"
        else:
            body = " ".join(self._factor(f, expr) for f in factors)
        return self._with_coefficient(c, body)

    def _with_coefficient(self, c, body):
        if c == 1:
            return body
        if c == -1:
            return "-" + body
        if c.could_extract_minus_sign():
            return "-" + self._with_coefficient(-c, body)
        if c.is_Rational and c.q != 1:
            return rf"\frac{{{c.p}}}{{{c.q}}} {body}"
        tex = self._print(c)
        if isinstance(c, sp.Add):
            tex = rf"\left({tex}\right)"
        return rf"{tex} {body}"

    def _print_HadamardProduct(self, expr):
        numerators = [a for a in expr.args if not _is_reciprocal(a)]
        denominators = [a.base for a in expr.args if _is_reciprocal(a)]
        parent = sp.HadamardProduct(*expr.args) if len(expr.args) > 1 else expr
        if not denominators:
            return r" \odot ".join(self._factor(a, parent) for a in numerators)
        # y \oslash \hat{y}: entrywise division, as written by hand
        if len(numerators) == 0:
            top = r"\mathbf{1}"
        elif len(numerators) == 1:
            top = self._division_operand(numerators[0])
        else:
            top = r"\left(" + r" \odot ".join(self._factor(a, parent) for a in numerators) + r"\right)"
        bottom = [self._division_operand(d) for d in denominators]
        if len(bottom) > 1:
            bottom = [r"\left(" + r" \odot ".join(bottom) + r"\right)"]
        return rf"{top} \oslash {bottom[0]}"

    def _division_operand(self, arg):
        tex = self._print(arg)
        if isinstance(arg, (sp.MatAdd, sp.MatMul, sp.HadamardProduct)):
            return rf"\left({tex}\right)"
        return tex

    def _print_HadamardPower(self, expr):
        if abs(expr.exp) == sp.Rational(1, 2):  # entrywise square root, as written by hand
            root = rf"\sqrt{{{self._print(expr.base)}}}"
            return root if expr.exp > 0 else rf"\mathbf{{1}} \oslash {root}"
        base = self._print(expr.base)
        if isinstance(expr.base, (sp.MatAdd, sp.MatMul, sp.HadamardProduct)):
            base = rf"\left({base}\right)"
        if expr.exp == -1:
            return rf"\mathbf{{1}} \oslash {base}"
        if expr.exp.is_Integer and 2 <= expr.exp <= 3:
            return r" \odot ".join([base] * int(expr.exp))  # a \odot a, as the textbook writes it
        if "^" in base and not base.startswith(r"\left("):
            base = rf"\left({base}\right)"
        return rf"{base}^{{\circ {self._print(expr.exp)}}}"

    def _print_Transpose(self, expr):
        arg = expr.arg
        inner = self._print(arg)
        if isinstance(arg, sp.OneMatrix):
            return inner + r"^{\top}" if arg.shape[0] != 1 else inner[: -len(r"^{\top}")]
        simple = isinstance(arg, sp.MatrixSymbol) and "^" not in inner and r"\frac" not in inner
        if not simple:
            # (W^{[2]})^T, (a^{[1]})^T, (dL/dyhat)^T read unambiguously
            inner = rf"\left({inner}\right)"
        return rf"{inner}^{{\top}}"

    def _print_MatAdd(self, expr):
        terms = sorted(expr.args, key=_is_negative_term)  # positive terms first: yhat - y
        out = ""
        for i, term in enumerate(terms):
            c, rest = alg.coefficient_split(term)
            # a number added to every entry (sigma^2 + epsilon) is written as the number
            tex = self._print(c) if isinstance(rest, sp.OneMatrix) and c.free_symbols else self._print(term)
            if i == 0:
                out = tex
            elif tex.startswith("-"):
                out += " - " + tex[1:].lstrip()
            else:
                out += " + " + tex
        return out

    def _print_ElementwiseApplyFunction(self, expr):
        body = alg.applied_function(expr)
        arg_tex = self._print(expr.expr)
        if isinstance(body, ops.ScalarFunctionBase) and body.args == (T,):
            return body.rule.latex_call(arg_tex)
        # Any other scalar function: print f(hole), the hole printing as the argument.
        return _print_with_hole(self, body, expr.expr, arg_tex)

    def _needs_add_brackets(self, expr) -> bool:
        # 1 - (W x + b): a hole holding a sum is bracketed as a term of a sum
        return isinstance(expr, _CompoundHole) or super()._needs_add_brackets(expr)

    def _helper_print_standard_power(self, expr, template: str) -> str:
        # a^{(i)} or \hat{y}^{[2]} squared is (a^{(i)})^{2}: never a double superscript
        tex = super()._helper_print_standard_power(expr, template)
        base = self.parenthesize(expr.base, PRECEDENCE["Pow"])
        if "^" in base and not base.startswith(r"\left(") and tex.startswith(base + "^"):
            tex = rf"\left({base}\right)" + tex[len(base):]
        return tex

    def _print_Trace(self, expr):
        return rf"\operatorname{{tr}}\left({self._print(expr.arg)}\right)"


def _is_indicator(e) -> bool:
    """1[z > 0], the derivative of ReLU."""
    return isinstance(e, ops.ScalarFunctionBase) and e.rule is ops.step


def _ones_times_scalar(factors):
    """(the ones column, the factors after it) if ``factors`` are 1 1^T v: a column of ones times the sum 1^T v.

    Printed 1 (1^T v): 1 1^T v reads as eleven.  The order stays, so the
    formula parser reads it as the product it is.
    """
    if len(factors) > 2 and isinstance(factors[0], sp.OneMatrix) and factors[0].shape[1] == 1:
        rest = factors[1:]
        if isinstance(rest[0], sp.OneMatrix) and rest[0].shape[0] == 1 and rest[-1].shape[1] == 1:
            return factors[0], rest
    return None


def _is_compound_application(arg) -> bool:
    """f applied entrywise where f is a sum or product (2 z, z (1 - z)): bracketed as a factor."""
    return isinstance(arg, sp.matrices.expressions.applyfunc.ElementwiseApplyFunction) and isinstance(
        alg.applied_function(arg), (sp.Add, sp.Mul)
    )


def _print_with_hole(printer, body, arg, arg_text: str) -> str:
    """``body`` (a function of T) printed with ``arg``, already printed as ``arg_text``, in place of T."""
    saved = getattr(printer, "_hole_text", None)
    printer._hole_text = arg_text
    try:
        return printer._print(body.xreplace({T: _hole_for(arg)}))
    finally:
        printer._hole_text = saved


class _StockHole(_Hole):
    """The hole for SymPy's own printers, which print it by name: replaced by the argument after printing."""


_STOCK_HOLE = _StockHole("symprophole")


def print_entrywise(printer, expr) -> str:
    """f applied entrywise, as ``printer`` writes it: 1[z1 > 0] rather than SymPy's Lambda(_t, 1[_t > 0]).(z1)."""
    if isinstance(printer, (LatexPrinter, TextPrinter)):
        return printer._print_ElementwiseApplyFunction(expr)
    body = alg.applied_function(expr)
    arg_text = printer._print(expr.expr)
    latex_style = isinstance(printer, _SympyLatexPrinter)
    if isinstance(body, ops.ScalarFunctionBase) and body.args == (T,):
        return body.rule.latex_call(arg_text) if latex_style else body.rule.text_call(arg_text)
    # SymPy's printers do not bracket a negated hole (1 - W z + z): a compound argument comes bracketed,
    # except as the only argument of a function, exp(W z + b)
    if _hole_for(expr.expr) is _COMPOUND_HOLE and not (isinstance(body, sp.Function) and body.args == (T,)):
        arg_text = rf"\left({arg_text}\right)" if latex_style else f"({arg_text})"
    return printer._print(body.xreplace({T: _STOCK_HOLE})).replace(_STOCK_HOLE.name, arg_text)


def _is_reciprocal(arg) -> bool:
    return isinstance(arg, sp.HadamardPower) and arg.exp == -1


def _is_hadamard_division(arg) -> bool:
    return isinstance(arg, sp.HadamardProduct) and any(_is_reciprocal(a) for a in arg.args)


def latex(expr, **settings) -> str:
    """``expr`` in textbook LaTeX (see ``LatexPrinter`` for the settings)."""
    return LatexPrinter(settings).doprint(expr)


# ==========================================================================
# Terminal text
# ==========================================================================


class TextPrinter(_SympyStrPrinter):
    """Compact Unicode: δ1 = (W2ᵀ δ2) ⊙ a1 ⊙ (1 - a1)."""

    def _as_ordered_terms(self, expr, order=None):
        return ordered_terms(expr) if isinstance(expr, sp.Add) else super()._as_ordered_terms(expr, order)

    def _print_MatrixSymbol(self, expr):
        return _text_name(expr.name)

    def _print_Transpose(self, expr):
        inner = self._print(expr.arg)
        if not isinstance(expr.arg, sp.MatrixSymbol):
            inner = f"({inner})"
        return inner + "ᵀ"

    def _print_OneMatrix(self, expr):
        return "𝟏"

    def _print_ZeroMatrix(self, expr):
        return "0"

    def _factor(self, arg, in_hadamard=False):
        text = self._print(arg)
        grouped = isinstance(arg, (sp.MatAdd, sp.Add)) or _is_compound_application(arg) or (
            isinstance(arg, sp.MatMul) and (in_hadamard or alg.coefficient_split(arg)[0] != 1)
        )
        if in_hadamard and isinstance(arg, sp.HadamardPower) and arg.exp != 2:
            grouped = True
        if not in_hadamard and isinstance(arg, (sp.HadamardProduct, sp.HadamardPower)):
            grouped = True
        return f"({text})" if grouped else text

    def _print_MatMul(self, expr):
        c, rest = alg.coefficient_split(expr)
        factors = rest.args if isinstance(rest, sp.MatMul) else (rest,)
        if len(factors) == 1 and isinstance(factors[0], (sp.HadamardProduct, sp.HadamardPower)):
            body = self._print(factors[0])  # -y ⊘ ŷ: one factor needs no parentheses
        elif _ones_times_scalar(factors):
            ones, rest = _ones_times_scalar(factors)
            body = self._print(ones) + " (" + " ".join(self._factor(f) for f in rest) + ")"  # 𝟏 (𝟏ᵀ y)
        else:
            body = " ".join(self._factor(f) for f in factors)
        if c == 1:
            return body
        if c == -1:
            return "-" + body
        return f"{self._print(c)}·{body}"

    def _print_HadamardProduct(self, expr):
        # y ⊙ ŷ^∘-1 reads as the division y ⊘ ŷ
        numerator = [a for a in expr.args if not (isinstance(a, sp.HadamardPower) and a.exp == -1)]
        denominator = [a.base for a in expr.args if isinstance(a, sp.HadamardPower) and a.exp == -1]
        text_ = " ⊙ ".join(self._factor(a, in_hadamard=True) for a in numerator) if numerator else "𝟏"
        if denominator:
            den = " ⊙ ".join(self._factor(a, in_hadamard=True) for a in denominator)
            text_ = f"{text_} ⊘ {den if len(denominator) == 1 else '(' + den + ')'}"
        return text_

    def _print_HadamardPower(self, expr):
        if expr.exp == -1:
            return f"𝟏 ⊘ {self._factor(expr.base, in_hadamard=True)}"
        if expr.exp == 2:  # a ⊙ a, as the notes write the tanh derivative
            base = self._factor(expr.base, in_hadamard=True)
            return f"{base} ⊙ {base}"
        return f"{self._factor(expr.base, in_hadamard=True)}^∘{self._print(expr.exp)}"

    def _print_MatAdd(self, expr):
        terms = sorted(expr.args, key=_is_negative_term)
        out = ""
        for i, term in enumerate(terms):
            text = self._print(term)
            if i == 0:
                out = text
            elif text.startswith("-"):
                out += " - " + text[1:]
            else:
                out += " + " + text
        return out

    def _print_ElementwiseApplyFunction(self, expr):
        body = alg.applied_function(expr)
        if isinstance(body, ops.ScalarFunctionBase) and body.args == (T,):
            return body.rule.text_call(self._print(expr.expr))
        return _print_with_hole(self, body, expr.expr, self._print(expr.expr))

    def _print_Symbol(self, expr):
        return self._hole_text if isinstance(expr, _Hole) else _text_name(expr.name)

    def _print_Mul(self, expr):
        # the learning rate leads, as in w - η ∂L/∂w
        eta = sp.Symbol("eta")
        if eta in expr.args:
            rest = expr / eta
            sign = "-" if rest.could_extract_minus_sign() else ""
            rest = -rest if sign else rest
            return f"{sign}η" if rest == 1 else f"{sign}η·{self._print(rest)}"
        return super()._print_Mul(expr)


def _text_name(name: str) -> str:
    if name == "eta":
        return "η"
    if name.startswith("delta"):
        return "δ" + name[5:]
    if name.startswith("Delta"):
        return "Δ" + name[5:]
    if name.startswith("yhat"):
        return "ŷ" + name[4:]
    if name.startswith("Yhat"):
        return "Ŷ" + name[4:]
    if name.startswith("d") and len(name) > 1 and name[1] != "_" and not name.startswith("delta"):
        return f"∂L/∂{_text_name(name[1:])}"
    match = _TRAILING_DIGITS.match(name)
    head, digits = (match.group(1), match.group(2)) if match and not match.group(1).endswith("_") else (name, "")
    if head in _GREEK_TEXT:
        return _GREEK_TEXT[head] + digits
    for accent, mark in (("hat", "\u0302"), ("tilde", "\u0303"), ("bar", "\u0304")):
        if head.endswith(accent) and len(head) == len(accent) + 1:
            return head[0] + mark + digits  # Ẑ1, Z̃1
    return name


# Greek names as the terminal and code comments write them
_GREEK_TEXT = {"mu": "μ", "sigma": "σ", "var": "σ²", "gamma": "γ", "beta": "β", "epsilon": "ε", "alpha": "α", "lambda_": "λ"}


def text(expr) -> str:
    """One line of terminal text (an explicit matrix would print over several)."""
    return " ".join(TextPrinter().doprint(expr).split("\n"))


# ==========================================================================
# NumPy
# ==========================================================================


class NumPyPrinter(_SympyNumPyPrinter):
    """NumPy code for symprop expressions in the mathematical layout.

    Every symprop op prints as a call of its helper (``sigmoid(z1)``), whose
    source ``helper_sources`` collects; numbers print as floats.
    """

    _default_settings = dict(_SympyNumPyPrinter._default_settings, fully_qualified_modules=True)

    def __init__(self, settings=None, producers=None):
        super().__init__(settings)
        self.helpers_used: set = set()
        self.producers = dict(producers or {})  # {node symbol: definition}: losses fused with their activation
        self._broadcasting = False  # inside an entrywise operation whose shape a full operand fixes

    def _module_format(self, fqn, register=True):
        text_ = super()._module_format(fqn, register)
        return "np." + text_[len("numpy.") :] if text_.startswith("numpy.") else text_

    # leaves -----------------------------------------------------------
    def _print_Symbol(self, expr):
        return expr.name

    def _print_MatrixSymbol(self, expr):
        return expr.name

    def _print_Rational(self, expr):
        return repr(float(expr))

    def _print_Pow(self, expr, rational=False):
        if expr.exp == -1 and expr.base.is_Symbol:
            return f"(1 / {self._print(expr.base)})"  # 1/m
        return super()._print_Pow(expr, rational)

    def _print_Integer(self, expr):
        return str(int(expr))

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_OneMatrix(self, expr):
        if self._broadcasting:
            return "1.0"  # 1 - a: a number broadcast against the other operand keeps its dtype
        return f"np.ones(({self._print(expr.shape[0])}, {self._print(expr.shape[1])}))"

    def _print_ZeroMatrix(self, expr):
        return f"np.zeros(({self._print(expr.shape[0])}, {self._print(expr.shape[1])}))"

    def _print_Identity(self, expr):
        return f"np.eye({self._print(expr.shape[0])})"

    # structure --------------------------------------------------------
    def _wrap(self, expr):
        text_ = self._print(expr)
        if isinstance(expr, (sp.Symbol, sp.MatrixSymbol, sp.Integer)) and not text_.startswith("-"):
            return text_
        return f"({text_})"

    # Products with ones vectors are the reductions and broadcasts of
    # ops/reductions.py: X 1 is a sum over the columns, 1^T X over the rows,
    # v 1^T repeats a column.  Written with negative axes, the same code works
    # on one example and on a stack of examples with a leading batch axis.
    def _print_MatMul(self, expr):
        c, rest = alg.coefficient_split(expr)
        if isinstance(rest, sp.OneMatrix) and self._broadcasting:
            return self._print(c)  # a number added entrywise (var + epsilon)
        factors = rest.args if isinstance(rest, sp.MatMul) else (rest,)
        body = self._chain_code(list(factors))
        if c == 1:
            return body
        if c == -1:
            return f"-{_paren_code(body)}"
        coefficient = self._print(c)
        coefficient = coefficient if coefficient.startswith("(") and coefficient.endswith(")") else _paren_code(coefficient)
        return f"{coefficient} * {_paren_code(body)}"

    def _chain_code(self, factors) -> str:
        if not any(isinstance(f, sp.OneMatrix) for f in factors) or len(factors) == 1:
            return " @ ".join(_paren_code(self._print(f)) for f in factors)
        last, first = factors[-1], factors[0]
        if isinstance(last, sp.OneMatrix):
            n, cols = last.shape
            code = self._chain_code(factors[:-1])
            if n != 1:
                code = f"{_paren_code(code)}.sum(axis=-1, keepdims=True)"
            return self._repeat(code, cols, -1)
        if isinstance(first, sp.OneMatrix):
            rows, n = first.shape
            code = self._chain_code(factors[1:])
            if n != 1:
                code = f"{_paren_code(code)}.sum(axis=-2, keepdims=True)"
            return self._repeat(code, rows, -2)
        k = next(i for i, f in enumerate(factors) if isinstance(f, sp.OneMatrix))
        return f"{_paren_code(self._chain_code(factors[: k + 1]))} @ {_paren_code(self._chain_code(factors[k + 1 :]))}"

    def _repeat(self, code, count, axis) -> str:
        """A row or column repeated ``count`` times (left to broadcasting inside entrywise operations)."""
        if count == 1 or self._broadcasting:
            return code
        return f"np.repeat({code}, {self._print(count)}, axis={axis})"

    def _entrywise_args(self, args) -> list:
        """Print the operands of an entrywise operation; broadcasts stay unexpanded when a full operand fixes the shape."""
        full = any(not _is_broadcast(a) for a in args if alg.is_matrix(a))
        saved = self._broadcasting
        self._broadcasting = full or saved
        try:
            return [self._print(a) for a in args]
        finally:
            self._broadcasting = saved

    def _print(self, expr, **kwargs):
        # only entrywise operations (and functions applied entrywise) pass the broadcasting context down
        if self._broadcasting and not isinstance(
            expr, (sp.MatAdd, sp.HadamardProduct, sp.HadamardPower, sp.MatMul, ElementwiseApplyFunction, sp.OneMatrix)
        ):
            saved, self._broadcasting = self._broadcasting, False
            try:
                return super()._print(expr, **kwargs)
            finally:
                self._broadcasting = saved
        return super()._print(expr, **kwargs)

    def _print_MatAdd(self, expr):
        signs, args = [], []
        for a in sorted(expr.args, key=_is_negative_term):  # a - b, not -b + a or a + (-1) * b
            c, rest = alg.coefficient_split(a)
            negative = c.is_number and c.is_negative
            signs.append("-" if negative else "+")
            args.append(alg.scale(-c, rest) if negative else a)
        codes = self._entrywise_args(args)
        out = ""
        for i, (sign, a, code) in enumerate(zip(signs, args, codes)):
            if isinstance(a, sp.MatAdd) or (sign == "-" and _is_sum_code(code)):
                code = f"({code})"
            out = (f"-{_paren_code(code)}" if sign == "-" else code) if i == 0 else f"{out} {sign} {code}"
        return out

    def _print_HadamardProduct(self, expr):
        codes = self._entrywise_args(list(expr.args))
        return " * ".join(_paren_code(c) for c in codes)

    def _print_HadamardPower(self, expr):
        (code,) = self._entrywise_args([expr.base])
        base = _paren_code(code)
        if expr.exp == -1:
            return f"1.0 / {base}"
        if expr.exp == sp.Rational(1, 2):
            return f"np.sqrt({code})"
        if expr.exp == sp.Rational(-1, 2):
            return f"1.0 / np.sqrt({code})"
        exp = self._print(expr.exp)
        simple = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*|[0-9.]+", base) and re.fullmatch(r"-?[0-9.]+", exp)
        return f"{base}**{exp}" if simple else f"{base} ** {_paren_code(exp)}"  # spaced as ruff format does

    def _print_Transpose(self, expr):
        return f"{self._wrap(expr.arg)}.T"

    def _print_Trace(self, expr):
        return f"np.trace({self._print(expr.arg)})"

    def _print_MatrixElement(self, expr):
        return f"{self._wrap(expr.parent)}[{int(expr.i)}, {int(expr.j)}]"

    def _print_ImmutableDenseMatrix(self, expr):
        rows = ", ".join("[" + ", ".join(repr(float(v)) for v in expr.row(i)) + "]" for i in range(expr.rows))
        return f"np.array([{rows}])"

    # ops ----------------------------------------------------------------
    def _call(self, name, arg_text):
        self.helpers_used.add(name)
        return f"{name}({arg_text})"

    def _print_ScalarFunctionBase(self, expr):
        return self._call(expr.rule.name, self._print(expr.args[0]))

    def _print_ElementwiseApplyFunction(self, expr):
        body = alg.applied_function(expr)
        arg = sp.Symbol("_ARG_")
        code = self._print(body.xreplace({T: arg}))
        return code.replace("_ARG_", self._wrap(expr.expr))

    def _print_Softmax(self, expr):
        return self._call("softmax", f"{self._print(expr.arg)}, axis={-2 if expr.axis == 0 else -1}")

    def fused_activation(self, expr):
        """(activation name, pre-activation) if this loss is computed from z (see fused.py)."""
        from .fused import fused_loss

        return fused_loss(expr, self.producers)

    def _print_LossExpr(self, expr):
        found = self.fused_activation(expr)
        if found is None:
            return self._print(expr.rule.value(expr.prediction, expr.target))
        # the mathematical layout: one example's column, the outputs along axis 0
        z = f"np.asarray({self._print(found[1])}, dtype=float)"
        y = f"np.asarray({self._print(expr.target)}, dtype=float)"
        template = expr.rule.fused[found[0]]
        self.helpers_used.update(h for h in expr.rule.fused_helpers if h + "(" in template or "{lse}" in template and h == "logsumexp")
        code = template.format(z=z, y=y, axis=0, lse=f"logsumexp({z}, axis=0)")
        factor = expr.rule.factor(expr.prediction)
        return code if factor == 1 else f"{self._print(factor)} * {code}"

    def _print_Heaviside(self, expr):
        return self._call("step", self._print(expr.args[0]))

    # SymPy's own spelling is functools.reduce(np.maximum, ...): a second import
    def _print_Max(self, expr):
        return self._nested("np.maximum", expr.args)

    def _print_Min(self, expr):
        return self._nested("np.minimum", expr.args)

    def _nested(self, func, args):
        code = self._print(args[-1])
        for arg in reversed(args[:-1]):
            code = f"{func}({self._print(arg)}, {code})"
        return code


def _is_broadcast(e) -> bool:
    """v 1^T or 1 r (times a coefficient), or an entrywise function of such: a repeated row or column."""
    if isinstance(e, sp.OneMatrix):
        return True
    if isinstance(e, sp.MatMul):
        _, rest = alg.coefficient_split(e)
        if isinstance(rest, sp.OneMatrix):
            return True
        factors = rest.args if isinstance(rest, sp.MatMul) else (rest,)
        last, first = factors[-1], factors[0]
        return (isinstance(last, sp.OneMatrix) and last.shape[1] != 1) or (isinstance(first, sp.OneMatrix) and first.shape[0] != 1)
    if isinstance(e, (sp.HadamardPower, ElementwiseApplyFunction)):
        return _is_broadcast(e.args[0] if isinstance(e, sp.HadamardPower) else e.expr)
    if isinstance(e, (sp.MatAdd, sp.HadamardProduct)):
        return all(_is_broadcast(a) for a in e.args if alg.is_matrix(a))
    return False


def _is_sum_code(code: str) -> bool:
    depth, prev = 0, ""
    for ch in code:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch in "+-" and prev == " ":
            return True
        prev = ch
    return False


def _paren_code(code: str) -> str:
    """``code`` as an operand of ``*``, ``@`` or an attribute: bracketed unless it is one term."""
    depth = 0
    for ch in code:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch in " -+*/@":
            return f"({code})"
    return code


def helper_sources(names) -> str:
    """Source of the NumPy helpers ``names`` and of the helpers they call, in a fixed order."""
    needed = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        if name in ops.FUNCTIONS:
            stack.extend(ops.FUNCTIONS[name].helpers)
        elif name in ops.NUMPY_HELPERS:
            stack.extend(ops.NUMPY_HELPERS[name][1])
    out = []
    if "erf" in needed:
        out.append(ops.ERF_SOURCE.strip() + "\n")
    for name in sorted(needed):
        if name in ops.FUNCTIONS:
            out.append(ops.FUNCTIONS[name].numpy.strip() + "\n")
        elif name in ops.NUMPY_HELPERS:
            out.append(ops.NUMPY_HELPERS[name][0].strip() + "\n")
    return "\n\n".join(out)


def helper_namespace(names) -> dict:
    """A fresh namespace holding ``np`` and the NumPy helpers ``names`` (and those they call).

    The helpers' source is compiled once per set of names: evaluate(), the
    worked examples of the notes and the formula checker all run printed code
    in such a namespace.
    """
    return dict(_compiled_helpers(frozenset(names)))


@functools.lru_cache(maxsize=None)
def _compiled_helpers(names: frozenset) -> dict:
    namespace = {"np": np}
    exec(compile(helper_sources(sorted(names)) or "pass", "<symprop helpers>", "exec"), namespace)  # registry sources
    return namespace


def numpy_function_source(name: str, body) -> tuple:
    """Helper source ``def name(x): return <body>`` for a custom activation."""
    printer = NumPyPrinter()
    code = printer.doprint(body.xreplace({T: sp.Symbol("x")}))
    return f"def {name}(x):\n    return {code}\n", tuple(sorted(printer.helpers_used))
