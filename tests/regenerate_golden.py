"""Regenerate the golden lecture notes in tests/golden/ (then review the diff).

    python -m tests.regenerate_golden        # from the repository root

tests/test_render_golden.py compares the rendered .tex and .md of each case
below with these files byte for byte; a change to the notation, the templates
or the engine shows up there as a reviewable diff.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402

import symprop  # noqa: E402
from symprop import examples  # noqa: E402

GOLDEN = Path(__file__).resolve().parent / "golden"

TWO_LAYER_VALUES = {
    "x": [[1.0], [0.5], [-1.0]],
    "y": [[1.0], [0.0]],
    "W1": [[0.1, 0.2, -0.1], [0.0, 0.3, 0.2], [-0.2, 0.1, 0.4], [0.3, -0.1, 0.1]],
    "b1": [[0.0], [0.1], [0.0], [-0.1]],
    "W2": [[0.2, -0.3, 0.1, 0.4], [-0.1, 0.2, 0.3, -0.2]],
    "b2": [[0.0], [0.0]],
}

Z = sp.Symbol("z")


def tanh_neuron():
    w, b, x, y = sp.symbols("w b x y")
    return symprop.Network((symprop.tanh(w * x + b) - y) ** 2, params=[w, b], inputs=[x], targets=[y], name="tanh neuron")


def wide():
    return symprop.mlp([3, 8, 8, 2], hidden=symprop.sigmoid, output=symprop.softmax, loss=symprop.cross_entropy,
                       name="8-wide network")


def ten_classes():
    return symprop.mlp([4, 5, 10], hidden=symprop.relu, output=symprop.softmax, loss=symprop.cross_entropy,
                       name="10-class classifier")


def custom_activation():
    mish = symprop.activation("mish", sp.Lambda(Z, Z * sp.tanh(sp.log(1 + sp.exp(Z)))))
    return symprop.mlp([3, 4, 2], hidden=mish, loss=symprop.mse, name="mish network")


def deep_sigmoid():
    return examples.deep(symprop.sigmoid, depth=6, width=4)


def deep_relu():
    return examples.deep(symprop.relu, depth=6, width=4)


def example(name: str):
    """The module examples/<name>.py (the golden notes of an example are the example's own)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def deep_example_values() -> dict:
    """The values of examples/deep_sigmoid_vs_relu.py (its notes are this golden file)."""
    return {k: np.asarray(v).tolist() for k, v in example("deep_sigmoid_vs_relu").random_values().items()}


def seeded_values(factory, seed=0, target=None):
    """Values of every declared symbol, N(0, 1/fan-in) weights rounded to 2 decimals; the target one-hot."""
    net = factory()
    rng = np.random.default_rng(seed)
    values = {}
    for sym in net.declared:
        rows, cols = (int(d) for d in sym.shape)
        scale = 1 / np.sqrt(cols) if sym in net.params else 1.0
        values[sym.name] = np.round(rng.normal(scale=scale, size=(rows, cols)), 2).tolist()
    for sym in net.targets:
        rows = int(sym.shape[0])
        values[sym.name] = np.eye(rows)[:, [min(1, rows - 1)]].tolist() if target is None else target
    return values


# name -> (network factory, values of the worked example or None, learning rate[, notes options])
CASES = {
    "relu_neuron": (examples.relu_neuron, {"x": 2, "w": 3, "b": 1, "y": 5}, 0.1),
    "sigmoid_neuron": (examples.sigmoid_neuron, {"x": 2, "w": 0.5, "b": 0, "y": 1}, 0.1),
    "sigmoid_111": (examples.sigmoid_111, {"x": 2, "w1": 0.5, "b1": 0, "w2": 0.8, "b2": 0, "y": 1}, 0.1),
    "two_layer": (examples.two_layer, TWO_LAYER_VALUES, 0.1),
    "residual": (examples.residual, None, None),
    "softmax_classifier": (lambda: example("softmax_classifier").net, example("softmax_classifier").VALUES, 0.5),
    "tanh_neuron": (tanh_neuron, {"x": 1, "w": 0.5, "b": -0.2, "y": 0.8}, 0.1),
    "wide": (wide, seeded_values(wide), 0.1),
    "ten_classes": (ten_classes, seeded_values(ten_classes), 0.1),
    "custom_activation": (custom_activation, seeded_values(custom_activation), 0.1),
    "deep_sigmoid_vs_relu": (deep_sigmoid, deep_example_values(), 0.1, {"compare": deep_relu()}),
    "rnn": (examples.rnn, examples.RNN_VALUES, 0.1),
    # beyond one column: a batch (batch norm), one column (layer norm), a sequence (attention), an image, dropout
    "batch_norm": (lambda: example("batch_norm").net, example("batch_norm").VALUES, 0.1),
    "layer_norm": (lambda: example("layer_norm").net, example("layer_norm").VALUES, 0.1),
    "attention": (lambda: example("attention").net, example("attention").VALUES, 0.1),
    "cnn_small": (lambda: example("cnn_small").net, example("cnn_small").VALUES, 0.1),
    "dropout": (lambda: example("dropout").net, example("dropout").VALUES, 0.1),
}


def render(name: str) -> dict:
    """{"tex": ..., "md": ...} of one case."""
    factory, values, learning_rate, *options = CASES[name]
    options = options[0] if options else {}
    d = factory().derive()
    return {
        "tex": d.latex(standalone=True, values=values, learning_rate=learning_rate, **options),
        "md": d.markdown(values=values, learning_rate=learning_rate, **options),
    }


def main() -> int:
    GOLDEN.mkdir(exist_ok=True)
    for name in CASES:
        for suffix, text in render(name).items():
            path = GOLDEN / f"{name}.{suffix}"
            old = path.read_text(encoding="utf-8") if path.exists() else None
            path.write_text(text, encoding="utf-8")
            print(f"{'unchanged' if old == text else 'wrote'} {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
