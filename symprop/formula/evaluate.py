"""Numbers: shapes and products, and evaluating a tree at a sample point."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy as sp

from .. import ops
from ..errors import FormulaError
from .functions import ELEMENTARY_FUNCTIONS, _rule
from .tree import FormulaShapeError, children, subtrees, text


# ==========================================================================
# Shapes and products (shared by the numeric evaluator and the SymPy builder)
# ==========================================================================


def _scalar_like(shape) -> bool:
    return shape == () or shape == (1, 1)


def product_rule(kind, sa, sb):
    """How ``a <kind> b`` multiplies: "scale", "matmul", "hadamard", "broadcast", or None (no fit)."""
    if sa == () or sb == ():
        return "scale"
    fits = sa[1] == sb[0]
    if kind == "matmul":
        return "matmul" if fits else None
    if kind == "hadamard":
        if sa == sb:
            return "hadamard"
        return "scale" if _scalar_like(sa) or _scalar_like(sb) else None
    if kind == "star":  # NumPy's *: entrywise with broadcasting
        if sa == sb:
            return "hadamard"
        if all(x == y or x == 1 or y == 1 for x, y in zip(sa, sb)):
            return "broadcast"
        return None
    # juxtaposition / \cdot: the matrix product when it fits, else entrywise
    if fits:
        return "matmul"
    if sa == sb:
        return "hadamard"
    if _scalar_like(sa) or _scalar_like(sb):
        return "scale"
    return None


def _shape_text(shape) -> str:
    return "scalar" if shape == () else f"{shape[0]}×{shape[1]}"


def _no_fit(kind, a, b, sa, sb) -> FormulaShapeError:
    what = {"matmul": "@", "hadamard": "⊙", "star": "*", "juxt": "times"}[kind]
    hint = ""
    if kind in ("matmul", "juxt") and len(sa) == 2 and len(sb) == 2:
        if sa[0] == sb[0] or sa[1] == sb[1] or sa[1] == sb[1] or sa[0] == sb[1]:
            hint = ": missing transpose?"
    return FormulaShapeError(
        f"shapes do not fit: {text(a)} ({_shape_text(sa)}) {what} {text(b)} ({_shape_text(sb)}){hint}"
    )


# ==========================================================================
# Numbers: evaluating a tree at a sample point
# ==========================================================================


class Ones:
    """A ones vector: its length and orientation come from the product it is in.

    X 1 (X with several columns) sums the columns; 1 X (several rows) sums
    the rows; v 1 beside a column v, or 1 r beside a row r, repeats it - the
    notes print 1_m^T, and their terminal text prints both as 𝟏.
    """


class Spread:
    """A matrix repeated along axes whose length the formula leaves open (v 1ᵀ, 1 1ᵀ X), as NumPy broadcasts.

    ``value`` has length 1 along each axis in ``axes``; the other operand of a
    sum or an entrywise product (or the gradient's shape) fixes the length.
    """

    def __init__(self, value: np.ndarray, axes):
        self.value = value
        self.axes = frozenset(axes)

    @property
    def shape(self) -> tuple:
        return self.value.shape

    def to(self, shape) -> np.ndarray:
        """The value broadcast to ``shape`` (a FormulaShapeError when the fixed axes differ)."""
        if any(axis not in self.axes and self.value.shape[axis] != n for axis, n in enumerate(shape)):
            raise FormulaShapeError(f"a {_shape_text(self.value.shape)} matrix repeated along "
                                    f"{_axes_text(self.axes)} cannot be {_shape_text(shape)}")
        return np.broadcast_to(self.value, shape).copy()

    def map(self, f) -> "Spread":
        return Spread(f(self.value), self.axes)


def _axes_text(axes) -> str:
    return " and ".join({0: "the rows", 1: "the columns"}[a] for a in sorted(axes))


def _spread(value, axes):
    return Spread(value, axes) if axes else value


def _parts(v) -> tuple:
    """(value, its open axes) of a matrix or a Spread."""
    return (v.value, v.axes) if isinstance(v, Spread) else (v, frozenset())


def _ones_product(a, b, text_of):
    """a @ b where a or b is a ones vector or a Spread (None: neither is)."""
    if not isinstance(a, (Ones, Spread)) and not isinstance(b, (Ones, Spread)):
        return None
    if isinstance(a, Ones) and isinstance(b, Ones):
        return Spread(np.ones((1, 1)), (0, 1))  # 1 1ᵀ
    if isinstance(a, Ones) or isinstance(b, Ones):
        axis = 1 if isinstance(b, Ones) else 0  # X 1 runs along the columns of X, 1ᵀ X along its rows
        value, axes = _parts(a if axis == 1 else b)
        if axis in axes:
            raise FormulaShapeError(f"cannot tell the length of the ones vector in {text_of()}")
        if value.shape[axis] == 1:  # v 1ᵀ, 1 r: the column or the row repeated
            return Spread(value, axes | {axis})
        return _spread(value.sum(axis=axis, keepdims=True), axes - {axis})  # X 1, 1ᵀ X: the sums
    (av, aa), (bv, ba) = _parts(a), _parts(b)
    if 1 in aa and 0 in ba:  # (v 1ᵀ)(1 w): the inner length is the ones vectors' own, which nothing fixes
        raise FormulaShapeError(f"cannot tell the length of the ones vectors in {text_of()} (1ᵀ 1 is their length)")
    if 1 in aa:
        av = np.broadcast_to(av, (av.shape[0], bv.shape[0]))
    if 0 in ba:
        bv = np.broadcast_to(bv, (av.shape[1], bv.shape[1]))
    if av.shape[1] != bv.shape[0]:
        raise FormulaShapeError(f"shapes do not fit in {text_of()}: {_shape_text(av.shape)} times {_shape_text(bv.shape)}")
    return _spread(av @ bv, (aa & {0}) | (ba & {1}))


def _entrywise(a, b, f, strict: bool, what):
    """f(a, b) entry by entry, a ones vector or a Spread taking the other operand's shape.

    ``strict``: plain matrices must have equal shapes (⊙); else NumPy's
    broadcasting of a row or a column (x - mu, dxhat.sum(0)).
    """
    if isinstance(a, Ones):
        a = Spread(np.ones((1, 1)), (0, 1))
    if isinstance(b, Ones):
        b = Spread(np.ones((1, 1)), (0, 1))
    if isinstance(a, Spread) and isinstance(b, Spread):
        try:
            value = f(a.value, b.value)
        except ValueError:
            raise what() from None
        return _spread(value, a.axes & b.axes)
    if isinstance(a, Spread):
        return a.map(lambda v: f(v, b)) if not isinstance(b, np.ndarray) else f(a.to(b.shape), b)
    if isinstance(b, Spread):
        return b.map(lambda v: f(a, v)) if not isinstance(a, np.ndarray) else f(a, b.to(a.shape))
    sa, sb = _shape(a), _shape(b)
    if sa != sb and not (_scalar_like(sa) or _scalar_like(sb)):
        if strict or not _broadcasts(sa, sb):
            raise what()
    return f(a, b)


def _broadcasts(sa, sb) -> bool:
    return len(sa) == len(sb) == 2 and all(x == y or x == 1 or y == 1 for x, y in zip(sa, sb))


def free_indices(tree) -> tuple:
    """The component indices not bound by a sum over them, sorted."""
    free = set()

    def walk(node, bound):
        if node[0] == "entry":
            free.update(i for i in node[2] if i not in bound)
        if node[0] == "isum":
            walk(node[2], bound | {node[1]})
            return
        for _, child in children(node):
            walk(child, bound)

    walk(tree, frozenset())
    return tuple(sorted(free))


def _index_length(shape, position, count) -> int:
    if count == 2:
        return shape[position]
    return shape[0] if shape[1] == 1 else shape[1]


def _shape(v) -> tuple:
    if isinstance(v, (np.ndarray, Spread)):
        return v.shape
    if isinstance(v, Ones):
        return None
    return ()


_NUMPY = {}


def _numpy_functions():
    """NumPy helpers of every registered function, and their derivatives (our own printed code)."""
    key = tuple(sorted((name, id(rule)) for name, rule in ops.FUNCTIONS.items()))
    if _NUMPY.get("key") != key:
        from ..printing import NumPyPrinter, helper_namespace

        namespace_ = helper_namespace(list(ops.FUNCTIONS) + ["softmax"])
        derivatives = {}
        for name, rule in ops.FUNCTIONS.items():
            printer = NumPyPrinter()
            code = printer.doprint(rule.derivative)
            # eval of code printed by our own printer from the registry, never of user text
            derivatives[name] = eval(compile(f"lambda _t, _u: {code}", f"<{name}'>", "eval"), namespace_)
        _NUMPY.clear()
        _NUMPY.update(key=key, functions=namespace_, derivatives=derivatives)
    return _NUMPY


def _exact(expr):
    """An exact SymPy value with symprop's function objects replaced by their definitions."""
    for _ in range(8):
        mapping = {a: a.rule.definition(a.args[0]) for a in expr.atoms(ops.ScalarFunctionBase)}
        mapping.update({a: a.rule.explicit(a.prediction, a.target) for a in expr.atoms(ops.LossExpr)})
        if not mapping:
            break
        expr = expr.xreplace(mapping)
    return expr


class Evaluator:
    """Evaluate a tree: NumPy floats (matrices are 2-D arrays), or exact SymPy numbers for scalar networks.

    ``env`` maps names to values; ``examples`` (batched formulas) is one such
    mapping per example, used inside sums over the batch.  A formula in
    components (delta_j a_k) is evaluated at every value of its free indices:
    ``index_order`` says which index runs over the rows (default: alphabetical).
    """

    def __init__(self, env: dict, examples=None, exact: bool = False, index_order=None, ops=None):
        self.env = env
        self.examples = examples
        self.exact = exact
        self.ops = ops  # the network's convolutions and pools (layers.LayerOps), for ⋆, route_max, ...
        self.in_sum = False
        self.index_order = tuple(index_order or ())
        self.indices = {}  # component index -> its current value

    def __call__(self, tree, shape=None):
        """The value of ``tree``; ``shape``: the shape expected (fixes the length of a repeated vector, v 1ᵀ)."""
        free = free_indices(tree)
        with np.errstate(all="ignore"):  # inf and nan are verdicts ("not finite"), not warnings
            value = self.components(tree, free) if free else self.eval(tree)
        if isinstance(value, Ones):
            raise FormulaShapeError("cannot tell the length of the ones vector: use it in a product, as in Delta1 @ ones")
        if isinstance(value, Spread):
            if shape is not None and len(shape) == 2:
                try:
                    return value.to(shape)
                except FormulaShapeError:
                    pass
            return value.value
        return value

    def eval(self, node):
        op = node[0]
        method = getattr(self, "_" + op)
        return method(node)

    # leaves
    def _num(self, node):
        v = node[1]
        return sp.Rational(v.numerator, v.denominator) if self.exact else v.numerator / v.denominator

    def _name(self, node):
        name = node[1]
        if name not in self.env:
            if name == "m":
                raise FormulaError("m (the batch size) appears only in batched formulas")
            raise FormulaError(f"{name!r} has no value here")
        return self.env[name]

    def _ones(self, node):
        if node[1] is not None:
            return np.ones(node[1])
        return Ones()

    # structure
    def _neg(self, node):
        v = self.eval(node[1])
        if isinstance(v, Ones):
            v = Spread(np.ones((1, 1)), (0, 1))
        return v.map(lambda u: -u) if isinstance(v, Spread) else -v

    def _T(self, node):
        v = self.eval(node[1])
        if isinstance(v, Ones):
            return v  # a ones vector's orientation comes from its product
        if isinstance(v, Spread):
            return Spread(v.value.T, {1 - axis for axis in v.axes})
        return v.T if isinstance(v, np.ndarray) else v

    def _exact_ones(self, *values):
        if self.exact and any(isinstance(v, (Ones, Spread)) for v in values):
            raise FormulaShapeError("a ones vector in a formula of numbers: write the number")

    def _add(self, node, sign=1):
        a, b = self.eval(node[1]), self.eval(node[2])
        self._exact_ones(a, b)

        def fail():
            word = "add" if sign > 0 else "subtract"
            return FormulaShapeError(f"cannot {word} {text(node[1])} ({_shape_text(_shape(a))}) and "
                                     f"{text(node[2])} ({_shape_text(_shape(b))})")

        return _entrywise(a, b, (lambda u, v: u + v) if sign > 0 else (lambda u, v: u - v), False, fail)

    def _sub(self, node):
        return self._add(node, -1)

    def _mul(self, node):
        kind = node[1]
        a, b = self.eval(node[2]), self.eval(node[3])
        self._exact_ones(a, b)
        scalar = not isinstance(a, (np.ndarray, Ones, Spread)) or not isinstance(b, (np.ndarray, Ones, Spread))
        if kind in ("matmul", "juxt") and not scalar:
            product = _ones_product(a, b, lambda: text(node))
            if product is not None and (kind == "matmul" or self._fits(a, b)):
                return product
        if isinstance(a, (Ones, Spread)) or isinstance(b, (Ones, Spread)):
            return _entrywise(a, b, lambda u, v: u * v, kind == "hadamard",
                              lambda: _no_fit(kind, node[2], node[3], _shape(a), _shape(b)))
        sa, sb = _shape(a), _shape(b)
        rule = product_rule(kind, sa, sb)
        if rule is None:
            raise _no_fit(kind, node[2], node[3], sa, sb)
        if rule == "matmul":
            return a @ b
        return a * b  # scale, hadamard and broadcast are all NumPy's *

    @staticmethod
    def _fits(a, b) -> bool:
        """Juxtaposition with a ones vector or a repeated matrix: a product when the inner lengths can agree."""
        if isinstance(a, Ones) or isinstance(b, Ones):
            return True
        cols_open = isinstance(a, Spread) and 1 in a.axes
        rows_open = isinstance(b, Spread) and 0 in b.axes
        return cols_open or rows_open or a.shape[1] == b.shape[0]

    def _div(self, node):
        a, b = self.eval(node[1]), self.eval(node[2])
        self._exact_ones(a, b)
        if self.exact:
            return sp.zoo if b == 0 else a / b

        def fail():
            return FormulaShapeError(f"cannot divide {text(node[1])} ({_shape_text(_shape(a))}) by "
                                     f"{text(node[2])} ({_shape_text(_shape(b))})")

        with np.errstate(all="ignore"):
            return _entrywise(a, b, lambda u, v: u / v, False, fail)

    def _pow(self, node):
        a = self.eval(node[1])
        n = node[2]
        with np.errstate(all="ignore"):
            if self.exact:
                self._exact_ones(a)
                exponent = sp.Rational(n.numerator, n.denominator) if isinstance(n, Fraction) else n
                return sp.zoo if (a == 0 and n < 0) else a ** exponent
            if isinstance(a, Ones):
                a = Spread(np.ones((1, 1)), (0, 1))
            if isinstance(a, Spread):
                return a.map(lambda v: np.power(v, float(n)))
            if isinstance(a, np.ndarray):
                return np.power(a, float(n))
            return np.inf if (a == 0 and n < 0) else float(a) ** float(n)

    def _sum(self, node, mean=False):
        if self.examples is None:
            raise FormulaError("a sum over the examples needs a batched formula (batched=True)")
        if self.in_sum:
            raise FormulaError("sums over the examples cannot be nested")
        total = None
        outer = self.env
        self.in_sum = True
        try:
            for example in self.examples:
                self.env = example
                value = self(node[1])
                total = value if total is None else total + value
        finally:
            self.env = outer
            self.in_sum = False
        return total / len(self.examples) if mean else total

    def _mean(self, node):
        return self._sum(node, mean=True)

    def _call(self, node):
        _, name, order, arg_node = node
        arg = self.eval(arg_node)
        if isinstance(arg, Ones):
            arg = Spread(np.ones((1, 1)), (0, 1))
        if isinstance(arg, Spread):
            return arg.map(lambda v: self._call_value(name, order, v))
        return self._call_value(name, order, arg)

    def _op(self, node):
        """A layer op (layers.py): convolutions, pooling, vec, mask, softmax along the rows."""
        from .layers import apply

        values = [self.eval(child) for _, child in children(node)]
        values = [v.value if isinstance(v, Spread) and not v.axes else v for v in values]
        if any(isinstance(v, (Ones, Spread)) for v in values):
            raise FormulaShapeError(f"cannot tell the length of the ones vector in {text(node)}")
        with np.errstate(all="ignore"):
            return apply(self.ops, node[1], node[2], values, lambda i: text(node[3 + i]))

    def _call_value(self, name, order, arg):
        if self.exact:
            return self._exact_call(name, order, arg)
        with np.errstate(all="ignore"):
            if name in ELEMENTARY_FUNCTIONS:
                return ELEMENTARY_FUNCTIONS[name][0](arg)
            table = _numpy_functions()
            if name == "softmax":
                if _shape(arg) == ():
                    raise FormulaShapeError("softmax needs a column vector")
                return table["functions"]["softmax"](arg, axis=0)
            f = table["functions"][name]
            if order == 0:
                return f(arg)
            value = table["derivatives"][name](arg, f(arg))
            return np.broadcast_to(value, np.shape(arg)).astype(float) if isinstance(arg, np.ndarray) else float(value)

    # components ------------------------------------------------------------
    def components(self, tree, free):
        """The matrix (or column) of a formula in components: entry [j, k] at j, k."""
        if len(free) > 2:
            raise FormulaShapeError(f"the formula has {len(free)} free indices ({', '.join(free)}); a gradient has at most two")
        order = [i for i in self.index_order if i in free] + sorted(i for i in free if i not in self.index_order)
        ranges = self.index_ranges(tree)
        shape = (ranges[order[0]], ranges[order[1]] if len(order) == 2 else 1)
        out = np.zeros(shape)
        for row in range(shape[0]):
            for col in range(shape[1]):
                self.indices = {order[0]: row} | ({order[1]: col} if len(order) == 2 else {})
                value = self.eval(tree)
                if isinstance(value, (Ones, Spread)):
                    raise FormulaShapeError(f"in components, {text(tree)} must be a number at each index, not a ones vector")
                if isinstance(value, np.ndarray) and value.size != 1:
                    raise FormulaShapeError(f"in components, {text(tree)} must be a number at each index, "
                                            f"not a {_shape_text(value.shape)} matrix")
                out[row, col] = float(np.asarray(value).reshape(-1)[0])
        self.indices = {}
        return out

    def index_ranges(self, tree) -> dict:
        """index -> how many values it takes, from the vectors and matrices it indexes (checked to agree)."""
        ranges, seen = {}, {}
        for _, node in subtrees(tree):
            if node[0] != "entry":
                continue
            try:
                shape = _shape(self.eval(node[1]))
            except FormulaError:
                shape = None
            if not shape:
                continue
            for position, index in enumerate(node[2]):
                n = _index_length(shape, position, len(node[2]))
                if index in ranges and ranges[index] != n:
                    raise FormulaShapeError(f"the index {index} runs over {ranges[index]} values in {seen[index]} but "
                                            f"over {n} in {text(node)}")
                ranges[index], seen[index] = n, text(node)
        return ranges

    def _entry(self, node):
        _, name, indices = node
        value = self.eval(name)
        if not isinstance(value, np.ndarray):
            return value
        missing = [i for i in indices if i not in self.indices]
        if missing:
            raise FormulaShapeError(f"the index {missing[0]} in {text(node)} is neither summed nor free here")
        at = [self.indices[i] for i in indices]
        if len(at) == 2:
            if at[0] >= value.shape[0] or at[1] >= value.shape[1]:
                raise FormulaShapeError(f"{text(node)}: the indices run past its {_shape_text(value.shape)} entries")
            return value[at[0], at[1]]
        flat = value.reshape(-1) if 1 in value.shape else None
        if flat is None:
            raise FormulaShapeError(f"{text(node)}: a {_shape_text(value.shape)} matrix needs two indices")
        if at[0] >= flat.size:
            raise FormulaShapeError(f"{text(node)}: the index runs past its {flat.size} entries")
        return flat[at[0]]

    def _isum(self, node):
        _, index, body = node
        n = self.index_ranges(body).get(index)
        if n is None:
            raise FormulaShapeError(f"cannot tell how far the sum over {index} runs")
        outer = self.indices.get(index)
        total = 0.0
        for k in range(n):
            self.indices[index] = k
            total = total + self.eval(body)
        if outer is None:
            self.indices.pop(index, None)
        else:
            self.indices[index] = outer
        return total

    # NumPy reductions and products ---------------------------------------------
    def _reduce(self, node):
        _, how, axis, keepdims, arg = node
        a = self.eval(arg)
        if isinstance(a, (Ones, Spread)):
            raise FormulaShapeError(f"cannot tell the length of the ones vector in {text(node)}")
        if not isinstance(a, np.ndarray):
            return a
        f = np.sum if how == "sum" else np.mean
        if axis is None:
            return float(f(a))
        v = f(a, axis=axis, keepdims=True)
        return v if keepdims else v.reshape(1, -1)  # a 1-D result, which NumPy broadcasts as a row

    def _outer(self, node):
        a, b = self.eval(node[1]), self.eval(node[2])
        if isinstance(a, (Ones, Spread)) or isinstance(b, (Ones, Spread)):
            raise FormulaShapeError(f"cannot tell the length of the ones vector in {text(node)}")
        if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray):
            return a * b
        return np.outer(a.reshape(-1), b.reshape(-1))

    def _exact_call(self, name, order, arg):
        if name == "softmax":
            raise FormulaShapeError("softmax needs a column vector")
        if name in ELEMENTARY_FUNCTIONS:
            return ELEMENTARY_FUNCTIONS[name][1](arg)
        rule = _rule(name)
        if order == 0:
            return _exact(rule.definition(arg))
        return _exact(rule.derivative.xreplace({ops.T: arg, ops.U: rule.definition(arg)}))
