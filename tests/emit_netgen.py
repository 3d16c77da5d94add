"""Random networks and data for the emitter tests, and loading generated modules.

``random_mlp(seed)`` draws a network nobody typed in: depth 1-4, widths
including 1, a hidden activation per layer from the whole registry, an
output activation and a loss that fit together, biases or not.
``special_networks()`` adds residual, tied-weight, gated, custom-activation,
plain-SymPy-function and scalar networks.  ``random_data`` draws a batch the
network's loss is defined on (probability targets for cross-entropy, targets
in [0, 1] for binary cross-entropy).
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path

import numpy as np
import sympy as sp

import symprop
from symprop import ops

HIDDEN = sorted(n for n in ops.activations() if n in ops.BUILTIN_FUNCTIONS)  # the built-in activations, softmax aside
LOSSES = ["mse", "binary_cross_entropy", "cross_entropy"]


def output_for(loss: str, width: int, rng):
    """An output activation that makes the loss well defined."""
    if loss == "cross_entropy":
        return ops.softmax if width > 1 and rng.random() < 0.7 else ops.sigmoid
    if loss == "binary_cross_entropy":
        return ops.sigmoid if width == 1 or rng.random() < 0.7 else ops.softmax
    choices = HIDDEN + (["softmax"] if width > 1 else [])
    name = choices[rng.integers(len(choices))]
    return ops.softmax if name == "softmax" else ops.FUNCTIONS[name]


def random_mlp(seed: int):
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(1, 5))
    widths = [int(rng.integers(1, 5)) for _ in range(depth + 1)]
    loss = LOSSES[seed % len(LOSSES)]
    x = sp.MatrixSymbol("x", widths[0], 1)
    y = sp.MatrixSymbol("y", widths[-1], 1)
    bias = rng.random() < 0.8
    a, params, recipe = x, [], []
    for layer in range(1, depth + 1):
        W = sp.MatrixSymbol(f"W{layer}", widths[layer], widths[layer - 1])
        z = W * a
        params.append(W)
        if bias:
            b = sp.MatrixSymbol(f"b{layer}", widths[layer], 1)
            z = z + b
            params.append(b)
        if layer == depth:
            f = output_for(loss, widths[layer], rng)
        else:
            f = ops.FUNCTIONS[HIDDEN[rng.integers(len(HIDDEN))]]
        recipe.append(f.name)
        a = f(z)
    net = symprop.Network(ops.LOSSES[loss](a, y), params=params, inputs=[x], targets=[y], name=f"random net {seed}")
    net.recipe = f"seed={seed} widths={widths} activations={recipe} loss={loss} bias={bias}"
    return net


def swish_beta():
    t = sp.Symbol("t")
    return symprop.activation("swish_half", sp.Lambda(t, t / (1 + sp.exp(-t / 2))))


def special_networks() -> dict:
    """Networks with structure beyond a chain of layers."""
    from symprop import examples

    nets = {name: f() for name, f in examples.BUILTIN.items()}
    nets["deep_tanh"] = examples.deep(ops.tanh, depth=4, width=3)

    # a custom activation (derivative from SymPy) and a plain SymPy function
    x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
    W1, b1 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("b1", 4, 1)
    W2, b2 = sp.MatrixSymbol("W2", 2, 4), sp.MatrixSymbol("b2", 2, 1)
    h = swish_beta()(W1 * x + b1).applyfunc(sp.sin)
    nets["custom_and_sin"] = symprop.Network(ops.mse(W2 * h + b2, y), params=[W1, b1, W2, b2], inputs=[x], targets=[y])

    # gated with a residual path and biases, cross-entropy output
    Wg, Wh, bg = sp.MatrixSymbol("Wg", 3, 3), sp.MatrixSymbol("Wh", 3, 3), sp.MatrixSymbol("bg", 3, 1)
    V = sp.MatrixSymbol("V", 2, 3)
    gate = sp.HadamardProduct(ops.sigmoid(Wg * x + bg), ops.softplus(Wh * x)) + x
    nets["gated_residual"] = symprop.Network(
        ops.cross_entropy(ops.softmax(V * gate), y), params=[Wg, Wh, bg, V], inputs=[x], targets=[y]
    )

    # tied weights used twice in the forward pass, gelu, leaky relu
    W = sp.MatrixSymbol("W", 3, 3)
    c = sp.MatrixSymbol("c", 3, 1)
    u = ops.gelu(W * x + c)
    nets["tied_twice"] = symprop.Network(ops.mse(ops.leaky_relu(W.T * u), x), params=[W, c], inputs=[x], targets=[])

    # softmax output with mse (no fused loss, the full softmax vjp)
    W3 = sp.MatrixSymbol("W3", 3, 3)
    nets["softmax_mse"] = symprop.Network(
        ops.mse(ops.softmax(W3 * x), sp.MatrixSymbol("t", 3, 1)),
        params=[W3],
        inputs=[x],
        targets=[sp.MatrixSymbol("t", 3, 1)],
    )

    # a weight-decay term, a quadratic-form loss (SymPy pushes the transpose into
    # tanh: a row-shaped layer), a scalar parameter, matrix entries, an activation penalty
    W1, b1 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("b1", 4, 1)
    W2, alpha = sp.MatrixSymbol("W2", 2, 4), sp.Symbol("alpha")
    h = ops.tanh(W1 * x + b1)
    mlp_params = [W1, b1, W2]
    nets["weight_decay"] = symprop.Network(
        ops.mse(W2 * h, y) + sp.Rational(1, 100) * sp.Trace(W1.T * W1), params=mlp_params, inputs=[x], targets=[y]
    )
    nets["quadratic_loss"] = symprop.Network((W2 * h - y).T * (W2 * h - y), params=mlp_params, inputs=[x], targets=[y])
    nets["scalar_param"] = symprop.Network(
        ops.mse(alpha * (W2 * h), y), params=[*mlp_params, alpha], inputs=[x], targets=[y]
    )
    nets["matrix_entries"] = symprop.Network(
        ((W2 * h)[0, 0] - y[1, 0]) ** 2 + (sp.OneMatrix(1, 4) * h)[0, 0], params=mlp_params, inputs=[x], targets=[y]
    )

    # scalar networks: plain SymPy functions and registry ones
    w1, w2, b, s, t = sp.symbols("w1 w2 b s t")
    nets["scalar_sin_exp"] = symprop.Network(
        (sp.sin(w1 * s) * sp.exp(w2 * s) + b - t) ** 2, params=[w1, w2, b], inputs=[s], targets=[t]
    )
    nets["scalar_tanh_bce"] = symprop.Network(
        ops.binary_cross_entropy(ops.sigmoid(w2 * ops.tanh(w1 * s + b)), t), params=[w1, w2, b], inputs=[s], targets=[t]
    )
    return nets


def random_data(net, m: int, seed: int = 0, scale: float = 1.0) -> dict:
    """A batch-first batch of inputs and targets on which the loss is defined."""
    rng = np.random.default_rng(seed)
    data = {}
    losses = {}
    for e in sp.preorder_traversal(net.loss):
        if isinstance(e, ops.LossExpr):
            losses[e.target] = e.rule.name
    for s in net.inputs:
        shape = (m, s.shape[0]) if isinstance(s, sp.MatrixSymbol) else (m,) if net.is_scalar else (m, 1)
        data[s.name] = rng.standard_normal(shape) * scale
    for s in net.targets:
        shape = (m, s.shape[0]) if isinstance(s, sp.MatrixSymbol) else (m,) if net.is_scalar else (m, 1)
        kind = losses.get(s)
        if kind == "cross_entropy":
            raw = rng.random(shape) + 0.1
            data[s.name] = (
                raw / raw.sum(axis=-1, keepdims=True) if len(shape) == 2 and shape[1] > 1 else rng.random(shape)
            )
        elif kind == "binary_cross_entropy":
            data[s.name] = rng.random(shape)
        else:
            data[s.name] = rng.standard_normal(shape)
    return data


def random_params(module, seed: int = 1, scale: float = 1.0) -> dict:
    """Parameters of the declared shapes, all entries random (biases too)."""
    rng = np.random.default_rng(seed)
    return {name: np.asarray(rng.standard_normal(shape) * scale) for name, shape in module.PARAMS.items()}


def load_module(source: str, directory: Path):
    """Import generated source as a fresh module (written to ``directory``)."""
    name = f"symprop_generated_{uuid.uuid4().hex}"
    path = Path(directory) / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def central_differences(module, params: dict, data: dict, h: float = 1e-6) -> dict:
    """dL/dp of the generated ``loss`` by central differences, entry by entry (float64)."""
    out = {}
    for name, value in params.items():
        value = np.asarray(value, dtype=np.float64)
        grad = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            plus = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
            minus = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
            plus[name][idx] += h
            minus[name][idx] -= h
            grad[idx] = (module.loss(plus, **data) - module.loss(minus, **data)) / (2 * h)
        out[name] = grad
    return out


def relative_error(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(np.linalg.norm(a), np.linalg.norm(b), 1e-12)
    return float(np.linalg.norm(a - b) / scale)
