"""Normalisation layers: batch norm and layer norm, and the closed form of their backward pass.

Both standardise a matrix along an axis, then scale and shift each feature:

    mu    = mean of Z along the axis             (named mu)
    Z_c   = Z - mu, broadcast back               (Z_c, the centred values)
    var   = mean of Z_c (.) Z_c along the axis    (sigma^2)
    sigma = sqrt(var + epsilon)                  (sigma)
    Zhat  = Z_c (/) sigma, broadcast back        (Zhat)
    Ztilde = (gamma 1^T) (.) Zhat + beta 1^T     (Ztilde: gamma, beta per feature)

Batch norm (training mode) takes the statistics over the batch - the columns
of a matrix whose columns are examples (axis=1); layer norm over the features
of each column (axis=0).  Every line is built from the reductions of
``reductions.py``, so ``derive`` differentiates it node by node with the
ordinary rules: the notes show the chain rule through mu, sigma^2 and Zhat.

The node-by-node adjoint of Z adds three paths (direct, through mu, through
sigma^2).  They collect into the form lecture notes give (Ioffe & Szegedy
2015; CS231n's "simplified" backward), because the centred values sum to zero
along the axis:

    dZ = 1/n (1 (/) sigma) (.) (n dZhat - (dZhat 1) 1^T - Zhat (.) ((dZhat (.) Zhat) 1) 1^T)

(written for axis=1, n = the number of columns; axis=0 is its transpose).
That identity is this family's *closed form*: ``derive`` asks the marker on
Zhat for it and records it as a further form of dZ, with its reason; the
region's inner adjoints (mu, sigma^2, ...) are then no longer needed to
compute any gradient.  Tests check the closed form against the node-by-node
chain rule, SymPy's scalar expansion and torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy import MatrixExpr, MatrixSymbol, OneMatrix

from .. import algebra as alg
from ..errors import DeclarationError, ShapeError
from . import reductions as red
from .base import OP_NAMES, as_expr
from .markers import CLOSED_FORMS, Constant, Init, Named

EPSILON = Constant("epsilon", sp.Float(1e-5))  # PyTorch's default eps


@dataclass(frozen=True)
class ClosedForm:
    """The adjoint of a region's input, collected over the paths through the region."""

    input: sp.Basic  # the symbol whose adjoint it is
    region: frozenset  # names of the nodes inside the region (their contributions are replaced)
    share: sp.Basic  # the region's total contribution to the input's adjoint
    reason: str


def _case(base: str, x) -> str:
    """Zhat for a matrix of several columns, zhat for a column (as the notes write them)."""
    if x.shape[1] == 1:
        return base[0].lower() + base[1:]
    return base[0].upper() + base[1:]


def standardize(z, axis: int, epsilon=None, who: str = "standardize"):
    """(Z - mu) / sigma along ``axis``, with mu, Z_c, sigma^2, sigma and Zhat named."""
    z = as_expr(z, who)
    if not isinstance(z, MatrixExpr):
        raise ShapeError(f"{who} needs a matrix expression, got the scalar {sp.sstr(z)}")
    eps = EPSILON if epsilon is None else _epsilon(epsilon, who)
    n = red.axis_length(z, axis)
    if n == 1:
        if axis == 1:
            raise ShapeError(
                f"{who}: the statistics run over the columns (the batch), but the input is a single column "
                f"{z.shape[0]}x1; declare the network over a batch (Network(..., batch=m), examples as columns)"
            )
        raise ShapeError(f"{who}: the statistics run over the rows, but the input {z.shape[0]}x{z.shape[1]} has one row")
    over = "over the batch" if axis == 1 else "over the features"
    if not isinstance(z, (MatrixSymbol, Named)):
        z = Named(z, _case("Z", z), description="input of the normalisation")  # Z1, not a generic h
    mu = Named(red.mean(z, axis), "mu", description=f"mean {over}")
    centred = Named(red.center(z, axis, mu), _case("Z_c", z), description="centred values")
    var = Named(red.mean(alg.hadamard_power(centred, 2), axis), "var", description=f"variance {over}")
    stat_shape = var.shape
    sigma = Named(red.sqrt(alg.add(var, alg.scale(eps, OneMatrix(*stat_shape)))), "sigma", description="standard deviation")
    zhat = red.divide(centred, red.broadcast(sigma, n, axis))
    return Named(zhat, _case("Zhat", z), closed_form=f"standardize{axis}", description=f"normalised {over}")


def _epsilon(value, who):
    if isinstance(value, Constant):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DeclarationError(f"{who}: epsilon must be a positive number, got {value!r}") from None
    if not number > 0:
        raise DeclarationError(f"{who}: epsilon must be a positive number, got {value!r}")
    return Constant("epsilon", value)


def _affine(zhat, gamma, beta, who):
    n, cols = zhat.shape
    for p, what in ((gamma, "gamma"), (beta, "beta")):
        if p is None:
            continue
        if not isinstance(p, MatrixSymbol) or p.shape != (n, 1):
            shape = getattr(p, "shape", "a scalar")
            raise ShapeError(f"{who}: {what} must be a {n}x1 parameter (one per feature), got {sp.sstr(p)} of shape {shape}")
    out = zhat
    # generated code starts gamma at 1 and beta at 0: the layer starts as a plain standardisation
    if gamma is not None:
        gamma = Init(gamma, "ones")
        out = alg.hadamard(red.broadcast(gamma, cols, 1) if cols != 1 else gamma, out)
    if beta is not None:
        beta = Init(beta, "zeros")
        out = alg.add(out, red.broadcast(beta, cols, 1) if cols != 1 else beta)
    return Named(out, _case("Ztilde", zhat), description="scaled and shifted") if out is not zhat else out


def batch_norm(z, gamma=None, beta=None, epsilon=None):
    """Batch normalisation in training mode: mean and variance over the batch (the columns of Z).

    The derivation names μ, σ², the centred Z_c and Ẑ node by node, then gives
    the adjoint of Z the closed form of Ioffe and Szegedy as a further form.

    Args:
        z: n x m, examples as columns (a network declared with ``batch=m``).
        gamma: the n x 1 scale, a parameter (None: no scale).
        beta: the n x 1 shift, a parameter (None: no shift).
        epsilon: the number added to the variance (default ``constant("epsilon", 1e-5)``).

    Examples:
        >>> import sympy as sp, symprop
        >>> Z, g, b = sp.MatrixSymbol("Z", 3, 8), sp.MatrixSymbol("gamma", 3, 1), sp.MatrixSymbol("beta", 3, 1)
        >>> symprop.batch_norm(Z, g, b).shape
        (3, 8)
    """
    z = as_expr(z, "batch_norm")
    return _affine(standardize(z, 1, epsilon, "batch_norm"), gamma, beta, "batch_norm")


def layer_norm(z, gamma=None, beta=None, epsilon=None):
    """Layer normalisation: mean and variance over the features (the rows) of each column; needs no batch.

    Args:
        z: n x m (or n x 1, one example).
        gamma: the n x 1 scale, a parameter (None: no scale).
        beta: the n x 1 shift, a parameter (None: no shift).
        epsilon: the number added to the variance (default ``constant("epsilon", 1e-5)``).

    Examples:
        >>> import sympy as sp, symprop
        >>> Z, g, b = sp.MatrixSymbol("z", 4, 1), sp.MatrixSymbol("gamma", 4, 1), sp.MatrixSymbol("beta", 4, 1)
        >>> symprop.layer_norm(Z, g, b).shape
        (4, 1)
    """
    z = as_expr(z, "layer_norm")
    return _affine(standardize(z, 0, epsilon, "layer_norm"), gamma, beta, "layer_norm")


OP_NAMES.update({"batch_norm", "layer_norm", "standardize"})


# --------------------------------------------------------------------------
# The closed form
# --------------------------------------------------------------------------


def _region(network, zhat_node):
    """The named nodes of one standardisation, found from Zhat's definition."""
    by_symbol = {n.symbol: n for n in network.nodes}
    centred = sigma = None
    for s in zhat_node.definition.free_symbols:
        node = by_symbol.get(s)
        if node is None:
            continue
        if node.base == "sigma":
            sigma = node
        elif node.base.lower() == "z_c":
            centred = node
    if centred is None or sigma is None:
        return None
    var = next((by_symbol[s] for s in sigma.definition.free_symbols if s in by_symbol), None)
    mu = next((by_symbol[s] for s in centred.definition.free_symbols if s in by_symbol and by_symbol[s].base == "mu"), None)
    if var is None or mu is None:
        return None
    inputs = [s for s in mu.definition.free_symbols if isinstance(s, MatrixExpr)]
    if len(inputs) != 1:
        return None
    return inputs[0], mu, centred, var, sigma


def _standardize_closed_form(axis):
    def closed_form(network, zhat_node, adjoint_of) -> ClosedForm | None:
        found = _region(network, zhat_node)
        if found is None:
            return None
        z, mu, centred, var, sigma = found
        g = adjoint_of(zhat_node)  # the adjoint symbol of Zhat
        zhat = zhat_node.symbol
        n = red.axis_length(zhat, axis)

        def spread(v):  # a statistic (or a sum) broadcast back along the axis
            return red.broadcast(v, n, axis)

        def total(x):  # the sum along the axis
            return red.sum(x, axis)

        inv_sigma = spread(alg.hadamard_power(sigma.symbol, -1))
        inside = alg.add(
            alg.scale(n, g),
            alg.neg(spread(total(g))),
            alg.neg(alg.hadamard(zhat, spread(total(alg.hadamard(g, zhat))))),
        )
        share = alg.scale(sp.Integer(1) / n, alg.hadamard(inv_sigma, inside))
        over = "the batch" if axis == 1 else "the features"
        reason = (
            f"collect the three paths (centred values sum to 0 over {over})"
        )
        region = frozenset({mu.name, centred.name, var.name, sigma.name, zhat_node.name})
        return ClosedForm(z, region, share, reason)

    return closed_form


CLOSED_FORMS["standardize0"] = _standardize_closed_form(0)
CLOSED_FORMS["standardize1"] = _standardize_closed_form(1)

RULES: dict = {}

__all__ = ["batch_norm", "layer_norm", "standardize", "ClosedForm", "EPSILON"]
