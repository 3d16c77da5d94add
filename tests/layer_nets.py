"""Networks beyond the per-example column MLP, for the layer tests: a table of builders.

Three kinds of declaration: over a batch (``batch=m``, examples as columns:
batch norm couples them), for an example that is a column (layer norm over
its features), and for an example that is a d x T sequence (attention, layer
norm per token).  ``data_for`` makes batch-first data of the right shapes for
each (the layout of the generated modules): (m, n) for columns and for the
examples of a batch network, (m, d, T) for sequences.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

import symprop
from symprop import ops

M = sp.Symbol("m", integer=True, positive=True)
_t = sp.Symbol("t")
MISH = symprop.activation("mish", sp.Lambda(_t, _t * sp.tanh(sp.log(1 + sp.exp(_t)))))
SWISH_HALF = symprop.activation("swish_half", sp.Lambda(_t, _t / (1 + sp.exp(-_t / 2))))
LOSS_OUTPUT = {"cross_entropy": symprop.softmax, "binary_cross_entropy": symprop.sigmoid, "mse": symprop.identity}


def _mats(**shapes):
    return {name: sp.MatrixSymbol(name, *shape) for name, shape in shapes.items()}


def bn_mlp(activation=symprop.relu, loss=symprop.cross_entropy, batch=M, sizes=(4, 5, 3)):
    n0, n1, n2 = sizes
    s = _mats(X=(n0, batch), Y=(n2, batch), W1=(n1, n0), b1=(n1, 1), gamma=(n1, 1), beta=(n1, 1), W2=(n2, n1), b2=(n2, 1))
    ones = symprop.ones(1, batch)
    h = activation(symprop.batch_norm(s["W1"] * s["X"] + s["b1"] * ones, s["gamma"], s["beta"]))
    out = LOSS_OUTPUT[loss.name](s["W2"] * h + s["b2"] * ones)
    params = [s[k] for k in ("W1", "b1", "gamma", "beta", "W2", "b2")]
    return symprop.Network(loss(out, s["Y"]), params=params, inputs=[s["X"]], targets=[s["Y"]], batch=batch, name="bn mlp")


def bn_residual():
    s = _mats(X=(3, M), Y=(3, M), W1=(3, 3), W2=(3, 3), g1=(3, 1), c1=(3, 1), g2=(3, 1), c2=(3, 1), V=(2, 3), T=(2, M))
    h1 = s["X"] + symprop.tanh(symprop.batch_norm(s["W1"] * s["X"], s["g1"], s["c1"]))
    h2 = h1 + symprop.relu(symprop.batch_norm(s["W2"] * h1, s["g2"], s["c2"]))
    loss = symprop.mse(s["V"] * h2, s["T"])
    params = [s[k] for k in ("W1", "g1", "c1", "W2", "g2", "c2", "V")]
    return symprop.Network(loss, params=params, inputs=[s["X"]], targets=[s["T"]], batch=M, name="bn residual")


def bn_tied():
    """One weight matrix used on the way in and (transposed) on the way out, batch norm between."""
    s = _mats(X=(4, M), W=(3, 4), g=(3, 1), c=(3, 1))
    h = symprop.sigmoid(symprop.batch_norm(s["W"] * s["X"], s["g"], s["c"]))
    loss = symprop.mse(s["W"].T * h, s["X"])
    return symprop.Network(loss, params=[s["W"], s["g"], s["c"]], inputs=[s["X"]], batch=M, name="bn autoencoder")


def bn_no_affine():
    s = _mats(X=(3, 5), Y=(2, 5), W1=(4, 3), W2=(2, 4))
    h = symprop.gelu(symprop.batch_norm(s["W1"] * s["X"]))
    loss = symprop.binary_cross_entropy(symprop.sigmoid(s["W2"] * h), s["Y"])
    return symprop.Network(loss, params=[s["W1"], s["W2"]], inputs=[s["X"]], targets=[s["Y"]], batch=5, name="bn no affine")


def ln_column(activation=symprop.tanh):
    s = _mats(x=(4, 1), y=(3, 1), W1=(5, 4), b1=(5, 1), g=(5, 1), c=(5, 1), W2=(3, 5), b2=(3, 1))
    h = activation(symprop.layer_norm(s["W1"] * s["x"] + s["b1"], s["g"], s["c"]))
    loss = symprop.cross_entropy(symprop.softmax(s["W2"] * h + s["b2"]), s["y"])
    params = [s[k] for k in ("W1", "b1", "g", "c", "W2", "b2")]
    return symprop.Network(loss, params=params, inputs=[s["x"]], targets=[s["y"]], name="layer norm mlp")


def ln_sequence():
    s = _mats(X=(4, 6), Y=(2, 6), W=(3, 4), g=(3, 1), c=(3, 1), V=(2, 3))
    h = symprop.silu(symprop.layer_norm(s["W"] * s["X"], s["g"], s["c"]))
    loss = symprop.mse(s["V"] * h, s["Y"])
    return symprop.Network(loss, params=[s["W"], s["g"], s["c"], s["V"]], inputs=[s["X"]], targets=[s["Y"]], name="layer norm per token")


def softmax_rows():
    """Row-wise softmax of a per-example matrix."""
    s = _mats(X=(3, 4), Y=(2, 4), W=(2, 3))
    loss = symprop.mse(symprop.softmax(s["W"] * s["X"], axis=1), s["Y"])
    return symprop.Network(loss, params=[s["W"]], inputs=[s["X"]], targets=[s["Y"]], name="row softmax")


def softmax_rows_layer_norm():
    """A row softmax feeding a layer norm: the norm names its input Z, as the softmax's own argument is named
    (found by the layer fuzzer: both values were Z, and evaluate() mixed them up)."""
    s = _mats(X=(3, 4), Y=(2, 4), W=(3, 3), g=(3, 1), c=(3, 1), V=(2, 3))
    h = symprop.layer_norm(symprop.softmax(s["W"] * s["X"], axis=1), s["g"], s["c"])
    return symprop.Network(symprop.mse(s["V"] * h, s["Y"]), params=[s["W"], s["g"], s["c"], s["V"]], inputs=[s["X"]],
                           targets=[s["Y"]], name="row softmax, then layer norm")


def attention(masked=False, tokens=5, d=4, d_k=3, classes=2):
    s = _mats(X=(d, tokens), Y=(classes, tokens), W_Q=(d_k, d), W_K=(d_k, d), W_V=(d_k, d), W_o=(classes, d_k))
    inputs = [s["X"]]
    mask = None
    if masked:
        mask = sp.MatrixSymbol("Mask", tokens, tokens)
        inputs.append(mask)
    o = symprop.attention(s["X"], s["W_Q"], s["W_K"], s["W_V"], mask=mask)
    if masked:
        loss = symprop.cross_entropy(symprop.softmax(s["W_o"] * o), s["Y"])
    else:
        loss = symprop.mse(s["W_o"] * o, s["Y"])
    params = [s[k] for k in ("W_Q", "W_K", "W_V", "W_o")]
    return symprop.Network(loss, params=params, inputs=inputs, targets=[s["Y"]], name="attention head")


def transformer_block(blocks=1, d=4, tokens=5, hidden=6):
    """Pre-norm blocks: X + attention(LN(X)), then + MLP(LN(.)), then a linear read-out."""
    X, Y = sp.MatrixSymbol("X", d, tokens), sp.MatrixSymbol("Y", 2, tokens)
    h = X
    params = []
    ones = symprop.ones(1, tokens)
    for b in range(1, blocks + 1):
        s = _mats(**{f"Wq{b}": (d, d), f"Wk{b}": (d, d), f"Wv{b}": (d, d), f"g{b}": (d, 1), f"c{b}": (d, 1),
                     f"Wa{b}": (hidden, d), f"ba{b}": (hidden, 1), f"Wb{b}": (d, hidden), f"e{b}": (d, 1), f"f{b}": (d, 1)})
        h = h + symprop.attention(symprop.layer_norm(h, s[f"g{b}"], s[f"c{b}"]), s[f"Wq{b}"], s[f"Wk{b}"], s[f"Wv{b}"])
        u = symprop.relu(s[f"Wa{b}"] * symprop.layer_norm(h, s[f"e{b}"], s[f"f{b}"]) + s[f"ba{b}"] * ones)
        h = h + s[f"Wb{b}"] * u
        params += [s[k] for k in sorted(s)]
    W_out = sp.MatrixSymbol("W_out", 2, d)
    params.append(W_out)
    loss = symprop.mse(W_out * h, Y)
    return symprop.Network(loss, params=params, inputs=[X], targets=[Y], name=f"{blocks}-block transformer")


def cnn(pool="max"):
    """conv -> ReLU -> pool -> conv -> ReLU -> pool -> dense -> softmax cross-entropy on 1 x 8 x 8 images."""
    X = symprop.image("X", 1, 8, 8)
    K1, b1 = symprop.kernel("K1", 3, 1, 3), sp.MatrixSymbol("b1", 3, 1)
    K2, b2 = symprop.kernel("K2", 4, 3, 3), sp.MatrixSymbol("b2", 4, 1)
    W3, b3, y = sp.MatrixSymbol("W3", 5, 16), sp.MatrixSymbol("b3", 5, 1), sp.MatrixSymbol("y", 5, 1)
    pooling = symprop.max_pool2d if pool == "max" else symprop.avg_pool2d
    p1 = pooling(symprop.relu(symprop.conv2d(X, K1, b1, padding="same")), 2)
    p2 = pooling(symprop.relu(symprop.conv2d(p1, K2, b2, padding="same")), 2)
    loss = symprop.cross_entropy(symprop.softmax(W3 * symprop.flatten(p2) + b3), y)
    return symprop.Network(loss, params=[K1, b1, K2, b2, W3, b3], inputs=[X], targets=[y], name=f"cnn ({pool} pooling)")


def conv_random(seed: int):
    """One convolution of random channels, size, kernel, stride and padding, then an activation, a pool or not, and a dense read-out."""
    rng = np.random.default_rng(seed)
    while True:
        c, o = (int(v) for v in rng.integers(1, 4, size=2))
        h, w = (int(v) for v in rng.integers(3, 8, size=2))
        k = int(rng.choice([1, 2, 3]))
        stride = int(rng.choice([1, 2]))
        padding = rng.choice(["valid", "same", 1])
        padding = int(padding) if padding == "1" else str(padding)
        if padding == "same" and (stride != 1 or k % 2 == 0):
            continue
        p = {"valid": 0, "same": (k - 1) // 2}.get(padding, padding) if isinstance(padding, str) else padding
        if k > min(h, w) + 2 * p or (h + 2 * p - k) % stride or (w + 2 * p - k) % stride:
            continue
        break
    X = symprop.image("X", c, h, w)
    K, b = symprop.kernel("K", o, c, k), sp.MatrixSymbol("b", o, 1)
    act = [symprop.relu, symprop.tanh, symprop.sigmoid, symprop.gelu][seed % 4]
    z = act(symprop.conv2d(X, K, b, stride=stride, padding=padding))
    ho, wo = (h + 2 * p - k) // stride + 1, (w + 2 * p - k) // stride + 1
    if seed % 2 and ho >= 2 and wo >= 2 and ho % 2 == 0 and wo % 2 == 0:
        z = symprop.max_pool2d(z, 2)
        ho, wo = ho // 2, wo // 2
    V, y = sp.MatrixSymbol("V", 2, o * ho * wo), sp.MatrixSymbol("y", 2, 1)
    loss = symprop.mse(V * symprop.flatten(z), y)
    return symprop.Network(loss, params=[K, b, V], inputs=[X], targets=[y], name=f"conv {seed}")


def conv1d_sequence():
    X = sp.MatrixSymbol("X", 2, 7)  # 2 channels, a sequence of 7
    K, b = symprop.kernel("K", 3, 2, (3,)), sp.MatrixSymbol("b", 3, 1)
    V, y = sp.MatrixSymbol("V", 1, 3 * 7), sp.MatrixSymbol("y", 1, 1)
    h = symprop.relu(symprop.conv1d(X, K, b, padding="same"))
    return symprop.Network(symprop.mse(V * symprop.flatten(h), y), params=[K, b, V], inputs=[X], targets=[y], name="conv1d")


def dropout_mlp():
    x, y, M = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1), sp.MatrixSymbol("M", 4, 1)
    W1, b1, W2, b2 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("b1", 4, 1), sp.MatrixSymbol("W2", 2, 4), sp.MatrixSymbol("b2", 2, 1)
    a1 = symprop.dropout(symprop.tanh(W1 * x + b1), M, keep=0.75)
    loss = symprop.cross_entropy(symprop.softmax(W2 * a1 + b2), y)
    return symprop.Network(loss, params=[W1, b1, W2, b2], inputs=[x, M], targets=[y], name="dropout mlp")


def dropout_cnn():
    X = symprop.image("X", 1, 4, 4)
    K, b, M = symprop.kernel("K", 2, 1, 3), sp.MatrixSymbol("b", 2, 1), sp.MatrixSymbol("M", 2, 16)
    V, y = sp.MatrixSymbol("V", 1, 32), sp.MatrixSymbol("y", 1, 1)
    h = symprop.dropout(symprop.relu(symprop.conv2d(X, K, b, padding="same")), M, keep=0.5)
    return symprop.Network(symprop.mse(V * symprop.flatten(h), y), params=[K, b, V], inputs=[X, M], targets=[y], name="dropout cnn")


def table() -> dict:
    nets = {
        "bn_mlp": bn_mlp(),
        "bn_numeric_batch": bn_mlp(batch=6, loss=symprop.mse),
        "bn_residual": bn_residual(),
        "bn_tied": bn_tied(),
        "bn_no_affine": bn_no_affine(),
        "ln_column": ln_column(),
        "ln_sequence": ln_sequence(),
        "softmax_rows": softmax_rows(),
        "softmax_rows_layer_norm": softmax_rows_layer_norm(),
        "attention": attention(),
        "attention_masked": attention(masked=True),
        "transformer_block": transformer_block(),
        "cnn_max": cnn("max"),
        "cnn_avg": cnn("avg"),
        "conv1d": conv1d_sequence(),
        "dropout_mlp": dropout_mlp(),
        "dropout_cnn": dropout_cnn(),
    }
    for seed in range(8):
        nets[f"conv_random{seed}"] = conv_random(seed)
    losses = sorted(ops.LOSSES)
    # The built-in activations and two custom ones (their derivatives print e^{...}); never the activations other
    # test modules happen to have registered, so that a test's networks do not depend on which tests ran before it.
    custom = {MISH.name, SWISH_HALF.name}
    names = [n for n, rule in ops.activations().items() if not rule.description.startswith("custom:") or n in custom]
    for i, name in enumerate(sorted(names)):
        nets[f"bn_{name}"] = bn_mlp(activation=ops.FUNCTIONS[name], loss=ops.LOSSES[losses[i % len(losses)]])
    return nets


def is_batch(net) -> bool:
    return net.batch is not None


def data_for(net, m: int, rng) -> dict:
    """Batch-first data: (m, n) per column or per example of a batch network, (m, d, T) per sequence."""
    data = {}
    if net.batch is not None and net.batch.is_Integer:
        m = int(net.batch)
    loss_of = {e.target: e.rule.name for e in sp.preorder_traversal(net.loss) if isinstance(e, ops.LossExpr)}
    for sym in net.inputs + net.targets:
        rows, cols = sym.shape
        shape = (m, int(rows)) if (net.batch is not None or cols == 1) else (m, int(rows), int(cols))
        if getattr(sym, "dims", None) is not None:
            shape = (m, *sym.dims)  # images as PyTorch takes them
        if "dropout" in net.hints.get(sym, {}):
            data[sym.name] = (rng.random(shape) < float(net.hints[sym]["dropout"])).astype(float)
            continue
        if "attention_mask" in net.hints.get(sym, {}):  # a decoder's causal mask
            data[sym.name] = np.broadcast_to(symprop.causal_mask(int(rows)), (m, int(rows), int(cols))).copy()
            continue
        kind = loss_of.get(sym)
        if kind == "cross_entropy":
            classes = rng.integers(0, int(rows), size=(m,) + shape[2:])
            onehot = np.eye(int(rows))[classes]  # (m, [T,] k)
            data[sym.name] = onehot if len(shape) == 2 else np.moveaxis(onehot, -1, 1)
        elif kind == "binary_cross_entropy":
            data[sym.name] = rng.uniform(0.1, 0.9, size=shape)
        else:
            data[sym.name] = rng.standard_normal(shape)
    return data


def params_for(net, rng) -> dict:
    return {p.name: rng.standard_normal(tuple(int(d) for d in p.shape)) * 0.7 for p in net.params}


def evaluate_batch(derivation, params: dict, data: dict) -> dict:
    """L and dL/dp of the batch mean, by ``Derivation.evaluate`` (per example where examples are separate)."""
    net = derivation.network
    symbols = {s.name: s for s in net.declared}
    if net.batch is not None:
        values = {symbols[k]: v for k, v in params.items()}
        values.update({symbols[k]: np.asarray(v).T for k, v in data.items()})
        out = derivation.evaluate(values)
        return {"L": out["L"], **{p.name: out[f"dL/d{p.name}"] for p in net.params}}
    m = len(next(iter(data.values())))
    total = {"L": 0.0, **{p.name: 0.0 for p in net.params}}
    for i in range(m):
        values = {symbols[k]: v for k, v in params.items()}
        for k, v in data.items():
            row = np.asarray(v[i])
            values[symbols[k]] = row.reshape(-1, 1) if row.ndim == 1 else row  # an image (C, H, W) as given
        out = derivation.evaluate(values)
        total["L"] += out["L"] / m
        for p in net.params:
            total[p.name] = total[p.name] + np.asarray(out[f"dL/d{p.name}"]) / m
    return total
