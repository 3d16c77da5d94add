"""Numbers: shapes and products, and evaluating a tree at a sample point."""

from __future__ import annotations

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
    """A ones vector whose length comes from the product it is in."""

    def __init__(self, transposed=False):
        self.transposed = transposed


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
    if isinstance(v, np.ndarray):
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

    def __init__(self, env: dict, examples=None, exact: bool = False, index_order=None):
        self.env = env
        self.examples = examples
        self.exact = exact
        self.in_sum = False
        self.index_order = tuple(index_order or ())
        self.indices = {}  # component index -> its current value

    def __call__(self, tree):
        free = free_indices(tree)
        value = self.components(tree, free) if free else self.eval(tree)
        if isinstance(value, Ones):
            raise FormulaShapeError("cannot tell the length of the ones vector: use it in a product, as in Delta1 @ ones")
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
        return -self.eval(node[1])

    def _T(self, node):
        v = self.eval(node[1])
        if isinstance(v, Ones):
            return Ones(not v.transposed)
        return v.T if isinstance(v, np.ndarray) else v

    def _add(self, node, sign=1):
        a, b = self.eval(node[1]), self.eval(node[2])
        a, b = self._sized_ones(a, b), self._sized_ones(b, a)
        sa, sb = _shape(a), _shape(b)
        if sa != sb and not (_scalar_like(sa) or _scalar_like(sb)):
            word = "add" if sign > 0 else "subtract"
            raise FormulaShapeError(
                f"cannot {word} {text(node[1])} ({_shape_text(sa)}) and {text(node[2])} ({_shape_text(sb)})"
            )
        return a + b if sign > 0 else a - b

    def _sub(self, node):
        return self._add(node, -1)

    def _sized_ones(self, v, other):
        if isinstance(v, Ones) and isinstance(other, np.ndarray):
            return np.ones(other.shape)
        return v

    def _mul(self, node):
        kind = node[1]
        a, b = self.eval(node[2]), self.eval(node[3])
        if isinstance(b, Ones) and not b.transposed and isinstance(a, np.ndarray):
            b = np.ones((a.shape[1], 1))
        if isinstance(a, Ones) and a.transposed and isinstance(b, np.ndarray):
            a = np.ones((1, b.shape[0]))
        a, b = self._sized_ones(a, b), self._sized_ones(b, a)
        if isinstance(a, Ones) or isinstance(b, Ones):
            raise FormulaShapeError("cannot tell the length of the ones vector in " + text(node))
        sa, sb = _shape(a), _shape(b)
        rule = product_rule(kind, sa, sb)
        if rule is None:
            raise _no_fit(kind, node[2], node[3], sa, sb)
        if rule == "matmul":
            return a @ b
        return a * b  # scale, hadamard and broadcast are all NumPy's *

    def _div(self, node):
        a, b = self.eval(node[1]), self.eval(node[2])
        sa, sb = _shape(a), _shape(b)
        if not (_scalar_like(sb) or sa == sb):
            raise FormulaShapeError(f"cannot divide {text(node[1])} ({_shape_text(sa)}) by {text(node[2])} ({_shape_text(sb)})")
        with np.errstate(all="ignore"):
            if self.exact and b == 0:
                return sp.zoo
            return a / b

    def _pow(self, node):
        a = self.eval(node[1])
        with np.errstate(all="ignore"):
            if self.exact:
                return sp.zoo if (a == 0 and node[2] < 0) else a ** node[2]
            if isinstance(a, np.ndarray):
                return np.power(a, float(node[2]))
            return np.inf if (a == 0 and node[2] < 0) else float(a) ** node[2]

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
            raise FormulaShapeError(f"cannot tell the length of the ones vector in {text(node)}")
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
        if isinstance(a, Ones):
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
