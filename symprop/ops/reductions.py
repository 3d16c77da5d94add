"""Reductions and broadcasts along an axis, written as lecture notes write them.

A sum over the columns of X (n x c) is the product X 1_c; a sum over its
rows is 1_n^T X; a column v broadcast over c columns is v 1_c^T, a row r over
n rows is 1_n r.  So every reduction and broadcast here is a matrix product
with a ones vector, and its local derivative is the matrix-product rule of
``structural.py`` - which is the textbook one: the adjoint of a sum is
broadcast back (d(X 1)/dX: G 1^T), the adjoint of a broadcast is summed
(d(v 1^T)/dv: G 1).  Nothing is ever expanded into matrix entries.

The printers spell these products as NumPy reductions (``X.sum(axis=-1,
keepdims=True)``) and broadcasts, and as 1 / 1^T in LaTeX.

``axis`` follows NumPy: ``axis=0`` reduces over the rows (a 1 x c row of
results), ``axis=1`` over the columns (an n x 1 column).  In a network
declared over a batch (examples are columns), batch statistics run over
``axis=1``; the statistics of one example's features over ``axis=0``.
"""

from __future__ import annotations

import sympy as sp
from sympy import MatrixExpr, OneMatrix

from .. import algebra as alg
from ..errors import DeclarationError, ShapeError
from .base import as_expr


def _matrix(x, who):
    x = as_expr(x, who)
    if not isinstance(x, MatrixExpr):
        raise ShapeError(f"{who} needs a matrix expression, got the scalar {sp.sstr(x)}")
    return x


def _axis(axis, who) -> int:
    if axis not in (0, 1) or isinstance(axis, bool):
        raise DeclarationError(f"{who}: axis must be 0 (over the rows) or 1 (over the columns), got {axis!r}")
    return axis


def axis_length(x, axis: int):
    return x.shape[0] if axis == 0 else x.shape[1]


def ones(rows, cols) -> OneMatrix:
    """The rows x cols matrix of ones: 1_n is ``ones(n, 1)``, 1_m^T is ``ones(1, m)``.

    Args:
        rows: a positive integer or an integer positive Symbol (``m``).
        cols: the same.

    Examples:
        >>> import sympy as sp, symprop
        >>> m = sp.Symbol("m", integer=True, positive=True)
        >>> symprop.ones(1, m).shape
        (1, m)
        >>> symprop.text(sp.MatrixSymbol("b1", 4, 1) * symprop.ones(1, m))
        'b1 𝟏'
    """
    for d in (rows, cols):
        d = sp.sympify(d)
        if not (d.is_Integer and d > 0) and not (d.is_Symbol and d.is_integer and d.is_positive):
            raise ShapeError(f"ones({rows}, {cols}): dimensions are positive integers or integer positive Symbols")
    return OneMatrix(rows, cols)


def sum(x, axis: int):  # noqa: A001 - symprop.sum, as np.sum and torch.sum
    """Sum along ``axis`` as a product with a ones vector, as lecture notes write it.

    Args:
        x: a matrix expression.
        axis: 0 sums each column (1^T X, a row); 1 sums each row (X 1, a column).

    Examples:
        >>> import sympy as sp, symprop
        >>> X = sp.MatrixSymbol("X", 3, 5)
        >>> symprop.text(symprop.sum(X, 1)), symprop.sum(X, 1).shape
        ('X 𝟏', (3, 1))
    """
    x = _matrix(x, "sum")
    axis = _axis(axis, "sum")
    n = axis_length(x, axis)
    return alg.matmul(OneMatrix(1, n), x) if axis == 0 else alg.matmul(x, OneMatrix(n, 1))


def mean(x, axis: int, who: str = "mean"):
    """Mean along ``axis``: (1/n) 1^T X (axis=0) or (1/c) X 1 (axis=1).

    Args:
        x: a matrix expression.
        axis: 0 (over the rows of each column) or 1 (over the columns of each row).
        who: the operation named in error messages (``var`` passes its own name).

    Examples:
        >>> import sympy as sp, symprop
        >>> symprop.text(symprop.mean(sp.MatrixSymbol("X", 3, 5), 1))
        '1/5·X 𝟏'
    """
    x = _matrix(x, who)
    axis = _axis(axis, who)
    n = axis_length(x, axis)
    if n == 1:
        raise ShapeError(
            f"{who} over axis {axis} of a {x.shape[0]}x{x.shape[1]} matrix: a statistic over a single entry "
            "(is this one example where a batch was meant?)"
        )
    return alg.scale(sp.Integer(1) / n, sum(x, axis))


def broadcast(v, n, axis: int):
    """A column repeated as n columns (axis=1: v 1_n^T) or a row repeated as n rows (axis=0: 1_n v).

    Args:
        v: a column (axis=1) or a row (axis=0).
        n: how many copies: an integer or an integer positive Symbol.
        axis: 1 or 0, as above.

    Examples:
        >>> import sympy as sp, symprop
        >>> symprop.broadcast(sp.MatrixSymbol("v", 3, 1), 5, 1).shape
        (3, 5)
    """
    v = _matrix(v, "broadcast")
    axis = _axis(axis, "broadcast")
    if axis == 1:
        if v.shape[1] != 1:
            raise ShapeError(f"broadcast along axis 1 repeats a column; got shape {v.shape}")
        return alg.matmul(v, OneMatrix(1, n))
    if v.shape[0] != 1:
        raise ShapeError(f"broadcast along axis 0 repeats a row; got shape {v.shape}")
    return alg.matmul(OneMatrix(n, 1), v)


def center(x, axis: int, mu=None):
    """X minus its mean along ``axis``, broadcast back: X - mu 1^T or X - 1 mu."""
    x = _matrix(x, "center")
    mu = mean(x, axis) if mu is None else mu
    return alg.add(x, alg.neg(broadcast(mu, axis_length(x, axis), axis)))


def var(x, axis: int):
    """Population variance along ``axis`` (the 1/n form that batch and layer norm use).

    Args:
        x: a matrix expression.
        axis: 0 or 1, as in ``mean``.

    Examples:
        >>> import sympy as sp, symprop
        >>> symprop.var(sp.MatrixSymbol("X", 3, 5), 1).shape
        (3, 1)
    """
    c = center(x, axis)
    return mean(alg.hadamard_power(c, 2), axis, who="var")


def sqrt(x):
    """Entrywise square root of a matrix expression (of a scalar: ``sympy.sqrt``).

    Args:
        x: a matrix or scalar expression.

    Examples:
        >>> import sympy as sp, symprop
        >>> symprop.text(symprop.sqrt(sp.MatrixSymbol("v", 3, 1)))
        'v^∘1/2'
    """
    x = as_expr(x, "sqrt")
    if not isinstance(x, MatrixExpr):
        return sp.sqrt(x)
    return alg.hadamard_power(x, sp.Rational(1, 2))


def divide(a, b):
    """Entrywise division a ⊘ b of two matrices of the same shape.

    Args:
        a: the numerators.
        b: the denominators (broadcast a row or column first).

    Examples:
        >>> import sympy as sp, symprop
        >>> a, b = sp.MatrixSymbol("a", 3, 1), sp.MatrixSymbol("b", 3, 1)
        >>> symprop.text(symprop.divide(a, b))
        'a ⊘ b'
    """
    a, b = _matrix(a, "divide"), _matrix(b, "divide")
    if a.shape != b.shape:
        raise ShapeError(f"divide: shapes {a.shape} and {b.shape} differ (broadcast one of them first)")
    return alg.hadamard(a, alg.hadamard_power(b, -1))


RULES: dict = {}  # all of these are matrix products: structural.py's rules apply

__all__ = ["ones", "sum", "mean", "broadcast", "center", "var", "sqrt", "divide", "axis_length"]
