"""One sigmoid neuron with squared error (the single-neuron notes, checked there with PyTorch).

    yhat = sigma(w x + b),  L = (yhat - y)^2;   x = 2, w = 0.5, b = 0, y = 1, learning rate 0.1
    give dL/dw = -0.2115, dL/db = -0.1058, w -> 0.5212, b -> 0.0106.

    python examples/sigmoid_neuron.py [--outdir DIR]
"""

import sympy as sp

import symprop

w, b, x, y = sp.symbols("w b x y")
net = symprop.Network(symprop.mse(symprop.sigmoid(w * x + b), y), params=[w, b], inputs=[x], targets=[y],
                      name="sigmoid neuron")
VALUES = {x: 2, w: 0.5, b: 0, y: 1}

if __name__ == "__main__":
    from symprop.render import notes_main

    notes_main(net, __file__, values=VALUES, learning_rate=0.1)
