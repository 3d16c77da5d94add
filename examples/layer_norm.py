"""Layer normalisation in a one-hidden-layer network: statistics over the features of one example.

Unlike batch norm, layer norm needs no batch: its mean and variance run over
the features of each example (here the 3 entries of z^[1]), so the network is
declared for one example, a column, as usual.  The notes take the chain rule
through mu, sigma^2 and zhat, then collect the paths into the closed form.

    python examples/layer_norm.py [--outdir DIR]      # notes (.tex, .md, .pdf) and layer_norm_train.py
"""

import sympy as sp

import symprop

x, y = sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("y", 2, 1)
W1, b1 = sp.MatrixSymbol("W1", 3, 2), sp.MatrixSymbol("b1", 3, 1)
gamma, beta = sp.MatrixSymbol("gamma", 3, 1), sp.MatrixSymbol("beta", 3, 1)
W2, b2 = sp.MatrixSymbol("W2", 2, 3), sp.MatrixSymbol("b2", 2, 1)

a1 = symprop.tanh(symprop.layer_norm(W1 * x + b1, gamma, beta))
yhat = symprop.softmax(W2 * a1 + b2)
net = symprop.Network(symprop.cross_entropy(yhat, y), params=[W1, b1, gamma, beta, W2, b2], inputs=[x], targets=[y],
                      name="layer-normalised classifier")

VALUES = {
    x: [[1.0], [-0.5]],
    y: [[0.0], [1.0]],
    W1: [[0.5, -0.2], [0.1, 0.4], [-0.3, 0.2]],
    b1: [[0.0], [0.1], [-0.1]],
    gamma: [[1.0], [1.0], [1.0]],
    beta: [[0.0], [0.0], [0.0]],
    W2: [[0.3, -0.2, 0.5], [-0.4, 0.1, 0.2]],
    b2: [[0.0], [0.0]],
}

if __name__ == "__main__":
    from symprop.render import notes_main

    notes_main(net, __file__, values=VALUES, learning_rate=0.1, code=True)
