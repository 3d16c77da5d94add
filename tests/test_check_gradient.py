"""Hand-derived gradient formulas: a table of right and wrong derivations of the classic networks.

Each row: network, the gradient checked, the formula a student wrote, whether
it is right, and (when wrong) the diagnosis symprop must give.
"""

import numpy as np
import pytest
import sympy as sp

import symprop
from symprop import examples
from symprop.errors import FormulaError
from symprop.verify import MISTAKES


def tanh_mlp():
    """3-4-4-2, tanh hidden layers, identity output, MSE (W2 is square: transposes are invisible to shapes)."""
    return symprop.mlp([3, 4, 4, 2], hidden=symprop.tanh, loss=symprop.mse, name="tanh MLP")


NETWORKS = {
    "relu_neuron": examples.relu_neuron(),
    "sigmoid_neuron": examples.sigmoid_neuron(),
    "sigmoid_111": examples.sigmoid_111(),
    "two_layer": examples.two_layer(),
    "tanh_mlp": tanh_mlp(),
}

RIGHT = None  # the verdict "equal": no diagnosis

# (network, gradient of, formula, diagnosis key or RIGHT)
DERIVATIONS = [
    # --- ReLU neuron: z = wx + b, a = ReLU(z), L = (a - y)^2 ----------------------
    ("relu_neuron", "w", r"2(a-y)\,\mathbb{1}[z>0]\,x", RIGHT),
    ("relu_neuron", "w", r"\delta x", RIGHT),
    ("relu_neuron", "b", r"2(\text{ReLU}(wx+b)-y)\,1[wx+b>0]", RIGHT),
    ("relu_neuron", "x", "delta * w", RIGHT),
    ("relu_neuron", "w", r"(a-y)\,1[z>0]\,x", "factor_2"),
    ("relu_neuron", "w", r"2(y-a)\,\text{ReLU}'(z)\,x", "sign"),
    ("relu_neuron", "w", "2*(a - y)*x", "missing_fprime"),
    ("relu_neuron", "w", r"\frac{1}{m}\sum_{i=1}^{m} \delta^{(i)} x^{(i)}", RIGHT),
    ("relu_neuron", "w", r"\sum_{i=1}^{m} \delta^{(i)} x^{(i)}", "sum_vs_mean"),
    ("relu_neuron", "b", "mean(delta)", RIGHT),
    # --- sigmoid neuron: yhat = sigma(wx + b), L = (yhat - y)^2 -------------------
    ("sigmoid_neuron", "w", r"2(\sigma(wx+b)-y)\sigma(wx+b)(1-\sigma(wx+b))x", RIGHT),
    ("sigmoid_neuron", "w", r"2(\hat{y}-y)\,\sigma'(z)\,x", RIGHT),
    ("sigmoid_neuron", "w", "2*(yhat - y)*yhat*(1 - yhat)*x", RIGHT),
    ("sigmoid_neuron", "w", r"(\sigma(wx+b)-y)\sigma(wx+b)(1-\sigma(wx+b))x", "factor_2"),
    ("sigmoid_neuron", "b", r"2(\hat y - y)", "missing_fprime"),
    ("sigmoid_neuron", "w", r"\frac{1}{m}\Delta X^\top", RIGHT),
    ("sigmoid_neuron", "w", r"\Delta X^\top", "factor_m"),
    # --- 1-1-1 sigmoid network with binary cross-entropy ---------------------------
    ("sigmoid_111", "w2", r"(\hat y - y)\, a_1", RIGHT),
    ("sigmoid_111", "w1", r"(\hat y - y)\, w_2\, a_1(1-a_1)\, x", RIGHT),
    ("sigmoid_111", "w1", r"\delta^{[2]} w^{[2]} \sigma'(z^{[1]}) x", RIGHT),
    ("sigmoid_111", "b1", r"\delta^{[1]}", RIGHT),
    ("sigmoid_111", "w1", r"(\hat y - y)\, w_2\, \sigma'(z_2)\, x", "wrong_layer_fprime"),
    ("sigmoid_111", "w1", r"(\hat y - y)\, w_2\, x", "missing_fprime"),
    ("sigmoid_111", "w2", r"(\hat y - y)\,\sigma'(z^{[2]})\, a_1", "extra_fprime"),
    ("sigmoid_111", "w1", r"(\hat y - y)\, w_2\, \hat{y}(1-\hat{y})\, x", "wrong_layer"),
    ("sigmoid_111", "w1", r"(y - \hat y)\, w_2\, a_1(1-a_1)\, x", "sign"),
    # --- two-layer classifier: 3-4-2, ReLU, softmax, cross-entropy -----------------
    ("two_layer", "W1", r"\delta^{[1]} x^{\top}", RIGHT),
    ("two_layer", "W1", "(W2^T delta2) * relu_prime(z1) @ x.T", RIGHT),
    ("two_layer", "W1", r"\left(W^{[2]\top}\delta^{[2]} \odot \mathbb{1}[z^{[1]}>0]\right) x^\top", RIGHT),
    ("two_layer", "W2", r"(\hat{y} - y)\, a^{[1]\top}", RIGHT),
    ("two_layer", "b1", "W2.T @ (yhat - y) * (z1 > 0)", RIGHT),
    ("two_layer", "x", r"W^{[1]\top} \delta^{[1]}", RIGHT),
    ("two_layer", "delta1", r"W^{[2]\top}\delta^{[2]} \odot \text{ReLU}'(z^{[1]})", RIGHT),
    ("two_layer", "W1", r"\delta^{[1]} x", "transpose"),  # shapes 4x1 times 3x1
    ("two_layer", "W1", r"x^\top \delta^{[1]}", "transpose"),  # factors swapped
    ("two_layer", "b1", r"W^{[2]} \delta^{[2]} \odot 1[z^{[1]}>0]", "transpose"),
    ("two_layer", "W1", r"x\, \delta^{[1]\top}", "layout"),
    ("two_layer", "W1", r"\left(W^{[2]\top}\delta^{[2]} \odot 1[z^{[2]}>0]\right) x^\top", "wrong_layer_fprime"),
    ("two_layer", "W1", r"W^{[2]\top}\delta^{[2]}\, x^\top", "missing_fprime"),
    ("two_layer", "W1", r"-\delta^{[1]} x^\top", "sign"),
    ("two_layer", "W1", r"\frac{1}{m}\Delta^{[1]} X^\top", RIGHT),
    ("two_layer", "W1", r"\frac{1}{m}\sum_i \delta^{[1](i)} x^{(i)\top}", RIGHT),
    ("two_layer", "b2", r"\frac{1}{m}\Delta^{[2]} \mathbf{1}", RIGHT),
    ("two_layer", "W1", r"\Delta^{[1]} X^\top", "factor_m"),
    ("two_layer", "W1", r"\sum_i \delta^{[1](i)} x^{(i)\top}", "sum_vs_mean"),
    # --- tanh MLP 3-4-4-2 with MSE ------------------------------------------------
    ("tanh_mlp", "W3", r"(\hat y - y)\, a^{[2]\top}", RIGHT),
    ("tanh_mlp", "W2", r"\left(W^{[3]\top}\delta^{[3]} \odot (1 - (a^{[2]})^2)\right) a^{[1]\top}", RIGHT),
    ("tanh_mlp", "W2", r"\left(W^{[3]\top}\delta^{[3]} \odot \tanh'(z^{[2]})\right) a^{[1]\top}", RIGHT),
    ("tanh_mlp", "W3", r"2(\hat y - y)\, a^{[2]\top}", "factor_2"),
    ("tanh_mlp", "W1", r"\left(W^{[2]}\delta^{[2]} \odot \tanh'(z^{[1]})\right) x^\top", "transpose"),  # W2 square
    ("tanh_mlp", "W2", r"a^{[1]} \delta^{[2]\top}", "layout"),  # square: same shape, transposed values
    ("tanh_mlp", "W1", r"\left(W^{[2]\top}\delta^{[2]} \odot \tanh'(z^{[2]})\right) x^\top", "wrong_layer_fprime"),
    ("tanh_mlp", "W1", r"\left(W^{[2]\top}\delta^{[2]} \odot \sigma'(z^{[1]})\right) x^\top", "wrong_activation"),
]


@pytest.mark.parametrize("network, param, formula, diagnosis", DERIVATIONS,
                         ids=[f"{n}-{p}-{d or 'right'}-{i}" for i, (n, p, f, d) in enumerate(DERIVATIONS)])
def test_hand_derivation(network, param, formula, diagnosis):
    result = symprop.check_gradient(NETWORKS[network], param, formula)
    if diagnosis is RIGHT:
        assert result.ok, str(result)
        assert result.diagnosis is None
        assert "CORRECT" in str(result)
    else:
        assert not result.ok, str(result)
        assert result.diagnosis is not None, str(result)
        assert result.diagnosis.key == diagnosis, str(result)
        assert result.counterexample is not None
        assert "WRONG" in str(result) and f"[{diagnosis}]" in str(result)


def test_the_table_covers_every_diagnosis_and_both_kinds_of_network():
    keys = {d for *_, d in DERIVATIONS if d is not RIGHT}
    required = {"transpose", "missing_fprime", "wrong_layer_fprime", "factor_2", "factor_m", "sum_vs_mean", "sign",
                "layout"}
    assert required <= keys
    assert keys <= {m.key for m in MISTAKES}
    scalar = {n for n, *_ in DERIVATIONS if NETWORKS[n].is_scalar}
    matrix = {n for n, *_ in DERIVATIONS if not NETWORKS[n].is_scalar}
    assert scalar and matrix


# --- what a result says ---------------------------------------------------------


def test_scalar_counterexample_is_exact_and_shows_the_entries():
    net = NETWORKS["relu_neuron"]
    result = symprop.check_gradient(net, "w", "(a - y) 1[z > 0] x")
    c = result.counterexample
    assert result.exact
    assert set(c.values) == {"w", "b", "x", "y"}
    assert all(isinstance(v, sp.Rational) for v in c.values.values())
    # the expected value is the derivation's, at the counterexample's values
    expected = net.derive().evaluate({k: float(v) for k, v in c.values.items()})["dL/dw"]
    assert float(c.expected_entry) == pytest.approx(expected)
    assert float(c.given_entry) == pytest.approx(expected / 2)
    assert c.expected_entry != 0
    assert "expected" in str(result) and "your formula gives" in str(result)


def test_shape_mismatch_is_a_verdict_with_a_repair():
    result = symprop.check_gradient(NETWORKS["two_layer"], "W1", "delta1 @ x")
    assert not result.ok
    assert "4×1" in result.shape_error and "3×1" in result.shape_error and "missing transpose?" in result.shape_error
    assert result.diagnosis.key == "transpose"
    assert result.diagnosis.repaired == "delta1 @ xᵀ"
    assert result.counterexample.given is None


def test_matrix_counterexample_gives_the_worst_entry():
    result = symprop.check_gradient(NETWORKS["two_layer"], "W1", r"W^{[2]\top}\delta^{[2]} x^\top")
    c = result.counterexample
    assert c.expected.shape == (4, 3) and c.given.shape == (4, 3)
    worst = np.unravel_index(np.argmax(np.abs(c.given - c.expected)), (4, 3))
    assert c.index == tuple(int(i) for i in worst)
    assert c.expected_entry == pytest.approx(c.expected[c.index])
    assert c.given_entry == pytest.approx(c.given[c.index])


def test_right_formula_is_proved_symbolically_where_quick():
    assert symprop.check_gradient(NETWORKS["two_layer"], "W1", r"\delta^{[1]} x^{\top}").proved
    # written in the parameters: true after substituting the forward definitions
    assert symprop.check_gradient(
        NETWORKS["sigmoid_neuron"], "w", r"2(\sigma(wx+b)-y)\sigma(wx+b)(1-\sigma(wx+b))x").proved


def test_sympy_expression_as_formula():
    net = NETWORKS["two_layer"]
    d = net.derive()
    W1 = next(p for p in net.params if p.name == "W1")
    assert symprop.check_gradient(net, W1, d.gradient(W1)).ok
    delta1 = sp.MatrixSymbol("delta1", 4, 1)
    x = sp.MatrixSymbol("x", 3, 1)
    wrong = symprop.check_gradient(net, W1, 2 * delta1 * x.T)
    assert not wrong.ok and wrong.diagnosis.key == "factor_2"
    w, xs = sp.symbols("w x")
    scalar = NETWORKS["sigmoid_neuron"]
    yhat, y, z = sp.symbols("yhat y z")
    assert symprop.check_gradient(scalar, w, 2 * (yhat - y) * symprop.sigmoid(z) * (1 - symprop.sigmoid(z)) * xs).ok


def test_batched_formulas_compare_with_the_batch_mean():
    net = NETWORKS["two_layer"]
    assert symprop.check_gradient(net, "W1", r"\Delta^{[1]} X^\top", batched=True).diagnosis.key == "factor_m"
    # a per-example formula checked against the batch form is off by the batch
    assert not symprop.check_gradient(net, "b2", "delta2", batched=True).ok
    with pytest.raises(FormulaError, match="batched=False"):
        symprop.check_gradient(net, "W1", r"\frac{1}{m}\Delta^{[1]} X^\top", batched=False)


def test_ambiguous_grouping_is_resolved_by_shapes():
    # juxtaposition binds tighter than ⊙ (σ' ⊙ (W^T δ)), but a b ⊙ c d is read left to right
    # when that is the only reading whose shapes fit
    net = NETWORKS["two_layer"]
    assert symprop.check_gradient(net, "delta1", r"1[z^{[1]}>0] \odot W^{[2]\top}\delta^{[2]}").ok
    result = symprop.check_gradient(net, "W1", r"W^{[2]\top}\delta^{[2]} \odot 1[z^{[1]}>0]\, x^\top")
    assert result.ok and result.formula == "((W2ᵀ delta2) ⊙ 1[z1 > 0]) xᵀ"


def test_an_adjoint_may_not_be_checked_with_itself():
    with pytest.raises(FormulaError, match="unknown name"):
        symprop.check_gradient(NETWORKS["two_layer"], "delta1", "delta1")
    with pytest.raises(FormulaError, match="no gradient or adjoint named 'W9'"):
        symprop.check_gradient(NETWORKS["two_layer"], "W9", "delta1")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(FormulaError) as info:
        symprop.check_gradient(NETWORKS["two_layer"], "W1", "delta1 @ q.T")
    message = str(info.value)
    assert "'q'" in message
    for name in ("W1", "W2", "b1", "delta1", "delta2", "x", "yhat", "z1", "a1"):
        assert name in message


def test_seeds_change_the_points_not_the_verdict():
    net = NETWORKS["two_layer"]
    a = symprop.check_gradient(net, "W1", r"W^{[2]\top}\delta^{[2]} x^\top", seed=1)
    b = symprop.check_gradient(net, "W1", r"W^{[2]\top}\delta^{[2]} x^\top", seed=2)
    assert a.diagnosis.key == b.diagnosis.key == "missing_fprime"
    assert not np.allclose(a.counterexample.values["W1"], b.counterexample.values["W1"])


def test_formulas_may_use_elementary_functions():
    import sympy as sp

    w, x, y = sp.symbols("w x y")
    net = symprop.Network((sp.sin(w * x) - y) ** 2, params=[w], inputs=[x], targets=[y])
    assert symprop.check_gradient(net, w, r"2(\sin(wx) - y)\cos(wx) x").ok
    wrong = symprop.check_gradient(net, w, "2*(sin(w*x) - y)*sin(w*x)*x")
    assert not wrong.ok
