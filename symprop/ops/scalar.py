"""Scalar functions applied entrywise: the class SymPy sees and the registry entry.

An entry puts side by side a function's definition, its derivative (in the
input ``T`` and the output ``U``, so sigma' = u(1 - u) comes out), its LaTeX
and its NumPy helper.  Custom activations (:func:`activation`) get their
derivative from SymPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import sympy as sp
from sympy import MatrixExpr
from sympy.core.function import AppliedUndef

from .. import algebra as alg
from ..algebra import T
from ..errors import DeclarationError, InvalidNameError, UnsupportedOperationError
from ..names import check_latex_spelling, check_name
from .base import FUNCTIONS, U, as_expr, name_taken

# ==========================================================================
# NumPy helpers: emitted once into generated modules, also used by evaluate().
# Every helper is written for any array layout (entrywise), except softmax,
# which takes the axis of the classes.
# ==========================================================================

ERF_SOURCE = '''
def erf(x):
    """erf to ~1e-15 relative, with NumPy alone.

    |x| < 3: erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (2n+1)!!,
    whose terms are all positive (no cancellation); |x| >= 3: the continued
    fraction of erfc.
    """
    a = np.abs(x)
    near_x = np.minimum(a, 3.0)
    x2 = near_x * near_x
    term = near_x
    total = near_x
    for n in range(1, 70):
        term = term * (2.0 * x2 / (2 * n + 1))
        total = total + term
    near = 1.1283791670955126 * np.exp(-x2) * total
    far_x = np.maximum(a, 3.0)
    frac = far_x
    for k in range(60, 0, -1):
        frac = far_x + (0.5 * k) / frac
    far = 1.0 - np.exp(-far_x * far_x) * 0.5641895835477563 / frac
    return np.sign(x) * np.where(a < 3.0, near, far)
'''


# ==========================================================================
# Scalar function classes
# ==========================================================================


class ScalarFunctionBase(sp.Function):
    """A scalar function known to symprop (activations and their derivatives).

    Subclasses are made by :class:`ScalarFunction` below; ``rule`` holds the entry.
    """

    nargs = 1
    rule: "ScalarFunction"

    def fdiff(self, argindex=1):
        return self.rule.derivative_at(self.args[0], self)

    def _eval_rewrite_as_definition(self, arg, **kwargs):
        return self.rule.definition(arg)

    def _eval_evalf(self, prec):
        return self.rule.definition(self.args[0])._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        inner = printer._print(self.args[0])
        return self.rule.latex_call(inner, exp)

    def _sympystr(self, printer):
        return self.rule.text_call(printer._print(self.args[0]))


@dataclass(eq=False)
class ScalarFunction:
    r"""An activation (a scalar function applied entrywise): its definition, derivative and spellings.

    The built-in ones are ``identity``, ``sigmoid``, ``tanh``, ``relu``,
    ``leaky_relu``, ``softplus``, ``silu`` (= ``swish``) and ``gelu`` (erf form);
    ``activation`` registers your own.  Call one on a matrix expression (applied
    to every entry) or on a scalar expression.

    Attributes:
        name: its name in text, code and formulas.
        definition_expr: f(T), a SymPy expression in ``symprop.ops.T``.
        derivative: f'(T) in ``T`` (the input) and ``U`` (the output: sigma' = U (1 - U)),
            or None to let SymPy differentiate the definition.
        latex: the LaTeX of its name; ``latex_template`` (``{}`` for the argument)
            overrides it for notations such as 1[{} > 0].
        numpy: the source of its NumPy helper ``def <name>(x)``.

    Examples:
        >>> import sympy as sp, symprop
        >>> z = sp.MatrixSymbol("z", 3, 1)
        >>> symprop.text(symprop.sigmoid(z)), symprop.latex(symprop.relu(z))
        ('sigmoid(z)', '\\operatorname{ReLU}\\left(z\\right)')
        >>> symprop.sigmoid.derivative
        _u*(1 - _u)
    """

    name: str
    definition_expr: sp.Expr  # in T
    derivative: Optional[sp.Expr] = None  # in T and U
    latex: str = ""
    latex_template: Optional[str] = None
    text_template: Optional[str] = None
    numpy: str = ""
    activation: bool = True
    init: str = "xavier"  # weight initialisation suited to this activation
    helpers: tuple = ()  # names of other helpers the NumPy source calls
    # f(t) > 0 exactly when t > 0: generated code may test the output for
    # 1[t > 0] (ReLU' = 1[a > 0]), so the pre-activation need not be kept.
    sign_preserving: bool = False
    description: str = ""
    # Extra names hand-written formulas may use for it (symprop.formula also accepts
    # ``name`` and the word of ``latex``: sigma, tanh, ReLU, ...); a prime or
    # ``_prime`` after any of them means the derivative.
    aliases: tuple = ()
    function: type = field(init=False, repr=False)

    def __post_init__(self):
        self.function = type(self.name, (ScalarFunctionBase,), {"rule": self, "__module__": __name__})
        if self.derivative is None:
            self.derivative = _derived_derivative(self.definition_expr)

    # scalar algebra -------------------------------------------------------
    def definition(self, arg):
        return self.definition_expr.xreplace({T: arg})

    def derivative_at(self, arg, output=None):
        output = self.function(arg) if output is None else output
        return self.derivative.xreplace({T: arg, U: output})

    def latex_call(self, inner: str, exp=None) -> str:
        if self.latex_template is not None:
            text = self.latex_template.format(inner)
        elif self.latex == "":  # identity: print the argument itself
            text = inner
        else:
            text = rf"{self.latex}\left({inner}\right)"
        return rf"{text}^{{{exp}}}" if exp else text

    def text_call(self, inner: str) -> str:
        if self.text_template is not None:
            return self.text_template.format(inner)
        return inner if self.name == "identity" else f"{self.name}({inner})"

    # application ----------------------------------------------------------
    def __call__(self, x):
        x = as_expr(x, self.name)
        if isinstance(x, MatrixExpr):
            return alg.elementwise(self.function, x)
        return self.function(x)

    def __repr__(self):
        return f"symprop.{self.name}"



def _derived_derivative(definition_expr):
    """f'(t) from SymPy, expressed in f(t) = U where that shortens it."""
    d = sp.diff(definition_expr, T)
    # The shortest of the raw, simplified and factored forms, but only among
    # those in the definition's own functions: simplify likes to trade
    # exp(-z) for cosh(z/2), which no student would recognise.
    known = {type(f) for f in definition_expr.atoms(sp.Function)}
    known |= {type(f) for f in d.atoms(sp.Function)}
    candidates = [c for c in (d, sp.simplify(d), sp.factor(d)) if {type(f) for f in c.atoms(sp.Function)} <= known]
    return min(candidates, key=lambda e: (sp.count_ops(e), sp.default_sort_key(e)))



def activation(name: str, definition, *, latex: Optional[str] = None) -> ScalarFunction:
    r"""Register a custom activation from its definition; SymPy derives its derivative.

    A constant or non-finite definition is refused.  Registering the same name
    with the same definition again returns the existing activation.

    Args:
        name: an identifier, not one symprop or the generated code defines.
        definition: a one-argument ``sympy.Lambda``.
        latex: how the notes write its name: letters, a Greek letter,
            ``\operatorname{..}`` / ``\mathrm{..}`` (and ``\mathit``, ``\mathsf``, ``\mathbf``,
            ``\mathcal``, ``\text``), accents, one subscript; default ``\operatorname{name}``.

    Returns:
        The activation: call it on a matrix expression (entrywise) or a scalar.

    Examples:
        >>> import sympy as sp, symprop
        >>> z = sp.Symbol("z")
        >>> swish2 = symprop.activation("swish2", sp.Lambda(z, z / (1 + sp.exp(-z))))
        >>> symprop.text(swish2(sp.MatrixSymbol("x", 3, 1)))
        'swish2(x)'
    """
    check_name(name, "activation name", ops_allowed=True)  # an op's name: the checks below say which
    if latex is not None:
        check_latex_spelling(latex, f"activation {name!r}")
    if not isinstance(definition, sp.Lambda) or len(definition.variables) != 1:
        raise DeclarationError(
            f"activation {name!r}: give the definition as sympy.Lambda(z, expression in z), got {definition!r}"
        )
    body = definition(T)
    undefined = body.atoms(AppliedUndef)
    if undefined:
        raise UnsupportedOperationError(
            f"activation {name!r} uses undefined function(s) {sorted(map(str, undefined))}; "
            "write the definition with elementary SymPy functions"
        )
    if body.has(sp.nan, sp.zoo, sp.oo, sp.S.NegativeInfinity):
        raise DeclarationError(
            f"activation {name!r}: the definition is not finite ({sp.sstr(body.xreplace({T: sp.Symbol('z')}))}: "
            "a division by zero or log(0) somewhere)"
        )
    if not body.has(T):
        raise DeclarationError(
            f"activation {name!r}: the definition {sp.sstr(body)} does not depend on its argument, "
            "so nothing before it would be trained"
        )
    extra = body.free_symbols - {T}
    if extra:
        raise DeclarationError(f"activation {name!r}: the definition uses symbols {sorted(map(str, extra))} besides its argument")
    if name in FUNCTIONS:
        existing = FUNCTIONS[name]
        if existing.activation and sp.simplify(existing.definition_expr - body) == 0:
            return existing
        raise InvalidNameError(f"an activation named {name!r} is already registered with a different definition")
    if name_taken(name):
        raise InvalidNameError(f"{name!r} is already the name of a built-in op")
    from ..printing import numpy_function_source  # late: printing imports ops

    entry = ScalarFunction(
        name,
        body,
        latex=latex if latex is not None else rf"\operatorname{{{name}}}",
        numpy="",
        description=f"custom: {sp.sstr(body.xreplace({T: sp.Symbol('z')}))}",
    )
    entry.numpy, entry.helpers = numpy_function_source(name, body)
    FUNCTIONS[name] = entry
    return entry


def activations() -> dict:
    return {k: v for k, v in FUNCTIONS.items() if v.activation}


def function_rule(func_class) -> Optional[ScalarFunction]:
    return getattr(func_class, "rule", None) if isinstance(func_class, type) and issubclass(func_class, ScalarFunctionBase) else None
