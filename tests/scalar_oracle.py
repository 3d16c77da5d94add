"""Scalar expansion: the independent oracle for tiny networks.

Every MatrixSymbol becomes an explicit matrix of scalar symbols, every op is
evaluated entry by entry from its *definition* in elementary functions (never
from symprop's derivative rules), and gradients come from ``sympy.diff`` per
entry.  Exact but explosive in size: tiny instances only.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement

from symprop import algebra as alg
from symprop import ops


def entry_symbols(sym):
    if isinstance(sym, sp.MatrixSymbol):
        rows, cols = (int(d) for d in sym.shape)
        return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{sym.name}_{i}_{j}"))
    return sym


def _scalar_function(func, arg):
    """f(arg) from its definition in elementary functions."""
    rule = ops.function_rule(func)
    if rule is not None:
        return rule.definition(arg)
    return func(arg)


def explicit(expr, env: dict, memo=None):
    """The explicit value (sp.Matrix or scalar) of a symprop/SymPy expression."""
    memo = {} if memo is None else memo
    if expr in memo:
        return memo[expr]
    if expr in env:
        out = env[expr]
    elif isinstance(expr, sp.MatrixSymbol):
        out = entry_symbols(expr)
    elif isinstance(expr, sp.OneMatrix):
        out = sp.ones(*expr.shape)
    elif isinstance(expr, sp.ZeroMatrix):
        out = sp.zeros(*expr.shape)
    elif isinstance(expr, sp.Identity):
        out = sp.eye(expr.shape[0])
    elif isinstance(expr, sp.MatAdd):
        parts = [explicit(a, env, memo) for a in expr.args]
        out = parts[0]
        for p in parts[1:]:
            out = out + p
    elif isinstance(expr, sp.MatMul):
        out = sp.S.One
        for a in expr.args:
            v = explicit(a, env, memo)
            out = out * v
    elif isinstance(expr, sp.HadamardProduct):
        parts = [explicit(a, env, memo) for a in expr.args]
        out = parts[0]
        for p in parts[1:]:
            out = out.multiply_elementwise(p)
    elif isinstance(expr, sp.HadamardPower):
        base = explicit(expr.base, env, memo)
        out = base.applyfunc(lambda v: v ** expr.exp)
    elif isinstance(expr, sp.Transpose):
        out = explicit(expr.arg, env, memo).T
    elif isinstance(expr, ElementwiseApplyFunction):
        inner = explicit(expr.expr, env, memo)
        body = alg.applied_function(expr)
        out = inner.applyfunc(lambda v: explicit(body, {**env, alg.T: v}, {}))
    elif isinstance(expr, ops.Softmax):
        arg = explicit(expr.arg, env, memo)
        if expr.axis == 0:
            out = sp.Matrix.hstack(*[ops.softmax_explicit(arg[:, j]) for j in range(arg.cols)])
        else:
            out = sp.Matrix.vstack(*[ops.softmax_explicit(arg[i, :].T).T for i in range(arg.rows)])
    elif isinstance(expr, (ops.Named, ops.Hint)):
        out = explicit(expr.args[0], env, memo)
    elif isinstance(expr, ops.Masked):
        scores, mask = explicit(expr.scores, env, memo), explicit(expr.mask, env, memo)
        out = scores.applyfunc(lambda v: v)
        for i in range(scores.rows):
            for j in range(scores.cols):
                out[i, j] = sp.Piecewise((scores[i, j], mask[i, j] > 0), (-sp.oo, True))
    elif isinstance(expr, ops.Constant):
        out = expr.value
    elif isinstance(expr, ops.Conv):
        out = _explicit_conv(explicit(expr.kernels, env, memo), explicit(expr.input, env, memo), expr.geometry)
    elif isinstance(expr, ops.Pool):
        out = _explicit_pool(explicit(expr.input, env, memo), expr.kind, expr.geometry)
    elif isinstance(expr, ops.Flatten):
        inner = explicit(expr.args[0], env, memo)
        out = sp.Matrix([inner[i, j] for i in range(inner.rows) for j in range(inner.cols)])
    elif isinstance(expr, ops.LossExpr):
        out = expr.rule.explicit(explicit(expr.prediction, env, memo), explicit(expr.target, env, memo))
    elif isinstance(expr, sp.Trace):
        out = explicit(expr.arg, env, memo).trace()
    elif isinstance(expr, MatrixElement):
        out = explicit(expr.parent, env, memo)[int(expr.i), int(expr.j)]
    elif isinstance(expr, ops.ScalarFunctionBase):
        out = _scalar_function(expr.func, explicit(expr.args[0], env, memo))
    elif isinstance(expr, (sp.Symbol, sp.Number, sp.NumberSymbol)) or not expr.args:
        out = expr
    elif isinstance(expr, sp.MatrixBase):
        out = expr
    else:
        out = expr.func(*[explicit(a, env, memo) for a in expr.args])
    if isinstance(out, sp.MatrixBase) and out.shape == (1, 1) and not isinstance(expr, sp.MatrixExpr):
        out = out[0, 0]
    memo[expr] = out
    return out


def _explicit_conv(k, x, geometry):
    """Z[o, (y, x)] = sum_c sum_ij K[o, c, i, j] Xpad[c, y s + i, x s + j], entry by entry."""
    c, h, w, o, kh, kw, stride, ph, pw = geometry
    ho, wo = (h + 2 * ph - kh) // stride + 1, (w + 2 * pw - kw) // stride + 1

    def pixel(ch, row, col):
        row, col = row - ph, col - pw
        return x[ch, row * w + col] if 0 <= row < h and 0 <= col < w else 0

    return sp.Matrix(o, ho * wo, lambda oc, pos: sp.Add(*[
        k[oc, (ch * kh + i) * kw + j] * pixel(ch, (pos // wo) * stride + i, (pos % wo) * stride + j)
        for ch in range(c) for i in range(kh) for j in range(kw)
    ]))


def _explicit_pool(x, kind, geometry):
    c, h, w, kh, kw, stride = geometry
    ho, wo = (h - kh) // stride + 1, (w - kw) // stride + 1

    def window(ch, pos):
        r, q = (pos // wo) * stride, (pos % wo) * stride
        return [x[ch, (r + i) * w + q + j] for i in range(kh) for j in range(kw)]

    if kind == "max":
        return sp.Matrix(c, ho * wo, lambda ch, pos: sp.Max(*window(ch, pos)))
    return sp.Matrix(c, ho * wo, lambda ch, pos: sp.Add(*window(ch, pos)) / (kh * kw))


def explicit_loss(net):
    value = explicit(net.loss, {})
    if isinstance(value, sp.MatrixBase):
        value = value[0, 0]
    return value


def numeric_point(net, rng, kink_margin=0.05):
    """Random values for every declared symbol, as {entry symbol: float} and {name: array}."""
    subs, arrays = {}, {}
    for sym in net.declared:
        if isinstance(sym, sp.MatrixSymbol):
            shape = tuple(int(d) for d in sym.shape)
            value = rng.normal(size=shape)
            arrays[sym.name] = value
            entries = entry_symbols(sym)
            for i in range(shape[0]):
                for j in range(shape[1]):
                    subs[entries[i, j]] = float(value[i, j])
        else:
            value = float(rng.normal())
            arrays[sym.name] = value
            subs[sym] = value
    return subs, arrays


def oracle_gradients(net, subs):
    """{param name: gradient array} by sympy.diff of the explicit loss, evaluated at ``subs``."""
    loss = explicit_loss(net)
    out = {}
    for p in net.params + net.inputs:
        entries = entry_symbols(p)
        if isinstance(entries, sp.MatrixBase):
            grad = np.array([[float(sp.diff(loss, e).evalf(subs=subs)) for e in row] for row in entries.tolist()])
        else:
            grad = float(sp.diff(loss, entries).evalf(subs=subs))
        out[p.name] = grad
    return out
