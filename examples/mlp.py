"""A textbook MLP classifier: 4 inputs, a ReLU hidden layer of 16 units,
3 classes (softmax output, cross-entropy loss).

    python examples/mlp.py [--outdir DIR]           # notes (.tex, .md, .pdf) and mlp_train.py into examples/out
    symprop emit examples/mlp.py -o mlp_train.py    # or: symprop derive examples/mlp.py --py mlp_train.py
    python mlp_train.py                             # trains on its demo data, prints the loss per epoch
"""

import symprop

net = symprop.mlp([4, 16, 3], hidden=symprop.relu, loss=symprop.cross_entropy, name="MLP classifier")

if __name__ == "__main__":
    from symprop.render import notes_main

    notes_main(net, __file__, code=True)  # the notes, and the training module mlp_train.py
