"""Matrix-expression helpers shared by the op rules, the rewrites and the printers.

Two things live here:

* smart constructors (``add``, ``matmul``, ``hadamard``, ``transpose`` ...) that
  flatten, drop identities and keep the order in which the textbook writes the
  factors.  They call SymPy's raw class constructors: the canonicalising
  ``hadamard_product``/``doit`` path costs ~0.6 ms a call and reorders factors,
  which would make derivations both slow and unlike the lecture notes.

* the bridge between elementwise matrix algebra and scalar algebra.  A tree of
  Hadamard products, sums and elementwise functions of equally shaped matrices
  is isomorphic to a scalar expression; ``scalarize`` maps it there (each
  non-elementwise subexpression becomes one scalar symbol) and ``lift`` maps a
  scalar expression back.  Activation derivatives, loss derivatives and the
  "cancel elementwise" rewrite are all written once, in scalar algebra.
"""

from __future__ import annotations

import functools

import sympy as sp
from sympy import (
    HadamardPower,
    HadamardProduct,
    Identity,
    MatAdd,
    MatMul,
    MatrixExpr,
    MatrixSymbol,
    OneMatrix,
    Transpose,
    ZeroMatrix,
)
from sympy.core.symbol import Str
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

# The variable of every elementwise Lambda symprop builds.  A fixed Symbol (not
# a Dummy) makes two applications of the same function compare equal, so a
# subexpression written twice by the user is recognised as one node, and keeps
# the output independent of how many Dummies were created before.
T = sp.Symbol("_t")


def is_matrix(expr) -> bool:
    return isinstance(expr, MatrixExpr)


def shape_of(expr) -> tuple:
    """Shape of a matrix expression; ``()`` for a scalar."""
    return tuple(expr.shape) if is_matrix(expr) else ()


def is_zero(expr) -> bool:
    if is_matrix(expr):
        return isinstance(expr, ZeroMatrix)
    return expr == 0


def zero_like(expr):
    return ZeroMatrix(*expr.shape) if is_matrix(expr) else sp.S.Zero


def is_one_matrix(expr) -> bool:
    return isinstance(expr, OneMatrix)


def is_all_ones(expr) -> bool:
    """The matrix of ones, also written as an outer product of ones vectors (1 1^T)."""
    if isinstance(expr, OneMatrix):
        return True
    return (
        isinstance(expr, MatMul)
        and all(isinstance(f, OneMatrix) for f in expr.args)
        and all(f.shape[1] == 1 for f in expr.args[:-1])
    )


# --------------------------------------------------------------------------
# Smart constructors
# --------------------------------------------------------------------------


def add(*terms):
    """Sum of scalars or of equally shaped matrices, flattened, zeros dropped."""
    flat = []
    for term in terms:
        if isinstance(term, (MatAdd, sp.Add)):
            flat.extend(term.args)
        elif not is_zero(term):
            flat.append(term)
    if not flat:
        return terms[0] if terms else sp.S.Zero
    if is_matrix(flat[0]):
        flat = _collect(flat)
        if not flat:
            return ZeroMatrix(*terms[0].shape)
    if len(flat) == 1:
        return flat[0]
    if is_matrix(flat[0]):
        return MatAdd(*flat)
    return sp.Add(*flat)


def _collect(terms) -> list:
    """c1 T + c2 T -> (c1 + c2) T, in the order the terms first appear (A (.) A's two shares)."""
    coefficients: dict = {}
    for term in terms:
        c, rest = coefficient_split(term)
        coefficients[rest] = coefficients.get(rest, sp.S.Zero) + c
    if len(coefficients) == len(terms):
        return list(terms)
    return [scale(c, rest) for rest, c in coefficients.items() if c != 0]


def coefficient_split(expr):
    """Split ``c * M`` into the scalar coefficient ``c`` and the matrix part ``M``."""
    if isinstance(expr, MatMul):
        scalars = [a for a in expr.args if not is_matrix(a)]
        mats = [a for a in expr.args if is_matrix(a)]
        if scalars:
            rest = mats[0] if len(mats) == 1 else MatMul(*mats)
            return sp.Mul(*scalars), rest
    return sp.S.One, expr


def scale(coefficient, expr):
    """``coefficient * expr`` for a scalar coefficient, keeping ``c (A - B)`` grouped."""
    coefficient = sp.sympify(coefficient)
    if coefficient == 1:
        return expr
    if coefficient == 0:
        return zero_like(expr)
    if not is_matrix(expr):
        return coefficient * expr
    if is_zero(expr):
        return expr
    inner, rest = coefficient_split(expr)
    coefficient = coefficient * inner
    if coefficient == 1:
        return rest
    factors = rest.args if isinstance(rest, MatMul) else (rest,)
    return MatMul(coefficient, *factors)


def neg(expr):
    return scale(-1, expr)


def matmul(*factors):
    """Matrix product; scalar factors are gathered into one leading coefficient."""
    coefficient = sp.S.One
    mats = []
    for f in factors:
        if isinstance(f, MatMul):
            c, rest = coefficient_split(f)
            coefficient *= c
            mats.extend(rest.args if isinstance(rest, MatMul) else (rest,))
        elif is_matrix(f):
            mats.append(f)
        else:
            coefficient *= f
    if any(isinstance(m, ZeroMatrix) for m in mats) or coefficient == 0:
        return ZeroMatrix(mats[0].shape[0], mats[-1].shape[1])
    # Identity and the 1x1 ones matrix change nothing in a product.
    kept = [m for m in mats if not isinstance(m, Identity) and not (is_one_matrix(m) and m.shape == (1, 1))]
    if not kept:
        kept = [mats[0]]
    body = kept[0] if len(kept) == 1 else MatMul(*kept)
    return scale(coefficient, body)


def hadamard(*factors):
    """Elementwise product; ones matrices dropped, scalar factors made a coefficient."""
    coefficient = sp.S.One
    mats = []
    for f in factors:
        if isinstance(f, HadamardProduct):
            mats.extend(f.args)
        elif is_matrix(f):
            c, rest = coefficient_split(f)
            if c != 1 and not isinstance(rest, MatMul):
                coefficient *= c
                f = rest
            if isinstance(f, HadamardProduct):
                mats.extend(f.args)
            else:
                mats.append(f)
        else:
            coefficient *= f
    if any(isinstance(m, ZeroMatrix) for m in mats) or coefficient == 0:
        return ZeroMatrix(*mats[0].shape)
    kept = [m for m in mats if not is_all_ones(m)]
    if not kept:
        body = mats[0]
    elif len(kept) == 1:
        body = kept[0]
    else:
        body = HadamardProduct(*kept)
    return scale(coefficient, body)


def hadamard_power(base, exponent):
    exponent = sp.sympify(exponent)
    if exponent == 1:
        return base
    if exponent == 0:
        return OneMatrix(*base.shape)
    if isinstance(base, HadamardPower):
        return hadamard_power(base.base, base.exp * exponent)
    return HadamardPower(base, exponent)


def transpose(expr):
    """Transpose without expanding sums (``(A + B)^T`` stays as written)."""
    # A 1x1 matrix equals its transpose, but the transpose stays written: in the
    # batch form a per-example 1x1 value becomes a 1 x m row (delta a^T -> Delta A^T).
    if not is_matrix(expr):
        return expr
    if isinstance(expr, Transpose):
        return expr.arg
    if isinstance(expr, (OneMatrix, ZeroMatrix)):
        return type(expr)(expr.shape[1], expr.shape[0])
    if isinstance(expr, Identity):
        return expr
    if isinstance(expr, MatMul):
        c, rest = coefficient_split(expr)
        factors = rest.args if isinstance(rest, MatMul) else (rest,)
        return matmul(c, *[transpose(f) for f in reversed(factors)])
    return Transpose(expr)


class _BuiltOnce:
    """``doit`` stops here and the shape is the one computed at construction (``_shape``).

    SymPy's ``doit`` and ``shape`` recurse into the arguments, through every
    layer below: declaring an L-layer network cost O(L^2) and overflowed the
    stack near 300 layers.  Stopping at each activation (and residual sum)
    keeps every such query one layer long.
    """

    @property
    def shape(self):
        return self._shape

    def doit(self, **hints):
        return self


class EntrywiseApply(_BuiltOnce, ElementwiseApplyFunction):
    """SymPy's ElementwiseApplyFunction, except that ``doit`` stops here.

    ``W * a + a`` makes SymPy call ``doit`` on every argument, recursively.  A
    residual network's expression is a DAG whose tree doubles with each layer,
    so a ``doit`` that descends costs 2^depth; stopping at each activation keeps
    building the expression linear in depth.
    """

    def __new__(cls, function, expr):
        obj = MatrixExpr.__new__(cls, function, expr)
        obj._shape = tuple(expr.shape)  # the layer below has its own: no recursion (see _BuiltOnce)
        return obj

    def __add__(self, other):
        # f(W h + b) + h with h itself a sum: a residual block.  SymPy's "+"
        # would flatten h's terms into a new sum, every block again (a tower of
        # L blocks cost O(L^2) to write down); the block's sum stays nested.
        if isinstance(other, MatAdd) and is_matrix(other) and other.shape == self.shape:
            return NestedSum(self, other)
        return super().__add__(other)

    # SymPy's own str() and latex() (a delta in a notebook) write f(z1), as the notes do,
    # not Lambda(_t, 1[_t > 0]).(z1); symprop's printers keep their own rule.
    def _sympystr(self, printer):
        from .printing import print_entrywise

        return print_entrywise(printer, self)

    def _latex(self, printer):
        from .printing import print_entrywise

        return print_entrywise(printer, self)


class NestedSum(_BuiltOnce, MatAdd):
    """A sum that keeps the sums inside it as they were written (see EntrywiseApply.__add__)."""

    def __new__(cls, *args):
        obj = MatAdd.__new__(cls, *args)
        obj._shape = tuple(args[0].shape)
        return obj

    def __add__(self, other):
        if isinstance(other, EntrywiseApply) and other.shape == self.shape:
            return NestedSum(other, self)  # h + f(W h + b): the same block as f(W h + b) + h
        return super().__add__(other)


def elementwise(function, expr):
    """Apply a scalar function to every entry of a matrix expression.

    Args:
        function: a SymPy function class (``sp.exp``) or a one-argument ``sympy.Lambda``.
        expr: a matrix expression.

    Returns:
        SymPy's ``ElementwiseApplyFunction`` (a subclass of it) with a canonical Lambda.

    Examples:
        >>> import sympy as sp, symprop
        >>> x, u = sp.MatrixSymbol("x", 3, 1), sp.Symbol("u")
        >>> symprop.elementwise(sp.exp, x)
        exp(x)
        >>> symprop.elementwise(sp.Lambda(u, u * (1 - u)), x)
        x*(1 - x)
    """
    body = function(T)  # a Lambda or a function class, applied to the canonical variable
    # (ElementwiseApplyFunction's own constructor calls the function on 1x1
    # matrices to probe it; EntrywiseApply does not.)
    return EntrywiseApply(sp.Lambda(T, body), expr)


def canonical_lambda(lam: sp.Lambda) -> sp.Lambda:
    return sp.Lambda(T, lam(T))


def applied_function(node: ElementwiseApplyFunction):
    """The scalar body ``f(_t)`` of an elementwise application."""
    return _body(node.function)


@functools.lru_cache(maxsize=4096)
def _body(function):
    return function(T)  # every layer with the same activation asks: SymPy's Lambda call is slow


def inner(a, b):
    """``sum_ij a_ij b_ij`` as a scalar expression: tr(a^T b)."""
    return sp.Trace(matmul(transpose(a), b))


# --------------------------------------------------------------------------
# Elementwise algebra <-> scalar algebra
# --------------------------------------------------------------------------


def _is_broadcast_scalar(expr, shape) -> bool:
    return is_matrix(expr) and expr.shape == (1, 1) and shape != (1, 1)


class Scalarized:
    """A scalar image of an elementwise matrix expression, and the way back."""

    def __init__(self, shape):
        self.shape = tuple(shape)
        self.leaves: dict = {}  # matrix leaf -> scalar symbol
        self.symbols: dict = {}  # scalar symbol -> matrix leaf

    def leaf(self, expr) -> sp.Symbol:
        if expr not in self.leaves:
            # Deterministic names in order of discovery; leading underscore:
            # user names may not start with one, so these never collide.
            sym = sp.Symbol(f"_leaf{len(self.leaves)}")
            self.leaves[expr] = sym
            self.symbols[sym] = expr
        return self.leaves[expr]

    def to_scalar(self, expr):
        if not is_matrix(expr):
            return expr
        if isinstance(expr, OneMatrix):
            return sp.S.One
        if isinstance(expr, ZeroMatrix):
            return sp.S.Zero
        if isinstance(expr, MatAdd):
            return sp.Add(*[self.to_scalar(a) for a in expr.args])
        if isinstance(expr, HadamardProduct):
            return sp.Mul(*[self.to_scalar(a) for a in expr.args])
        if isinstance(expr, HadamardPower):
            return sp.Pow(self.to_scalar(expr.base), expr.exp)
        if isinstance(expr, ElementwiseApplyFunction):
            return applied_function(expr).xreplace({T: self.to_scalar(expr.expr)})
        if isinstance(expr, MatMul):
            c, rest = coefficient_split(expr)
            if c != 1:
                return c * self.to_scalar(rest)
            if all(isinstance(f, OneMatrix) for f in expr.args):
                # 1 1^T is the matrix of ones; 1^T 1 = n
                return sp.Mul(*[f.shape[1] for f in expr.args[:-1]])
            # A per-example scalar broadcast to a column: 1 s or v s.
            factors = expr.args
            if len(factors) == 2 and factors[1].shape == (1, 1) and expr.shape == self.shape:
                return self.to_scalar(factors[0]) * self.leaf(factors[1])
        return self.leaf(expr)

    def lift(self, sexpr):
        """The matrix expression (of ``self.shape``) whose entries are ``sexpr``."""
        if not self.shape:
            return sexpr.xreplace(self.symbols)
        parts = self._lift(sexpr)
        return parts

    def _lift(self, s):
        shape = self.shape
        if s in self.symbols:
            m = self.symbols[s]
            if _is_broadcast_scalar(m, shape):
                return matmul(OneMatrix(shape[0], 1), m) if shape[1] == 1 else matmul(OneMatrix(*shape), m)
            return m
        if not (s.free_symbols & set(self.symbols)):
            return scale(s, OneMatrix(*shape))
        if isinstance(s, sp.Add):
            return add(*[self._lift(a) for a in s.args])
        if isinstance(s, sp.Mul):
            coeff, vectors, scalars = [], [], []
            for a in s.args:
                if not (a.free_symbols & set(self.symbols)):
                    coeff.append(a)
                elif a in self.symbols and _is_broadcast_scalar(self.symbols[a], shape):
                    scalars.append(self.symbols[a])
                else:
                    vectors.append(self._lift(a))
            if vectors:
                body = hadamard(*vectors)
            else:
                body = OneMatrix(*shape) if shape[1] != 1 else OneMatrix(shape[0], 1)
            if scalars:
                body = matmul(body, *scalars)
            return scale(sp.Mul(*coeff), body)
        if isinstance(s, sp.Pow):
            return hadamard_power(self._lift(s.base), s.exp)
        if isinstance(s, sp.Function) and len(s.args) == 1:
            return elementwise(s.func, self._lift(s.args[0]))
        # Anything else of a single entry (a function of several arguments, say):
        # apply it entrywise as a Lambda of that entry.
        free = sorted(s.free_symbols & set(self.symbols), key=str)
        if len(free) == 1:
            (var,) = free
            return elementwise(sp.Lambda(var, s), self._lift(var))
        raise TypeError(f"cannot lift {s} to an elementwise matrix expression")


def lift(sexpr, mapping: dict, shape):
    """The matrix expression of ``shape`` whose entries are the scalar ``sexpr``.

    ``mapping`` sends scalar symbols to the matrices (or per-example 1x1
    scalars) they stand for.
    """
    s = Scalarized(shape)
    for sym, mat in mapping.items():
        s.leaves[mat] = sym
        s.symbols[sym] = mat
    return s.lift(sexpr)


ELEMENTWISE_CLASSES = (MatAdd, HadamardProduct, HadamardPower, ElementwiseApplyFunction, OneMatrix, ZeroMatrix)


def is_elementwise_node(expr, shape) -> bool:
    """True if ``expr`` is built entrywise from equally shaped operands."""
    if isinstance(expr, ELEMENTWISE_CLASSES):
        return True
    if isinstance(expr, MatMul):
        c, rest = coefficient_split(expr)
        if c != 1:
            return True
        f = expr.args
        return len(f) == 2 and f[1].shape == (1, 1) and expr.shape == tuple(shape) and shape != (1, 1)
    return False


class TensorSymbol(MatrixSymbol):
    """A MatrixSymbol that stands for a tensor: images (C, H, W) and kernels (O, C, kh, kw).

    It is the matrix of its first axis by the rest flattened (C x H*W, O x C*kh*kw), the
    layout of im2col, so every matrix rule applies to it; ``dims`` keeps the tensor's
    shape for the convolution ops, the notes and the code's API.
    """

    def __new__(cls, name, *args):
        dims = args[-1]  # (dims,) or, when SymPy rebuilds it from its args, (rows, cols, dims)
        dims = tuple(int(d) for d in dims)
        rest = 1
        for d in dims[1:]:
            rest *= d
        return sp.Basic.__new__(cls, Str(name) if isinstance(name, str) else name, sp.Integer(dims[0]),
                                sp.Integer(rest), sp.Tuple(*[sp.Integer(d) for d in dims]))

    def doit(self, **hints):
        return self

    @property
    def name(self):
        return self.args[0].name

    @property
    def shape(self):
        return (self.args[1], self.args[2])

    @property
    def dims(self) -> tuple:
        return tuple(int(d) for d in self.args[3])

    @property
    def free_symbols(self):
        return {self}

    def _eval_subs(self, old, new):
        return None


def matrix_symbol_like(name: str, expr, dims=None) -> sp.Basic:
    """A symbol of the same kind and shape as ``expr`` (MatrixSymbol or Symbol; a
    TensorSymbol when ``expr`` is one, or ``dims`` gives the tensor it stands for)."""
    dims = dims or getattr(expr, "dims", None)
    if dims is not None and is_matrix(expr):
        return TensorSymbol(name, dims)
    if is_matrix(expr):
        return MatrixSymbol(name, *expr.shape)
    return sp.Symbol(name)
