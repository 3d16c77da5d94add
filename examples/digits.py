"""Handwritten digits with code symprop writes: derive, emit, import, train.

scikit-learn's bundled 8x8 digits (1797 images, no download) are classified
by a 64-32-10 network (ReLU hidden layer, softmax output, cross-entropy).
symprop derives its backward pass and emits ``digits_train.py``; this script
imports that module and trains it with the module's own ``train`` (Adam), then
reports the test accuracy and writes the train/validation loss curves.

    python examples/digits.py [--outdir digits_out] [--epochs 30]

Outputs in --outdir: digits_train.py (the generated module) and
digits_loss.png (loss per epoch).  Needs scikit-learn and matplotlib.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

try:
    import symprop
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import symprop

from symprop.outputs import write_atomic


# 64 pixels -> 32 ReLU units -> 10 classes (softmax + cross-entropy); `symprop derive examples/digits.py` works too
net = symprop.mlp([64, 32, 10], hidden=symprop.relu, loss=symprop.cross_entropy, name="digits classifier")


def load_generated(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", default="digits_out", help="directory for the outputs (created if missing)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)

    # 1. symprop: derive and emit the network declared above
    module_path = write_atomic(outdir / "digits_train.py", net.derive().numpy())
    train_module = load_generated(module_path)

    # 2. data: pixels 0..16 scaled to [0, 1], one-hot labels; 60/20/20 split
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float64)
    labels = digits.target
    onehot = np.eye(10)[labels]
    x_train, x_rest, y_train, y_rest, _, l_rest = train_test_split(
        x, onehot, labels, test_size=0.4, stratify=labels, random_state=args.seed
    )
    x_val, x_test, y_val, _, _, l_test = train_test_split(
        x_rest, y_rest, l_rest, test_size=0.5, stratify=l_rest, random_state=args.seed
    )

    # 3. train with the generated module's own optimizer and loop
    params = train_module.init_params(seed=args.seed)
    history = train_module.train(
        params,
        {"x": x_train, "y": y_train},
        epochs=args.epochs,
        batch_size=32,
        optimizer=train_module.Adam(lr=0.01),
        validation={"x": x_val, "y": y_val},
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
    ax.set_title(f"digits 64-32-10, test accuracy {accuracy:.1%}")
    ax.legend()
    fig.tight_layout()
    png = outdir / "digits_loss.png"
    fig.savefig(png, dpi=100)
    plt.close(fig)
    print(f"wrote {module_path} and {png}")
    return accuracy


if __name__ == "__main__":
    main()
