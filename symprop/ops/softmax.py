"""Softmax: a vector op along an axis, its vector-Jacobian product and its NumPy spelling.

softmax(Z) normalises every column of Z (the classes of one example, or the
keys of one query); ``softmax(Z, axis=1)`` normalises every row.
"""

from __future__ import annotations

import sympy as sp
from sympy import MatrixExpr, OneMatrix

from .. import algebra as alg
from ..errors import ShapeError, UnsupportedOperationError
from .base import NUMPY_HELPERS, OP_NAMES, as_expr

class Softmax(MatrixExpr):
    """softmax of every column (axis 0): exp(z_k) / sum_j exp(z_j); of every row with axis 1."""

    def __new__(cls, arg, axis=0):
        # the column-wise form keeps one argument (as it always had)
        if int(axis) == 0:
            return MatrixExpr.__new__(cls, arg)
        return MatrixExpr.__new__(cls, arg, sp.Integer(1))

    NOTATION = (
        r"\operatorname{softmax}_{\mathrm{row}}",
        "softmax of every row (plain softmax acts on every column)",
        "",
    )

    @property
    def arg(self):
        return self.args[0]

    @property
    def axis(self) -> int:
        return 1 if len(self.args) > 1 else 0

    @property
    def shape(self):
        return self.args[0].shape

    def _latex(self, printer):
        name = r"\operatorname{softmax}" if self.axis == 0 else r"\operatorname{softmax}_{\mathrm{row}}"
        return rf"{name}\left({printer._print(self.arg)}\right)"

    def _sympystr(self, printer):
        return f"softmax({printer._print(self.arg)})" if self.axis == 0 else f"softmax_rows({printer._print(self.arg)})"

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

LOG1M_SOFTMAX_NUMPY = '''
def log1m_softmax(x, axis=-1):
    """log(1 - softmax(x)), accurate where softmax(x) rounds to 1 (and where it is tiny).

    Below 1/2, log1p(-p); above, the entry is the max and 1 - p is the share
    of the others: their log-sum-exp minus that of all, never 1 - p itself.
    """
    k = np.expand_dims(np.argmax(x, axis=axis), axis)
    at_max = np.zeros(x.shape, dtype=bool)
    np.put_along_axis(at_max, k, True, axis=axis)
    lse = logsumexp(x, axis=axis)
    p = np.exp(x - lse)
    rest = np.where(at_max, -np.inf, x)
    second = rest.max(axis=axis, keepdims=True)
    others = second + np.log(np.exp(rest - second).sum(axis=axis, keepdims=True))
    return np.where(at_max & (p > 0.5), others - lse, np.log1p(-np.minimum(p, 0.5)))
'''

BCE_SOFTMAX_BACKWARD_NUMPY = '''
def bce_softmax_backward(z, y, axis=-1):
    """d/dz of sum_k BCE(softmax(z)_k, y_k), stable where softmax(z) saturates.

    n p_j - y_j - p_j sum_(k != j) (1 - y_k) / (1 - p_k), with p = softmax(z);
    1 - p comes from log1m_softmax, and the max's huge 1 / (1 - p) only ever
    appears as the ratio p_j / (1 - p_max) <= 1, taken in logs.
    """
    n = z.shape[axis]
    log_p = z - logsumexp(z, axis=axis)
    log_q = log1m_softmax(z, axis=axis)
    p = np.exp(log_p)
    k = np.expand_dims(np.argmax(z, axis=axis), axis)
    at_max = np.zeros(z.shape, dtype=bool)
    np.put_along_axis(at_max, k, True, axis=axis)
    ratio = (1.0 - y) * np.exp(-np.where(at_max, 0.0, log_q))  # (1 - y_k) / (1 - p_k) off the max
    rest = np.where(at_max, 0.0, ratio).sum(axis=axis, keepdims=True)
    log_q_max = np.take_along_axis(log_q, k, axis=axis)
    y_max = np.take_along_axis(y, k, axis=axis)
    off_max = p * (rest - ratio) + (1.0 - y_max) * np.exp(np.where(at_max, 0.0, log_p - log_q_max))
    return n * p - y - np.where(at_max, p * rest, off_max)
'''

LOGSUMEXP_NUMPY = (
    "def logsumexp(x, axis=-1):\n"
    "    # log sum_k e^x_k = max + log sum_k e^(x_k - max): exp never overflows\n"
    "    top = x.max(axis=axis, keepdims=True)\n"
    "    return top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True))\n"
)


class _SoftmaxOp:
    """``softmax(x, axis=0)``: the softmax of every column of ``x`` (axis=0), or of every row (axis=1).

    Args (of a call):
        x: a column vector or a matrix expression.
        axis: 0 (each column, the default) or 1 (each row).

    Examples:
        >>> import sympy as sp, symprop
        >>> z = sp.MatrixSymbol("z", 3, 1)
        >>> symprop.text(symprop.softmax(z))
        'softmax(z)'
        >>> symprop.softmax(sp.MatrixSymbol("S", 4, 6), axis=1).shape
        (4, 6)
    """
    name = "softmax"
    latex = r"\operatorname{softmax}"
    description = "exp(z_k) / sum_j exp(z_j), per column"
    # For the lecture notes (render.py): the definition, with {z} for the
    # argument, and the Jacobian d softmax / dz, with {s} for the output.
    latex_definition = r"\operatorname{{softmax}}\left({z}\right)_k = \frac{{e^{{{z}_k}}}}{{\sum_j e^{{{z}_j}}}}"
    latex_jacobian = r"\operatorname{{diag}}\left({s}\right) - {s} {s_T}"  # {s_T}: s transposed, as the printer writes it
    init = "xavier"
    activation = True

    def __call__(self, x, axis: int = 0):
        """softmax of every column of ``x`` (axis=0, the default), or of every row (axis=1)."""
        x = as_expr(x, "softmax")
        if not isinstance(x, MatrixExpr):
            raise ShapeError("softmax needs a column vector or a matrix (a matrix expression), got the scalar " + sp.sstr(x))
        if axis not in (0, 1) or isinstance(axis, bool):
            raise ShapeError(f"softmax: axis must be 0 (each column) or 1 (each row), got {axis!r}")
        length = x.shape[axis]
        if length == 1 and x.shape[1] != 1:
            what = "column" if axis == 0 else "row"
            raise ShapeError(f"softmax along axis {axis} of a {x.shape[0]}x{x.shape[1]} matrix: each {what} has one entry")
        return Softmax(x, axis)

    def __repr__(self):
        return "symprop.softmax"


softmax = _SoftmaxOp()


def softmax_explicit(column: sp.Matrix) -> sp.Matrix:
    """softmax of an explicit column, in elementary functions (the test oracle)."""
    exps = [sp.exp(v) for v in column]
    total = sp.Add(*exps)
    return sp.Matrix([e / total for e in exps])



OP_NAMES.add("softmax")

# NumPy helpers (source, the helpers it calls): printing.helper_sources emits them.
NUMPY_HELPERS.update({
    "softmax": (SOFTMAX_NUMPY, ()),
    "logsumexp": (LOGSUMEXP_NUMPY, ()),
    "log1m_softmax": (LOG1M_SOFTMAX_NUMPY, ("logsumexp",)),
    "bce_softmax_backward": (BCE_SOFTMAX_BACKWARD_NUMPY, ("logsumexp", "log1m_softmax")),
})


def _vjp_softmax(node, g):
    # J = diag(s) - s s^T is symmetric: J^T g = s * g - s (s^T g) = s * (g - 1 (s^T g)) for a column;
    # for every column of a matrix at once: S * (G - 1 1^T (S * G)); for rows: S * (G - (S * G) 1 1^T).
    rows, cols = node.shape
    if node.axis == 0 and cols == 1:
        back = alg.matmul(OneMatrix(rows, 1), alg.transpose(node), g)
    elif node.axis == 0:
        back = alg.matmul(OneMatrix(rows, 1), OneMatrix(1, rows), alg.hadamard(node, g))
    else:
        back = alg.matmul(alg.hadamard(node, g), OneMatrix(cols, 1), OneMatrix(1, cols))
    return [(node.arg, alg.hadamard(node, alg.add(g, alg.neg(back))))]



RULES = {Softmax: _vjp_softmax}
