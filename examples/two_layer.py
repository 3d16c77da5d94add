"""The design card's network: 3 inputs, 4 ReLU units, 2 classes with softmax and cross-entropy.

    symprop derive examples/two_layer.py --tex notes.tex --pdf --md notes.md
    python examples/two_layer.py [--outdir DIR]
"""

import sympy as sp

import symprop

x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
W1, b1 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("b1", 4, 1)
W2, b2 = sp.MatrixSymbol("W2", 2, 4), sp.MatrixSymbol("b2", 2, 1)
yhat = symprop.softmax(W2 * symprop.relu(W1 * x + b1) + b2)
net = symprop.Network(symprop.cross_entropy(yhat, y), params=[W1, b1, W2, b2], inputs=[x], targets=[y],
                      name="two-layer classifier")
VALUES = {
    x: [[1.0], [0.5], [-1.0]],
    y: [[1.0], [0.0]],
    W1: [[0.1, 0.2, -0.1], [0.0, 0.3, 0.2], [-0.2, 0.1, 0.4], [0.3, -0.1, 0.1]],
    b1: [[0.0], [0.1], [0.0], [-0.1]],
    W2: [[0.2, -0.3, 0.1, 0.4], [-0.1, 0.2, 0.3, -0.2]],
    b2: [[0.0], [0.0]],
}

if __name__ == "__main__":
    from symprop.render import notes_main

    notes_main(net, __file__, values=VALUES, learning_rate=0.1)
