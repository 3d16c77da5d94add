"""Digits with and without batch normalisation: two generated modules, one plot.

Two 64-32-10 classifiers on scikit-learn's bundled 8x8 digits, the same but
for batch norm after the hidden layer's linear map (declared over a batch of m
examples, since its statistics couple them).  symprop derives and emits both;
this script trains each with its module's own loop (SGD, lr 0.1, batch 32,
the same seed) and plots both loss curves.

    python examples/digits_batch_norm.py [--outdir DIR] [--epochs 15]

Outputs in --outdir: digits_bn_train.py, digits_plain_train.py and
digits_batch_norm.png.  Needs scikit-learn and matplotlib.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import sympy as sp

try:
    import symprop
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import symprop

from symprop.outputs import write_atomic

m = sp.Symbol("m", integer=True, positive=True)
X, Y = sp.MatrixSymbol("X", 64, m), sp.MatrixSymbol("Y", 10, m)
W1, b1 = sp.MatrixSymbol("W1", 32, 64), sp.MatrixSymbol("b1", 32, 1)
gamma, beta = sp.MatrixSymbol("gamma", 32, 1), sp.MatrixSymbol("beta", 32, 1)
W2, b2 = sp.MatrixSymbol("W2", 10, 32), sp.MatrixSymbol("b2", 10, 1)
ones = symprop.ones(1, m)

with_bn = symprop.Network(
    symprop.cross_entropy(
        symprop.softmax(W2 * symprop.relu(symprop.batch_norm(W1 * X + b1 * ones, gamma, beta)) + b2 * ones), Y
    ),
    params=[W1, b1, gamma, beta, W2, b2], inputs=[X], targets=[Y], batch=m, name="digits with batch norm",
)
plain = symprop.Network(
    symprop.cross_entropy(symprop.softmax(W2 * symprop.relu(W1 * X + b1 * ones) + b2 * ones), Y),
    params=[W1, b1, W2, b2], inputs=[X], targets=[Y], batch=m, name="digits without batch norm",
)

net = with_bn  # `symprop derive examples/digits_batch_norm.py` derives the batch-normalised one


def load_generated(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", default=str(Path(__file__).resolve().parent / "out"))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    x, labels = digits.data / 16.0, digits.target
    x_train, x_val, y_train, y_val = train_test_split(
        x, np.eye(10)[labels], test_size=0.25, stratify=labels, random_state=args.seed
    )
    histories, accuracies = {}, {}
    for key, net in (("bn", with_bn), ("plain", plain)):
        module = load_generated(write_atomic(outdir / f"digits_{key}_train.py", net.derive().numpy()))
        params = module.init_params(seed=args.seed)
        histories[key] = module.train(
            params, {"X": x_train, "Y": y_train}, epochs=args.epochs, batch_size=32,
            optimizer=module.SGD(lr=0.1), validation={"X": x_val, "Y": y_val}, seed=args.seed, verbose=False,
        )
        # batch statistics of the whole validation set stand in for running averages at inference
        accuracies[key] = float((module.forward(params, x_val).argmax(axis=1) == y_val.argmax(axis=1)).mean())
        print(f"{net.name}: final train loss {histories[key]['train'][-1]:.4f}, validation accuracy {accuracies[key]:.3f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, args.epochs + 1)
    for key, label in (("bn", "with batch norm"), ("plain", "without")):
        ax.plot(epochs, histories[key]["train"], label=f"{label} (train)")
        ax.plot(epochs, histories[key]["validation"], "--", label=f"{label} (validation)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss")
    ax.set_yscale("log")
    ax.set_title("digits 64-32-10, SGD lr 0.1")
    ax.legend()
    fig.tight_layout()
    png = outdir / "digits_batch_norm.png"
    fig.savefig(png, dpi=100)
    plt.close(fig)
    print(f"wrote {png}")
    return {"histories": histories, "accuracies": accuracies}


if __name__ == "__main__":
    main()
