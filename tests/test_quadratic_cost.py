"""C = 1/2 ||a - y||^2 written out in SymPy keeps the book's intermediates: it is read as c n mse(yhat, y)."""

import numpy as np
import pytest
import sympy as sp

import symprop

x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
W1, b1 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("b1", 4, 1)
W2, b2 = sp.MatrixSymbol("W2", 2, 4), sp.MatrixSymbol("b2", 2, 1)
PARAMS = [W1, b1, W2, b2]
i = sp.Symbol("i", integer=True)
lam = sp.Symbol("lamda")


def prediction(hidden=symprop.sigmoid, output=symprop.sigmoid):
    return output(W2 * hidden(W1 * x + b1) + b2)


a = prediction()
# (declaration, the factor c n it is read with: mse is the mean over the n = 2 outputs)
FORMS = {
    "half (a - y)ᵀ(a - y)": (sp.Rational(1, 2) * (a - y).T * (a - y), 1),
    "(y - a)ᵀ(y - a)": ((y - a).T * (y - a), 2),
    "its [0, 0] entry": (((a - y).T * (a - y))[0, 0], 2),
    "half sum_i (a_i - y_i)^2": (sp.Rational(1, 2) * sum((a[k, 0] - y[k, 0]) ** 2 for k in range(2)), 1),
    "sum_i (y_i - a_i)^2": (sum((y[k, 0] - a[k, 0]) ** 2 for k in range(2)), 2),
    "sp.Sum over i": (sp.Rational(1, 2) * sp.Sum((a[i, 0] - y[i, 0]) ** 2, (i, 0, 1)), 1),
    "3 (a - y)ᵀ(a - y) / 4": (sp.Rational(3, 4) * (a - y).T * (a - y), sp.Rational(3, 2)),
}


def values(seed):
    rng = np.random.default_rng(seed)
    return {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=(4, 1)), "W2": rng.normal(size=(2, 4)),
            "b2": rng.normal(size=(2, 1)), "x": rng.normal(size=(3, 1)), "y": rng.normal(size=(2, 1))}


REFERENCE = symprop.Network(symprop.mse(a, y), params=PARAMS, inputs=[x], targets=[y])


@pytest.mark.parametrize("form", sorted(FORMS))
def test_quadratic_cost_derives_the_mse_intermediates_with_its_factor(form):
    declaration, factor = FORMS[form]
    net = symprop.Network(declaration, params=PARAMS, inputs=[x], targets=[y])
    assert [n.name for n in net.nodes] == [n.name for n in REFERENCE.nodes] == ["z1", "a1", "z2", "yhat", "L"]
    assert net.loss_reading is not None and f"L = {factor}·mse(yhat, y)" in net.loss_reading
    d, ref = net.derive(), REFERENCE.derive()
    assert [s.name for s in d.steps] == [s.name for s in ref.steps]
    for seed in range(2):
        got, expected = d.evaluate(values(seed)), ref.evaluate(values(seed))
        for step in ref.steps:
            if step.kind in ("loss", "adjoint", "gradient"):
                np.testing.assert_allclose(got[step.key], float(factor) * np.asarray(expected[step.key]), rtol=1e-10,
                                           err_msg=f"{form}: {step.key}")


def test_textbook_formulas_hold_on_the_quadratic_cost():
    net = symprop.Network(sp.Rational(1, 2) * (a - y).T * (a - y), params=PARAMS, inputs=[x], targets=[y])
    assert symprop.check_gradient(net, "delta2", r"(a^{[2]} - y) \odot \sigma'(z^{[2]})").ok
    assert symprop.check_gradient(net, "W1", r"\delta^{[1]} x^T").ok
    result = symprop.check_gradient(net, "delta2", r"2 (a^{[2]} - y) \odot \sigma'(z^{[2]})")
    assert not result.ok and "read as the squared error" in str(result)


def test_other_terms_are_kept_and_other_losses_untouched():
    with_decay = symprop.Network(sp.Rational(1, 2) * sum((a[k, 0] - y[k, 0]) ** 2 for k in range(2))
                                 + lam / 2 * sp.Trace(W1.T * W1), params=PARAMS, inputs=[x], targets=[y], hyperparams=[lam])
    assert [n.name for n in with_decay.nodes][-2:] == ["yhat", "L"]
    v = values(3)
    g = with_decay.derive().evaluate({**v, "lamda": 0.3})["dL/dW1"]
    np.testing.assert_allclose(g, REFERENCE.derive().evaluate(v)["dL/dW1"] + 0.3 * v["W1"], rtol=1e-10)
    # linear regression: the prediction W x has no activation
    W = sp.MatrixSymbol("W", 2, 3)
    linear = symprop.Network(sp.Rational(1, 2) * (W * x - y).T * (W * x - y), params=[W], inputs=[x], targets=[y])
    assert [n.name for n in linear.nodes] == ["yhat", "L"]
    # not a squared error: a product of two different vectors
    other = symprop.Network((a - y).T * (prediction(symprop.tanh) - y), params=PARAMS, inputs=[x], targets=[y])
    assert other.loss_reading is None
    assert symprop.Network(symprop.mse(a, y), params=PARAMS, inputs=[x], targets=[y]).loss_reading is None
