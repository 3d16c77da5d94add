"""The op registry: the one place to add an operation.

Each entry puts side by side what an op computes and its local derivative
(its vector-Jacobian product), with its LaTeX name and NumPy spelling:

* ``Activation`` - a scalar function applied entrywise (sigmoid, relu, ...).
  Its derivative is written in terms of the input ``t`` and the output ``u``
  so the textbook forms come out (sigma' = u(1-u), tanh' = 1-u^2).  Custom
  activations registered with :func:`activation` get their derivative from
  SymPy.
* ``Loss`` - a per-example loss, written as an entrywise term and a
  reduction; its derivative is derived by SymPy from the entrywise term.
* ``Softmax`` - the column-wise vector op.
* ``VJP_RULES`` - the structural SymPy classes (MatMul, MatAdd,
  HadamardProduct, Transpose, ...).  Scalar SymPy expressions (Add, Mul, Pow,
  any elementary function) share one generic rule that asks SymPy for the
  partial derivative of that single operation.

``derive`` only calls :func:`vjp`; it never names an op.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Optional

import sympy as sp
from sympy import (
    HadamardPower,
    HadamardProduct,
    MatAdd,
    MatMul,
    MatrixExpr,
    OneMatrix,
    Transpose,
)
from sympy.core.function import AppliedUndef
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement

from . import algebra as alg
from .algebra import T
from .errors import DeclarationError, InvalidNameError, ShapeError, UnsupportedOperationError

U = sp.Symbol("_u")  # the output f(t) in activation derivatives
P, Q = sp.Symbol("_p"), sp.Symbol("_q")  # prediction and target entries in losses
OUT = sp.Symbol("_out")  # f(t) inside its own derivative

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


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
    """A scalar function applied entrywise: its definition, derivative and spellings.

    ``derivative`` is a SymPy expression in ``T`` (the input) and ``U`` (the
    output), or None to let SymPy differentiate ``definition``.
    ``latex`` is the LaTeX of the function name; ``latex_template`` (with
    ``{}`` for the argument) overrides it for indicator-like notation.
    ``numpy`` is the source of a NumPy helper ``def <name>(x)``; ``numpy_name``
    is what calls print as.
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
    # Extra names hand-written formulas may use for it (formula.py also accepts
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
        x = _as_expr(x, self.name)
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


def _as_expr(x, who):
    if isinstance(x, (int, float)):
        return sp.sympify(x)
    if not isinstance(x, sp.Basic):
        raise DeclarationError(f"{who}: expected a SymPy expression, got {type(x).__name__}")
    return x


FUNCTIONS: dict[str, ScalarFunction] = {}
LOSSES: dict[str, "Loss"] = {}


def register(entry):
    if entry.name in FUNCTIONS or entry.name in LOSSES or entry.name == "softmax":
        raise InvalidNameError(f"an op named {entry.name!r} is already registered")
    FUNCTIONS[entry.name] = entry
    return entry


# --- derivative helpers: functions that appear in derivatives -------------

step = register(
    ScalarFunction(
        "step",
        sp.Heaviside(T, 0),
        derivative=sp.S.Zero,
        latex_template=r"\mathbb{{1}}\left[{} > 0\right]",
        # the dtype of x (float32 stays float32); works on Python floats too
        numpy="def step(x):\n    return np.greater(x, 0).astype(np.result_type(x))\n",
        text_template="1[{} > 0]",
        activation=False,
        description="indicator 1[t > 0] (the derivative of ReLU)",
    )
)

Phi = register(
    ScalarFunction(
        "Phi",
        (1 + sp.erf(T / sp.sqrt(2))) / 2,
        latex=r"\Phi",
        numpy="def Phi(x):\n    return 0.5 * (1.0 + erf(x * 0.7071067811865476))\n",
        helpers=("erf",),
        activation=False,
        description="standard normal CDF",
    )
)
phi = register(
    ScalarFunction(
        "phi",
        sp.exp(-(T**2) / 2) / sp.sqrt(2 * sp.pi),
        latex=r"\phi",
        numpy="def phi(x):\n    return 0.3989422804014327 * np.exp(-0.5 * x * x)\n",
        activation=False,
        description="standard normal density",
    )
)
Phi.derivative = phi.function(T)
phi.derivative = -T * phi.function(T)

# --- activations ----------------------------------------------------------

identity = register(
    ScalarFunction(
        "identity",
        T,
        derivative=sp.S.One,
        latex="",
        numpy="def identity(x):\n    return x\n",
        sign_preserving=True,
        description="f(z) = z",
    )
)
sigmoid = register(
    ScalarFunction(
        "sigmoid",
        1 / (1 + sp.exp(-T)),
        derivative=U * (1 - U),
        latex=r"\sigma",
        numpy=(
            "def sigmoid(x):\n"
            "    # e^min(x, 0) / (1 + e^-|x|): both exponents are <= 0, so nothing\n"
            "    # overflows, and no branch (np.where is slow on mixed signs)\n"
            "    return np.exp(np.minimum(x, 0)) / (1.0 + np.exp(-np.abs(x)))\n"
        ),
        description="logistic sigmoid 1/(1+e^{-z})",
    )
)
tanh = register(
    ScalarFunction(
        "tanh",
        sp.tanh(T),
        derivative=1 - U**2,
        latex=r"\tanh",
        numpy="def tanh(x):\n    return np.tanh(x)\n",
        description="hyperbolic tangent",
    )
)
relu = register(
    ScalarFunction(
        "relu",
        sp.Max(0, T),
        derivative=step.function(T),
        latex=r"\operatorname{ReLU}",
        numpy="def relu(x):\n    return np.maximum(x, 0)\n",
        init="he",
        sign_preserving=True,
        description="max(0, z)",
    )
)
LEAKY_SLOPE = sp.Rational(1, 100)
leaky_relu = register(
    ScalarFunction(
        "leaky_relu",
        sp.Max(LEAKY_SLOPE * T, T),
        derivative=LEAKY_SLOPE + (1 - LEAKY_SLOPE) * step.function(T),
        latex=r"\operatorname{LeakyReLU}",
        # max(x, 0.01 x) equals the two-branch definition for a slope below 1
        numpy="def leaky_relu(x):\n    return np.maximum(x, 0.01 * x)\n",
        init="he",
        sign_preserving=True,
        description="max(0.01 z, z)",
    )
)
softplus = register(
    ScalarFunction(
        "softplus",
        sp.log(1 + sp.exp(T)),
        derivative=sigmoid.function(T),
        latex=r"\operatorname{softplus}",
        numpy=(
            "def softplus(x):\n"
            "    # log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}): no overflow\n"
            "    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))\n"
        ),
        helpers=(),
        description="log(1 + e^z)",
    )
)
silu = register(
    ScalarFunction(
        "silu",
        T / (1 + sp.exp(-T)),
        # f = t sigma(t)  =>  f' = sigma + t sigma (1 - sigma) = sigma + f (1 - sigma)
        derivative=sigmoid.function(T) + U * (1 - sigmoid.function(T)),
        latex=r"\operatorname{SiLU}",
        numpy="def silu(x):\n    return x * sigmoid(x)\n",
        helpers=("sigmoid",),
        description="z sigma(z), also called swish",
    )
)
gelu = register(
    ScalarFunction(
        "gelu",
        T * (1 + sp.erf(T / sp.sqrt(2))) / 2,
        derivative=Phi.function(T) + T * phi.function(T),
        latex=r"\operatorname{GELU}",
        numpy="def gelu(x):\n    return x * Phi(x)\n",
        helpers=("Phi",),
        init="he",
        description="z Phi(z), exact (erf) form",
    )
)
swish = silu  # the other common name; the registry key stays "silu"

# The functions symprop ships (custom ones registered later are the user's formulas:
# their numerical stability is theirs).
BUILTIN_FUNCTIONS = frozenset(FUNCTIONS)
silu.aliases = ("swish",)
sigmoid.aliases = ("logistic",)
step.aliases = ("heaviside",)


def activation(name: str, definition, *, latex: Optional[str] = None) -> ScalarFunction:
    """Register a custom activation from a one-argument ``sympy.Lambda``.

    Its derivative is derived by SymPy; its NumPy helper is printed from the
    definition.  Registering the same name with the same definition again
    returns the existing entry.
    """
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise InvalidNameError(f"activation name {name!r} is not an identifier (letters, digits, _; a letter first)")
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
    extra = body.free_symbols - {T}
    if extra:
        raise DeclarationError(f"activation {name!r}: the definition uses symbols {sorted(map(str, extra))} besides its argument")
    if name in FUNCTIONS:
        existing = FUNCTIONS[name]
        if existing.activation and sp.simplify(existing.definition_expr - body) == 0:
            return existing
        raise InvalidNameError(f"an activation named {name!r} is already registered with a different definition")
    if name in LOSSES or name == "softmax":
        raise InvalidNameError(f"{name!r} is already the name of a built-in op")
    from .printing import numpy_function_source  # late: printing imports ops

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


# ==========================================================================
# Softmax: the column-wise vector op
# ==========================================================================


class Softmax(MatrixExpr):
    """softmax of every column: exp(z_k) / sum_j exp(z_j)."""

    def __new__(cls, arg):
        return MatrixExpr.__new__(cls, arg)

    @property
    def arg(self):
        return self.args[0]

    @property
    def shape(self):
        return self.args[0].shape

    def _latex(self, printer):
        return rf"\operatorname{{softmax}}\left({printer._print(self.arg)}\right)"

    def _sympystr(self, printer):
        return f"softmax({printer._print(self.arg)})"

    def _entry(self, i, j, **kwargs):
        raise UnsupportedOperationError("entries of softmax are not expanded; use symprop.oracle for explicit matrices")


SOFTMAX_NUMPY = (
    "def softmax(x, axis=-1):\n"
    "    # shift by the max: exp never overflows, the result is unchanged\n"
    "    e = x - x.max(axis=axis, keepdims=True)\n"
    "    np.exp(e, out=e)\n"
    "    e /= e.sum(axis=axis, keepdims=True)\n"
    "    return e\n"
)

LOGSUMEXP_NUMPY = (
    "def logsumexp(x, axis=-1):\n"
    "    # log sum_k e^x_k = max + log sum_k e^(x_k - max): exp never overflows\n"
    "    top = x.max(axis=axis, keepdims=True)\n"
    "    return top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True))\n"
)


class _SoftmaxOp:
    name = "softmax"
    latex = r"\operatorname{softmax}"
    description = "exp(z_k) / sum_j exp(z_j), per column"
    # For the lecture notes (render.py): the definition, with {z} for the
    # argument, and the Jacobian d softmax / dz, with {s} for the output.
    latex_definition = r"\operatorname{{softmax}}\left({z}\right)_k = \frac{{e^{{{z}_k}}}}{{\sum_j e^{{{z}_j}}}}"
    latex_jacobian = r"\operatorname{{diag}}\left({s}\right) - {s} {s}^{{\top}}"
    init = "xavier"
    activation = True

    def __call__(self, x):
        x = _as_expr(x, "softmax")
        if not isinstance(x, MatrixExpr):
            raise ShapeError("softmax needs a column vector (a matrix expression), got the scalar " + sp.sstr(x))
        if x.shape[1] != 1:
            raise ShapeError(f"softmax is applied to one example, a column vector; got shape {x.shape}")
        return Softmax(x)

    def __repr__(self):
        return "symprop.softmax"


softmax = _SoftmaxOp()


def softmax_explicit(column: sp.Matrix) -> sp.Matrix:
    """softmax of an explicit column, in elementary functions (the test oracle)."""
    exps = [sp.exp(v) for v in column]
    total = sp.Add(*exps)
    return sp.Matrix([e / total for e in exps])


# ==========================================================================
# Losses: an entrywise term and a reduction over the outputs of one example
# ==========================================================================


class LossExpr(sp.Expr):
    """A per-example loss L(yhat, y); scalar.  Subclasses set ``rule``."""

    is_commutative = True
    rule: "Loss"

    def __new__(cls, prediction, target):
        return sp.Expr.__new__(cls, prediction, target)

    @property
    def prediction(self):
        return self.args[0]

    @property
    def target(self):
        return self.args[1]

    def _latex(self, printer):
        return rf"{self.rule.latex}\left({printer._print(self.prediction)}, {printer._print(self.target)}\right)"

    def _sympystr(self, printer):
        return f"{self.rule.name}({printer._print(self.prediction)}, {printer._print(self.target)})"

    def _eval_derivative(self, s):
        # Lets sympy.diff work on explicit instances (the scalar-expansion oracle).
        return sp.diff(self.rule.explicit(self.prediction, self.target), s)


@dataclass(frozen=True)
class Assumption:
    """A fact about the data that a rewrite may use, and the sentence that says it."""

    lhs: sp.Basic
    rhs: sp.Basic
    text: str


@dataclass(eq=False)
class Loss:
    name: str
    term: sp.Expr  # entrywise loss in P (prediction) and Q (target)
    reduction: str  # "sum" or "mean" over the outputs of one example
    latex: str
    latex_definition: str  # how the notes define it, with {p}, {t}, {n}
    target_sum_to_one: bool = False  # cross-entropy: targets are distributions
    # Stable NumPy spelling of the loss fused with the activation that made its
    # prediction, keyed by activation name: the sum over all entries (every
    # example and output) of the entrywise term, in the pre-activation {z} and
    # the target {y}; {axis} is the axis of the outputs and {lse} stands for
    # the log-sum-exp of {z} over them (kept, shape (m, 1)).  The log of the
    # prediction is never taken, so saturated outputs give finite losses.
    fused: dict = field(default_factory=dict)
    fused_helpers: tuple = ()  # NumPy helpers the fused spellings call
    description: str = ""
    expr_class: type = field(init=False, repr=False)

    def __post_init__(self):
        self.expr_class = type(self.name, (LossExpr,), {"rule": self, "__module__": __name__})

    def __call__(self, prediction, target):
        prediction = _as_expr(prediction, self.name)
        target = _as_expr(target, self.name)
        if alg.shape_of(prediction) != alg.shape_of(target):
            raise ShapeError(
                f"{self.name}: the prediction has shape {alg.shape_of(prediction) or 'scalar'} "
                f"but the target has shape {alg.shape_of(target) or 'scalar'}"
            )
        if isinstance(prediction, MatrixExpr) and prediction.shape[1] != 1:
            raise ShapeError(f"{self.name}: prediction and target are one example, column vectors; got shape {prediction.shape}")
        return self.expr_class(prediction, target)

    def outputs(self, prediction) -> int:
        return prediction.shape[0] if isinstance(prediction, (MatrixExpr, sp.MatrixBase)) else 1

    def factor(self, prediction):
        return sp.Rational(1, self.outputs(prediction)) if self.reduction == "mean" else sp.S.One

    def value(self, prediction, target):
        """The loss as an expression of symprop matrix algebra."""
        if not isinstance(prediction, MatrixExpr):
            return self.factor(prediction) * self.term.xreplace({P: prediction, Q: target})
        entries = alg.lift(self.term, {P: prediction, Q: target}, prediction.shape)
        return alg.scale(self.factor(prediction), alg.matmul(OneMatrix(1, prediction.shape[0]), entries))

    def gradient(self, prediction, target, upstream, wrt=P):
        """upstream * dL/d(yhat) (or dL/dy with ``wrt=Q``), derived from the entrywise term."""
        d = sp.diff(self.term, wrt)
        c = self.factor(prediction) * upstream
        if not isinstance(prediction, MatrixExpr):
            return c * d.xreplace({P: prediction, Q: target})
        return alg.scale(c, alg.lift(d, {P: prediction, Q: target}, prediction.shape))

    def explicit(self, prediction, target):
        """The loss of explicit matrices in elementary functions (the oracle)."""
        if isinstance(prediction, sp.MatrixBase):
            pairs = zip(list(prediction), list(target))
            return self.factor(prediction) * sp.Add(*[self.term.xreplace({P: p, Q: t}) for p, t in pairs])
        return self.term.xreplace({P: prediction, Q: target})

    def assumptions(self, target) -> list:
        if self.target_sum_to_one and isinstance(target, MatrixExpr) and target.shape[0] > 1:
            return [
                Assumption(
                    alg.matmul(OneMatrix(1, target.shape[0]), target),
                    sp.S.One,
                    "the targets of each example sum to 1 (one-hot labels or a probability vector)",
                )
            ]
        return []

    def __repr__(self):
        return f"symprop.{self.name}"


def register_loss(entry: Loss) -> Loss:
    LOSSES[entry.name] = entry
    return entry


mse = register_loss(
    Loss(
        "mse",
        (P - Q) ** 2,
        "mean",
        latex=r"\operatorname{MSE}",
        latex_definition=r"\frac{{1}}{{{n}}} \sum_{{k=1}}^{{{n}}} \left({p}_k - {t}_k\right)^2",
        description="mean over the outputs of (yhat - y)^2",
    )
)
binary_cross_entropy = register_loss(
    Loss(
        "binary_cross_entropy",
        -(Q * sp.log(P) + (1 - Q) * sp.log(1 - P)),
        "mean",
        latex=r"\operatorname{BCE}",
        latex_definition=(
            r"-\frac{{1}}{{{n}}} \sum_{{k=1}}^{{{n}}} \left[{t}_k \log {p}_k + (1 - {t}_k) \log(1 - {p}_k)\right]"
        ),
        description="mean over the outputs of -(y log yhat + (1-y) log(1-yhat))",
        # -(y log sigma(z) + (1-y) log(1 - sigma(z))) = softplus(z) - y z
        fused={"sigmoid": "(softplus({z}) - {y} * {z}).sum()"},
        fused_helpers=("softplus",),
    )
)
cross_entropy = register_loss(
    Loss(
        "cross_entropy",
        -Q * sp.log(P),
        "sum",
        latex=r"\operatorname{CE}",
        latex_definition=r"-\sum_{{k=1}}^{{{n}}} {t}_k \log {p}_k",
        target_sum_to_one=True,
        description="-sum over the classes of y log yhat",
        # -y log softmax(z) = y (logsumexp(z) - z);  -y log sigma(z) = y softplus(-z)
        fused={
            "softmax": "({y} * ({lse} - {z})).sum()",
            "sigmoid": "({y} * softplus(-{z})).sum()",
        },
        fused_helpers=("logsumexp", "softplus"),
    )
)


# ==========================================================================
# Vector-Jacobian products: the local derivative of each structural op
# ==========================================================================
#
# A rule takes the node and the adjoint G flowing into it (same shape as the
# node) and returns, for each child, the child's share of the adjoint.  Rules
# may be handed children that are not active (constants, targets); derive
# filters those out.


def _vjp_matadd(node, g):
    return [(arg, g) for arg in node.args]


def _vjp_matmul(node, g):
    scalars = [a for a in node.args if not isinstance(a, MatrixExpr)]
    mats = [a for a in node.args if isinstance(a, MatrixExpr)]
    coefficient = sp.Mul(*scalars)
    out = []
    for i, m in enumerate(mats):
        left, right = mats[:i], mats[i + 1 :]
        # d(c A_1..A_k) wrt A_i: (c A_1..A_{i-1})^T G (A_{i+1}..A_k)^T
        share = alg.matmul(*[alg.transpose(f) for f in reversed(left)], g, *[alg.transpose(f) for f in reversed(right)])
        out.append((m, alg.scale(coefficient, share)))
    if scalars:
        # Each scalar factor's share: (product of the other scalars) sum_ij G_ij (A_1..A_k)_ij
        product = mats[0] if len(mats) == 1 else MatMul(*mats)
        contraction = alg.inner(g, product)
        for k, s_k in enumerate(scalars):
            out.append((s_k, sp.Mul(*(scalars[:k] + scalars[k + 1 :])) * contraction))
    return out


def _vjp_matpow(node, g):
    base, exp = node.args
    if not (exp.is_Integer and exp > 0):
        raise UnsupportedOperationError(f"cannot differentiate the matrix power {sp.sstr(node)}: only positive integer powers")
    # S^k = S S ... S: the product rule over the k factors
    return _vjp_matmul(MatMul(*([base] * int(exp))), g)


def _vjp_hadamard(node, g):
    return [
        (arg, alg.hadamard(g, *[o for j, o in enumerate(node.args) if j != i]))
        for i, arg in enumerate(node.args)
    ]


def _vjp_hadamard_power(node, g):
    if node.exp.free_symbols:
        raise UnsupportedOperationError(f"the exponent of {sp.sstr(node)} must be a number")
    return [(node.base, alg.hadamard(g, alg.scale(node.exp, alg.hadamard_power(node.base, node.exp - 1))))]


def _vjp_transpose(node, g):
    return [(node.arg, alg.transpose(g))]


def _vjp_elementwise(node, g):
    body = alg.applied_function(node)
    undefined = body.atoms(AppliedUndef)
    if undefined:
        raise UnsupportedOperationError(_undefined_message(undefined))
    # f'(t) in scalar algebra, with f(t) itself renamed so it lifts back to the
    # node: sigma' = sigma(t)(1 - sigma(t)) becomes a * (1 - a) once the node
    # is named a.
    local = sp.diff(body, T).xreplace({body: OUT})
    if local.has(sp.Derivative):
        raise UnsupportedOperationError(f"SymPy has no derivative of {sp.sstr(body.xreplace({T: sp.Symbol('z')}))}")
    return [(node.expr, alg.hadamard(g, alg.lift(local, {T: node.expr, OUT: node}, node.shape)))]


def _vjp_softmax(node, g):
    # J = diag(s) - s s^T is symmetric: J^T g = s * g - s (s^T g) = s * (g - 1 (s^T g))
    n = node.shape[0]
    return [(node.arg, alg.hadamard(node, alg.add(g, alg.neg(alg.matmul(OneMatrix(n, 1), alg.transpose(node), g)))))]


def _vjp_loss(node, g):
    # The target's share matters only when the target is itself computed from
    # the inputs (an autoencoder's reconstruction target); derive drops it otherwise.
    return [
        (node.prediction, node.rule.gradient(node.prediction, node.target, g)),
        (node.target, node.rule.gradient(node.prediction, node.target, g, wrt=Q)),
    ]


def _vjp_trace(node, g):
    return [(node.arg, alg.scale(g, sp.Identity(node.arg.shape[0])))]


def _vjp_matrix_element(node, g):
    parent, i, j = node.args
    unit = sp.zeros(*parent.shape)
    unit[int(i), int(j)] = 1
    if parent.shape == (1, 1):
        return [(parent, alg.scale(g, OneMatrix(1, 1)))]
    return [(parent, alg.scale(g, sp.ImmutableMatrix(unit)))]


def _vjp_scalar(node, g):
    """Any scalar SymPy operation: its partial derivatives from SymPy itself."""
    if isinstance(node, AppliedUndef):
        raise UnsupportedOperationError(_undefined_message({node}))
    args = node.args
    # real placeholders: d|t|/dt is sign(t) for real t (complex t has no derivative)
    placeholders = [sp.Symbol(f"_arg{i}", real=True) for i in range(len(args))]
    try:
        template = node.func(*placeholders)
    except Exception as exc:  # a class that cannot be rebuilt from placeholders
        raise UnsupportedOperationError(f"cannot differentiate {sp.sstr(node)}: {exc}") from None
    out = []
    for arg, ph in zip(args, placeholders):
        local = sp.diff(template, ph)
        if local.has(sp.Derivative) or local.has(sp.Subs):
            raise UnsupportedOperationError(
                f"SymPy has no derivative of {type(node).__name__} in {sp.sstr(node)}; "
                "register it with symprop.activation(name, sympy.Lambda(z, ...))"
            )
        local = local.xreplace(dict(zip(placeholders, args)))
        out.append((arg, g * local))
    return out


def _undefined_message(functions) -> str:
    names = sorted({type(f).__name__ if not isinstance(f, type) else f.__name__ for f in functions})
    return (
        f"cannot differentiate the undefined function(s) {', '.join(names)}: SymPy knows nothing about them. "
        f"Register one with symprop.activation({names[0]!r}, sympy.Lambda(z, <its definition in z>))"
    )


VJP_RULES: dict[type, Callable] = {
    MatAdd: _vjp_matadd,
    MatMul: _vjp_matmul,
    HadamardProduct: _vjp_hadamard,
    HadamardPower: _vjp_hadamard_power,
    Transpose: _vjp_transpose,
    sp.MatPow: _vjp_matpow,
    ElementwiseApplyFunction: _vjp_elementwise,
    Softmax: _vjp_softmax,
    LossExpr: _vjp_loss,
    sp.Trace: _vjp_trace,
    MatrixElement: _vjp_matrix_element,
}

# Matrix classes that have no meaning in a network (or no derivative here).
UNSUPPORTED = {
    "Inverse": "the matrix inverse",
    "Determinant": "the determinant",
    "KroneckerProduct": "the Kronecker product",
    "BlockMatrix": "a block matrix",
    "MatrixSlice": "a slice of a matrix",
    "Adjoint": "the conjugate transpose",
    "MatrixExp": "the matrix exponential (for an entrywise exp write X.applyfunc(sympy.exp))",
    "Piecewise": "a Piecewise expression (use an activation such as relu, or register one with symprop.activation)",
}

LEAF_CLASSES = (sp.Symbol, sp.MatrixSymbol, sp.Number, sp.NumberSymbol, OneMatrix, sp.ZeroMatrix, sp.Identity)


def rule_for(node) -> Callable:
    name = type(node).__name__
    if name in UNSUPPORTED:
        raise UnsupportedOperationError(f"cannot differentiate {UNSUPPORTED[name]} in {sp.sstr(node)}")
    for cls in type(node).__mro__:
        if cls in VJP_RULES:
            return VJP_RULES[cls]
    name = type(node).__name__
    if name in UNSUPPORTED or (isinstance(node, MatrixExpr) and not isinstance(node, sp.MatrixBase)):
        what = UNSUPPORTED.get(name, f"the matrix operation {name}")
        raise UnsupportedOperationError(f"cannot differentiate {what} in {sp.sstr(node)}")
    if isinstance(node, sp.MatrixBase):
        return lambda n, g: []  # an explicit constant matrix
    if isinstance(node, sp.Expr):
        if any(isinstance(a, MatrixExpr) for a in node.args):
            raise UnsupportedOperationError(
                f"{name} of a matrix in {sp.sstr(node)}: scalar functions apply to scalars; "
                "for entrywise application write X.applyfunc(f)"
            )
        return _vjp_scalar
    raise UnsupportedOperationError(f"cannot differentiate {name} in {sp.sstr(node)}")


def vjp(node, upstream):
    """The shares of ``upstream`` (the adjoint of ``node``) that flow to its children."""
    return rule_for(node)(node, upstream)


def is_leaf(node) -> bool:
    return isinstance(node, LEAF_CLASSES) or not node.args


def is_activation_node(node) -> bool:
    """Applications of registered activations start a layer (get z / a names)."""
    if isinstance(node, Softmax):
        return True
    if isinstance(node, ElementwiseApplyFunction):
        body = alg.applied_function(node)
        rule = function_rule(body.func)
        return rule is not None and rule.activation and body.args == (T,)
    if isinstance(node, ScalarFunctionBase):
        return node.rule.activation
    return False


def activation_name(node) -> str:
    if isinstance(node, Softmax):
        return "softmax"
    if isinstance(node, ElementwiseApplyFunction):
        return alg.applied_function(node).func.rule.name
    return node.rule.name


def activation_argument(node):
    if isinstance(node, Softmax):
        return node.arg
    if isinstance(node, ElementwiseApplyFunction):
        return node.expr
    return node.args[0]


def activation_rule(name: str):
    return softmax if name == "softmax" else FUNCTIONS[name]


def is_loss_node(node) -> bool:
    return isinstance(node, LossExpr)
