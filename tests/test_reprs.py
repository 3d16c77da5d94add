"""What the API returns prints and displays in the notation of the notes (issue 14).

The expected strings are the textbook forms typed out; each object's repr (what a
REPL or a notebook cell shows), str and rich displays are compared with them.
"""

import numpy as np
import pytest
import sympy as sp

import symprop
from symprop import examples


@pytest.fixture(scope="module")
def two_layer():
    net = examples.two_layer()
    return net, net.derive()


def test_a_delta_prints_without_sympy_lambdas(two_layer):
    _, d = two_layer
    delta1 = d.delta(1)
    assert isinstance(delta1, sp.HadamardProduct)  # still the SymPy expression users compute with
    assert repr(delta1) == str(delta1) == "HadamardProduct(W2.T*delta2, 1[z1 > 0])"
    # what Jupyter shows for a SymPy expression: its _repr_latex_, SymPy's own LaTeX printer
    assert delta1._repr_latex_() == r"$\displaystyle \left(W_{2}^{T} \delta_{2}\right) \circ \mathbb{1}\left[z_{1} > 0\right]$"
    assert symprop.text(delta1) == "(W2ᵀ δ2) ⊙ 1[z1 > 0]"
    assert symprop.latex(delta1) == r"\left(\left(W^{[2]}\right)^{\top} \delta^{[2]}\right) \odot \mathbb{1}\left[z^{[1]} > 0\right]"


def test_gradients_print_as_sympy_writes_them(two_layer):
    net, d = two_layer
    W1 = net.params[0]
    assert str(d.gradient(W1)) == "delta1*x.T"
    assert str(d.gradient(W1, batched=True)) == "1/m*Delta1*X.T"
    assert d.gradient(W1, batched=True)._repr_latex_() == r"$\displaystyle \frac{1}{m} \Delta_{1} X^{T}$"
    assert symprop.text(d.gradient(W1, batched=True)) == "1/m·Δ1 Xᵀ"


@pytest.mark.parametrize("u_body, arg, text, tex", [
    (lambda u: sp.exp(-u ** 2), "Wz+z", "exp(-(W*z + z)**2)", r"e^{- \left(W z + z\right)^{2}}"),
    (lambda u: 1 - u, "Wz+z", "1 - (W*z + z)", r"1 - \left(W z + z\right)"),
    (lambda u: sp.exp(u), "Wz+z", "exp(W*z + z)", r"e^{W z + z}"),
    (lambda u: u * (1 - u), "z", "z*(1 - z)", r"z \left(1 - z\right)"),
])
def test_entrywise_functions_print_as_applications(u_body, arg, text, tex):
    u = sp.Symbol("u")
    z, W = sp.MatrixSymbol("z", 3, 1), sp.MatrixSymbol("W", 3, 3)
    e = symprop.elementwise(sp.Lambda(u, u_body(u)), W * z + z if arg == "Wz+z" else z)
    assert str(e) == text
    assert sp.latex(e) == tex


def test_a_step_is_its_numbered_equation(two_layer):
    _, d = two_layer
    step = d.step("delta1")
    assert repr(step) == str(step) == "(11) δ1 = (W2ᵀ δ2) ⊙ 1[z1 > 0]"
    assert step.equation == "δ1 = (W2ᵀ δ2) ⊙ 1[z1 > 0]"
    assert step._repr_latex_() == (
        r"$\displaystyle \delta^{[1]} = \left(\left(W^{[2]}\right)^{\top} \delta^{[2]}\right) \odot "
        r"\mathbb{1}\left[z^{[1]} > 0\right] \qquad (11)$")
    update = d.steps[-1]
    assert repr(update) == "(18) b2 ← b2 - η·∂L/∂b2"
    assert r"\leftarrow" in update._repr_latex_()


def test_a_derivation_is_its_numbered_equations(two_layer):
    _, d = two_layer
    lines = repr(d).split("\n")
    assert repr(d) == str(d)
    assert lines[:2] == ["(1) z1 = W1 x + b1", "(2) a1 = relu(z1)"]
    assert lines[10] == "(11) δ1 = (W2ᵀ δ2) ⊙ 1[z1 > 0]"
    assert lines[11] == "(12) ∂L/∂W1 = δ1 xᵀ"
    assert len(lines) == len(d.steps)


def test_a_derivation_offers_the_same_notes_to_every_notebook(two_layer):
    """JupyterLab, the classic Notebook and VS Code rank text/markdown above text/latex: all show the Markdown."""
    IPython = pytest.importorskip("IPython")
    from IPython.core.formatters import DisplayFormatter

    _, d = two_layer
    bundle, _ = DisplayFormatter().format(d)
    assert set(bundle) == {"text/plain", "text/markdown", "text/latex"}  # no text/html, which VS Code would not typeset
    assert bundle["text/plain"] == str(d)
    assert bundle["text/markdown"] == d.markdown()
    assert r"\delta^{[1]}" in bundle["text/markdown"] and r"\delta^{[1]}" in bundle["text/latex"]
    assert IPython is not None


def test_a_recurrent_derivation_is_its_equations():
    d = symprop.rnn(2, 3, 2, T=4, loss=symprop.cross_entropy).derive()
    assert repr(d) == str(d)
    assert any(line.startswith("(") and "δ[t]" in line for line in repr(d).split("\n"))
    assert repr(d.step("dW")) == str(d.step("dW")) == "(14) ∂L/∂W = Σ_t δ[t] h[t-1]ᵀ"
    assert repr(d.step("delta")) == "(10) δ[t] = (Vᵀ ∂L/∂o[t] + Wᵀ δ[t+1]) ⊙ (𝟏 - h[t] ⊙ h[t])"


def test_a_formula_check_shows_its_verdict(two_layer):
    net, _ = two_layer
    right = symprop.check_gradient(net, "W1", r"\delta^{[1]} x^{\top}")
    assert repr(right) == str(right)
    assert repr(right).split("\n") == [
        "dL/dW1 (per example)",
        "  your formula, as read: delta1 xᵀ",
        "  verdict: CORRECT (proved symbolically and equal at 3 random float64 points)",
        "  symprop derives: dL/dW1 = δ1 xᵀ",
    ]
    md = right._repr_markdown_()
    assert md.startswith("**dL/dW1 (per example)**")
    assert md.rstrip().endswith(r"symprop derives: $\frac{\partial L}{\partial W^{[1]}} = \delta^{[1]} x^{\top}$")
    wrong = symprop.check_gradient(net, "W1", r"\delta^{[1]} x")
    assert "verdict: WRONG" in repr(wrong) and "diagnosis [transpose]" in wrong._repr_markdown_()


def test_a_recurrent_formula_check_shows_the_sum_over_t():
    net = symprop.rnn(2, 3, 2, T=4, loss=symprop.cross_entropy)
    result = symprop.check_gradient(net, "W", r"\sum_{t=1}^{T} \delta_t h_{t-1}^\top")
    assert result.ok and repr(result) == str(result)
    assert "symprop derives: `dL/dW = Σ_t δ[t] h[t-1]ᵀ`" in result._repr_markdown_()


def _relu_neuron_code():
    def loss(params, x, y):
        return float(np.mean((np.maximum(params["w"] * x + params["b"], 0) - y) ** 2))

    def backward(params, x, y, wrong=False):
        z = params["w"] * x + params["b"]
        g = 2 * (np.maximum(z, 0) - y) * (z > 0) / len(x)
        return {"w": np.sum(g * x) * (-1 if wrong else 1), "b": np.sum(g)}

    return loss, backward


def test_a_gradcheck_report_shows_its_table():
    loss, backward = _relu_neuron_code()
    params = {"w": np.array(3.0), "b": np.array(1.0)}
    data = {"x": np.array([2.0, 1.0, 0.5]), "y": np.array([5.0, 1.0, 0.0])}
    report = symprop.gradcheck(backward, params, data, loss=loss)
    assert repr(report) == str(report)
    lines = repr(report).split("\n")
    assert lines[0] == "gradcheck: all parameters ok"
    assert lines[2].split() == ["param", "shape", "verdict", "max", "abs", "err", "max", "rel", "err", "worst", "entry", "expected", "got",
                                "evals", "checked", "by"]
    assert [line.split()[:3] for line in lines[3:5]] == [["w", "()", "ok"], ["b", "()", "ok"]]
    assert repr(report["w"]).startswith("w (): ok (max rel err ")
    md = report._repr_markdown_()
    assert md.startswith("**gradcheck: all parameters ok**")
    assert "| w | () | ok |" in md

    bad = symprop.gradcheck(lambda p, **d: backward(p, **d, wrong=True), params, data, loss=loss)
    assert repr(bad).startswith("gradcheck: 1 of 2 parameters WRONG: w")
    assert repr(bad["w"]).startswith("w (): WRONG") and "pattern" in repr(bad["w"])
    assert "| w | () | WRONG |" in bad._repr_markdown_()
