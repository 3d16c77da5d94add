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

# name -> (network factory, values of the worked example or None, learning rate)
CASES = {
    "relu_neuron": (examples.relu_neuron, {"x": 2, "w": 3, "b": 1, "y": 5}, 0.1),
    "sigmoid_neuron": (examples.sigmoid_neuron, {"x": 2, "w": 0.5, "b": 0, "y": 1}, 0.1),
    "sigmoid_111": (examples.sigmoid_111, {"x": 2, "w1": 0.5, "b1": 0, "w2": 0.8, "b2": 0, "y": 1}, 0.1),
    "two_layer": (examples.two_layer, TWO_LAYER_VALUES, 0.1),
    "residual": (examples.residual, None, None),
    "rnn": (examples.rnn, examples.RNN_VALUES, 0.1),
}


def render(name: str) -> dict:
    """{"tex": ..., "md": ...} of one case."""
    factory, values, learning_rate = CASES[name]
    d = factory().derive()
    return {
        "tex": d.latex(standalone=True, values=values, learning_rate=learning_rate),
        "md": d.markdown(values=values, learning_rate=learning_rate),
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
