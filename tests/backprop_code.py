"""Batch-first backward code in the style of public course material (CS231n's two-layer net), and its buggy copies.

Written here, in that style: arrays are (N, D) with one row per example,
weights are stored (in, out) and the forward pass is ``X @ W + b``; labels
are integers; the loss is the mean softmax cross-entropy plus ``lam/2`` times
the squared weights.  The matching symprop networks declare the weights
(out, in) with a hyper-parameter ``lamda``, so the code is checked with
``layout="in_out"`` and ``names={"X": "x"}``.

``BUGS`` lists the injected bugs: each is a small edit of the correct code
(one line, as a student or a copy would get it wrong), with the parameters it
makes wrong and the pattern gradcheck should name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

import symprop

LAMBDA = 0.05


def network(sizes) -> symprop.Network:
    """ReLU hidden layers, softmax and cross-entropy, weight decay lamda/2 sum ||W||^2 (weights declared (out, in))."""
    x, y = sp.MatrixSymbol("x", sizes[0], 1), sp.MatrixSymbol("y", sizes[-1], 1)
    lam = sp.Symbol("lamda")
    a, params, decay = x, [], 0
    for layer in range(1, len(sizes)):
        W, b = sp.MatrixSymbol(f"W{layer}", sizes[layer], sizes[layer - 1]), sp.MatrixSymbol(f"b{layer}", sizes[layer], 1)
        params += [W, b]
        decay += sp.Trace(W.T * W)
        z = W * a + b
        a = symprop.softmax(z) if layer == len(sizes) - 1 else symprop.relu(z)
    return symprop.Network(symprop.cross_entropy(a, y) + lam / 2 * decay, params=params, inputs=[x], targets=[y],
                           hyperparams={lam: LAMBDA}, name="batch-first classifier")


def problem(sizes, m=12, seed=0, scale=1.0):
    """Parameters in the (in, out) layout, a batch X (m, D) and integer labels y (m,)."""
    rng = np.random.default_rng(seed)
    params = {}
    for layer in range(1, len(sizes)):
        params[f"W{layer}"] = rng.normal(0, 1 / np.sqrt(sizes[layer - 1]), (sizes[layer - 1], sizes[layer]))
        params[f"b{layer}"] = rng.normal(0, 0.1, sizes[layer])
    X = scale * rng.normal(size=(m, sizes[0]))
    y = rng.integers(0, sizes[-1], m)
    return params, {"X": X, "y": y}


def _softmax(scores, shift=True):
    if shift:
        scores = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=1, keepdims=True)


def loss(params, X, y, lam=LAMBDA):
    layers = len(params) // 2
    h = X
    for k in range(1, layers):
        h = np.maximum(0, h @ params[f"W{k}"] + params[f"b{k}"])
    probs = _softmax(h @ params[f"W{layers}"] + params[f"b{layers}"])
    data = -np.mean(np.log(probs[np.arange(len(y)), y]))
    return data + 0.5 * lam * sum(np.sum(params[f"W{k}"] ** 2) for k in range(1, layers + 1))


def backward(params, X, y, lam=LAMBDA, bug=None):
    """The gradients of ``loss``; ``bug`` names one injected mistake (see BUGS)."""
    layers = len(params) // 2
    N = X.shape[0]
    hs, pre = [X], [None]
    for k in range(1, layers):
        z = hs[-1] @ params[f"W{k}"] + params[f"b{k}"]
        pre.append(z)
        hs.append(np.maximum(0, z))
    scores = hs[-1] @ params[f"W{layers}"] + params[f"b{layers}"]
    with np.errstate(over="ignore", invalid="ignore"):
        probs = _softmax(scores, shift=bug != "softmax_not_shifted")
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    if bug == "sign_at_the_top":
        dscores = -dscores
    unscaled = dscores.copy()
    if bug != "missing_1_over_N":
        dscores /= N
    if bug == "divided_by_N_twice":
        dscores /= N
    grads = {}
    d = dscores
    for k in range(layers, 0, -1):
        W = params[f"W{k}"]
        grads[f"W{k}"] = hs[k - 1].T @ d
        grads[f"b{k}"] = np.sum(d, axis=0)
        if bug == "bias_wrong_axis" and k == layers:
            grads[f"b{k}"] = np.sum(d, axis=1)
        if bug == "bias_not_averaged" and k == layers:
            grads[f"b{k}"] = np.sum(unscaled, axis=0)
        if bug == "negated_dW" and k == layers:
            grads[f"W{k}"] = -grads[f"W{k}"]
        reg = {"missing_reg": 0.0, "halved_reg": 0.5 * lam, "reg_wrong_sign": -lam}.get(bug, lam) if k == 1 else lam
        grads[f"W{k}"] = grads[f"W{k}"] + reg * W
        if bug == "transposed_dW" and k == layers:
            grads[f"W{k}"] = grads[f"W{k}"].T  # dscores.T @ hidden + lam W.T: the (out, in) layout
        if k > 1:
            dh = d @ W.T
            mask = hs[k - 1] > 0
            if bug == "relu_mask_wrong_array" and k == layers:
                mask = hs[k - 2] > 0  # the layer below's activations: same width, wrong array
            if bug == "no_relu_mask" and k == 2:
                mask = np.ones_like(mask)
            d = dh * mask
            if bug == "bias_before_mask" and k == 2:
                grads["_db_before_mask"] = np.sum(dh, axis=0)
    if "_db_before_mask" in grads:
        grads["b1"] = grads.pop("_db_before_mask")
    return grads


@dataclass(frozen=True)
class Bug:
    key: str
    sizes: tuple
    what: str  # the mistake, in a sentence
    wrong: tuple  # the parameters it makes wrong
    pattern: str  # the pattern gradcheck should name (per parameter, or across them: from_layer)
    scale: float = 1.0  # of the inputs (large: logits that overflow an unshifted softmax)


TWO = (4, 5, 3)
THREE = (4, 5, 5, 3)
BUGS = [
    Bug("sign_at_the_top", TWO, "dscores = y - probs: every data term negated", ("W1", "b1", "W2", "b2"), "sign"),
    Bug("negated_dW", TWO, "dW2 with the wrong sign", ("W2",), "sign"),
    Bug("missing_1_over_N", TWO, "no 1/N: the sum over the batch", ("W1", "b1", "W2", "b2"), "factor"),
    Bug("divided_by_N_twice", TWO, "1/N applied twice", ("W1", "b1", "W2", "b2"), "factor"),
    Bug("bias_not_averaged", TWO, "db2 from the unscaled scores", ("b2",), "factor"),
    Bug("missing_reg", TWO, "dW1 without lam W1", ("W1",), "regularisation"),
    Bug("halved_reg", TWO, "dW1 with lam/2 W1", ("W1",), "regularisation"),
    Bug("reg_wrong_sign", TWO, "dW1 with -lam W1", ("W1",), "regularisation"),
    Bug("transposed_dW", TWO, "dW2 = dscores.T @ hidden + lam W2.T", ("W2",), "transposed"),
    Bug("bias_wrong_axis", TWO, "db2 = np.sum(dscores, axis=1)", ("b2",), "bias_axis"),
    Bug("softmax_not_shifted", TWO, "exp of unshifted scores", ("W1", "b1", "W2", "b2"), "non_finite", scale=1000.0),
    Bug("no_relu_mask", TWO, "no ReLU mask in the backward pass", ("W1", "b1"), "from_layer"),
    Bug("relu_mask_wrong_array", THREE, "layer 2's ReLU mask taken from layer 1's activations",
        ("W1", "b1", "W2", "b2"), "from_layer"),
    Bug("bias_before_mask", TWO, "db1 summed before the ReLU mask", ("b1",), "only_bias"),
]


def buggy(bug: str):
    return lambda params, X, y: backward(params, X, y, bug=bug)


def reported_pattern(report, wrong) -> set:
    """The pattern keys the report names for the wrong parameters (per parameter and across them)."""
    keys = {report[name].pattern.key for name in wrong if report[name].pattern is not None}
    return keys | {p.key for p in report.patterns}
