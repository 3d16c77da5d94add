"""Random networks nobody typed in, and numeric checks of their derivations.

Used by the derivation tests, the emitter tests and the property-based fuzz
tests.  ``random_network`` draws a network from a seed: depth, widths
(including 1), an activation per layer from the registry, the loss, and
optional residual paths, gates, tied weights and missing biases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

import symprop
from symprop import ops

KINKED = {"relu", "leaky_relu"}


def hidden_activations():
    return sorted(name for name, rule in ops.activations().items())


def output_activation_for(loss_name, width, rng):
    if loss_name == "cross_entropy":
        return ops.softmax if width > 1 else ops.sigmoid
    if loss_name == "binary_cross_entropy":
        return ops.sigmoid
    names = hidden_activations() + ["softmax"] if width > 1 else hidden_activations()
    name = names[rng.integers(len(names))]
    return ops.softmax if name == "softmax" else ops.FUNCTIONS[name]


@dataclass
class Recipe:
    """What was drawn, for messages when a check fails."""

    seed: int
    widths: list
    activations: list
    loss: str
    residual: bool
    gated: bool
    tied: bool
    bias: bool
    scalar: bool

    def __str__(self):
        return (
            f"seed={self.seed} widths={self.widths} activations={self.activations} loss={self.loss} "
            f"residual={self.residual} gated={self.gated} tied={self.tied} bias={self.bias} scalar={self.scalar}"
        )


def random_network(seed: int, depth=None, scalar=None, residual=None, gated=None, tied=None, bias=None, loss=None):
    rng = np.random.default_rng(seed)
    if scalar is None:
        scalar = rng.random() < 0.2
    if scalar:
        return _random_scalar_network(seed, rng, depth, loss)
    depth = int(rng.integers(1, 5)) if depth is None else depth
    loss_name = loss or sorted(ops.LOSSES)[rng.integers(len(ops.LOSSES))]
    residual = rng.random() < 0.3 if residual is None else residual
    gated = rng.random() < 0.2 if gated is None else gated
    tied = rng.random() < 0.2 if tied is None else tied
    bias = rng.random() < 0.85 if bias is None else bias

    widths = [int(rng.integers(1, 5)) for _ in range(depth + 1)]
    if tied:
        depth = max(depth, 2)
        while len(widths) < depth + 1:
            widths.append(int(rng.integers(1, 5)))
        widths[2] = widths[0]  # layer 2 reuses W1^T: maps n1 back to n0
    x = sp.MatrixSymbol("x", widths[0], 1)
    y = sp.MatrixSymbol("y", widths[-1], 1)
    params, acts = [], []
    a = x
    previous = None
    for layer in range(1, depth + 1):
        n_in, n_out = widths[layer - 1], widths[layer]
        last = layer == depth
        if tied and layer == 2:
            W = params[0].T if isinstance(params[0], sp.MatrixSymbol) else None
            z = W * a
        elif gated and not last and layer == 1:
            Wg = sp.MatrixSymbol(f"Wg{layer}", n_out, n_in)
            Wh = sp.MatrixSymbol(f"Wh{layer}", n_out, n_in)
            params += [Wg, Wh]
            acts.append("gate")
            previous, a = a, sp.HadamardProduct(ops.sigmoid(Wg * a), ops.tanh(Wh * a))
            continue
        else:
            W = sp.MatrixSymbol(f"W{layer}", n_out, n_in)
            params.append(W)
            z = W * a
        if bias:
            b = sp.MatrixSymbol(f"b{layer}", n_out, 1)
            params.append(b)
            z = z + b
        f = output_activation_for(loss_name, n_out, rng) if last else _hidden(rng)
        acts.append(f.name)
        out = f(z)
        if residual and not last and n_out == n_in and a is not x:
            out = out + a  # skip connection around this layer
        previous, a = a, out
    loss_rule = ops.LOSSES[loss_name]
    if loss_name == "binary_cross_entropy" and acts[-1] != "sigmoid":
        loss_rule = ops.mse
    recipe = Recipe(seed, widths, acts, loss_rule.name, residual, gated, tied, bias, False)
    net = symprop.Network(loss_rule(a, y), params=params, inputs=[x], targets=[y], name=f"random {seed}")
    return net, recipe


def _hidden(rng):
    names = hidden_activations()
    return ops.FUNCTIONS[names[rng.integers(len(names))]]


def _random_scalar_network(seed, rng, depth, loss):
    depth = int(rng.integers(1, 4)) if depth is None else depth
    x, y = sp.symbols("x y")
    params, acts = [], []
    a = x
    for layer in range(1, depth + 1):
        w, b = sp.symbols(f"w{layer} b{layer}")
        params += [w, b]
        f = _hidden(rng) if layer < depth else ops.sigmoid
        acts.append(f.name)
        a = f(w * a + b)
    loss_name = loss or ["mse", "binary_cross_entropy", "squared"][rng.integers(3)]
    if loss_name == "squared":
        loss_expr = (a - y) ** 2
    else:
        loss_expr = ops.LOSSES[loss_name](a, y)
    recipe = Recipe(seed, [1] * (depth + 1), acts, loss_name, False, False, False, True, True)
    return symprop.Network(loss_expr, params=params, inputs=[x], targets=[y], name=f"random scalar {seed}"), recipe


# ---------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------


def random_values(net, rng):
    """A point: params and inputs ~ N(0, 1); targets valid for the loss (probabilities sum to 1)."""
    values = {}
    loss_names = {type(e).__name__ for e in sp.preorder_traversal(net.loss) if isinstance(e, ops.LossExpr)}
    for sym in net.declared:
        shape = tuple(int(d) for d in sym.shape) if isinstance(sym, sp.MatrixSymbol) else ()
        if sym in net.targets:
            if "cross_entropy" in loss_names:
                v = rng.uniform(0.1, 1.0, size=shape)
                values[sym.name] = v / v.sum() if shape else 1.0
            elif "binary_cross_entropy" in loss_names:
                values[sym.name] = rng.uniform(0.05, 0.95, size=shape) if shape else float(rng.uniform(0.05, 0.95))
            else:
                values[sym.name] = rng.normal(size=shape) if shape else float(rng.normal())
        else:
            values[sym.name] = rng.normal(size=shape) if shape else float(rng.normal())
    return values


def near_kink(derivation, values, margin=1e-3) -> bool:
    """True if a ReLU-like activation sees a pre-activation within ``margin`` of 0."""
    numbers = {**values, **derivation.evaluate(values)}
    for step in derivation.forward_steps:
        if step.activation in KINKED:
            arg = ops.activation_argument(step.expr)
            if isinstance(arg, (sp.Symbol, sp.MatrixSymbol)) and np.min(np.abs(np.asarray(numbers[arg.name]))) < margin:
                return True
    return False


def finite_difference_errors(derivation, values, h=1e-6):
    """{name: relative error} of the derived gradients against central differences of the loss."""
    net = derivation.network
    base = derivation.evaluate(values)
    errors = {}
    for sym in net.params + net.inputs:
        value = np.array(values[sym.name], dtype=float)
        numeric = np.zeros_like(value)
        flat = numeric.reshape(-1)
        for k in range(value.size):
            shifted = value.copy().reshape(-1)
            shifted[k] += h
            plus = derivation.evaluate({**values, sym.name: shifted.reshape(value.shape)})["L"]
            shifted[k] -= 2 * h
            minus = derivation.evaluate({**values, sym.name: shifted.reshape(value.shape)})["L"]
            flat[k] = (plus - minus) / (2 * h)
        derived = np.asarray(base[f"dL/d{sym.name}"], dtype=float).reshape(value.shape)
        scale = max(np.linalg.norm(derived), np.linalg.norm(numeric), 1e-3)
        errors[sym.name] = float(np.linalg.norm(derived - numeric) / scale)
    return errors
