"""Every row of the mistakes table has test formulas that get its diagnosis, and its repairs say what they repair."""

import pytest
import sympy as sp

import symprop
from symprop.verify import MISTAKES
from test_check_gradient import DERIVATIONS
from layer_formulas import ROWS as LAYER_ROWS
from textbook_formulas import ROWS, all_networks

NETS = all_networks()


def test_every_mistake_has_test_rows():
    tested = {d for *_, d in DERIVATIONS if d} | {m[1] for row in ROWS + LAYER_ROWS for m in row.mistakes}
    untested = [m.key for m in MISTAKES if m.key not in tested]
    assert not untested, f"mistakes without a test row: {untested}"
    assert len({m.key for m in MISTAKES}) == len(MISTAKES)


# (network, target, options, wrong formula, key, words the diagnosis must say)
SENTENCES = [
    ("d2l", "W1", {"names": {"z": "z1"}}, r"\frac{\partial J}{\partial \mathbf{z}} x^T", "regularisation", "lamda W1 is missing"),
    ("d2l", "W1", {"names": {"z": "z1"}}, r"\frac{\partial J}{\partial \mathbf{z}} x^T + \frac{\lambda}{2} W^{(1)}", "regularisation",
     "halved"),
    ("ng", "delta1", {}, "np.multiply(np.dot(W2.T, dZ2), 1 - np.power(Z1, 2))", "fprime_at_activation", "Z1 should be A1"),
    ("nielsen", "delta1", {"layers": "nielsen"}, r"((w^{l+1})^T \delta^{l+1}) \odot \sigma'(a^l)", "fprime_at_activation",
     "f' is evaluated at the activation"),
    ("nielsen", "W1", {}, r"a^{1}_k \delta^{2}_j", "numbering", "layers='nielsen'"),
    ("ufldl", "W1", {}, r"\delta^{(2)} (a^{(1)})^T", "numbering", "layers='ufldl'"),
    ("ng", "b1", {}, "1 / m * np.sum(dZ1, axis=1)", "axis", "keepdims=True"),
    ("mc_linear", "W", {}, "2⋅(W⋅x−y)^⊤⋅x", "transpose", "(W x - y)ᵀ should be W x - y and x should be xᵀ"),
]


@pytest.mark.parametrize("network, target, options, formula, key, words", SENTENCES, ids=[s[4] + "-" + s[0] for s in SENTENCES])
def test_the_diagnosis_says_what_is_wrong(network, target, options, formula, key, words):
    result = symprop.check_gradient(NETS[network], target, formula, **options)
    assert not result.ok and result.diagnosis.key == key, str(result)
    assert words in result.diagnosis.message, result.diagnosis.message


def test_relu_prime_at_the_activation_is_not_a_mistake():
    """relu'(a) = 1[a > 0] = 1[z > 0]: only for ReLU is f' at the activation right, and symprop says so."""
    d2l = NETS["d2l"]
    assert symprop.check_gradient(d2l, "delta1", r"\frac{\partial J}{\partial \mathbf{h}} \odot \phi'(\mathbf{h})",
                                  names={"h": "a1"}).ok
    ng = NETS["ng"]
    assert not symprop.check_gradient(ng, "delta1", r"W^{[2]T} dZ^{[2]} * g^{[1]'}(A^{[1]})").ok


def test_regularisation_needs_no_hyperparameter():
    x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
    W = sp.MatrixSymbol("W", 2, 3)
    net = symprop.Network(symprop.mse(W * x, y) + sp.Rational(1, 20) * sp.Trace(W.T * W), params=[W], inputs=[x], targets=[y])
    assert symprop.check_gradient(net, "W", r"(\hat y - y) x^T + \frac{1}{10} W").ok
    assert symprop.check_gradient(net, "W", r"(\hat y - y) x^T").diagnosis.key == "regularisation"
