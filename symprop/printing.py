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

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter as _SympyLatexPrinter
from sympy.printing.latex import translate as _latex_translate
from sympy.printing.numpy import NumPyPrinter as _SympyNumPyPrinter
from sympy.printing.str import StrPrinter as _SympyStrPrinter

from . import algebra as alg
from . import ops
from .algebra import T

_TRAILING_DIGITS = re.compile(r"^(.*?)(\d+)$")
# Where an elementwise function's argument goes while its body is printed.
_HOLE = sp.Symbol("_hole")
_HOLE_TEXT = "@HOLE@"


# ==========================================================================
# Names
# ==========================================================================


def _latex_base(base: str) -> str:
    """LaTeX of a name without its layer index: greek letters, escapes, \\mathrm."""
    if base == "":
        return ""
    parts = base.split("_")
    head = parts[0]
    if head == "yhat":
        head_tex = r"\hat{y}"
    elif head == "Yhat":
        head_tex = r"\hat{Y}"
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
    for sub in parts[1:]:
        if sub:
            head_tex += rf"_{{\mathrm{{{sub}}}}}" if len(sub) > 1 and not sub.isdigit() else rf"_{{{sub}}}"
    return head_tex


def latex_name(name: str, bracket_layers: bool = True) -> str:
    """LaTeX of an identifier: W1 -> W^{[1]} (matrix nets) or w_{1} (scalar nets)."""
    if name.endswith("__i"):  # example i of a batch: x^{(i)}, a^{[1](i)}
        inner = latex_name(name[:-3], bracket_layers)
        if inner.endswith("]}") and "^{[" in inner:
            return inner[:-1] + "(i)}"
        return inner + "^{(i)}"
    if name.startswith("d") and len(name) > 1 and not name.startswith("delta") and name[1:2] != "_":
        inner = latex_name(name[1:], bracket_layers)
        return rf"\frac{{\partial L}}{{\partial {inner}}}"
    match = _TRAILING_DIGITS.match(name)
    if match and match.group(1) and not match.group(1).endswith("_"):
        base, index = match.groups()
        base_tex = _latex_base(base)
        if bracket_layers:
            return rf"{base_tex}^{{[{index}]}}"
        return rf"{base_tex}_{{{index}}}"
    return _latex_base(name)


# ==========================================================================
# LaTeX
# ==========================================================================


def _is_negative_term(term) -> bool:
    c, _ = alg.coefficient_split(term) if alg.is_matrix(term) else term.as_coeff_Mul()
    return bool(c.is_number and c.is_negative)


def ordered_terms(expr) -> list:
    """Terms of a scalar sum as a textbook writes them: w x + b, a - y (negatives last)."""
    return sorted(expr.as_ordered_terms(order="grlex"), key=_is_negative_term)


class LatexPrinter(_SympyLatexPrinter):
    """Textbook notation for derivations."""

    def _as_ordered_terms(self, expr, order=None):
        return ordered_terms(expr) if isinstance(expr, sp.Add) else super()._as_ordered_terms(expr, order)

    _default_settings = dict(_SympyLatexPrinter._default_settings, bracket_layers=True, mul_symbol=None)

    def __init__(self, settings=None):
        super().__init__(settings)
        self._bracket = self._settings["bracket_layers"]

    def _name(self, name):
        return latex_name(name, self._bracket)

    def _print_Symbol(self, expr, style="plain"):
        if expr == _HOLE:
            return _HOLE_TEXT
        if expr.name.startswith("_"):
            return super()._print_Symbol(expr)
        return self._name(expr.name)

    def _print_MatrixSymbol(self, expr):
        return self._name(expr.name)

    def _print_Indexed(self, expr):
        base = self._print(expr.base.label)
        return rf"{base}^{{({self._print(expr.indices[0])})}}"

    def _print_Transpose(self, expr):
        arg = expr.arg
        inner = self._print(arg)
        if not isinstance(arg, sp.MatrixSymbol):
            inner = rf"\left({inner}\right)"
        elif "^{" in inner:
            # W^{[2]} transposed: (W^{[2]})^T reads unambiguously
            inner = rf"\left({inner}\right)"
        return rf"{inner}^{{\top}}"

    def _print_OneMatrix(self, expr):
        return r"\mathbf{1}"

    def _print_ZeroMatrix(self, expr):
        return r"\mathbf{0}"

    def _print_Identity(self, expr):
        return r"I"

    def _factor(self, arg, parent):
        tex = self._print(arg)
        if isinstance(arg, (sp.MatAdd, sp.Add)) or (
            isinstance(arg, sp.MatMul) and isinstance(parent, sp.HadamardProduct) and alg.coefficient_split(arg)[0] != 1
        ):
            return rf"\left({tex}\right)"
        return tex

    def _print_MatMul(self, expr):
        c, rest = alg.coefficient_split(expr)
        factors = rest.args if isinstance(rest, sp.MatMul) else (rest,)
        body = " ".join(self._factor(f, expr) for f in factors)
        return self._with_coefficient(c, body)

    def _with_coefficient(self, c, body):
        if c == 1:
            return body
        if c == -1:
            return "-" + body
        if c.is_Rational and c.q != 1:
            sign = "-" if c < 0 else ""
            return rf"{sign}\frac{{{abs(c.p)}}}{{{c.q}}} {body}"
        return rf"{self._print(c)} {body}"

    def _print_HadamardProduct(self, expr):
        return r" \odot ".join(self._factor(a, expr) for a in expr.args)

    def _print_HadamardPower(self, expr):
        base = self._factor(expr.base, expr)
        if expr.exp == -1:
            return rf"\mathbf{{1}} \oslash {base}"
        if expr.exp == 2 and False:
            return base
        return rf"{base}^{{\circ {self._print(expr.exp)}}}"

    def _print_MatAdd(self, expr):
        terms = sorted(expr.args, key=_is_negative_term)  # positive terms first: yhat - y
        out = ""
        for i, term in enumerate(terms):
            tex = self._print(term)
            if i == 0:
                out = tex
            elif tex.startswith("-"):
                out += " - " + tex[1:]
            else:
                out += " + " + tex
        return out

    def _print_ElementwiseApplyFunction(self, expr):
        body = alg.applied_function(expr)
        arg_tex = self._print(expr.expr)
        if isinstance(body, ops.ScalarFunctionBase) and body.args == (T,):
            return body.rule.latex_call(arg_tex)
        # Any other scalar function: print f(hole) and put the argument in the hole.
        return self._print(body.xreplace({T: _HOLE})).replace(_HOLE_TEXT, arg_tex)

    def _print_Trace(self, expr):
        return rf"\operatorname{{tr}}\left({self._print(expr.arg)}\right)"


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

    def _factor(self, arg):
        text = self._print(arg)
        if isinstance(arg, (sp.MatAdd, sp.Add)) or (isinstance(arg, sp.MatMul) and alg.coefficient_split(arg)[0] != 1):
            return f"({text})"
        return text

    def _print_MatMul(self, expr):
        c, rest = alg.coefficient_split(expr)
        factors = rest.args if isinstance(rest, sp.MatMul) else (rest,)
        body = " ".join(self._factor(f) for f in factors)
        if c == 1:
            return body
        if c == -1:
            return "-" + body
        return f"{self._print(c)}·{body}"

    def _print_HadamardProduct(self, expr):
        return " ⊙ ".join(self._factor(a) for a in expr.args)

    def _print_HadamardPower(self, expr):
        if expr.exp == -1:
            return f"𝟏 ⊘ {self._factor(expr.base)}"
        return f"{self._factor(expr.base)}^∘{self._print(expr.exp)}"

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
        return self._print(body.xreplace({T: _HOLE})).replace(_HOLE_TEXT, self._print(expr.expr))

    def _print_Symbol(self, expr):
        return _HOLE_TEXT if expr == _HOLE else _text_name(expr.name)


def _text_name(name: str) -> str:
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
    return name


def text(expr) -> str:
    return TextPrinter().doprint(expr)


# ==========================================================================
# NumPy
# ==========================================================================


class NumPyPrinter(_SympyNumPyPrinter):
    """NumPy code for symprop expressions in the mathematical layout.

    Every symprop op prints as a call of its helper (``sigmoid(z1)``), whose
    source ``helper_sources`` collects; numbers print as floats.
    """

    _default_settings = dict(_SympyNumPyPrinter._default_settings, fully_qualified_modules=True)

    def __init__(self, settings=None):
        super().__init__(settings)
        self.helpers_used: set = set()

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

    def _print_Integer(self, expr):
        return str(int(expr))

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_OneMatrix(self, expr):
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

    def _print_MatMul(self, expr):
        c, rest = alg.coefficient_split(expr)
        factors = rest.args if isinstance(rest, sp.MatMul) else (rest,)
        body = " @ ".join(self._wrap(f) for f in factors)
        if c == 1:
            return body
        return f"{self._wrap(c)} * {body if len(factors) == 1 else '(' + body + ')'}"

    def _print_MatAdd(self, expr):
        return " + ".join(self._wrap(a) if alg.is_matrix(a) and isinstance(a, sp.MatAdd) else self._print(a) for a in expr.args)

    def _print_HadamardProduct(self, expr):
        return " * ".join(self._wrap(a) for a in expr.args)

    def _print_HadamardPower(self, expr):
        if expr.exp == -1:
            return f"1.0 / {self._wrap(expr.base)}"
        return f"{self._wrap(expr.base)} ** {self._wrap(expr.exp)}"

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
        return self._call("softmax", f"{self._print(expr.arg)}, axis=0")

    def _print_LossExpr(self, expr):
        return self._print(expr.rule.value(expr.prediction, expr.target))

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
    out = []
    if "erf" in needed:
        out.append(ops.ERF_SOURCE.strip() + "\n")
    for name in sorted(needed):
        if name in ops.FUNCTIONS:
            out.append(ops.FUNCTIONS[name].numpy.strip() + "\n")
        elif name == "softmax":
            out.append(ops.SOFTMAX_NUMPY.strip() + "\n")
        elif name == "logsumexp":
            out.append(ops.LOGSUMEXP_NUMPY.strip() + "\n")
    return "\n\n".join(out)


def numpy_function_source(name: str, body) -> tuple:
    """Helper source ``def name(x): return <body>`` for a custom activation."""
    printer = NumPyPrinter()
    code = printer.doprint(body.xreplace({T: sp.Symbol("x")}))
    return f"def {name}(x):\n    return {code}\n", tuple(sorted(printer.helpers_used))
