"""Regenerate the golden files of generated NumPy modules.

    python -m tests.regenerate_golden_emit

Rewrites tests/golden/module_<name>.py.txt for the networks in GOLDEN_EMIT,
and tests/golden/module_<name>.<target>.py.txt for the PyTorch and JAX
exports in GOLDEN_EXPORT; review the diff before committing it: it is the
change in generated code.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_DIR = ROOT / "tests" / "golden"
GOLDEN_EMIT = ["two_layer", "relu_neuron", "residual", "gated", "rnn", "batch_norm", "attention", "cnn_small", "dropout"]
GOLDEN_EXPORT = [("two_layer", "torch"), ("two_layer", "jax"), ("batch_norm", "torch"), ("cnn_small", "torch")]
EXAMPLE_SCRIPTS = {"batch_norm", "attention", "cnn_small", "dropout"}  # networks of examples/<name>.py


def golden_path(name: str, target: str = "numpy") -> Path:
    return GOLDEN_DIR / (f"module_{name}.py.txt" if target == "numpy" else f"module_{name}.{target}.py.txt")


def generated_source(name: str, target: str = "numpy") -> str:
    """The module of the network ``name`` for ``target`` (numpy, torch or jax)."""
    from symprop import examples

    if name in EXAMPLE_SCRIPTS:
        import importlib.util

        spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        net = module.net
    else:
        factory = examples.BUILTIN.get(name) or getattr(examples, name)  # rnn: a recurrent network, not in BUILTIN
        net = factory()
    return getattr(net.derive(), target)()


def main() -> int:
    sys.path.insert(0, str(ROOT))
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for name in GOLDEN_EMIT:
        path = golden_path(name)
        path.write_text(generated_source(name), encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    for name, target in GOLDEN_EXPORT:
        path = golden_path(name, target)
        path.write_text(generated_source(name, target), encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
