"""Hyper-parameters: symbols in the derivation (lambda W), numbers when evaluated."""

import numpy as np
import pytest
import sympy as sp

import symprop
from symprop.errors import DeclarationError, EvaluationError
from symprop.printing import text

x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
W1, W2 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("W2", 2, 4)
lam = sp.Symbol("lamda")


def decayed(hyperparams):
    loss = symprop.mse(W2 * symprop.tanh(W1 * x), y) + lam / 2 * (sp.Trace(W1.T * W1) + sp.Trace(W2.T * W2))
    return symprop.Network(loss, params=[W1, W2], inputs=[x], targets=[y], hyperparams=hyperparams)


def values(seed=0):
    rng = np.random.default_rng(seed)
    return {"W1": rng.normal(size=(4, 3)), "W2": rng.normal(size=(2, 4)), "x": rng.normal(size=(3, 1)),
            "y": rng.normal(size=(2, 1))}


def test_the_weight_decay_gradient_is_lambda_w():
    d = decayed([lam]).derive()
    assert text(d.gradient(W1)) == "lamda·W1 + δ xᵀ"  # the trace's two equal shares collected


def test_values_at_check_time_and_defaults():
    v = values()
    without_default = decayed([lam]).derive()
    with pytest.raises(EvaluationError, match="lamda"):
        without_default.evaluate(v)
    g0 = without_default.evaluate({**v, "lamda": 0.0})["dL/dW1"]
    g1 = without_default.evaluate({**v, "lamda": 0.5})["dL/dW1"]
    np.testing.assert_allclose(g1 - g0, 0.5 * v["W1"], rtol=1e-12)
    with_default = decayed({lam: 0.5}).derive()
    np.testing.assert_allclose(with_default.evaluate(v)["dL/dW1"], g1, rtol=1e-12)


def test_generated_code_uses_the_default():
    net = decayed({lam: 0.5})
    source = net.derive().numpy()
    namespace = {}
    exec(compile(source, "<generated>", "exec"), namespace)  # our own generated module
    v = values()
    params = {"W1": v["W1"], "W2": v["W2"]}
    _, grads = namespace["gradients"](params, x=v["x"].T, y=v["y"].T)
    np.testing.assert_allclose(grads["W1"], net.derive().evaluate(v)["dL/dW1"], rtol=1e-10)
    with pytest.raises(DeclarationError, match="no value"):
        decayed([lam]).derive().numpy()


def test_bad_declarations():
    with pytest.raises(DeclarationError, match="scalar"):
        decayed([sp.MatrixSymbol("L2", 2, 2)])
    with pytest.raises(DeclarationError, match="finite number"):
        decayed({lam: "big"})
    with pytest.raises(DeclarationError, match="not declared"):
        symprop.Network(symprop.mse(W2 * symprop.tanh(W1 * x), y) + lam * sp.Trace(W1.T * W1), params=[W1, W2],
                        inputs=[x], targets=[y])
