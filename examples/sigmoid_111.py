"""The 1-1-1 sigmoid network with binary cross-entropy (the sigmoid-network worked example).

    z1 = w1 x + b1, a1 = sigma(z1), z2 = w2 a1 + b2, yhat = sigma(z2), L = BCE(yhat, y);
    x = 2, w1 = 0.5, w2 = 0.8, biases 0, y = 1, learning rate 0.1 give a1 = 0.731, yhat = 0.642,
    L = 0.443, delta2 = -0.358, dL/dw2 = -0.262, delta1 = -0.056, w2 -> 0.826, w1 -> 0.511.

    python examples/sigmoid_111.py [--outdir DIR]
"""

import sympy as sp

import symprop

w1, b1, w2, b2, x, y = sp.symbols("w1 b1 w2 b2 x y")
yhat = symprop.sigmoid(w2 * symprop.sigmoid(w1 * x + b1) + b2)
net = symprop.Network(symprop.binary_cross_entropy(yhat, y), params=[w1, b1, w2, b2], inputs=[x], targets=[y],
                      name="1-1-1 sigmoid network")
VALUES = {x: 2, w1: 0.5, b1: 0, w2: 0.8, b2: 0, y: 1}

if __name__ == "__main__":
    from symprop.render import notes_main

    notes_main(net, __file__, values=VALUES, learning_rate=0.1)
