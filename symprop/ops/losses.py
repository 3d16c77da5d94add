"""Losses: an entrywise term and a reduction over the outputs of one example.

The derivative of a loss is derived by SymPy from its entrywise term.  A loss
of two k x n matrices (a batch whose columns are examples, or the n tokens of
one sequence) is the mean over the columns of the loss of each column.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp
from sympy import MatrixExpr, OneMatrix

from .. import algebra as alg
from ..errors import ShapeError
from .base import LOSSES, P, Q, as_expr

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
    """A loss: ``mse`` and ``binary_cross_entropy`` (means over the outputs of one
    example, as PyTorch's ``MSELoss`` and ``BCELoss``) or ``cross_entropy`` (the sum over the classes).

    Call it as ``loss(prediction, target)``; in a network declared over a batch it
    averages over the examples (the columns) too.  Softmax + cross-entropy
    simplifies to yhat - y under the stated assumption that each example's
    targets sum to 1.

    Attributes:
        name: its name.
        term: the entrywise loss in ``P`` (prediction) and ``Q`` (target).
        reduction: "sum" or "mean" over the outputs of one example.

    Examples:
        >>> import sympy as sp, symprop
        >>> yhat, y = sp.MatrixSymbol("yhat", 2, 1), sp.MatrixSymbol("y", 2, 1)
        >>> symprop.text(symprop.cross_entropy(yhat, y))
        'cross_entropy(ŷ, y)'
        >>> symprop.mse.reduction, symprop.cross_entropy.reduction
        ('mean', 'sum')
    """
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
    # The gradient of the sum of the entrywise terms with respect to {z}, the
    # pre-activation of that activation, where the derived form is unstable
    # (symprop/fused.py); keyed by activation name, in {z}, {y}, {axis}.
    fused_backward: dict = field(default_factory=dict)
    description: str = ""
    expr_class: type = field(init=False, repr=False)

    def __post_init__(self):
        self.expr_class = type(self.name, (LossExpr,), {"rule": self, "__module__": __name__})

    def __call__(self, prediction, target):
        prediction = as_expr(prediction, self.name)
        target = as_expr(target, self.name)
        if alg.shape_of(prediction) != alg.shape_of(target):
            raise ShapeError(
                f"{self.name}: the prediction has shape {alg.shape_of(prediction) or 'scalar'} "
                f"but the target has shape {alg.shape_of(target) or 'scalar'}"
            )
        return self.expr_class(prediction, target)

    def outputs(self, prediction) -> int:
        return prediction.shape[0] if isinstance(prediction, (MatrixExpr, sp.MatrixBase)) else 1

    @staticmethod
    def columns(prediction):
        """How many columns (examples, or tokens) the loss averages over."""
        return prediction.shape[1] if isinstance(prediction, (MatrixExpr, sp.MatrixBase)) else 1

    def factor(self, prediction):
        per_column = sp.Rational(1, self.outputs(prediction)) if self.reduction == "mean" else sp.S.One
        return per_column / self.columns(prediction)

    def value(self, prediction, target):
        """The loss as an expression of symprop matrix algebra."""
        if not isinstance(prediction, MatrixExpr):
            return self.factor(prediction) * self.term.xreplace({P: prediction, Q: target})
        entries = alg.lift(self.term, {P: prediction, Q: target}, prediction.shape)
        rows, cols = prediction.shape
        summed = alg.matmul(OneMatrix(1, rows), entries, OneMatrix(cols, 1))
        return alg.scale(self.factor(prediction), summed)

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
            rows, cols = target.shape
            if cols == 1:
                return [
                    Assumption(
                        alg.matmul(OneMatrix(1, rows), target),
                        sp.S.One,
                        "the targets of each example sum to 1 (one-hot labels or a probability vector)",
                    )
                ]
            return [
                Assumption(
                    alg.matmul(OneMatrix(1, rows), target),
                    OneMatrix(1, cols),
                    "every column of the targets sums to 1 (one-hot labels or probability vectors)",
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
        # -(y log sigma(z) + (1-y) log(1 - sigma(z))) = softplus(z) - y z;
        # after a softmax: log p = z - lse(z), log(1 - p) = log1m_softmax(z)
        fused={
            "sigmoid": "(softplus({z}) - {y} * {z}).sum()",
            "softmax": "(-{y} * ({z} - {lse}) - (1.0 - {y}) * log1m_softmax({z}, axis={axis})).sum()",
        },
        fused_helpers=("softplus", "logsumexp", "log1m_softmax"),
        # the derived delta divides by 1 - softmax(z), which rounds to 0 at saturation
        fused_backward={"softmax": "bce_softmax_backward({z}, {y}, axis={axis})"},
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


def _vjp_loss(node, g):
    # The target's share matters only when the target is itself computed from
    # the inputs (an autoencoder's reconstruction target); derive drops it otherwise.
    return [
        (node.prediction, node.rule.gradient(node.prediction, node.target, g)),
        (node.target, node.rule.gradient(node.prediction, node.target, g, wrt=Q)),
    ]



RULES = {LossExpr: _vjp_loss}
