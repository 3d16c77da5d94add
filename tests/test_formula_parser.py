"""The formula parser: notation, names, and hostile input."""

import builtins
import os
import subprocess

import pytest
import sympy as sp

import symprop
from symprop import examples, verify
from symprop import formula as fm
from symprop.errors import FormulaError

TWO_LAYER = examples.two_layer()
NS = fm.namespace(verify._derivation(TWO_LAYER))  # derived (and verify imported) before exec is forbidden
SCALAR = fm.namespace(examples.sigmoid_neuron().derive())


# (source, how it is read) in the two-layer network's names
READINGS = [
    (r"\delta^{[1]} x^{\top}", "delta1 xᵀ"),
    ("delta1 @ x.T", "delta1 @ xᵀ"),
    ("delta_1 x^T", "delta1 xᵀ"),
    ("δ1 xᵀ", "delta1 xᵀ"),
    (r"\delta_{1}\, x^{T}", "delta1 xᵀ"),
    ("dz1 @ x.T", "delta1 @ xᵀ"),
    ("(W2^T delta2) * relu_prime(z1) @ x.T", "((W2ᵀ delta2) * relu'(z1)) @ xᵀ"),
    (r"W^{[2]\top}\delta^{[2]} \odot \text{ReLU}'(z^{[1]})", "(W2ᵀ delta2) ⊙ relu'(z1)"),
    (r"(W^{[2]})^T \delta^{[2]} \circ 1[z^{[1]} > 0]", "(W2ᵀ delta2) ⊙ 1[z1 > 0]"),
    (r"\mathbb{1}[z_1 > 0]", "1[z1 > 0]"),
    (r"1_{z^{[1]}>0}", "1[z1 > 0]"),
    (r"\mathbb{1}\{0 < z_1\}", "1[z1 > 0]"),
    ("(z1 > 0)", "1[z1 > 0]"),
    ("max(0, z1)", "relu(z1)"),
    (r"\operatorname{ReLU}(z^{[1]})", "relu(z1)"),
    ("f'(z1)", "relu'(z1)"),
    (r"f^{[1]\prime}(z_1)", "relu'(z1)"),
    (r"\hat{y} - y", "yhat - y"),
    ("ŷ - y", "yhat - y"),
    ("y_hat - y", "yhat - y"),
    ("a2 - y", "yhat - y"),  # a^[L] is the prediction
    (r"a^{[0]}", "x"),
    (r"\mathbf{W}^{[2]T} \boldsymbol{\delta}^{[2]}", "W2ᵀ delta2"),
    (r"W^{[2]\top}", "W2ᵀ"),
    (r"\frac{1}{m} \Delta^{[1]} X^\top", "(1 / m) Delta1 Xᵀ"),
    (r"\frac{1}{m}\sum_{i=1}^{m} \delta^{[1](i)} x^{(i)\top}", "(1 / m) sum(delta1 xᵀ)"),
    (r"\Delta^{[2]} \mathbf{1}", "Delta2 ones"),
    ("mean(delta2)", "mean(delta2)"),
    ("2 a1 - 3", "2 a1 - 3"),
    ("W2.T @ delta2 / 2", "(W2ᵀ @ delta2) / 2"),
    (r"\frac{W^{[2]\top} \delta^{[2]}}{2}", "(W2ᵀ delta2) / 2"),
    ("a1**2", "a1^2"),
    (r"\tanh^2(z_1)", "tanh(z1)^2"),
    ("-delta1 x.T", "-delta1 xᵀ"),
    (r"$\delta^{[1]} x^\top$", "delta1 xᵀ"),
]


@pytest.mark.parametrize("source, reading", READINGS)
def test_reading(source, reading):
    assert fm.parse(source, NS).text == reading


def test_scalar_notation():
    f = fm.parse(r"2(\sigma(wx+b)-y)\sigma(wx+b)(1-\sigma(wx+b))x", SCALAR)
    assert f.text == "2 (sigmoid(w x + b) - y) sigmoid(w x + b) (1 - sigmoid(w x + b)) x"
    assert fm.parse(r"\sigma'(z)", SCALAR).text == "sigmoid'(z)"
    assert fm.parse("sigmoid_prime(z)", SCALAR).text == "sigmoid'(z)"
    assert fm.parse(r"\sigma^{\prime}(z)", SCALAR).text == "sigmoid'(z)"
    assert fm.parse(r"\delta^{[1]}", SCALAR).text == "delta"  # one layer: no number
    assert fm.parse("2δx", SCALAR).text == "2 (delta x)"  # deltax: two names run together


def test_batch_notation_is_detected():
    assert not fm.parse("delta1 @ x.T", NS).batch
    for source in (r"\frac{1}{m}\Delta^{[1]}X^T", "mean(delta2)", r"\sum_i \delta^{[1](i)}", "X", "Delta1 @ ones"):
        assert fm.parse(source, NS).batch, source


def test_registry_aliases_are_formula_names():
    ns = fm.namespace(symprop.mlp([2, 3, 1], hidden=symprop.silu).derive())
    assert fm.parse("swish'(z1)", ns).text == "silu'(z1)"
    assert fm.parse(r"\operatorname{SiLU}(z_1)", ns).text == "silu(z1)"
    assert fm.parse("leaky_relu(z1)", ns).text == "leaky_relu(z1)"


def test_tree_evaluates_like_numpy():
    import numpy as np

    d = TWO_LAYER.derive()
    rng = np.random.default_rng(0)
    values = {s.name: rng.normal(size=tuple(int(k) for k in s.shape)) for s in TWO_LAYER.declared}
    out = d.evaluate(values)
    env = dict(values)
    env.update({s.name: np.asarray(out[s.key]).reshape(s.shape) for s in d.steps if s.kind != "update"})
    tree = fm.parse("(W2^T delta2) * relu_prime(z1) @ x.T", NS).tree
    assert np.allclose(fm.Evaluator(env)(tree), out["dL/dW1"])
    with pytest.raises(fm.FormulaShapeError, match="missing transpose"):
        fm.Evaluator(env)(fm.parse("delta1 @ x", NS).tree)


def test_to_sympy_builds_the_network_symbols():
    tree = fm.parse(r"\delta^{[1]} x^{\top}", NS).tree
    expr = fm.to_sympy(tree, NS)
    assert expr == TWO_LAYER.derive().gradient("W1")


@pytest.mark.parametrize("source, message", [
    ("delta1 @ q", "unknown name 'q'"),
    (r"W^{[7]}", r"there is no W7: this network's weights are W1, W2"),
    (r"W^{[l]}", "write the layer's number"),
    ("", "empty"),
    ("delta1 @", "ends too early"),
    ("(delta1", r"expected '\)'"),
    ("z1 > 0", "indicator"),
    (r"\foo x", r"unknown LaTeX command \\foo"),
    ("a1'", "prime"),
    ("sigmoid''(z1)", "first derivatives"),
    ("max(z1, a1)", "max\\(0, z\\)"),
    ("f'(a1 + 1)", "which layer"),
])
def test_errors_are_one_clear_line(source, message):
    with pytest.raises(FormulaError, match=message) as info:
        fm.parse(source, NS)
    assert "\n" not in str(info.value)


# --- hostile input: rejected, nothing executed ----------------------------------

HOSTILE = [
    "__import__('os').system('touch /tmp/symprop_pwned')",
    "().__class__.__bases__[0].__subclasses__()",
    "x.__class__",
    "lambda: 0",
    "eval('1+1')",
    "exec('import os')",
    "import os",
    "open('/etc/passwd').read()",
    "getattr(x, 'T')",
    "sympify('x')",
    "delta1 @ x.T; import os",
    "`ls`",
    "$(rm -rf /)",
    "x # comment",
    "'quoted'",
    '"quoted"',
    "2^999999999",
    "x^(10^10)",
    "W1 ** 99999",
    "x^{1000}",
    "9" * 16,
    "1e308",
    "(" * 100_000 + "x" + ")" * 100_000,
    "{" * 60 + "x" + "}" * 60,
    "-" * 500 + "x",
    "x" * 1_000_000,
    "x+" * 300 + "x",
    "\u0445",  # Cyrillic х, looks like x
    "x\u200b",  # zero-width space
    "ｘ",  # fullwidth x
    "x\x00",
    "x\u202e",  # right-to-left override
    r"\input{/etc/passwd}",
    r"\def\x{1}",
    r"\write18{ls}",
]


@pytest.fixture
def nothing_executes(monkeypatch):
    calls = []

    def forbidden(name):
        def refuse(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} was called while parsing a formula")
        return refuse

    for module, name in ((os, "system"), (os, "popen"), (subprocess, "Popen"), (builtins, "eval"), (builtins, "exec"),
                         (sp, "sympify"), (sp, "parse_expr")):
        monkeypatch.setattr(module, name, forbidden(f"{module.__name__}.{name}"))
    yield calls
    recorded = list(calls)
    monkeypatch.undo()
    assert not recorded


@pytest.mark.parametrize("source", HOSTILE, ids=[repr(h[:30]) + f"-{len(h)}" for h in HOSTILE])
def test_hostile_formula_is_rejected(source, nothing_executes):
    with pytest.raises(FormulaError) as info:
        fm.parse(source, NS)
    message = str(info.value)
    assert message and "\n" not in message and len(message) < 2000


def test_hostile_formula_through_check_gradient(nothing_executes):
    net = TWO_LAYER
    for source in HOSTILE[:6]:
        with pytest.raises(FormulaError):
            symprop.check_gradient(net, "W1", source)
    assert not os.path.exists("/tmp/symprop_pwned")


def test_limits_name_what_was_exceeded():
    with pytest.raises(FormulaError, match="characters long"):
        fm.parse("x" * (fm.MAX_LENGTH + 1), NS)
    with pytest.raises(FormulaError, match="levels deep"):
        fm.parse("(" * (fm.MAX_DEPTH + 5) + "x" + ")" * (fm.MAX_DEPTH + 5), NS)
    with pytest.raises(FormulaError, match="tokens"):
        fm.parse("x+" * fm.MAX_TOKENS + "x", NS)
    with pytest.raises(FormulaError, match="exponent"):
        fm.parse("a1^{17}", NS)
    with pytest.raises(FormulaError, match="U\\+0445"):
        fm.parse("\u0445", NS)
    assert fm.parse("a1^{16}", NS).text == "a1^16"
