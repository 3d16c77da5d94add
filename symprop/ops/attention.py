"""Scaled dot-product attention, one head, in the column layout of the notes.

An example is a d x T matrix X whose columns are its T tokens.  With learned
W_Q, W_K (d_k x d) and W_V (d_v x d):

    Q = W_Q X,  K = W_K X,  V = W_V X          (d_k x T, d_k x T, d_v x T)
    S = K^T Q / sqrt(d_k)                      (T x T: S_ij = k_i . q_j / sqrt(d_k))
    P = softmax(S)                             (every column: query j's weights over the keys)
    O = V P                                    (d_v x T: column j = sum_i P_ij v_i)

This is the transpose of the row layout softmax(Q K^T / sqrt(d_k)) V of
Vaswani et al., so that tokens stay columns as examples are in the rest of
symprop.  Every step is an op of its own (matrix products, a constant scale,
softmax along columns), so ``derive`` takes the chain rule through S and P
with the ordinary rules; the softmax rule gives

    dS = P (.) (dP - 1 1^T (P (.) dP))

An optional causal (or any) mask M (T x T, entries 0 or 1, given as an input
of the network) keeps the scores where M_ij = 1 and sends the others to
-infinity before the softmax: ``Masked(S, M)``, whose local derivative passes
the adjoint through where M_ij = 1: dS = dS_masked (.) 1[M > 0].
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp
from sympy import MatrixExpr, MatrixSymbol

from .. import algebra as alg
from ..errors import DeclarationError, ShapeError
from .base import OP_NAMES, as_expr
from .markers import Constant, Hint, Named
from .softmax import Softmax

if TYPE_CHECKING:
    import numpy as np  # at run time only causal_mask needs NumPy: declaring a network does not load it


class Masked(MatrixExpr):
    """mask(S, M): S where M_ij = 1, -infinity where M_ij = 0."""

    NOTATION = (
        r"\operatorname{mask}(S, M)",
        "S where M is 1 and minus infinity where M is 0: softmax then gives those keys weight 0",
        "",
    )

    def __new__(cls, scores, mask):
        return MatrixExpr.__new__(cls, scores, mask)

    @property
    def scores(self):
        return self.args[0]

    @property
    def mask(self):
        return self.args[1]

    @property
    def shape(self):
        return self.scores.shape

    def _latex(self, printer):
        return rf"\operatorname{{mask}}\left({printer._print(self.scores)}, {printer._print(self.mask)}\right)"

    def _sympystr(self, printer):
        return f"mask({printer._print(self.scores)}, {printer._print(self.mask)})"

    def _numpycode(self, printer):
        return f"np.where({printer._print(self.mask)} > 0, {printer._print(self.scores)}, -np.inf)"

    def doit(self, **hints):
        return self


def _vjp_masked(node, g):
    # the masked entries are constants (-infinity): only the kept scores, 1[M > 0], get the adjoint
    from .activations import step

    return [(node.scores, alg.hadamard(g, alg.elementwise(step.function, node.mask)))]


def masked(scores, mask):
    """The scores where ``mask`` is 1 and -infinity where it is 0 (before a softmax).

    Args:
        scores: a T x T matrix expression.
        mask: a T x T input of 0/1 entries.

    Examples:
        >>> import sympy as sp, symprop
        >>> S, M = sp.MatrixSymbol("S", 3, 3), sp.MatrixSymbol("M", 3, 3)
        >>> symprop.text(symprop.masked(S, M))
        'mask(S, M)'
    """
    scores, mask = as_expr(scores, "masked"), as_expr(mask, "masked")
    mask = mask.symbol if isinstance(mask, Hint) else mask
    if not isinstance(mask, MatrixSymbol):
        raise DeclarationError(f"the attention mask must be an input (a MatrixSymbol), got {sp.sstr(mask)}")
    if mask.shape != scores.shape:
        raise ShapeError(
            f"the attention mask {mask.name!r} has shape {mask.shape} but the scores are {scores.shape[0]}x{scores.shape[1]} "
            "(one row per key, one column per query)"
        )
    return Masked(scores, Hint(mask, "attention_mask", "given"))


def attention(x, w_q, w_k, w_v, mask=None):
    """One head of scaled dot-product attention, O = V softmax(K^T Q / sqrt(d_k)), tokens as columns.

    This is the column layout of softmax(Q K^T / sqrt(d_k)) V.  The scores S
    and weights P are named in the derivation.

    Args:
        x: the d x T sequence, tokens as columns.
        w_q: the d_k x d query weights.
        w_k: the d_k x d key weights.
        w_v: the d_v x d value weights.
        mask: an optional T x T input of 0/1 entries (``causal_mask(T)`` for a decoder).

    Examples:
        >>> import sympy as sp, symprop
        >>> X = sp.MatrixSymbol("X", 4, 6)
        >>> Wq, Wk, Wv = sp.MatrixSymbol("W_Q", 2, 4), sp.MatrixSymbol("W_K", 2, 4), sp.MatrixSymbol("W_V", 3, 4)
        >>> symprop.attention(X, Wq, Wk, Wv).shape
        (3, 6)
    """
    x = as_expr(x, "attention")
    if not isinstance(x, MatrixExpr):
        raise ShapeError(f"attention needs a d x T matrix of tokens, got the scalar {sp.sstr(x)}")
    d, tokens = x.shape
    for w, what in ((w_q, "W_Q"), (w_k, "W_K"), (w_v, "W_V")):
        if not isinstance(w, MatrixExpr) or w.shape[1] != d:
            raise ShapeError(f"attention: {what} must have {d} columns (one per feature of a token), got {sp.sstr(w)}")
    if w_q.shape[0] != w_k.shape[0]:
        raise ShapeError(f"attention: W_Q and W_K must have the same number of rows (d_k), got {w_q.shape} and {w_k.shape}")
    d_k = Constant("d_k", int(w_q.shape[0]))
    q = Named(alg.matmul(w_q, x), "Q", description="queries, one column per token")
    k = Named(alg.matmul(w_k, x), "K", description="keys, one column per token")
    v = Named(alg.matmul(w_v, x), "V", description="values, one column per token")
    scores = alg.scale(1 / sp.sqrt(d_k), alg.matmul(alg.transpose(k), q))
    if mask is not None:
        scores = masked(scores, mask)
    s = Named(scores, "S", description="scores, key by query")
    p = Named(Softmax(s, 0), "P", description="attention weights, a distribution per query")
    return Named(alg.matmul(v, p), "O", description="output of the attention head")


def causal_mask(tokens: int) -> np.ndarray:
    """The T x T 0/1 mask of a decoder, column layout: key i is visible to query j when i <= j.

    Args:
        tokens: T, the sequence length.

    Examples:
        >>> import symprop
        >>> symprop.causal_mask(3)
        array([[1., 1., 1.],
               [0., 1., 1.],
               [0., 0., 1.]])
    """
    import numpy as np

    return np.triu(np.ones((tokens, tokens)))


OP_NAMES.update({"attention", "masked"})

RULES = {Masked: _vjp_masked}

__all__ = ["attention", "masked", "Masked", "causal_mask"]
