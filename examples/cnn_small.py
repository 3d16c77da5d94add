"""A tiny convolutional network, small enough to follow every number by hand.

One 4 x 4 grey image -> two 3 x 3 kernels (zero padding 'same') -> ReLU ->
2 x 2 max-pooling -> flatten -> dense layer -> softmax over 2 classes.  The
notes show the backward pass as textbooks write it: the correlation of the
input with delta for the kernels (dL/dK = X * delta), the full convolution of
delta with the flipped kernels for the input, delta summed over the positions
for the bias, and max-pooling routing each entry of delta to its window's
arg-max - every number of the worked example included.

    python examples/cnn_small.py [--outdir DIR]       # notes (.tex, .md, .pdf) and cnn_small_train.py
"""

import sympy as sp

import symprop

X = symprop.image("X", 1, 4, 4)
K, b = symprop.kernel("K1", 2, 1, 3), sp.MatrixSymbol("b1", 2, 1)
W, c = sp.MatrixSymbol("W2", 2, 8), sp.MatrixSymbol("b2", 2, 1)
y = sp.MatrixSymbol("y", 2, 1)

P1 = symprop.max_pool2d(symprop.relu(symprop.conv2d(X, K, b, padding="same")), 2)
yhat = symprop.softmax(W * symprop.flatten(P1) + c)
net = symprop.Network(symprop.cross_entropy(yhat, y), params=[K, b, W, c], inputs=[X], targets=[y],
                      name="tiny CNN")

VALUES = {
    X: [[[0.0, 1.0, 1.0, 0.0], [1.0, 0.5, 0.0, 1.0], [0.0, 1.0, 0.5, 0.0], [1.0, 0.0, 1.0, 0.5]]],
    K: [[[[0.1, -0.2, 0.1], [0.0, 0.3, -0.1], [0.2, 0.0, -0.2]]], [[[-0.1, 0.2, 0.0], [0.3, -0.2, 0.1], [0.0, 0.1, 0.2]]]],
    b: [[0.1], [-0.1]],
    W: [[0.2, -0.1, 0.3, 0.0, -0.2, 0.1, 0.0, 0.4], [-0.3, 0.2, 0.1, 0.1, 0.0, -0.2, 0.3, 0.1]],
    c: [[0.0], [0.0]],
    y: [[1.0], [0.0]],
}

if __name__ == "__main__":
    from symprop.render import notes_main

    notes_main(net, __file__, values=VALUES, learning_rate=0.1, code=True)
