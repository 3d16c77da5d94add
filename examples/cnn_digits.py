"""A small convolutional network on handwritten digits, with code symprop writes.

scikit-learn's bundled 8x8 digits (1797 images, no download) are classified by
conv(1 -> 8, 3x3, same) -> ReLU -> max-pool 2 -> conv(8 -> 16, 3x3, same) -> ReLU
-> max-pool 2 -> dense (64 -> 10) -> softmax cross-entropy.  symprop derives
the backward pass (the full convolution of delta with the flipped kernels for
the input, the correlation of the input with delta for the kernels, the
arg-max routing of the pools) and emits ``cnn_digits_train.py``; this script
imports that module, trains it with its own Adam and loop, reports the test
accuracy and plots the loss curves.

    python examples/cnn_digits.py [--outdir DIR] [--epochs 20]

Outputs in --outdir: cnn_digits_train.py, cnn_digits_loss.png, and the
lecture notes cnn_digits.tex/.md/.pdf.  Needs scikit-learn and matplotlib.
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

X = symprop.image("X", 1, 8, 8)
K1, b1 = symprop.kernel("K1", 8, 1, 3), sp.MatrixSymbol("b1", 8, 1)
K2, b2 = symprop.kernel("K2", 16, 8, 3), sp.MatrixSymbol("b2", 16, 1)
W3, b3 = sp.MatrixSymbol("W3", 10, 64), sp.MatrixSymbol("b3", 10, 1)
y = sp.MatrixSymbol("y", 10, 1)

P1 = symprop.max_pool2d(symprop.relu(symprop.conv2d(X, K1, b1, padding="same")), 2)
P2 = symprop.max_pool2d(symprop.relu(symprop.conv2d(P1, K2, b2, padding="same")), 2)
yhat = symprop.softmax(W3 * symprop.flatten(P2) + b3)
net = symprop.Network(symprop.cross_entropy(yhat, y), params=[K1, b1, K2, b2, W3, b3], inputs=[X], targets=[y],
                      name="digits CNN")


def load_generated(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", default=str(Path(__file__).resolve().parent / "out"))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)

    # 1. symprop: derive, write the notes and the training module, import it
    derivation = net.derive()
    from symprop.render import write_notes

    write_notes(derivation, outdir, "cnn_digits")
    module_path = write_atomic(outdir / "cnn_digits_train.py", derivation.numpy())
    train_module = load_generated(module_path)

    # 2. data: images (m, 1, 8, 8) with pixels in [0, 1], one-hot labels; 60/20/20 split
    digits = load_digits()
    images = (digits.images / 16.0)[:, None, :, :]
    labels = digits.target
    onehot = np.eye(10)[labels]
    x_train, x_rest, y_train, y_rest, _, l_rest = train_test_split(
        images, onehot, labels, test_size=0.4, stratify=labels, random_state=args.seed
    )
    x_val, x_test, y_val, _, _, l_test = train_test_split(
        x_rest, y_rest, l_rest, test_size=0.5, stratify=l_rest, random_state=args.seed
    )

    # 3. train with the generated module's own optimizer and loop
    params = train_module.init_params(seed=args.seed)
    history = train_module.train(
        params,
        {"X": x_train, "y": y_train},
        epochs=args.epochs,
        batch_size=32,
        optimizer=train_module.Adam(lr=0.01),
        validation={"X": x_val, "y": y_val},
        seed=args.seed,
        verbose=True,
    )

    # 4. test accuracy and loss curves
    predicted = train_module.forward(params, x_test).argmax(axis=1)
    accuracy = float((predicted == l_test).mean())
    print(f"test accuracy {accuracy:.4f} on {len(l_test)} held-out images")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, len(history["train"]) + 1)
    ax.plot(epochs, history["train"], label="train")
    ax.plot(epochs, history["validation"], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(f"digits CNN, test accuracy {accuracy:.1%}")
    ax.legend()
    fig.tight_layout()
    png = outdir / "cnn_digits_loss.png"
    fig.savefig(png, dpi=100)
    plt.close(fig)
    print(f"wrote {module_path} and {png}")
    return accuracy


if __name__ == "__main__":
    main()
