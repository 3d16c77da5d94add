"""Derived gradients, evaluated numerically, against central finite differences.

Random networks (depths 1-4, random widths including 1, every activation and
loss, residual paths, gates, tied weights, no biases, scalar networks) and the
named architectures of the issue.  Float64, relative error below 1e-6.
"""

import numpy as np
import pytest
import sympy as sp

import symprop
from symprop import examples, ops
from tests.netgen import finite_difference_errors, near_kink, random_network, random_values

TOL = 1e-6


def assert_gradients_match(net, seed, recipe=""):
    d = net.derive()
    rng = np.random.default_rng(seed)
    for _ in range(20):
        values = random_values(net, rng)
        if not near_kink(d, values):
            break
    errors = finite_difference_errors(d, values)
    worst = max(errors.values())
    assert worst < TOL, f"{recipe}: relative errors {errors}"
    return errors


@pytest.mark.parametrize("seed", range(60))
def test_random_networks(seed):
    net, recipe = random_network(seed)
    assert_gradients_match(net, seed, recipe)


@pytest.mark.parametrize("activation", sorted(n for n in ops.activations() if n in ops.BUILTIN_FUNCTIONS))
@pytest.mark.parametrize("loss", sorted(ops.LOSSES))
def test_every_activation_with_every_loss(activation, loss):
    hidden = ops.FUNCTIONS[activation]
    output = ops.softmax if loss == "cross_entropy" else (ops.sigmoid if loss == "binary_cross_entropy" else hidden)
    net = symprop.mlp([3, 4, 3, 2], hidden=hidden, output=output, loss=ops.LOSSES[loss])
    assert_gradients_match(net, 7, f"{activation}/{loss}")


@pytest.mark.parametrize("name", sorted(examples.BUILTIN))
def test_named_architectures(name):
    assert_gradients_match(examples.BUILTIN[name](), 11, name)


@pytest.mark.parametrize("option", ["residual", "gated", "tied", "no_bias"])
@pytest.mark.parametrize("seed", range(6))
def test_composition_options(option, seed):
    kwargs = {"residual": option == "residual", "gated": option == "gated", "tied": option == "tied",
              "bias": option != "no_bias"}
    net, recipe = random_network(1000 + seed, depth=3, scalar=False, **kwargs)
    assert_gradients_match(net, seed, recipe)


def test_shared_weight_gets_both_contributions():
    """W used twice: its gradient is the sum of the two shares (and matches numbers)."""
    x, y = sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("y", 2, 1)
    W = sp.MatrixSymbol("W", 2, 2)
    net = symprop.Network(symprop.mse(W * symprop.tanh(W * x), y), params=[W], inputs=[x], targets=[y])
    d = net.derive()
    (grad_step,) = [s for s in d.steps if s.kind == "gradient" and s.of == "W"]
    assert len(grad_step.contributions) == 2
    assert isinstance(d.gradient(W), sp.MatAdd)
    assert_gradients_match(net, 3, "shared W")


def test_scalar_parameter_in_matrix_network():
    x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
    W, s = sp.MatrixSymbol("W", 2, 3), sp.Symbol("s")
    net = symprop.Network(symprop.mse(symprop.sigmoid(s * W * x), y), params=[W, s], inputs=[x], targets=[y])
    assert_gradients_match(net, 5, "scalar s")


def test_user_written_losses():
    """Losses written with SymPy's own operations, not the loss ops."""
    x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
    W, b = sp.MatrixSymbol("W", 2, 3), sp.MatrixSymbol("b", 2, 1)
    e = symprop.tanh(W * x + b) - y
    for loss in [(e.T * e), (e.T * e)[0, 0] / 2, sp.Trace(e * e.T) + sp.Trace(W * W.T) / 10]:
        net = symprop.Network(loss, params=[W, b], inputs=[x], targets=[y])
        assert_gradients_match(net, 9, str(loss))


def test_elementwise_sympy_functions():
    x, y = sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("y", 2, 1)
    W = sp.MatrixSymbol("W", 2, 2)
    z = sp.Symbol("z")
    h = (W * x).applyfunc(sp.cosh)
    h2 = symprop.elementwise(sp.Lambda(z, sp.sin(z) + z**2), h)
    net = symprop.Network(symprop.mse(h2, y), params=[W], inputs=[x], targets=[y])
    assert_gradients_match(net, 13, "cosh/sin")


def test_targets_not_summing_to_one_are_outside_the_assumption():
    """yhat - y is exact only when the targets sum to 1: the derivation says so."""
    net = examples.two_layer()
    d = net.derive()
    assert [a.text for a in d.assumptions] == [
        "the targets of each example sum to 1 (one-hot labels or a probability vector)"
    ]
    assert d.delta(2) == d.network.node("yhat").symbol - d.network.targets[0] or str(d.delta(2)) in ("-y + yhat", "yhat - y")
    values = random_values(net, np.random.default_rng(0))
    values["y"] = values["y"] * 3  # sums to 3: the simplified delta is now wrong
    errors = finite_difference_errors(d, values)
    assert errors["W2"] > 1e-3
