"""Rewrites that turn a chain-rule expression into its textbook form, as steps.

A rule takes an expression and returns a new one (or the same one).  The
simplifier applies the rules until none changes anything and records every
form in between with the reason that produced it, so a derivation can show

    delta = yhat * (dL/dyhat - 1 (yhat^T dL/dyhat))     (chain rule)
          = yhat * (-y / yhat + 1 1^T y)                 (cancel entrywise)
          = yhat * (-y / yhat + 1)                       (targets sum to 1)
          = yhat - y                                     (cancel entrywise)

No rule knows about softmax or cross-entropy: they are identities of
entrywise algebra (done in scalar algebra, see algebra.Scalarized), of inner
products, and the assumptions a loss op declares.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy import HadamardPower, HadamardProduct, MatAdd, MatMul, OneMatrix, Transpose
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from . import algebra as alg
from . import ops


@dataclass(frozen=True)
class Form:
    """One side of an equality in a derivation, and why it equals the previous one."""

    expr: sp.Basic
    reason: str


# ==========================================================================
# Normalisation: rebuild with the smart constructors (flatten, fold scalars)
# ==========================================================================


def normalize(expr, memo=None):
    memo = {} if memo is None else memo
    if expr in memo:
        return memo[expr]
    if ops.is_leaf(expr) or isinstance(expr, (sp.Lambda, sp.MatrixBase)):
        out = expr
    elif isinstance(expr, ElementwiseApplyFunction):
        out = alg.elementwise(expr.function, normalize(expr.expr, memo))
    else:
        args = [normalize(a, memo) for a in expr.args]
        if isinstance(expr, MatAdd):
            out = alg.add(*args)
        elif isinstance(expr, MatMul):
            out = alg.matmul(*args)
        elif isinstance(expr, HadamardProduct):
            out = alg.hadamard(*args)
        elif isinstance(expr, HadamardPower):
            out = alg.hadamard_power(*args)
        elif isinstance(expr, Transpose):
            out = alg.transpose(args[0])
        elif all(n is o for n, o in zip(args, expr.args)):
            out = expr
        else:
            out = expr.func(*args)
    memo[expr] = out
    return out


def substitute(expr, mapping: dict):
    """``xreplace`` then normalise (substituting into products leaves them nested)."""
    if not mapping:
        return expr
    return normalize(expr.xreplace(mapping))


# ==========================================================================
# Rules
# ==========================================================================


def _divisions(expr) -> int:
    """How many divisions by a non-constant an expression has (matrix or scalar)."""
    count = 0
    for p in _unique_subexpressions(expr):
        # 1/m (the batch size, a positive integer) is a factor, not a division to cancel
        if isinstance(p, (sp.Pow, HadamardPower)) and p.exp.is_negative and any(not s.is_integer for s in p.base.free_symbols):
            count += 1
    return count


def _unique_subexpressions(expr):
    seen = set()
    stack = [expr]
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        yield e
        if not isinstance(e, sp.Lambda):
            stack.extend(e.args)


def _cancel(matrix_form, scalar):
    """The cancelled scalar if it divides less often than ``matrix_form``, else None.

    The count is taken on the matrix form: SymPy may already cancel y * yhat / yhat
    while the expression is being mapped to scalars.
    """
    before = _divisions(matrix_form)
    if before == 0:
        return None
    cancelled = sp.factor_terms(sp.cancel(sp.together(scalar)))
    if _divisions(cancelled) < before:
        return cancelled
    return None


def cancel_entrywise(expr):
    """Cancel divisions inside entrywise subexpressions, e.g. yhat * (y / yhat) -> y."""
    memo: dict = {}

    def visit(e):
        if e in memo:
            return memo[e]
        out = e
        if alg.is_matrix(e) and alg.is_elementwise_node(e, e.shape):
            s = alg.Scalarized(e.shape)
            scalar = s.to_scalar(e)
            # the leaves may hold entrywise subexpressions of their own
            leaf_changed = False
            for sym, leaf in list(s.symbols.items()):
                new_leaf = visit(leaf)
                if new_leaf is not leaf:
                    s.symbols[sym] = new_leaf
                    leaf_changed = True
            cancelled = _cancel(e, scalar)
            if cancelled is not None:
                out = normalize(s.lift(cancelled))
            elif leaf_changed:
                out = normalize(s.lift(scalar))
        elif not alg.is_matrix(e) and not ops.is_leaf(e) and isinstance(e, sp.Expr) and not _contains_matrix(e):
            cancelled = _cancel(e, e)
            out = cancelled if cancelled is not None else e
        elif not ops.is_leaf(e) and not isinstance(e, (sp.Lambda, sp.MatrixBase)):
            args = [visit(a) for a in e.args]
            if any(n is not o for n, o in zip(args, e.args)):
                out = normalize(e.func(*args)) if not isinstance(e, ElementwiseApplyFunction) else e
        memo[e] = out
        return out

    return visit(expr)


def _contains_matrix(e) -> bool:
    return any(isinstance(a, sp.MatrixExpr) for a in sp.preorder_traversal(e))


def inner_products(expr):
    """u^T v of two columns becomes 1^T (u * v) when the entrywise product cancels."""
    memo: dict = {}

    def visit(e):
        if e in memo:
            return memo[e]
        out = e
        if not ops.is_leaf(e) and not isinstance(e, (sp.Lambda, sp.MatrixBase)):
            args = [visit(a) for a in e.args] if not isinstance(e, ElementwiseApplyFunction) else list(e.args)
            if any(n is not o for n, o in zip(args, e.args)):
                e2 = normalize(e.func(*args))
            else:
                e2 = e
            if isinstance(e2, MatMul):
                e2 = _rewrite_inner_products(e2)
            out = e2
        memo[e] = out
        return out

    return visit(expr)


def _rewrite_inner_products(product):
    c, rest = alg.coefficient_split(product)
    factors = list(rest.args) if isinstance(rest, MatMul) else [rest]
    changed = False
    i = 0
    while i < len(factors) - 1:
        u_t, v = factors[i], factors[i + 1]
        if isinstance(u_t, Transpose) and u_t.arg.shape[1] == 1 and v.shape == u_t.arg.shape and v.shape[0] != 1:
            u = u_t.arg
            s = alg.Scalarized(u.shape)
            entrywise = alg.hadamard(u, v)  # not `product`: that is returned unchanged below
            cancelled = _cancel(entrywise, s.to_scalar(entrywise))
            if cancelled is not None:
                factors[i : i + 2] = [OneMatrix(1, u.shape[0]), normalize(s.lift(cancelled))]
                changed = True
        i += 1
    if not changed:
        return product
    return normalize(alg.matmul(c, *factors))


def apply_assumptions(expr, assumptions):
    """Replace each assumption's left side (a product such as 1^T y) by its right side."""
    used = []
    out = expr
    for assumption in assumptions:
        lhs_factors = list(assumption.lhs.args) if isinstance(assumption.lhs, MatMul) else [assumption.lhs]
        new = _replace_product(out, lhs_factors, assumption.rhs)
        if new != out:
            used.append(assumption)
            out = new
    return out, used


def _replace_product(expr, pattern, replacement):
    memo: dict = {}
    k = len(pattern)

    def visit(e):
        if e in memo:
            return memo[e]
        out = e
        if not ops.is_leaf(e) and not isinstance(e, (sp.Lambda, sp.MatrixBase)):
            if isinstance(e, ElementwiseApplyFunction):
                args = [e.args[0], visit(e.args[1])]
            else:
                args = [visit(a) for a in e.args]
            e2 = normalize(e.func(*args)) if any(n is not o for n, o in zip(args, e.args)) else e
            if isinstance(e2, MatMul):
                c, rest = alg.coefficient_split(e2)
                factors = list(rest.args) if isinstance(rest, MatMul) else [rest]
                i = 0
                hit = False
                while i <= len(factors) - k:
                    if factors[i : i + k] == pattern:
                        factors[i : i + k] = [replacement]
                        hit = True
                    i += 1
                if hit:
                    e2 = normalize(alg.matmul(c, *factors))
            out = e2
        memo[e] = out
        return out

    return visit(expr)


# ==========================================================================
# The simplifier
# ==========================================================================

CANCEL = "cancel entrywise"
INNER = "inner product of entrywise terms"


def simplify(expr, assumptions=()):
    """Apply the rules to a fixed point.

    Returns ``(final, forms, used_assumptions)``: ``forms`` lists each new form
    with the reason for it (empty when nothing changed).
    """
    forms = []
    used_all = []
    current = normalize(expr)
    for _ in range(20):  # each rule strictly simplifies; 20 is far above any real chain
        new = inner_products(current)
        if new != current:
            new2 = cancel_entrywise(new)
            current = new2
            forms.append(Form(current, CANCEL))
            continue
        new = cancel_entrywise(current)
        if new != current:
            current = new
            forms.append(Form(current, CANCEL))
            continue
        new, used = apply_assumptions(current, assumptions)
        if used:
            current = new
            used_all.extend(u for u in used if u not in used_all)
            forms.append(Form(current, "; ".join(u.text for u in used)))
            continue
        break
    return current, forms, used_all
