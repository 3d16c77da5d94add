"""Batch normalisation in a small classifier, declared over a batch of m examples.

Batch norm couples the examples of a batch (its mean and variance run over
the batch), so the network is declared for the whole batch: X is 2 x m, one
example per column, and the loss is the batch mean.  The notes take the chain
rule through mu, sigma^2 and Zhat node by node, then collect the three paths
into the closed form of Ioffe & Szegedy; the worked example uses a batch of 4.

    python examples/batch_norm.py [--outdir DIR]      # notes (.tex, .md, .pdf) and batch_norm_train.py
"""

import sympy as sp

import symprop

m = sp.Symbol("m", integer=True, positive=True)  # the batch size
X, Y = sp.MatrixSymbol("X", 2, m), sp.MatrixSymbol("Y", 2, m)
W1, b1 = sp.MatrixSymbol("W1", 3, 2), sp.MatrixSymbol("b1", 3, 1)
gamma, beta = sp.MatrixSymbol("gamma", 3, 1), sp.MatrixSymbol("beta", 3, 1)
W2, b2 = sp.MatrixSymbol("W2", 2, 3), sp.MatrixSymbol("b2", 2, 1)
ones = symprop.ones(1, m)  # b 1^T copies a bias into every column

A1 = symprop.relu(symprop.batch_norm(W1 * X + b1 * ones, gamma, beta))
Yhat = symprop.softmax(W2 * A1 + b2 * ones)
net = symprop.Network(symprop.cross_entropy(Yhat, Y), params=[W1, b1, gamma, beta, W2, b2], inputs=[X], targets=[Y],
                      batch=m, name="batch-normalised classifier")

VALUES = {
    X: [[1.0, 0.5, -1.0, 2.0], [0.0, -0.5, 1.5, 1.0]],
    Y: [[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]],
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
