"""Inverted dropout with the mask as a declared input: a (.) M / p.

The mask M (entries 0 or 1, the shape of a) is an input of the network, so
the derivation, the notes and gradient checks are deterministic: the
backward pass is the entrywise rule, dL/da = dL/d(out) (.) M / p - a dropped
unit passes no gradient.  p is the probability of keeping a unit (a named
constant, p_keep).  The generated module draws a fresh mask in ``train`` (each
unit kept with probability p) and keeps every unit in ``forward`` and
``loss`` (M = p: the layer is the identity at inference).
"""

from __future__ import annotations

import sympy as sp
from sympy import MatrixExpr, MatrixSymbol

from .. import algebra as alg
from ..errors import DeclarationError, ShapeError
from .base import OP_NAMES, as_expr
from .markers import Constant, Hint


def dropout(a, mask, keep: float):
    """Inverted dropout a ⊙ M / p, the 0/1 mask M an input (derivations and checks stay deterministic).

    The generated module draws M in ``train`` and keeps every unit in ``forward`` and ``loss``.

    Args:
        a: the activations.
        mask: a 0/1 input of the same shape, declared in the network's inputs.
        keep: p, the probability of keeping a unit (0 < p <= 1).

    Examples:
        >>> import sympy as sp, symprop
        >>> a, M = sp.MatrixSymbol("a", 4, 1), sp.MatrixSymbol("M", 4, 1)
        >>> symprop.text(symprop.dropout(a, M, keep=0.8))
        '1/p_keep·a ⊙ M'
    """
    a = as_expr(a, "dropout")
    if not isinstance(a, MatrixExpr):
        raise ShapeError(f"dropout needs a matrix expression (a layer's activations), got {sp.sstr(a)}")
    if not isinstance(mask, MatrixSymbol):
        raise DeclarationError(f"the dropout mask must be an input of the network (a MatrixSymbol), got {sp.sstr(mask)}")
    if mask.shape != a.shape:
        raise ShapeError(
            f"the dropout mask {mask.name!r} has shape {mask.shape} but the activations it drops are "
            f"{a.shape[0]}x{a.shape[1]}"
        )
    try:
        p = float(keep)
    except (TypeError, ValueError):
        raise DeclarationError(f"dropout: keep is the probability of keeping a unit, a number in (0, 1], got {keep!r}") from None
    if not 0 < p <= 1:
        raise DeclarationError(f"dropout: keep is the probability of keeping a unit, in (0, 1], got {keep!r}")
    p_keep = Constant("p_keep", keep)
    return alg.scale(1 / p_keep, alg.hadamard(a, Hint(mask, "dropout", repr(p))))


OP_NAMES.add("dropout")

RULES: dict = {}  # a Hadamard product and a constant factor: structural.py's rules apply

__all__ = ["dropout"]
