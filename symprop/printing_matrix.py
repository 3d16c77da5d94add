"""NumPy code in the mathematical layout, for networks beyond per-example columns.

Two kinds of network are printed here (the classic per-example columns go
through ``printing_batch``):

* declared over a batch (``Network(..., batch=m)``): the derivation is
  already the batch computation, one example per column, so the code is the
  derivation itself, in the same layout;
* declared for one example that is a matrix (a d x T sequence): the code
  keeps each example's matrix as it is and stacks the examples along a
  leading axis, (m, d, T).  NumPy's ``@`` broadcasts over that axis, and every
  reduction of ``printing.NumPyPrinter`` counts its axes from the end, so the
  per-example expressions print unchanged; only transposes of per-example
  values become ``swapaxes(-1, -2)`` and parameter gradients sum over the
  examples.
"""

from __future__ import annotations

import sympy as sp
from sympy import MatAdd, MatMul, Transpose
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from . import algebra as alg
from . import ops
from .printing import NumPyPrinter, _paren_code


class MatrixPrinter(NumPyPrinter):
    """``stacked``: the symbols in ``per_example`` carry a leading batch axis."""

    def __init__(self, per_example=(), stacked: bool = False, producers=None, indicators=None):
        super().__init__()
        self.per_example = frozenset(per_example)
        self.stacked = stacked
        self.producers = dict(producers or {})
        # sign-preserving activations a = f(z) (ReLU): 1[z > 0] is read off a as (a > 0), so z need not be kept
        self.indicators = dict(indicators or {})
        self.shared_lse: dict = {}  # {z: name of its log-sum-exp, computed once for softmax and the loss}
        self._memo: dict = {}

    def is_pe(self, expr) -> bool:
        if expr not in self._memo:
            self._memo[expr] = isinstance(expr, sp.Basic) and bool(expr.free_symbols & self.per_example)
        return self._memo[expr]

    def _size(self, expr) -> float:
        """How many numbers ``expr`` holds (a symbolic batch size counts as large; stacked examples too)."""
        size = 1.0
        for k in expr.shape:
            size *= float(k) if sp.sympify(k).is_number else 1e6
        return size * (1e6 if self.stacked and self.is_pe(expr) else 1.0)

    # -- layout ------------------------------------------------------------
    def _print_Transpose(self, expr):
        if self.stacked and self.is_pe(expr.arg):
            return f"{_paren_code(self._print(expr.arg))}.swapaxes(-1, -2)"
        return super()._print_Transpose(expr)

    def _coefficient(self, c) -> str:
        code = self._print(c)
        return code if code.startswith("(") and code.endswith(")") else _paren_code(code)

    def _is_bool_indicator(self, expr) -> bool:
        """1[z > 0] of an activation read off its output a: printed as the bool array (a > 0)."""
        if not isinstance(expr, ElementwiseApplyFunction) or expr.expr not in self.indicators:
            return False
        body = alg.applied_function(expr)
        rule = ops.function_rule(body.func)
        return rule is not None and rule.name == "step" and body.args == (alg.T,)

    def _print_ElementwiseApplyFunction(self, expr):
        if self._is_bool_indicator(expr):
            return f"({self._print(self.indicators[expr.expr])} > 0)"
        return super()._print_ElementwiseApplyFunction(expr)

    def _print_Softmax(self, expr):
        if expr.arg in self.shared_lse:  # softmax(z) = exp(z - logsumexp(z)), the log-sum-exp computed once
            return f"np.exp({_paren_code(self._print(expr.arg))} - {self.shared_lse[expr.arg]})"
        return super()._print_Softmax(expr)

    def _print_MatMul(self, expr):
        c, rest = alg.coefficient_split(expr)
        if c != 1 and self._is_bool_indicator(rest):
            # 0.99 (a > 0) of leaky ReLU's f': a bool array times a Python float is float64; take the data's dtype
            a = self._print(self.indicators[rest.expr])
            return f"{self._coefficient(c)} * ({a} > 0).astype({a}.dtype)"
        if c != 1 and isinstance(rest, MatMul) and not rest.has(sp.OneMatrix):  # 1 1^T products are reductions
            # c (A B): the number scales the smallest factor, not the product (1/sqrt(d_k) on K, not on the T x T
            # scores: one pass over d_k x T numbers instead of T x T)
            factors = list(rest.args)
            sizes = [self._size(f) for f in factors]
            smallest = min(range(len(factors)), key=sizes.__getitem__)
            plain = isinstance(factors[smallest], (sp.MatrixSymbol, sp.Transpose))
            if plain and sizes[smallest] < self._size(rest):
                factors[smallest] = alg.scale(c, factors[smallest])
                return super()._print_MatMul(MatMul(*factors))
        if c != 1 and isinstance(rest, sp.HadamardProduct):
            # c (v 1^T (.) M): the number joins the narrow factor, one pass over the big one fewer
            narrow = [a for a in rest.args if _narrow(a)]
            if narrow:
                first = alg.scale(c, narrow[0])
                others = [a for a in rest.args if a is not narrow[0]]
                return self._print(sp.HadamardProduct(first, *others))
        return super()._print_MatMul(expr)

    # -- entry points ---------------------------------------------------------
    def example(self, expr) -> str:
        return self.doprint(expr)

    def total(self, expr) -> str:
        """sum_i of a per-example expression over the stacked examples (a parameter gradient)."""
        if not self.stacked or not self.is_pe(expr):
            return self.doprint(expr)
        terms = expr.args if isinstance(expr, MatAdd) else (expr,)
        codes = [self._total_term(t) for t in terms]
        return " + ".join(codes)

    def _total_term(self, term) -> str:
        if not self.is_pe(term):
            raise ValueError("a gradient term with no per-example value in a stacked network")
        c, rest = alg.coefficient_split(term)
        if getattr(rest, "sums_over_examples", False):  # the kernel gradient's helper sums over the batch itself
            code = self._print(rest)
            return code if c == 1 else f"{self._coefficient(c)} * {code}"
        factors = list(rest.args) if isinstance(rest, MatMul) else [rest]
        prefix = "" if c == 1 else f"{self._coefficient(c)} * "
        # A B^T summed over the examples: one tensordot over the batch and the shared axis
        if len(factors) == 2 and isinstance(factors[1], Transpose) and all(self.is_pe(f) for f in factors):
            a, b = self._print(factors[0]), self._print(factors[1].arg)
            return f"{prefix}np.tensordot({a}, {b}, axes=([0, 2], [0, 2]))"
        code = self._print(rest)
        return f"{prefix}{_paren_code(code)}.sum(axis=0)"

    # -- the loss ---------------------------------------------------------------
    def loss(self, expr) -> str:
        """Code of the loss: per-example losses averaged over the stacked examples."""
        code = self._loss_code(expr)
        return f"inv_m * {_paren_code(code)}" if self.stacked else code

    def _loss_code(self, expr) -> str:
        if isinstance(expr, ops.LossExpr):
            return self._loss_op(expr)
        if isinstance(expr, sp.Add):
            return " + ".join(_paren_code(self._loss_code(a)) for a in expr.args)
        if isinstance(expr, sp.Mul):
            c, rest = expr.as_coeff_Mul()
            if c != 1:
                return f"{self._coefficient(c)} * {_paren_code(self._loss_code(rest))}"
        code = self.doprint(expr)
        return f"{_paren_code(code)}.sum()" if alg.is_matrix(expr) or self.stacked else code

    def _loss_op(self, expr) -> str:
        rule = expr.rule
        factor = rule.factor(expr.prediction)
        fused = self.fused_activation(expr)
        if fused is not None:
            name, z = fused
            template = rule.fused[name]
            for helper in rule.fused_helpers:
                if helper + "(" in template or (helper == "logsumexp" and "{lse}" in template and z not in self.shared_lse):
                    self.helpers_used.add(helper)
            z_code = _paren_code(self._print(z))
            axis = -2 if name == "softmax" else -1
            lse = self.shared_lse.get(z) or f"logsumexp({z_code}, axis={axis})"
            total = template.format(z=z_code, y=_paren_code(self._print(expr.target)), axis=axis, lse=lse)
        else:
            entries = alg.lift(rule.term, {ops.P: expr.prediction, ops.Q: expr.target}, expr.prediction.shape) \
                if alg.is_matrix(expr.prediction) else rule.term.xreplace({ops.P: expr.prediction, ops.Q: expr.target})
            total = f"{_paren_code(self._print(entries))}.sum()"
        return total if factor == 1 else f"{self._coefficient(factor)} * {total}"

    def fused_activation(self, expr):
        """(activation name, pre-activation) if this loss is computed from its pre-activation."""
        definition = self.producers.get(expr.prediction)
        if definition is None or not ops.is_activation_node(definition):
            return None
        name = ops.activation_name(definition)
        if name not in expr.rule.fused:
            return None
        if isinstance(definition, ops.Softmax) and definition.axis != 0:
            return None  # the fused spellings sum over the classes of a column
        return name, ops.activation_argument(definition)


def _narrow(e) -> bool:
    """A repeated column or row (v 1^T, 1 r, or an entrywise function of one): cheap to scale."""
    from .printing import _is_broadcast

    return _is_broadcast(e)


__all__ = ["MatrixPrinter"]
