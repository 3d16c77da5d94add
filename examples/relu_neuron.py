"""One ReLU neuron with squared error (the relu-neuron-chain-rule notes).

    z = w x + b,  a = ReLU(z),  L = (a - y)^2;   x = 2, w = 3, b = 1, y = 5 give L = 4, dL/dw = 8, dL/db = 4.

    symprop derive examples/relu_neuron.py --values x=2,w=3,b=1,y=5 --pdf
    python examples/relu_neuron.py [--outdir DIR]      # .tex, .md and .pdf into examples/out
"""

import sympy as sp

import symprop

w, b, x, y = sp.symbols("w b x y")
net = symprop.Network((symprop.relu(w * x + b) - y) ** 2, params=[w, b], inputs=[x], targets=[y], name="ReLU neuron")
VALUES = {x: 2, w: 3, b: 1, y: 5}

if __name__ == "__main__":
    from symprop.render import notes_main

    notes_main(net, __file__, values=VALUES, learning_rate=0.1)
