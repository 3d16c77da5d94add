"""A residual network: a skip connection carries a1 around the second layer.

    a1 = ReLU(W1 x + b1),  h = tanh(W2 a1 + b2) + a1 (the skip),  yhat = softmax(W3 h + b3),
    L = CE(yhat, y).  The notes show dL/da1 collecting the gradients of both paths.

    python examples/residual.py [--outdir DIR]
"""

import sympy as sp

import symprop

x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
W1, b1 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("b1", 4, 1)
W2, b2 = sp.MatrixSymbol("W2", 4, 4), sp.MatrixSymbol("b2", 4, 1)
W3, b3 = sp.MatrixSymbol("W3", 2, 4), sp.MatrixSymbol("b3", 2, 1)
a1 = symprop.relu(W1 * x + b1)
a2 = symprop.tanh(W2 * a1 + b2) + a1
net = symprop.Network(symprop.cross_entropy(symprop.softmax(W3 * a2 + b3), y),
                      params=[W1, b1, W2, b2, W3, b3], inputs=[x], targets=[y], name="residual network")

if __name__ == "__main__":
    from symprop.render import notes_main

    notes_main(net, __file__)
