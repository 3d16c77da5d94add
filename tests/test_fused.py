"""Binary cross-entropy after a softmax: loss and gradients stable where the softmax saturates.

The oracle is mpmath at 50 digits on the declared loss (log p = z - lse(z),
log(1 - p) from the other entries' log-sum-exp, or log1p for small p), and
its derivative by mpmath's numeric differentiation at that precision.  Both
the generated module and evaluate() must match it to 1e-9 relative, from
moderate inputs to ones where 1 - softmax(z) is far below float64's epsilon.
"""

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

import symprop
from symprop.printing import helper_namespace

mp.mp.dps = 50


def _lse(values):
    top = max(values)
    return top + mp.log(sum(mp.e ** (v - top) for v in values))


def _bce_of_softmax(z, y):
    """sum_k BCE(softmax(z)_k, y_k) for one example, in mpmath."""
    total = _lse(z)
    out = 0
    for k in range(len(z)):
        log_p = z[k] - total
        p = mp.e**log_p
        log_q = mp.log1p(-p) if p < 0.5 else _lse(z[:k] + z[k + 1:]) - total
        out -= y[k] * log_p + (1 - y[k]) * log_q
    return out


def oracle(W, x, y):
    """Mean over outputs and examples of BCE(softmax(W x), y), and its gradient in W (rows of x, y are examples)."""
    m, n = y.shape
    Wm = [[mp.mpf(float(v)) for v in row] for row in W]

    def loss(Wm):
        total = 0
        for i in range(m):
            z = [sum(Wm[r][c] * mp.mpf(float(x[i, c])) for c in range(x.shape[1])) for r in range(n)]
            total += _bce_of_softmax(z, [mp.mpf(float(v)) for v in y[i]])
        return total / (m * n)

    grad = np.zeros(W.shape)
    for r in range(W.shape[0]):
        for c in range(W.shape[1]):
            def along(t, r=r, c=c):
                moved = [row[:] for row in Wm]
                moved[r][c] = t
                return loss(moved)
            grad[r, c] = float(mp.diff(along, Wm[r][c]))
    return float(loss(Wm)), grad


def network(n_in=3, n_out=3):
    x, y = sp.MatrixSymbol("x", n_in, 1), sp.MatrixSymbol("y", n_out, 1)
    W = sp.MatrixSymbol("W", n_out, n_in)
    return symprop.Network(symprop.binary_cross_entropy(symprop.softmax(W * x), y), params=[W], inputs=[x], targets=[y])


@pytest.mark.parametrize("scale", [1.0, 10.0, 40.0, 200.0, 700.0])
def test_module_and_evaluate_match_the_oracle_up_to_saturation(scale):
    d = network().derive()
    rng = np.random.default_rng(int(scale))
    W = rng.normal(size=(3, 3)) * scale / 3
    x = rng.normal(size=(4, 3))
    y = rng.random((4, 3))
    y[0, np.argmax(x[0] @ W.T)] = 1.0  # a saturated output whose target is 1: (1 - y) log(1 - p) is 0 * -inf unfused
    expected_loss, expected_grad = oracle(W, x, y)

    namespace = {}
    exec(compile(d.numpy(), "<generated>", "exec"), namespace)  # the module under test
    loss, grads = namespace["gradients"]({"W": W}, x=x, y=y)
    assert abs(loss - expected_loss) <= 1e-9 * abs(expected_loss)
    assert np.linalg.norm(grads["W"] - expected_grad) <= 1e-9 * np.linalg.norm(expected_grad)

    per_example = [d.evaluate({"W": W, "x": x[i][:, None], "y": y[i][:, None]}) for i in range(len(x))]
    assert abs(np.mean([v["L"] for v in per_example]) - expected_loss) <= 1e-9 * abs(expected_loss)
    grad = np.mean([v["dL/dW"] for v in per_example], axis=0)
    assert np.linalg.norm(grad - expected_grad) <= 1e-9 * np.linalg.norm(expected_grad)


def test_the_helpers_against_mpmath_entry_by_entry():
    ns = helper_namespace(["log1m_softmax", "bce_softmax_backward"])
    rng = np.random.default_rng(3)
    for trial in range(30):
        n = int(rng.integers(2, 5))
        z = rng.normal(size=n) * [1, 10, 40, 200, 800][trial % 5]
        if trial % 7 == 0:
            z[1] = z[0]  # a tie for the max
        y = rng.random(n)
        zm, ym = [mp.mpf(float(v)) for v in z], [mp.mpf(float(v)) for v in y]
        total = _lse(zm)
        exact_log1m = [mp.log1p(-mp.e ** (v - total)) if mp.e ** (v - total) < 0.5 else _lse(zm[:k] + zm[k + 1:]) - total
                       for k, v in enumerate(zm)]
        exact_grad = [mp.diff(lambda t, k=k: _bce_of_softmax(zm[:k] + [t] + zm[k + 1:], ym), zm[k]) for k in range(n)]
        got_log1m = ns["log1m_softmax"](z[None], axis=-1)[0]
        got_grad = ns["bce_softmax_backward"](z[None], y[None], axis=-1)[0]
        for got, exact in zip(got_log1m, exact_log1m):
            assert abs(got - float(exact)) <= 1e-13 * abs(float(exact)) + 1e-300
        exact_grad = np.array([float(v) for v in exact_grad])
        assert np.max(np.abs(got_grad - exact_grad)) <= 1e-12 * np.max(np.abs(exact_grad))


def test_only_a_sole_bce_consumer_is_fused():
    from symprop.fused import fused_deltas

    assert set(fused_deltas(network().derive())) == {"delta"}
    x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 3, 1)
    W = sp.MatrixSymbol("W", 3, 3)
    p = symprop.softmax(W * x)
    extra_use = symprop.Network(symprop.binary_cross_entropy(p, y) + symprop.mse(p, y), params=[W], inputs=[x], targets=[y])
    assert fused_deltas(extra_use.derive()) == {}  # yhat has a second consumer: the derived delta stays
