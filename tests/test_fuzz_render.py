"""Every network that derives also renders: .tex, .md and the worked example, for networks nobody typed in.

Hypothesis draws networks from tests/netgen.py's generator (depth, widths, an
activation per layer, every loss, residual paths, gates, tied weights, scalar
networks) and from the shapes that used to break the renderers: a scalar
parameter in a matrix network, ``applyfunc`` of a compound argument, several
heads (a sum of losses), scalar networks with every activation and a custom
one.  For each: render the .tex (with and without a worked example) and the
.md; every step is numbered exactly once, every number of the worked example
is the engine's, no double superscript; a sample is compiled by pdflatex.

    SYMPROP_FUZZ_RENDER=3000 SYMPROP_FUZZ_RENDER_COMPILED=300 python -m pytest tests/test_fuzz_render.py -s

The default run renders 60 networks and compiles 12; CI (.ci/run) compiles 60.
The counts are printed at the end of the session.
"""

import re

import numpy as np
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symprop
from symprop import ops
from symprop.render import _render, document
from tests.markdown_math import katex_problems
from tests.tiers import budget
from tests.netgen import Spec, build_network, hidden_activations, random_values, valid_spec

EXAMPLES = budget("SYMPROP_FUZZ_RENDER", fast=20, full=60)
COMPILED = budget("SYMPROP_FUZZ_RENDER_COMPILED", fast=4, full=60)
STATS = {"rendered": 0, "compiled": 0, "refused": 0}

Z = sp.Symbol("z")
# entrywise functions of a compound argument, as a user writes them with applyfunc
LAMBDAS = (
    sp.Lambda(Z, sp.exp(-Z**2)), sp.Lambda(Z, Z**2), sp.Lambda(Z, sp.sin(Z)), sp.Lambda(Z, 1 / (1 + Z**2)),
    sp.Lambda(Z, Z**3 - Z), sp.Lambda(Z, -Z), sp.Lambda(Z, sp.exp(Z)),
)
# a custom activation whose derivative is long (mish, as a lecturer would register it)
MISH = symprop.activation("mish", sp.Lambda(Z, Z * sp.tanh(sp.log(1 + sp.exp(Z)))))
VARIANTS = ("netgen", "scalar_parameter", "applyfunc", "heads", "scalar", "custom")


@st.composite
def netgen_specs(draw, scalar=None):
    depth = draw(st.integers(1, 4))
    scalar = draw(st.booleans()) if scalar is None else scalar
    names = hidden_activations()
    activations = tuple(draw(st.sampled_from(names)) for _ in range(depth - 1)) + (draw(st.sampled_from(names + ["softmax"])),)
    losses = sorted(ops.LOSSES) + (["squared"] if scalar else [])
    return valid_spec(Spec(
        widths=tuple(draw(st.integers(1, 4)) for _ in range(depth + 1)), activations=activations,
        loss=draw(st.sampled_from(losses)), residual=draw(st.booleans()), gated=draw(st.booleans()),
        tied=draw(st.booleans()), bias=draw(st.booleans()), scalar=scalar,
    ))


def _two_layers(draw, kind):
    """x -> h (the variant's hidden layer) -> W2 h + b2 -> a loss; the variant decides h and the loss."""
    n0, n1, n2 = (draw(st.integers(1, 4)) for _ in range(3))
    x, y = sp.MatrixSymbol("x", n0, 1), sp.MatrixSymbol("y", n2, 1)
    W1, b1 = sp.MatrixSymbol("W1", n1, n0), sp.MatrixSymbol("b1", n1, 1)
    W2, b2 = sp.MatrixSymbol("W2", n2, n1), sp.MatrixSymbol("b2", n2, 1)
    f = ops.activation_rule(draw(st.sampled_from(hidden_activations() + ["softmax"])))  # softmax too: a hidden one
    params, targets = [W1, b1, W2, b2], [y]
    if kind == "scalar_parameter":  # a gain s on the pre-activation, and c on the output
        s, c = sp.symbols("s c")
        h = f(s * (W1 * x) + b1)
        out = c * (W2 * h + b2) if draw(st.booleans()) else W2 * h + b2
        params += [s] + ([c] if out.has(c) else [])
    elif kind == "applyfunc":
        h = (W1 * x + b1).applyfunc(draw(st.sampled_from(LAMBDAS)))
        out = W2 * h + b2
    else:  # "heads": a second loss on the hidden layer
        h = f(W1 * x + b1)
        out = W2 * h + b2
    loss = ops.mse(out, y) if draw(st.booleans()) else ops.binary_cross_entropy(ops.sigmoid(out), y)
    if kind == "heads":
        t = sp.MatrixSymbol("t", n1, 1)
        loss = loss + ops.mse(h, t)
        targets.append(t)
    return symprop.Network(loss, params=params, inputs=[x], targets=targets, name=f"{kind} network")


def _scalar(draw, activation):
    """A scalar network of 1-2 layers with the given activation in the first."""
    x, y, w1, b1, w2, b2 = sp.symbols("x y w1 b1 w2 b2")
    a = activation(w1 * x + b1)
    params = [w1, b1]
    if draw(st.booleans()):
        a = ops.FUNCTIONS[draw(st.sampled_from(hidden_activations()))](w2 * a + b2) + (a if draw(st.booleans()) else 0)
        params += [w2, b2]
    loss = draw(st.sampled_from(["squared", "mse", "bce"]))
    expr = {"squared": lambda: (a - y) ** 2, "mse": lambda: ops.mse(a, y),
            "bce": lambda: ops.binary_cross_entropy(ops.sigmoid(a), y)}[loss]()
    return symprop.Network(expr, params=params, inputs=[x], targets=[y], name="scalar network")


@st.composite
def networks(draw):
    """(variant, network): every kind of network the renderers must take."""
    variant = draw(st.sampled_from(VARIANTS))
    if variant == "netgen":
        return variant, build_network(draw(netgen_specs()))
    if variant == "scalar":
        return variant, _scalar(draw, ops.FUNCTIONS[draw(st.sampled_from(hidden_activations()))])
    if variant == "custom":
        if draw(st.booleans()):
            return variant, _scalar(draw, MISH)
        x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
        W1, W2 = sp.MatrixSymbol("W1", 8, 3), sp.MatrixSymbol("W2", 2, 8)
        return variant, symprop.Network(ops.mse(W2 * MISH(W1 * x), y), params=[W1, W2], inputs=[x], targets=[y], name="mish")
    return variant, _two_layers(draw, variant)


def worked_values(draw, net):
    """Random values; sometimes some parameters are 0 (dead ReLUs, pre-activations on the kink)."""
    values = random_values(net, np.random.default_rng(draw(st.integers(0, 2**16))))
    if draw(st.integers(0, 3)) == 0:
        for p in net.params:
            if draw(st.booleans()):
                values[p.name] = np.zeros_like(np.asarray(values[p.name], dtype=float))
    return values


_DOUBLE_SUPERSCRIPT = re.compile(r"\^\{[^{}]*\}\^|\^\{\\top\}\^")


def render_and_check(net, values):
    """Render .tex (with and without the worked example) and .md; check what can be checked without LaTeX."""
    d = net.derive()
    engine = d.evaluate(values, learning_rate=0.1)
    doc = document(d, "tex", values, 0.1)
    tex = _render("derivation.tex.j2", doc=doc, standalone=True)
    md = d.markdown(values=values, learning_rate=0.1)
    plain = d.latex(standalone=True)
    for text in (tex, plain):
        tags = sorted(map(int, re.findall(r"\\tag\{(\d+)\}", text)))
        assert tags == [s.number for s in d.steps], "every step is numbered exactly once"
        assert not _DOUBLE_SUPERSCRIPT.search(text), _DOUBLE_SUPERSCRIPT.search(text).group(0)
    assert katex_problems(md) == []
    for text in (tex, md):
        assert not re.search(r"[\x00-\x09\x0b-\x1f]", text), "a control character (a Python escape such as \\f in a non-raw string)"
    for number in doc.numbers:
        if number.key in engine:
            expected = np.asarray(engine[number.key], dtype=float)
            assert np.array_equal(np.asarray(number.value, dtype=float).reshape(expected.shape), expected, equal_nan=True), number.key
    return d, tex


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_every_network_that_derives_renders(data):
    variant, net = data.draw(networks())
    try:
        net.derive()
    except symprop.SympropError:
        STATS["refused"] += 1  # not derivable: nothing to render (test_fuzz.py reports refusals)
        return
    render_and_check(net, worked_values(data.draw, net))
    STATS["rendered"] += 1


@settings(max_examples=COMPILED, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_sample_compiles(data, pdflatex, tmp_path_factory):
    from symprop.render import pdf_bytes

    variant, net = data.draw(networks())
    try:
        net.derive()
    except symprop.SympropError:
        return
    _, tex = render_and_check(net, worked_values(data.draw, net))
    pdf = pdf_bytes(tex.encode("utf-8"), tmp_path_factory.mktemp("fuzz_render") / "notes.tex")
    assert pdf.startswith(b"%PDF")
    STATS["compiled"] += 1
