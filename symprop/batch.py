"""The batch form of a per-example derivation.

Conventions (as in most lecture notes): the columns of X, Y, Z^[l], A^[l] are
the m examples; Delta^[l] stacks the per-example deltas as columns; the loss is
the batch mean, so every parameter gradient is (1/m) times the sum of its
per-example gradients.  That sum becomes a matrix product where the
per-example gradient is an outer product (delta a^T -> Delta A^T) and a
product with the ones vector where it is a column (delta -> Delta 1_m).

Per-example expressions are built from column-wise operations, so they batch
by replacing each per-example symbol with its batch matrix, a bias b with
b 1_m^T, and an inner product of two per-example columns u^T v with the row of
column-wise inner products 1^T (U * V).

Scalar networks, and anything the matrix rules do not cover, get the
explicit form with indexed examples: (1/m) sum_i g(x^(i), ...).
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp
from sympy import (
    HadamardPower,
    HadamardProduct,
    MatAdd,
    MatMul,
    MatrixExpr,
    MatrixSymbol,
    OneMatrix,
    Transpose,
)
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from . import algebra as alg
from . import ops

M = sp.Symbol("m", integer=True, positive=True)  # examples in the batch
INDEX = sp.Symbol("i", integer=True, positive=True)  # index of an example


class NotBatchable(Exception):
    pass


def batch_name(name: str) -> str:
    if name.startswith("delta"):
        return "Delta" + name[5:]
    if name.startswith("d") and len(name) > 1 and name[1] != "_":
        return "d" + batch_name(name[1:])
    return name[0].upper() + name[1:]


class Batcher:
    def __init__(self, per_example: set, taken: set):
        self.per_example = per_example  # symbols that hold one example's value
        self.taken = taken
        self.symbols: dict = {}

    def symbol(self, s):
        if s not in self.symbols:
            name = batch_name(s.name)
            if name in self.taken:
                name += "_B"
            if isinstance(s, MatrixSymbol):
                if s.shape[1] != 1:
                    raise NotBatchable(s)
                self.symbols[s] = MatrixSymbol(name, s.shape[0], M)
            else:
                self.symbols[s] = MatrixSymbol(name, 1, M)
        return self.symbols[s]

    def is_per_example(self, e) -> bool:
        return bool(e.free_symbols & self.per_example)

    # -- column-wise expressions ---------------------------------------------
    def columns(self, e):
        """The batch matrix whose column i is ``e`` evaluated at example i."""
        if not self.is_per_example(e):
            return e
        if e in self.per_example:
            return self.symbol(e)
        if not isinstance(e, MatrixExpr):
            raise NotBatchable(e)
        if isinstance(e, MatAdd):
            return alg.add(*[self._broadcast(self.columns(a), e.shape) for a in e.args])
        if isinstance(e, HadamardProduct):
            return alg.hadamard(*[self._broadcast(self.columns(a), e.shape) for a in e.args])
        if isinstance(e, HadamardPower):
            return alg.hadamard_power(self.columns(e.base), e.exp)
        if isinstance(e, ElementwiseApplyFunction):
            return alg.elementwise(e.function, self.columns(e.expr))
        if isinstance(e, ops.Softmax):
            return ops.Softmax(self.columns(e.arg))
        if isinstance(e, MatMul):
            return self._product(e)
        raise NotBatchable(e)

    def _broadcast(self, b, shape):
        """A term that is the same for every example, widened to the batch."""
        if isinstance(b, MatrixExpr) and b.shape == tuple(shape):
            if isinstance(b, OneMatrix):
                return OneMatrix(shape[0], M)
            if shape[1] == 1 and not self.is_per_example(b):
                return alg.matmul(b, OneMatrix(1, M))
        return b

    def _product(self, e):
        c, rest = alg.coefficient_split(e)
        if not self.is_per_example(c):
            factors = list(rest.args) if isinstance(rest, MatMul) else [rest]
        else:
            raise NotBatchable(e)
        out = []
        i = 0
        while i < len(factors):
            f = factors[i]
            nxt = factors[i + 1] if i + 1 < len(factors) else None
            if (
                isinstance(f, Transpose)
                and self.is_per_example(f)
                and nxt is not None
                and self.is_per_example(nxt)
                and nxt.shape[1] == 1
            ):
                # u^T v of one example -> the row of column-wise inner products
                u, v = self.columns(f.arg), self.columns(nxt)
                out.append(alg.matmul(OneMatrix(1, f.arg.shape[0]), alg.hadamard(u, v)))
                i += 2
                continue
            if f.shape == (1, 1) and self.is_per_example(f) and out and out[-1].shape[1] == M and out[-1].shape[0] != 1:
                # a per-example column times a per-example scalar: entrywise with the broadcast row
                # (a constant column times it stays a product: the outer product with the row)
                left = out.pop()
                out.append(alg.hadamard(left, alg.matmul(OneMatrix(left.shape[0], 1), self.columns(f))))
                i += 1
                continue
            if isinstance(f, OneMatrix) and f.shape[1] == 1 and not out and nxt is not None and nxt.shape == (1, 1):
                out.append(f)  # 1 s: broadcast of a per-example scalar, stays 1 S
                i += 1
                continue
            out.append(self.columns(f) if self.is_per_example(f) else f)
            i += 1
        return alg.scale(c, alg.matmul(*out))

    # -- sums over the batch -----------------------------------------------
    def batch_sum(self, e, shape):
        """sum_i e(example i), as a matrix expression of ``shape``."""
        terms = e.args if isinstance(e, MatAdd) else (e,)
        out = []
        for term in terms:
            if not self.is_per_example(term):
                out.append(alg.scale(M, term))
                continue
            c, rest = alg.coefficient_split(term)
            if self.is_per_example(c):
                raise NotBatchable(term)
            factors = list(rest.args) if isinstance(rest, MatMul) else [rest]
            batched = []
            for f in factors:
                if isinstance(f, Transpose) and self.is_per_example(f):
                    batched.append(alg.transpose(self.columns(f.arg)))
                else:
                    batched.append(self.columns(f))
            product = alg.matmul(*batched)
            if product.shape == tuple(shape):
                out.append(alg.scale(c, product))
            elif product.shape == (shape[0], M) and shape[1] == 1:
                out.append(alg.scale(c, alg.matmul(product, OneMatrix(M, 1))))
            elif product.shape == (M, shape[1]) and shape[0] == 1:
                out.append(alg.scale(c, alg.matmul(OneMatrix(1, M), product)))
            else:
                raise NotBatchable(term)
        return alg.add(*out)


def columns_per_example(network) -> bool:
    """True if every per-example value is a scalar, a column or a row (the classic layout)."""
    data = set(network.inputs) | set(network.targets)
    values = list(network.inputs) + list(network.targets)
    for n in network.nodes:  # only values that depend on the example: W^T named once (tied weights) is a constant
        if n.definition.free_symbols & data:
            data.add(n.symbol)
            values.append(n.symbol)
    # an image or a kernel is a tensor even when its matrix happens to be a row
    return all(not isinstance(v, MatrixExpr) or (1 in v.shape and getattr(v, "dims", None) is None) for v in values)


EXAMPLE_SUFFIX = "__i"  # x__i is x^(i); user names may not contain "__"


def indexed(e, per_example: set):
    """``e`` with each per-example symbol s replaced by s^(i) (example i of the batch)."""
    mapping = {}
    for s in e.free_symbols & per_example:
        if isinstance(s, MatrixSymbol):
            mapping[s] = MatrixSymbol(s.name + EXAMPLE_SUFFIX, *s.shape)
        else:
            mapping[s] = sp.IndexedBase(s.name)[INDEX]
    return e.xreplace(mapping)


def batcher_for(network, steps) -> Batcher:
    """The Batcher of a derivation: its per-example symbols, and the names its batch matrices may not take."""
    per_example = set(network.inputs) | set(network.targets)
    for s in steps:
        if s.kind in ("forward", "loss") or (s.kind == "adjoint"):
            per_example.add(s.symbol)
    taken = {s.name for s in network.declared} | {s.name for s in steps}
    return Batcher(per_example, taken)


def batch_forms(network, steps):
    """The steps with ``batched`` filled in.

    A network declared over a batch is in batch form already; one whose
    examples are matrices (sequences, images) has no column-stacked batch
    form: for both, ``batched`` stays None.
    """
    if network.batch is not None or not columns_per_example(network):
        return list(steps)
    batcher = batcher_for(network, steps)
    per_example = batcher.per_example
    loss_row = sp.IndexedBase("L")[INDEX]
    out = []
    for s in steps:
        batched = None
        lhs = s.symbol
        per_example_step = s.kind in ("forward", "adjoint") or (s.kind == "gradient" and s.role == "input")
        try:
            if per_example_step and not network.is_scalar and isinstance(s.symbol, MatrixSymbol):
                lhs = batcher.symbol(s.symbol)
            elif per_example_step:
                lhs = indexed(s.symbol, per_example | {s.symbol})
            if s.kind == "loss":
                batched = sp.Sum(loss_row, (INDEX, 1, M)) / M
            elif s.kind in ("forward", "adjoint"):
                if network.is_scalar:
                    batched = indexed(s.expr, per_example)
                else:
                    batched = batcher.columns(s.expr)
            elif s.kind == "gradient" and s.role == "input":
                # dL/dx^(i) of the batch mean: per example, 1/m of the per-example gradient
                if network.is_scalar:
                    batched = indexed(s.expr, per_example) / M
                else:
                    batched = alg.scale(1 / M, batcher.columns(s.expr))
            elif s.kind == "gradient":
                if network.is_scalar or not isinstance(s.symbol, MatrixExpr):
                    batched = sp.Sum(indexed(s.expr, per_example), (INDEX, 1, M)) / M
                else:
                    shape = s.symbol.shape
                    batched = alg.scale(1 / M, batcher.batch_sum(s.expr, shape))
            elif s.kind == "update":
                batched = s.expr
        except (NotBatchable, sp.matrices.exceptions.ShapeError):
            if s.kind == "gradient" and s.role == "parameter":
                batched = sp.Sum(indexed(s.expr, per_example), (INDEX, 1, M)) / M
            else:
                batched = None
        out.append(replace(s, batched=batched, batched_symbol=lhs))
    return out


__all__ = ["M", "INDEX", "batch_forms", "batch_name", "batcher_for"]
