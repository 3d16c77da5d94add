"""Inverted dropout in a one-hidden-layer network, with the mask as an input.

The mask M (0 or 1 per hidden unit) is declared as an input of the network,
so the derivation, the notes and gradient checks are deterministic:
a1 (.) M / p keeps each unit with probability p = 0.8 during training and
rescales it, so nothing changes in expectation.  The backward pass passes no
gradient through a dropped unit: dL/da1 = (W2^T delta2 / p) (.) M.  The
generated training code draws a fresh mask for every step and keeps every
unit in forward() and loss().

    python examples/dropout.py [--outdir DIR]         # notes (.tex, .md, .pdf) and dropout_train.py
"""

import sympy as sp

import symprop

x, y, M = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1), sp.MatrixSymbol("M", 4, 1)
W1, b1 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("b1", 4, 1)
W2, b2 = sp.MatrixSymbol("W2", 2, 4), sp.MatrixSymbol("b2", 2, 1)

a1 = symprop.dropout(symprop.relu(W1 * x + b1), M, keep=0.8)
yhat = symprop.softmax(W2 * a1 + b2)
net = symprop.Network(symprop.cross_entropy(yhat, y), params=[W1, b1, W2, b2], inputs=[x, M], targets=[y],
                      name="classifier with dropout")

VALUES = {
    x: [[1.0], [0.5], [-1.0]],
    M: [[1.0], [0.0], [1.0], [1.0]],  # the second hidden unit is dropped in this example
    y: [[1.0], [0.0]],
    W1: [[0.1, 0.2, -0.1], [0.0, 0.3, 0.2], [-0.2, 0.1, 0.4], [0.3, -0.1, 0.1]],
    b1: [[0.0], [0.1], [0.0], [-0.1]],
    W2: [[0.2, -0.3, 0.1, 0.4], [-0.1, 0.2, 0.3, -0.2]],
    b2: [[0.0], [0.0]],
}

if __name__ == "__main__":
    from symprop.render import notes_main

    notes_main(net, __file__, values=VALUES, learning_rate=0.1, code=True)
