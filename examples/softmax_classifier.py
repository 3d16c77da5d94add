"""A one-hidden-layer softmax classifier: 2 inputs, 3 tanh units, 3 classes, cross-entropy.

The notes derive delta^[2] = yhat - y (stating the assumption that the targets
sum to 1) and the hidden delta through tanh' = 1 - a * a, with a worked example.

    python examples/softmax_classifier.py [--outdir DIR]
"""

import symprop

net = symprop.mlp([2, 3, 3], hidden=symprop.tanh, output=symprop.softmax, loss=symprop.cross_entropy,
                  name="softmax classifier")
VALUES = {
    "x": [[1.0], [-2.0]],
    "y": [[0.0], [1.0], [0.0]],  # one-hot: class 2
    "W1": [[0.5, -0.2], [0.1, 0.4], [-0.3, 0.2]],
    "b1": [[0.0], [0.1], [-0.1]],
    "W2": [[0.3, -0.1, 0.2], [-0.2, 0.4, 0.1], [0.1, 0.2, -0.3]],
    "b2": [[0.0], [0.0], [0.0]],
}

if __name__ == "__main__":
    from symprop.render import notes_main

    notes_main(net, __file__, values=VALUES, learning_rate=0.5)
