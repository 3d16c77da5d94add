"""The classic networks of the lecture notes, built in (used by ``symprop demo``,
the examples/ scripts and the tests)."""

from __future__ import annotations

import sympy as sp

from . import ops
from .network import Network, mlp


def relu_neuron() -> Network:
    """z = w x + b, a = ReLU(z), L = (a - y)^2 (relu-neuron-chain-rule notes)."""
    w, b, x, y = sp.symbols("w b x y")
    return Network((ops.relu(w * x + b) - y) ** 2, params=[w, b], inputs=[x], targets=[y], name="ReLU neuron")


def sigmoid_neuron() -> Network:
    """yhat = sigma(w x + b), L = (yhat - y)^2 (single-neuron notes)."""
    w, b, x, y = sp.symbols("w b x y")
    return Network(ops.mse(ops.sigmoid(w * x + b), y), params=[w, b], inputs=[x], targets=[y], name="sigmoid neuron")


def sigmoid_111() -> Network:
    """1-1-1 sigmoid network with binary cross-entropy (sigmoid-network notes)."""
    w1, b1, w2, b2, x, y = sp.symbols("w1 b1 w2 b2 x y")
    yhat = ops.sigmoid(w2 * ops.sigmoid(w1 * x + b1) + b2)
    return Network(
        ops.binary_cross_entropy(yhat, y), params=[w1, b1, w2, b2], inputs=[x], targets=[y], name="1-1-1 sigmoid network"
    )


def two_layer() -> Network:
    """3-4-2: ReLU hidden layer, softmax output, cross-entropy (the design card's example)."""
    x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
    W1, b1 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("b1", 4, 1)
    W2, b2 = sp.MatrixSymbol("W2", 2, 4), sp.MatrixSymbol("b2", 2, 1)
    yhat = ops.softmax(W2 * ops.relu(W1 * x + b1) + b2)
    return Network(ops.cross_entropy(yhat, y), params=[W1, b1, W2, b2], inputs=[x], targets=[y], name="two-layer classifier")


def residual() -> Network:
    """a2 = tanh(W2 a1 + b2) + a1: a skip connection around the second layer."""
    x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
    W1, b1 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("b1", 4, 1)
    W2, b2 = sp.MatrixSymbol("W2", 4, 4), sp.MatrixSymbol("b2", 4, 1)
    W3, b3 = sp.MatrixSymbol("W3", 2, 4), sp.MatrixSymbol("b3", 2, 1)
    a1 = ops.relu(W1 * x + b1)
    a2 = ops.tanh(W2 * a1 + b2) + a1
    yhat = ops.softmax(W3 * a2 + b3)
    return Network(ops.cross_entropy(yhat, y), params=[W1, b1, W2, b2, W3, b3], inputs=[x], targets=[y], name="residual network")


def tied_autoencoder() -> Network:
    """x -> sigma(W x + b) -> W^T h + c: the decoder reuses the encoder's weights."""
    x = sp.MatrixSymbol("x", 4, 1)
    W, b, c = sp.MatrixSymbol("W", 2, 4), sp.MatrixSymbol("b", 2, 1), sp.MatrixSymbol("c", 4, 1)
    h = ops.sigmoid(W * x + b)
    xhat = W.T * h + c
    return Network(ops.mse(xhat, x), params=[W, b, c], inputs=[x], name="tied autoencoder")


def gated() -> Network:
    """h = sigma(Wg x) * tanh(Wh x), a gated unit without biases, then a linear read-out."""
    x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 1, 1)
    Wg, Wh = sp.MatrixSymbol("Wg", 4, 3), sp.MatrixSymbol("Wh", 4, 3)
    V = sp.MatrixSymbol("V", 1, 4)
    h = sp.HadamardProduct(ops.sigmoid(Wg * x), ops.tanh(Wh * x))
    return Network(ops.mse(V * h, y), params=[Wg, Wh, V], inputs=[x], targets=[y], name="gated unit")


def deep(activation=ops.sigmoid, depth: int = 6, width: int = 4) -> Network:
    """A deep narrow network, to show how the gradient shrinks with depth."""
    return mlp([width] * depth + [1], hidden=activation, output=ops.sigmoid, loss=ops.binary_cross_entropy,
               name=f"deep {activation.name} network")


def rnn():
    """A tanh RNN with 2 inputs, 3 hidden units and 1 output, over 12 steps, loss at the last step.

    Its worked example (``RNN_VALUES``) has small inputs, so the state stays
    out of tanh's flat ends and the recurrent weights set how the gradient
    grows or shrinks back through time.
    """
    from .recurrent import rnn as _rnn

    return _rnn(2, 3, 1, T=12, loss_at="last", name="tanh RNN")


RNN_VALUES = {
    "W": [[0.1, -0.1, 0.3], [0.1, -0.3, 0.2], [0.7, 0.5, -0.4]],
    "U": [[-0.6, -0.3], [0.0, -1.2], [-0.1, -0.6]],
    "b": [[0.0], [0.0], [0.0]],
    "V": [[-0.7, -0.5, -0.3]],
    "c": [[0.0]],
    "x": [[0.04, 0.1], [-0.01, 0.14], [-0.07, 0.04], [0.09, 0.01], [-0.07, -0.09], [-0.05, 0.02],
          [-0.1, -0.02], [-0.02, 0.05], [0.02, 0.04], [-0.07, -0.01], [0.08, 0.15], [-0.13, 0.15]],
    "y": [[0.5]],
}


BUILTIN = {
    "relu_neuron": relu_neuron,
    "sigmoid_neuron": sigmoid_neuron,
    "sigmoid_111": sigmoid_111,
    "two_layer": two_layer,
    "residual": residual,
    "tied_autoencoder": tied_autoencoder,
    "gated": gated,
}
