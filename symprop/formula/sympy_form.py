"""The tree as a SymPy expression of the network's symbols, and a SymPy expression as a tree."""

from __future__ import annotations

from fractions import Fraction

import sympy as sp

from .. import algebra as alg
from .. import ops
from ..errors import FormulaError
from .evaluate import product_rule
from .functions import _SYMPY_ELEMENTARY, ELEMENTARY_FUNCTIONS, _rule
from .names import Namespace
from .tokens import MAX_EXPONENT, MAX_TOKENS
from .tree import call, name_node


# ==========================================================================
# SymPy: the tree as an expression of the network's symbols
# ==========================================================================


class NotSymbolic(Exception):
    """The tree has no per-example SymPy form (sums over the batch, ones of unknown size)."""


def to_sympy(tree, namespace_: Namespace):
    """The per-example SymPy expression of a tree (shapes already checked numerically)."""
    def build(node):
        op = node[0]
        if op == "num":
            return sp.Rational(node[1].numerator, node[1].denominator)
        if op == "name":
            entry = namespace_.names[node[1]]
            if entry.kind == "count":
                raise NotSymbolic(node)
            return entry.symbol
        if op == "ones":
            if node[1] is None:
                raise NotSymbolic(node)
            return sp.OneMatrix(*node[1])
        if op == "neg":
            return alg.neg(build(node[1]))
        if op == "T":
            return alg.transpose(build(node[1]))
        if op in ("add", "sub"):
            a, b = build(node[1]), build(node[2])
            if op == "sub":
                b = alg.neg(b)
            return alg.add(*_broadcast_terms(a, b))
        if op == "mul":
            return _sym_product(node[1], build(node[2]), build(node[3]))
        if op == "div":
            a, b = build(node[1]), build(node[2])
            if alg.is_matrix(b) and b.shape != (1, 1):
                return alg.hadamard(a, alg.hadamard_power(b, -1))
            if alg.is_matrix(b):
                raise NotSymbolic(node)
            return alg.scale(1 / b, a) if alg.is_matrix(a) else a / b
        if op == "pow":
            a = build(node[1])
            return alg.hadamard_power(a, node[2]) if alg.is_matrix(a) else a ** node[2]
        if op == "call":
            return _sym_call(node[1], node[2], build(node[3]))
        raise NotSymbolic(node)

    return build(tree)


def _broadcast_terms(a, b):
    if alg.is_matrix(a) == alg.is_matrix(b) and alg.shape_of(a) == alg.shape_of(b):
        return a, b
    if not alg.is_matrix(a):
        return alg.scale(a, sp.OneMatrix(*b.shape)), b
    if not alg.is_matrix(b):
        return a, alg.scale(b, sp.OneMatrix(*a.shape))
    raise NotSymbolic((a, b))  # a 1x1 matrix broadcast in a sum: numbers only


def _sym_product(kind, a, b):
    rule = product_rule(kind, alg.shape_of(a), alg.shape_of(b))
    if rule == "scale":
        if not alg.is_matrix(a):
            return alg.scale(a, b) if alg.is_matrix(b) else a * b
        if not alg.is_matrix(b):
            return alg.scale(b, a)
        raise NotSymbolic((a, b))  # a 1x1 matrix scaling a matrix
    if rule == "matmul":
        return alg.matmul(a, b)
    if rule == "hadamard":
        return alg.hadamard(a, b)
    if rule == "broadcast" and a.shape[1] == 1 and b.shape[0] == 1:
        return alg.matmul(a, b)  # column * row: the outer product
    raise NotSymbolic((a, b))


def _layer_op(e, conv):
    """The layer ops of ops/convolution.py and ops/attention.py as ("op", ...) nodes (None for anything else)."""
    if isinstance(e, ops.Conv):
        return ("op", "corr", None, conv(e.kernels), conv(e.input))
    if isinstance(e, ops.ConvKernelGrad):
        return ("op", "corr", None, conv(e.args[0]), conv(e.args[1]))
    if isinstance(e, ops.ConvInputGrad):
        return ("op", "full", None, ("op", "rot180", None, conv(e.args[1])), conv(e.args[0]))
    if isinstance(e, ops.Pool):
        return ("op", f"{e.kind}pool", e.geometry[4], conv(e.input))
    if isinstance(e, ops.PoolGrad):
        if e.kind == "max":
            return ("op", "route_max", None, conv(e.args[0]), conv(e.args[1]))
        taps = e.geometry[3] * e.geometry[4]
        return ("mul", "juxt", ("num", Fraction(1, taps)), ("op", "up", e.geometry[4], conv(e.args[0])))
    if isinstance(e, ops.Flatten):
        return ("op", "vec", None, conv(e.args[0]))
    if isinstance(e, ops.Unflatten):
        return ("op", "unvec", None, conv(e.args[0]))
    if isinstance(e, ops.Masked):
        return ("op", "mask", None, conv(e.scores), conv(e.mask))
    return None


def _elementary_name(e) -> str:
    return next(name for name, (_, f) in ELEMENTARY_FUNCTIONS.items() if isinstance(e, f))



def _same_as_registered(e) -> bool:
    """SymPy's own tanh (in a custom activation's body) is the registry's tanh."""
    rule = ops.FUNCTIONS.get(type(e).__name__) if isinstance(e, sp.Function) and len(e.args) == 1 else None
    return rule is not None and rule.definition_expr == type(e)(alg.T)


def _sym_call(name, order, arg):
    if name == "softmax":
        return ops.softmax(arg)
    if name in ELEMENTARY_FUNCTIONS:
        f = ELEMENTARY_FUNCTIONS[name][1]
        return alg.elementwise(sp.Lambda(alg.T, f(alg.T)), arg) if alg.is_matrix(arg) else f(arg)
    rule = _rule(name)
    if order == 0:
        return rule(arg)
    if alg.is_matrix(arg):
        return alg.elementwise(sp.Lambda(alg.T, rule.derivative_at(alg.T)), arg)
    return rule.derivative_at(arg)


# ==========================================================================
# SymPy -> tree (a formula given as a SymPy expression)
# ==========================================================================


def from_sympy(expr, namespace_: Namespace):
    count = [0]

    def number(v):
        return ("num", Fraction(int(v.p), int(v.q)))

    def fold(op, kind, args):
        nodes = [conv(a) for a in args]
        node = nodes[0]
        for n in nodes[1:]:
            node = (op, kind, node, n) if kind else (op, node, n)
        return node

    def power(base, exponent):
        if exponent == sp.Rational(1, 2):
            return call("sqrt", 0, conv(base))
        if exponent.is_Rational and not exponent.is_Integer and abs(exponent.p) <= MAX_EXPONENT and exponent.q <= MAX_EXPONENT:
            return ("pow", conv(base), Fraction(int(exponent.p), int(exponent.q)))  # (var + eps)^(-1/2)
        if not (exponent.is_Integer and abs(int(exponent)) <= MAX_EXPONENT):
            raise FormulaError(f"exponent {exponent} in {sp.sstr(expr)}: only integers up to {MAX_EXPONENT} are supported")
        return ("pow", conv(base), int(exponent))

    def conv(e, lifted=None):
        count[0] += 1
        if count[0] > 4 * MAX_TOKENS:
            raise FormulaError("the SymPy expression is too large to check")
        if lifted is not None and e == alg.T:
            return lifted
        if isinstance(e, (sp.Symbol, sp.MatrixSymbol)):
            entry = namespace_.names.get(e.name)
            if entry is None:
                raise FormulaError(f"unknown name {e.name!r} in the expression; known names: {namespace_.known()}")
            if alg.shape_of(e) != entry.shape and entry.kind != "count":
                raise FormulaError(f"{e.name!r} has shape {alg.shape_of(e) or 'scalar'} in the expression "
                                   f"but {entry.shape or 'scalar'} in the network")
            return name_node(e.name)
        if isinstance(e, sp.Rational):
            return number(e)
        if isinstance(e, sp.Float):
            return ("num", Fraction(float(e)).limit_denominator(10**12))
        if isinstance(e, (sp.Add, sp.MatAdd)):
            return fold("add", None, e.args)
        if isinstance(e, sp.MatMul):  # a scalar coefficient scales (juxtaposition): lamda W1, not lamda @ W1
            return fold("mul", "juxt" if any(not isinstance(a, sp.MatrixExpr) for a in e.args) else "matmul", e.args)
        if isinstance(e, sp.HadamardProduct):
            return fold("mul", "hadamard", e.args)
        if isinstance(e, sp.Mul):
            return fold("mul", "star", e.args)
        if isinstance(e, (sp.Pow, sp.HadamardPower)):
            return power(e.args[0], e.args[1])
        if isinstance(e, sp.Transpose):
            return ("T", conv(e.arg))
        if isinstance(e, sp.OneMatrix):
            if all(sp.sympify(k).is_Integer for k in e.shape):
                return ("ones", (int(e.shape[0]), int(e.shape[1])))
            return ("ones", None)  # 1_m: its length comes from its product
        layer_op = _layer_op(e, conv)
        if layer_op is not None:
            return layer_op
        if isinstance(e, ops.ScalarFunctionBase):
            return call(e.rule.name, 0, conv(e.args[0], lifted))
        if isinstance(e, sp.Heaviside):
            return call("step", 0, conv(e.args[0], lifted))
        if isinstance(e, _SYMPY_ELEMENTARY):
            return call(_elementary_name(e), 0, conv(e.args[0], lifted))
        if _same_as_registered(e):
            return call(type(e).__name__, 0, conv(e.args[0], lifted))
        if isinstance(e, ops.Softmax):
            return call("softmax", 0, conv(e.arg)) if e.axis == 0 else ("op", "softmax_rows", None, conv(e.arg))
        from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

        if isinstance(e, ElementwiseApplyFunction):
            return conv_lifted(alg.applied_function(e), conv(e.expr))
        raise FormulaError(f"{type(e).__name__} is not supported in a formula ({sp.sstr(e)})")

    def conv_lifted(body, arg_tree):
        # The body of an entrywise function, in _t; entrywise arithmetic of matrices
        # evaluates the same as scalar arithmetic, so the tree applies it to arg_tree.
        def c(e):
            count[0] += 1
            if e == alg.T:
                return arg_tree
            if isinstance(e, sp.Rational):
                return number(e)
            if isinstance(e, sp.Add):
                nodes = [c(a) for a in e.args]
                node = nodes[0]
                for n in nodes[1:]:
                    node = ("add", node, n)
                return node
            if isinstance(e, sp.Mul):
                nodes = [c(a) for a in e.args]
                node = nodes[0]
                for n in nodes[1:]:
                    node = ("mul", "star", node, n)
                return node
            if isinstance(e, sp.Pow) and e.exp.is_Integer and abs(int(e.exp)) <= MAX_EXPONENT:
                return ("pow", c(e.base), int(e.exp))
            if isinstance(e, ops.ScalarFunctionBase):
                return call(e.rule.name, 0, c(e.args[0]))
            if isinstance(e, sp.Heaviside):
                return call("step", 0, c(e.args[0]))
            if isinstance(e, _SYMPY_ELEMENTARY):
                return call(_elementary_name(e), 0, c(e.args[0]))
            if _same_as_registered(e):
                return call(type(e).__name__, 0, c(e.args[0]))
            raise FormulaError(f"{sp.sstr(e)} is not supported inside an entrywise function in a formula")

        return c(body)

    return conv(expr)
