"""Deep sigmoid vs deep ReLU: how the gradient shrinks with depth.

Two networks of 6 layers of width 4 (sigmoid output, binary cross-entropy)
differ only in their hidden activation.  At the same input and the same
random weights (seed 0, scaled by 1/sqrt(fan-in)), the sigmoid network's
gradients shrink layer after layer towards the input - sigma' is at most 1/4 -
far faster than the ReLU network's.  The script prints the norm of dL/dW^[l]
per layer for both and writes one note: the sigmoid network derived, with the
ReLU network beside it in the section on vanishing gradients (a table of
||delta^[l]|| per layer for both, and a plot).

    python examples/deep_sigmoid_vs_relu.py [--outdir DIR]
    symprop derive examples/deep_sigmoid_vs_relu.py --tex deep.tex   # the sigmoid network
"""

import numpy as np

import symprop

DEPTH, WIDTH = 6, 4


def deep_network(activation):
    return symprop.mlp([WIDTH] * DEPTH + [1], hidden=activation, output=symprop.sigmoid,
                       loss=symprop.binary_cross_entropy, name=f"deep {activation.name} network")


sigmoid_net = deep_network(symprop.sigmoid)
relu_net = deep_network(symprop.relu)
net = sigmoid_net


def random_values(seed: int = 0) -> dict:
    """One input, its label and the weights, shared by both networks."""
    rng = np.random.default_rng(seed)
    values = {"x": rng.normal(size=(WIDTH, 1)), "y": [[1.0]]}
    for sym in sigmoid_net.params:
        rows, cols = (int(d) for d in sym.shape)
        if sym.name.startswith("W"):
            values[sym.name] = rng.normal(scale=1 / np.sqrt(cols), size=(rows, cols))
        else:
            values[sym.name] = np.zeros((rows, 1))
    return values


def gradient_norms(network, values) -> list:
    """||dL/dW^[l]|| for l = 1 .. DEPTH (Frobenius norms)."""
    numbers = network.derive().evaluate(values)
    return [float(np.linalg.norm(numbers[f"dL/dW{layer}"])) for layer in range(1, DEPTH + 1)]


def main(argv=None):
    from symprop.render import notes_main

    values = random_values()
    print("layer  ||dL/dW|| sigmoid  ||dL/dW|| ReLU")
    for layer, (s, r) in enumerate(zip(gradient_norms(sigmoid_net, values), gradient_norms(relu_net, values)), start=1):
        print(f"{layer:5d}  {s:17.3e}  {r:14.3e}")
    # one note: the sigmoid network derived, the ReLU network beside it where the gradients are compared
    notes_main(sigmoid_net, __file__, values, learning_rate=0.1, argv=argv, compare=relu_net)


if __name__ == "__main__":
    main()
