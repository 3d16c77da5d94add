"""Hypothesis draws networks of the new layers and checks every output on each.

A drawn network is one of four kinds - declared over a batch (batch norm),
for one column (layer norm, dropout), for one sequence (attention, layer norm
per token, row softmax), for one image (convolutions, pooling, dropout) -
with random sizes, activations, losses, residual paths and depths.  For each:
the derivation's numbers (``evaluate``) and the emitted module's gradients
agree with torch autograd on the declared loss (F.batch_norm, F.layer_norm,
F.conv2d, the pools: tests/torch_oracle.py), and the LaTeX and Markdown notes
render.  ``SYMPROP_FUZZ_LAYERS`` sets how many networks are drawn (15; 40 in the full tier); the draws are
the same on every run unless ``SYMPROP_FUZZ_RANDOM=1`` (then ``--hypothesis-seed=N`` picks them).
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import symprop
from tests import layer_nets
from tests.tiers import budget
from tests.torch_oracle import TorchOracle

EXAMPLES = budget("SYMPROP_FUZZ_LAYERS", fast=15, full=40)
SMOOTH = [symprop.tanh, symprop.sigmoid, symprop.gelu, symprop.silu, symprop.softplus, symprop.identity]
LOSSES = [symprop.mse, symprop.cross_entropy, symprop.binary_cross_entropy]
OUTPUT = {"mse": symprop.identity, "cross_entropy": symprop.softmax, "binary_cross_entropy": symprop.sigmoid}
STATS = {"drawn": 0}


def _mat(name, rows, cols):
    return sp.MatrixSymbol(name, rows, cols)


@st.composite
def batch_networks(draw):
    m = draw(st.sampled_from([layer_nets.M, 5]))
    n0, classes = draw(st.integers(2, 4)), draw(st.integers(2, 3))
    X, Y = _mat("X", n0, m), _mat("Y", classes, m)
    ones = symprop.ones(1, m)
    h, width, params = X, n0, []
    for layer in range(1, draw(st.integers(1, 3)) + 1):
        n = draw(st.integers(2, 4))
        W, b = _mat(f"W{layer}", n, width), _mat(f"b{layer}", n, 1)
        params += [W, b]
        z = W * h + b * ones
        if draw(st.booleans()):
            g, c = _mat(f"g{layer}", n, 1), _mat(f"c{layer}", n, 1)
            params += [g, c]
            z = symprop.batch_norm(z, g, c)
        a = draw(st.sampled_from(SMOOTH))(z)
        h = h + a if n == width and draw(st.booleans()) else a  # a residual path where the sizes allow
        width = n
    loss = draw(st.sampled_from(LOSSES))
    V, c = _mat("V", classes, width), _mat("cV", classes, 1)
    params += [V, c]
    out = OUTPUT[loss.name](V * h + c * ones)
    return symprop.Network(loss(out, Y), params=params, inputs=[X], targets=[Y], batch=m, name="drawn batch network")


@st.composite
def column_networks(draw):
    n0, classes = draw(st.integers(2, 4)), draw(st.integers(2, 3))
    x, y = _mat("x", n0, 1), _mat("y", classes, 1)
    h, width, params, inputs = x, n0, [], [x]
    for layer in range(1, draw(st.integers(1, 3)) + 1):
        n = draw(st.integers(2, 4))
        W, b = _mat(f"W{layer}", n, width), _mat(f"b{layer}", n, 1)
        params += [W, b]
        z = W * h + b
        if draw(st.booleans()):
            g, c = _mat(f"g{layer}", n, 1), _mat(f"c{layer}", n, 1)
            params += [g, c]
            z = symprop.layer_norm(z, g, c)
        h = draw(st.sampled_from(SMOOTH))(z)
        if draw(st.booleans()):
            mask = _mat(f"M{layer}", n, 1)
            inputs.append(mask)
            h = symprop.dropout(h, mask, draw(st.sampled_from([0.5, 0.8])))
        width = n
    loss = draw(st.sampled_from(LOSSES))
    V, c = _mat("V", classes, width), _mat("cV", classes, 1)
    out = OUTPUT[loss.name](V * h + c)
    return symprop.Network(loss(out, y), params=params + [V, c], inputs=inputs, targets=[y], name="drawn column network")


@st.composite
def sequence_networks(draw):
    d, tokens, classes = draw(st.integers(2, 4)), draw(st.integers(2, 4)), draw(st.integers(2, 3))
    X, Y = _mat("X", d, tokens), _mat("Y", classes, tokens)
    h, params, inputs = X, [], [X]
    for block in range(1, draw(st.integers(1, 2)) + 1):
        kind = draw(st.sampled_from(["attention", "layer_norm", "row_softmax", "dense"]))
        if kind == "attention":
            d_k = draw(st.integers(1, 3))
            wq, wk, wv = _mat(f"Wq{block}", d_k, d), _mat(f"Wk{block}", d_k, d), _mat(f"Wv{block}", d, d)
            params += [wq, wk, wv]
            mask = None
            if draw(st.booleans()):
                mask = _mat(f"Mask{block}", tokens, tokens)
                inputs.append(mask)
            out = symprop.attention(h, wq, wk, wv, mask=mask)
            h = h + out if draw(st.booleans()) else out
        elif kind == "layer_norm":
            g, c = _mat(f"g{block}", d, 1), _mat(f"c{block}", d, 1)
            params += [g, c]
            h = symprop.layer_norm(h, g, c)
        elif kind == "row_softmax":
            W = _mat(f"W{block}", d, d)
            params.append(W)
            h = symprop.softmax(W * h, axis=1)
        else:
            W, b = _mat(f"W{block}", d, d), _mat(f"b{block}", d, 1)
            params += [W, b]
            h = draw(st.sampled_from(SMOOTH))(W * h + b * symprop.ones(1, tokens))
    loss = draw(st.sampled_from(LOSSES))
    V = _mat("V", classes, d)
    return symprop.Network(loss(OUTPUT[loss.name](V * h), Y), params=params + [V], inputs=inputs, targets=[Y],
                           name="drawn sequence network")


@st.composite
def image_networks(draw):
    c, size = draw(st.integers(1, 2)), draw(st.sampled_from([4, 6]))
    X = symprop.image("X", c, size, size)
    h, dims, params, inputs = X, (c, size, size), [], [X]
    for layer in range(1, draw(st.integers(1, 2)) + 1):
        out_channels, k = draw(st.integers(1, 3)), draw(st.sampled_from([1, 3]))
        K, b = symprop.kernel(f"K{layer}", out_channels, dims[0], k), _mat(f"b{layer}", out_channels, 1)
        params += [K, b]
        h = draw(st.sampled_from(SMOOTH))(symprop.conv2d(h, K, b, padding="same"))
        dims = (out_channels, dims[1], dims[2])
        if dims[1] % 2 == 0 and draw(st.booleans()):
            h = draw(st.sampled_from([symprop.avg_pool2d, symprop.max_pool2d]))(h, 2)
            dims = (dims[0], dims[1] // 2, dims[2] // 2)
        if draw(st.booleans()):
            mask = _mat(f"M{layer}", dims[0], dims[1] * dims[2])
            inputs.append(mask)
            h = symprop.dropout(h, mask, 0.5)
    classes = draw(st.integers(2, 3))
    V, y = _mat("V", classes, dims[0] * dims[1] * dims[2]), _mat("y", classes, 1)
    loss = draw(st.sampled_from(LOSSES))
    out = OUTPUT[loss.name](V * symprop.flatten(h))
    return symprop.Network(loss(out, y), params=params + [V], inputs=inputs, targets=[y], name="drawn image network")


def _module(derivation, directory):
    path = directory / f"drawn{STATS['drawn']}.py"
    path.write_text(derivation.numpy())
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _close(got, want, what):
    scale = max(float(np.abs(np.asarray(v)).max()) for v in want.values())
    for name, value in want.items():
        err = float(np.abs(np.asarray(got[name]) - value).max())
        assert err <= 1e-7 * max(scale, 1.0), f"{what}: dL/d{name} differs by {err:.2e} (gradients up to {scale:.2e})"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("SYMPROP_FUZZ_RANDOM") != "1",
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(net=st.one_of(batch_networks(), column_networks(), sequence_networks(), image_networks()), seed=st.integers(0, 2**16))
def test_drawn_layer_networks(net, seed, torch, tmp_path_factory):
    STATS["drawn"] += 1
    d = net.derive()
    note(str(d))
    rng = np.random.default_rng(seed)
    params, data = layer_nets.params_for(net, rng), layer_nets.data_for(net, 3, rng)
    want_loss, want = TorchOracle(torch, net).loss_and_gradients(params, data)
    got = layer_nets.evaluate_batch(d, params, data)
    assert abs(got["L"] - want_loss) <= 1e-9 * max(1.0, abs(want_loss))
    _close(got, want, "evaluate")
    mod = _module(d, tmp_path_factory.mktemp("drawn"))
    loss, grads = mod.gradients(params, **data)
    assert abs(float(loss) - want_loss) <= 1e-9 * max(1.0, abs(want_loss))
    _close(grads, want, "emitted module")
    assert "\\begin{document}" in d.latex(standalone=True)
    assert d.markdown()
