"""Softmax: the column-wise vector op, its Jacobian-vector product and its NumPy spelling."""

from __future__ import annotations

import sympy as sp
from sympy import MatrixExpr, OneMatrix

from .. import algebra as alg
from ..errors import ShapeError, UnsupportedOperationError
from .base import OP_NAMES, as_expr

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
    latex_jacobian = r"\operatorname{{diag}}\left({s}\right) - {s} {s_T}"  # {s_T}: s transposed, as the printer writes it
    init = "xavier"
    activation = True

    def __call__(self, x):
        x = as_expr(x, "softmax")
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



OP_NAMES.add("softmax")


def _vjp_softmax(node, g):
    # J = diag(s) - s s^T is symmetric: J^T g = s * g - s (s^T g) = s * (g - 1 (s^T g))
    n = node.shape[0]
    return [(node.arg, alg.hadamard(node, alg.add(g, alg.neg(alg.matmul(OneMatrix(n, 1), alg.transpose(node), g)))))]



RULES = {Softmax: _vjp_softmax}
