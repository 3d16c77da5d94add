"""Regenerate the golden files of generated NumPy modules.

    python -m tests.regenerate_golden_emit

Rewrites tests/golden/module_<name>.py.txt for the networks in GOLDEN_EMIT;
review the diff before committing it: it is the change in generated code.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_DIR = ROOT / "tests" / "golden"
GOLDEN_EMIT = ["two_layer", "relu_neuron", "residual", "gated", "rnn", "batch_norm", "attention", "cnn_small", "dropout"]
EXAMPLE_SCRIPTS = {"batch_norm", "attention", "cnn_small", "dropout"}  # networks of examples/<name>.py


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"module_{name}.py.txt"


def generated_source(name: str) -> str:
    from symprop import examples

    if name in EXAMPLE_SCRIPTS:
        import importlib.util

        spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.net.derive().numpy()
    factory = examples.BUILTIN.get(name) or getattr(examples, name)  # rnn: a recurrent network, not in BUILTIN
    return factory().derive().numpy()


def main() -> int:
    sys.path.insert(0, str(ROOT))
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for name in GOLDEN_EMIT:
        path = golden_path(name)
        path.write_text(generated_source(name), encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
