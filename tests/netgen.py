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

# Entrywise functions that are not registered activations: a layer applies one
# with X.applyfunc(Lambda) to its compound pre-activation W a + b (a scalar
# network calls it on w a + b), so no z/a names are made for it.  "none" is no
# function at all: the next layer multiplies the pre-activation itself
# (stacked linear maps).
_t = sp.Symbol("t")
ENTRYWISE = {
    "gauss": sp.Lambda(_t, sp.exp(-(_t**2))),
    "square": sp.Lambda(_t, _t**2),
    "sin": sp.Lambda(_t, sp.sin(_t)),
}
PSEUDO = sorted(ENTRYWISE) + ["none"]


def hidden_activations():
    """The built-in activations (custom ones that other tests register are left out)."""
    return sorted(name for name in ops.activations() if name in ops.BUILTIN_FUNCTIONS)


@dataclass(frozen=True)
class Spec:
    """A network to build: what a generator drew (printed when a check fails)."""

    widths: tuple  # n_0 ... n_L (all 1 for scalar networks)
    activations: tuple  # one per layer; the last is the output's ("softmax" allowed)
    loss: str  # a registry loss, or "squared" (a user-written (a - y)**2)
    residual: bool = False  # skip connections around hidden layers of equal width
    gated: bool = False  # layer 1 is sigmoid(Wg a) * tanh(Wh a), without bias
    tied: bool = False  # layer 2 reuses W1^T (an autoencoder's decoder)
    bias: bool = True
    scalar: bool = False
    scaled: bool = False  # a scalar parameter s multiplies the last layer's pre-activation (s W a + b)
    heads: int = 1  # 2: a second output head from the last hidden layer, with its own target and loss

    def __str__(self):
        flags = [k for k in ("residual", "gated", "tied", "scalar", "scaled") if getattr(self, k)]
        flags += ([] if self.bias else ["no bias"]) + ([f"{self.heads} heads"] if self.heads > 1 else [])
        return f"widths={list(self.widths)} activations={list(self.activations)} loss={self.loss} {' '.join(flags)}"


def valid_spec(spec: Spec) -> Spec:
    """Coerce a drawn spec into one that makes sense (losses need their output activation)."""
    widths, acts = list(spec.widths), list(spec.activations)
    depth = len(acts)
    heads = spec.heads if depth >= 2 else 1
    if spec.scalar:
        widths = [1] * (depth + 1)
        if spec.loss in ("binary_cross_entropy", "cross_entropy"):
            acts[-1] = "sigmoid"
        acts = ["identity" if a == "softmax" else a for a in acts]
        return Spec(tuple(widths), tuple(acts), spec.loss if spec.loss != "cross_entropy" else "binary_cross_entropy",
                    scalar=True, scaled=spec.scaled, heads=heads)
    loss = "mse" if spec.loss == "squared" else spec.loss
    if loss == "cross_entropy":
        acts[-1] = "softmax" if widths[-1] > 1 else "sigmoid"
        if widths[-1] == 1:
            loss = "binary_cross_entropy"
    elif loss == "binary_cross_entropy":
        acts[-1] = "sigmoid"
    elif acts[-1] == "softmax" and widths[-1] == 1:
        acts[-1] = "identity"
    acts = [a if i == depth - 1 or a != "softmax" else "tanh" for i, a in enumerate(acts)]
    tied = spec.tied and depth >= 2
    if tied:
        widths[2] = widths[0]
    gated = spec.gated and depth >= 2
    return Spec(tuple(widths), tuple(acts), loss, spec.residual, gated, tied, spec.bias, False, spec.scaled, heads)


def random_spec(rng, depth=None, scalar=None, residual=None, gated=None, tied=None, bias=None, loss=None) -> Spec:
    """A spec drawn from ``rng`` (registered activations only, one head: the draws other tests rely on)."""
    scalar = rng.random() < 0.2 if scalar is None else scalar
    depth = int(rng.integers(1, 5)) if depth is None else depth
    names = hidden_activations()
    acts = tuple(names[rng.integers(len(names))] for _ in range(depth - 1)) + (
        (names + ["softmax"])[rng.integers(len(names) + 1)],
    )
    losses = sorted(ops.LOSSES) + (["squared"] if scalar else [])
    return valid_spec(
        Spec(
            widths=tuple(int(rng.integers(1, 5)) for _ in range(depth + 1)),
            activations=acts,
            loss=loss or losses[rng.integers(len(losses))],
            residual=rng.random() < 0.3 if residual is None else residual,
            gated=rng.random() < 0.2 if gated is None else gated,
            tied=rng.random() < 0.2 if tied is None else tied,
            bias=rng.random() < 0.85 if bias is None else bias,
            scalar=scalar,
        )
    )


def _activation(name):
    """The function a layer applies: a registered activation, an entrywise Lambda, or none."""
    if name == "none":
        return lambda z: z
    if name in ENTRYWISE:
        lam = ENTRYWISE[name]
        return lambda z: z.applyfunc(lam) if isinstance(z, sp.MatrixExpr) else lam(z)
    return ops.softmax if name == "softmax" else ops.FUNCTIONS[name]


def _second_head(spec, a, loss_name, params, targets):
    """A second output from the hidden value ``a``: its own weights, target and loss (summed into L)."""
    if spec.scalar:
        v, y2 = sp.symbols("v y2")
        params.append(v)
        targets.append(y2)
        return ops.LOSSES["mse"](v * a, y2)
    n_out = 2
    V = sp.MatrixSymbol("V", n_out, a.shape[0])
    y2 = sp.MatrixSymbol("y2", n_out, 1)
    params.append(V)
    targets.append(y2)
    return ops.LOSSES[loss_name if loss_name == "mse" else "cross_entropy"](
        ops.softmax(V * a) if loss_name != "mse" else V * a, y2)


def build_network(spec: Spec, name: str = "random network"):
    if spec.scalar:
        return _build_scalar(spec, name)
    widths, depth = spec.widths, len(spec.activations)
    x = sp.MatrixSymbol("x", widths[0], 1)
    y = sp.MatrixSymbol("y", widths[-1], 1)
    params, targets = [], [y]
    a = x
    hidden = None
    for layer in range(1, depth + 1):
        n_in, n_out = widths[layer - 1], widths[layer]
        if spec.gated and layer == 1:
            Wg = sp.MatrixSymbol("Wg1", n_out, n_in)
            Wh = sp.MatrixSymbol("Wh1", n_out, n_in)
            params += [Wg, Wh]
            a = sp.HadamardProduct(ops.sigmoid(Wg * a), ops.tanh(Wh * a))
            continue
        if spec.tied and layer == 2:
            z = params[0].T * a  # the decoder reuses the first weight matrix, transposed
        else:
            W = sp.MatrixSymbol(f"W{layer}", n_out, n_in)
            params.append(W)
            z = W * a
        if spec.scaled and layer == depth:
            s = sp.Symbol("s")  # a scalar parameter in a matrix network
            params.append(s)
            z = s * z
        if spec.bias:
            b = sp.MatrixSymbol(f"b{layer}", n_out, 1)
            params.append(b)
            z = z + b
        out = _activation(spec.activations[layer - 1])(z)
        if spec.residual and layer < depth and n_out == n_in and layer > 1:
            out = out + a  # skip connection around this layer
        if layer == depth:
            hidden = a
        a = out
    loss = ops.LOSSES[spec.loss](a, y)
    if spec.heads > 1:
        loss = loss + _second_head(spec, hidden, spec.loss, params, targets)
    return symprop.Network(loss, params=params, inputs=[x], targets=targets, name=name)


def _build_scalar(spec: Spec, name: str):
    x, y = sp.symbols("x y")
    params, targets = [], [y]
    a = x
    hidden = None
    depth = len(spec.activations)
    for layer, act in enumerate(spec.activations, start=1):
        w, b = sp.symbols(f"w{layer} b{layer}")
        params += [w, b]
        z = w * a
        if spec.scaled and layer == depth:
            s = sp.Symbol("s")
            params.append(s)
            z = s * z
        if layer == depth:
            hidden = a
        a = _activation(act)(z + b)
    loss = (a - y) ** 2 if spec.loss == "squared" else ops.LOSSES[spec.loss](a, y)
    if spec.heads > 1:
        loss = loss + _second_head(spec, hidden, spec.loss, params, targets)
    return symprop.Network(loss, params=params, inputs=[x], targets=targets, name=name)


def random_network(seed: int, **options):
    """(network, spec) drawn from ``seed``; options fix parts of the spec."""
    spec = random_spec(np.random.default_rng(seed), **options)
    return build_network(spec, name=f"random network {seed}"), spec


# ---------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------


PARAM_SCALE = 0.5  # parameters ~ N(0, 0.25): deep nets stay out of saturation, where the
# unfused log(1 - sigmoid(z)) of evaluate() (the finite-difference reference) loses digits


def random_values(net, rng):
    """A point: inputs ~ N(0, 1), parameters ~ N(0, PARAM_SCALE^2); targets valid for the
    loss (each example's class probabilities sum to 1)."""
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
            scale = PARAM_SCALE if sym in net.params else 1.0
            values[sym.name] = scale * rng.normal(size=shape) if shape else float(scale * rng.normal())
    return values


def near_kink(derivation, values, margin=0.05, step=None) -> bool:
    """True if a ReLU-like activation sees a pre-activation within ``margin`` of 0
    (where a finite difference of step ~1e-3 would straddle the kink).

    With ``step`` (the finite difference's step) the margin scales instead with
    how far one perturbed entry can move the pre-activation: 8 steps times the
    largest value it is computed from (a fixed 0.05 is too wide for small
    values, so that no point passes, and too narrow for large ones)."""
    numbers = {**values, **derivation.evaluate(values)}
    steps = {s.name: s for s in derivation.forward_steps}
    for s in derivation.forward_steps:
        if s.activation in KINKED:
            arg = ops.activation_argument(s.expr)
            if not isinstance(arg, (sp.Symbol, sp.MatrixSymbol)):
                continue
            limit = margin
            if step is not None and arg.name in steps:
                sources = [np.max(np.abs(np.asarray(numbers[f.name], dtype=float)))
                           for f in steps[arg.name].expr.free_symbols if f.name in numbers]
                limit = 8 * step * max(sources + [1.0])
            if np.min(np.abs(np.asarray(numbers[arg.name]))) < limit:
                return True
    return False


def central_difference(f, value, h=1e-3):
    """d f / d value, entry by entry, by the five-point central difference.

    Its error is O(h^4) plus rounding of order eps |f| / h: about 1e-12 at
    h = 1e-3, where the two-point rule's best is about 1e-8 relative.
    """
    value = np.array(value, dtype=float)
    out = np.zeros_like(value)
    flat = out.reshape(-1)
    for k in range(value.size):
        def at(step):
            shifted = value.copy()
            shifted.reshape(-1)[k] += step
            return f(shifted)

        flat[k] = (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h)
    return out


def relative_error(derived, numeric) -> float:
    derived, numeric = np.asarray(derived, dtype=float), np.asarray(numeric, dtype=float)
    scale = max(np.linalg.norm(derived), np.linalg.norm(numeric), 1e-3)
    return float(np.linalg.norm(derived - numeric) / scale)


def finite_difference_errors(derivation, values):
    """{name: relative error} of the derived gradients against central differences of the loss."""
    net = derivation.network
    base = derivation.evaluate(values)
    errors = {}
    for sym in net.params + net.inputs:
        value = np.array(values[sym.name], dtype=float)
        numeric = central_difference(lambda v: derivation.evaluate({**values, sym.name: v})["L"], value)
        derived = np.asarray(base[f"dL/d{sym.name}"], dtype=float).reshape(value.shape)
        errors[sym.name] = relative_error(derived, numeric)
    return errors
