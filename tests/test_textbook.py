"""The worked examples of the reference lecture notes give their published numbers,
and the derived equations come out in textbook form."""

import pytest
import sympy as sp

import symprop
from symprop import examples
from symprop.printing import text


def rounded(values, digits):
    return {k: round(v, digits) for k, v in values.items() if isinstance(v, float)}


def test_relu_neuron_y5():
    d = examples.relu_neuron().derive()
    v = d.evaluate({"x": 2, "w": 3, "b": 1, "y": 5})
    assert (v["z"], v["a"], v["L"]) == (7, 7, 4)
    assert (v["dL/da"], v["dL/dw"], v["dL/db"]) == (4, 8, 4)


def test_relu_neuron_y4():
    w, b, x, y = sp.symbols("w b x y")
    d = examples.relu_neuron().derive()
    v = d.evaluate({w: 3, b: 1, x: 2, y: 4})
    assert (v["L"], v["dL/da"], v["dL/dw"], v["dL/db"], v["dL/dx"]) == (9, 6, 12, 6, 18)


def test_sigmoid_111_bce():
    d = examples.sigmoid_111().derive()
    v = d.evaluate({"x": 2, "w1": 0.5, "w2": 0.8, "b1": 0, "b2": 0, "y": 1}, learning_rate=0.1)
    r = rounded(v, 3)
    assert (r["a1"], r["yhat"], r["L"]) == (0.731, 0.642, 0.443)
    assert (r["delta2"], r["dL/dw2"], r["delta1"]) == (-0.358, -0.262, -0.056)
    # The notes print dL/dw1 = -0.112: delta1 rounded to -0.056 first, times x = 2.
    # Unrounded it is -0.11256 (-0.1126 to 4 significant figures).
    assert round(v["dL/dw1"], 4) == -0.1126 and round(2 * r["delta1"], 3) == -0.112
    assert (r["w2_new"], r["w1_new"]) == (0.826, 0.511)


def test_sigmoid_neuron_squared_error():
    d = examples.sigmoid_neuron().derive()
    v = d.evaluate({"x": 2, "w": 0.5, "b": 0, "y": 1}, learning_rate=0.1)
    r = rounded(v, 4)
    assert (r["dL/dw"], r["dL/db"], r["w_new"], r["b_new"]) == (-0.2115, -0.1058, 0.5212, 0.0106)


def test_textbook_forms_of_the_deltas():
    d = symprop.mlp([4, 5, 3], hidden=symprop.tanh, loss=symprop.cross_entropy).derive()
    assert text(d.delta(2)) == "ŷ - y"
    assert text(d.delta(1)) == "(W2ᵀ δ2) ⊙ (𝟏 - a1 ⊙ a1)"
    assert text(d.gradient(sp.MatrixSymbol("W1", 5, 4))) == "δ1 xᵀ"
    assert text(d.gradient(sp.MatrixSymbol("b1", 5, 1))) == "δ1"
    sig = symprop.mlp([2, 3, 1], hidden=symprop.sigmoid, loss=symprop.binary_cross_entropy).derive()
    assert text(sig.delta(2)) == "ŷ - y"
    assert text(sig.delta(1)) == "(W2ᵀ δ2) ⊙ a1 ⊙ (𝟏 - a1)"
    relu = examples.two_layer().derive()
    assert text(relu.delta(1)) == "(W2ᵀ δ2) ⊙ 1[z1 > 0]"


def test_simplification_is_shown_as_steps_with_the_assumption():
    d = examples.two_layer().derive()
    (delta2,) = [s for s in d.steps if s.name == "delta2"]
    reasons = [f.reason for f in delta2.forms]
    assert reasons[0] == "chain rule" and reasons[1] == "substitute dyhat"
    assert any("sum to 1" in r for r in reasons)
    assert delta2.forms[-1].expr == delta2.expr
    assert delta2.forms[0].expr.has(sp.MatrixSymbol("dyhat", 2, 1))  # the generic softmax VJP first


def test_mse_delta_convention():
    d = symprop.mlp([2, 3], hidden=symprop.relu, output=symprop.sigmoid, loss=symprop.mse).derive()
    # mse is the mean over the n = 3 outputs: delta = 2/n (yhat - y) * f'(z)
    assert text(d.delta(1)) == "2/3·(ŷ - y) ⊙ ŷ ⊙ (𝟏 - ŷ)"


def test_steps_are_in_textbook_order():
    d = examples.two_layer().derive()
    names = [s.name for s in d.steps]
    assert names[:5] == ["z1", "a1", "z2", "yhat", "L"]
    backward = [s.name for s in d.steps if s.kind in ("adjoint", "gradient")]
    assert backward.index("delta2") < backward.index("dW2") < backward.index("delta1") < backward.index("dW1")
    assert [s.number for s in d.steps] == list(range(1, len(d.steps) + 1))
    assert [s.kind for s in d.steps][-4:] == ["update"] * 4


def test_softmax_jacobian_not_in_final_expressions():
    d = examples.two_layer().derive()
    for s in d.steps:
        if s.kind in ("adjoint", "gradient") and not s.inlined:
            assert not s.expr.has(symprop.ops.Softmax)


@pytest.mark.parametrize("depth", [1, 3, 8])
def test_equation_size_does_not_grow_with_depth(depth):
    """Each delta refers to the next one by name: its size is one layer's."""
    d = symprop.mlp([3] * (depth + 1) + [2], hidden=symprop.sigmoid, loss=symprop.cross_entropy).derive()
    sizes = [sp.count_ops(s.expr) for s in d.steps if s.kind == "adjoint" and s.role == "pre-activation"]
    assert max(sizes) <= 8


def test_residual_chain_is_named_and_stays_one_layer_long():
    """SymPy flattens f(W h + b) + h into ever longer sums; symprop names h_l again."""
    x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
    h, params = x, []
    for layer in range(1, 7):
        W, b = sp.MatrixSymbol(f"W{layer}", 3, 3), sp.MatrixSymbol(f"b{layer}", 3, 1)
        params += [W, b]
        h = symprop.tanh(W * h + b) + h
    Wo = sp.MatrixSymbol("Wo", 2, 3)
    net = symprop.Network(symprop.cross_entropy(symprop.softmax(Wo * h), y), params=params + [Wo], inputs=[x], targets=[y])
    d = net.derive()
    assert [n.name for n in net.nodes if n.role == "hidden"] == ["h1", "h2", "h3", "h4", "h5"]
    assert text(d.step("h3").expr) == "a3 + h2"  # h3 = a3 + h2: layer 3 plus the skip
    assert max(sp.count_ops(s.expr) for s in d.steps) <= 8
