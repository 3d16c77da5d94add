"""Local derivatives of SymPy's own structural classes (MatMul, MatAdd, ...) and of scalar algebra.

A rule takes the node and the adjoint G flowing into it (same shape as the
node) and returns, for each child, the child's share of the adjoint.  Rules
may be handed children that are not active (constants, targets); derive
filters those out.
"""

from __future__ import annotations

import functools

import sympy as sp
from sympy import HadamardPower, HadamardProduct, MatAdd, MatMul, MatrixExpr, OneMatrix, Transpose
from sympy.core.function import AppliedUndef
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement

from .. import algebra as alg
from ..algebra import T
from ..errors import UnsupportedOperationError
from .base import OUT, undefined_message

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
        raise UnsupportedOperationError(undefined_message(undefined))
    # f'(t) in scalar algebra, with f(t) itself renamed so it lifts back to the
    # node: sigma' = sigma(t)(1 - sigma(t)) becomes a * (1 - a) once the node
    # is named a.
    local = _entrywise_derivative(body)
    return [(node.expr, alg.hadamard(g, alg.lift(local, {T: node.expr, OUT: node}, node.shape)))]


@functools.lru_cache(maxsize=1024)
def _entrywise_derivative(body):
    """f'(t) of an entrywise body f(t), f(t) itself written OUT; the same for
    every layer with that activation, so SymPy differentiates each body once."""
    local = sp.diff(body, T).xreplace({body: OUT})
    if local.has(sp.Derivative):
        raise UnsupportedOperationError(f"SymPy has no derivative of {sp.sstr(body.xreplace({T: sp.Symbol('z')}))}")
    return local



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
        raise UnsupportedOperationError(undefined_message({node}))
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



RULES = {
    MatAdd: _vjp_matadd,
    MatMul: _vjp_matmul,
    HadamardProduct: _vjp_hadamard,
    HadamardPower: _vjp_hadamard_power,
    Transpose: _vjp_transpose,
    sp.MatPow: _vjp_matpow,
    ElementwiseApplyFunction: _vjp_elementwise,
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
