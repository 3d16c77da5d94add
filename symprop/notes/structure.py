"""What the teaching sections ask of a derivation: its dense layers, which steps follow the general recurrence.

A *dense layer* is z^[l] = W^[l] a^[l-1] (+ b^[l]) followed by an activation
(entrywise, or softmax): the layer the textbooks' recurrence BP1-BP4 is about.
Layers of any other form (a residual sum, a gate, tied weights) are simply
not dense: the sections that need the recurrence say so and skip them.

Whether a step is an instance of the recurrence is decided by comparing its
derived expression with the recurrence's, numerically at random points (every
symbol, intermediates included, drawn at random): forms that differ only in
how they are written are the same instance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import numpy as np
import sympy as sp

from .. import algebra as alg
from .. import ops
from ..printing import NumPyPrinter, helper_namespace
from ..printing import text as plain_text


@dataclass(frozen=True)
class DenseLayer:
    layer: int
    z: object  # the pre-activation node
    a: object  # the activation node (its output: a^[l] or yhat)
    weight: sp.Basic  # W^[l] (w_l in a scalar network)
    bias: Optional[sp.Basic]
    input: sp.Basic  # a^[l-1], or the network's input
    delta: object  # the adjoint step of z (delta^[l])


def dense_layers(notes) -> dict:
    """{l: DenseLayer} for the layers of the form z = W a_prev + b, a = f(z) (found once per derivation)."""
    if "notes:dense layers" not in notes.d._cache:
        notes.d._cache["notes:dense layers"] = _dense_layers(notes)
    return notes.d._cache["notes:dense layers"]


def _dense_layers(notes) -> dict:
    from ..batch import columns_per_example

    if notes.net.batch is not None or not columns_per_example(notes.net):
        return {}  # a batch-level network or one of matrix examples: the recurrence BP1-BP4 is about columns
    params = set(notes.net.params)
    values = {n.symbol for n in notes.net.nodes} | set(notes.net.inputs)
    deltas = {s.of: s for s in notes.steps if s.kind == "adjoint" and s.role == "pre-activation"}
    used_by = {}  # symbol -> the nodes whose definitions use it (one pass: linear in the depth)
    for n in notes.net.nodes:
        for symbol in n.definition.free_symbols:
            used_by.setdefault(symbol, []).append(n)
    out = {}
    for z in notes.net.nodes:
        if z.role != "pre-activation" or z.name not in deltas:
            continue
        users = used_by.get(z.symbol, [])
        if len(users) != 1 or not users[0].activation or users[0].layer != z.layer:
            continue
        terms = z.definition.args if isinstance(z.definition, (sp.Add, sp.MatAdd)) else (z.definition,)
        products = [t for t in terms if _product(t, params, values) is not None]
        biases = [t for t in terms if t in params]
        if len(products) != 1 or len(biases) + 1 != len(terms) or len(biases) > 1:
            continue
        weight, source = _product(products[0], params, values)
        out[z.layer] = DenseLayer(z.layer, z, users[0], weight, biases[0] if biases else None, source, deltas[z.name])
    return out


def _product(term, params, values):
    """(weight, input) if ``term`` is W a (or w a, a w for scalars) with W a parameter, a a value."""
    if isinstance(term, sp.MatMul):
        c, rest = alg.coefficient_split(term)
        factors = rest.args if isinstance(rest, sp.MatMul) else ()
        if c == 1 and len(factors) == 2 and factors[0] in params and factors[1] in values:
            return factors[0], factors[1]
    elif isinstance(term, sp.Mul) and len(term.args) == 2:
        first, second = term.args
        if first in params and second in values:
            return first, second
        if second in params and first in values:
            return second, first
    return None


def transpose(expr):
    return sp.Transpose(expr) if isinstance(expr, sp.MatrixExpr) else expr


def product(*factors):
    """The matrix product (scalar product in a scalar network)."""
    if all(isinstance(f, sp.MatrixExpr) for f in factors):
        return alg.matmul(*factors)
    return sp.Mul(*factors)


def entrywise(a, b):
    """a ⊙ b (a b for scalars)."""
    if isinstance(a, sp.MatrixExpr):
        return alg.hadamard(a, b)
    return a * b


def numeric_value(expr, values: dict):
    """The value of an expression of a derivation's symbols at ``values`` (name -> number or array).

    The expression is printed by symprop's NumPy printer and that code run with
    the op helpers: our own printed code, never user text.
    """
    printer = NumPyPrinter()
    code = printer.doprint(expr)
    namespace = helper_namespace(printer.helpers_used)
    namespace.update(values)
    with np.errstate(all="ignore"):
        return eval(compile(code, "<symprop notes>", "eval"), namespace)


class Sampler:
    """Random values of every symbol of a derivation (intermediates too), to compare expressions numerically."""

    def __init__(self, notes, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.namespace = {}
        symbols = set(notes.net.declared) | {s.symbol for s in notes.steps if s.kind != "update"}
        for sym in sorted(symbols, key=lambda s: s.name):
            shape = tuple(int(d) for d in sym.shape) if isinstance(sym, sp.MatrixSymbol) and all(
                d.is_Integer for d in sym.shape) else ()
            # away from 0 (kinks) and from 1 (1 - a): 0.3 .. 0.9 with a random sign
            value = rng.uniform(0.3, 0.9, size=shape) * rng.choice([-1.0, 1.0], size=shape)
            self.namespace[sym.name] = value if shape else float(value)

    def value(self, expr):
        return np.asarray(numeric_value(expr, self.namespace), dtype=float)

    def equal(self, a, b) -> bool:
        if a == b:
            return True
        try:
            va, vb = self.value(a), self.value(b)
        except Exception:  # a template that does not apply (shapes): not an instance
            return False
        return va.shape == vb.shape and bool(np.allclose(va, vb, rtol=1e-9, atol=1e-12))


_LAYER_INDEX = re.compile(r"(?<![\d.])([^\W\d]+)(\d+)")


def signature(steps, layer: int, inputs=()) -> tuple:
    """The steps of a layer with every layer number written relative to ``layer``: equal for repeated layers.

    The network's input counts as a^[0], so layer 1 repeats layer 2 as the others do.
    """
    def relative(m):
        return f"{m.group(1)}[{int(m.group(2)) - layer:+d}]"

    as_a0 = {x: alg.matrix_symbol_like("a0", x) for x in inputs}
    return tuple((s.kind, s.role, _LAYER_INDEX.sub(relative, plain_text(s.expr.xreplace(as_a0)))) for s in steps)


def activation_rule(node):
    return ops.activation_rule(node.activation) if node is not None and node.activation else None
