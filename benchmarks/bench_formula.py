"""Time formula checks on a 3-layer network, and the rejection of hostile formulas.

    python benchmarks/bench_formula.py
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import symprop  # noqa: E402
from symprop import formula as fm  # noqa: E402
from symprop.errors import FormulaError  # noqa: E402

CASES = [
    ("W1", r"\left(W^{[2]\top}\delta^{[2]} \odot \text{ReLU}'(z^{[1]})\right) x^\top", "right"),
    ("W1", "(W2.T @ delta2 * relu_prime(z1)) @ x.T", "right"),
    ("W2", r"\frac{1}{m}\Delta^{[2]} A^{[1]\top}", "right (batch form)"),
    ("W1", r"W^{[2]\top}\delta^{[2]} x^\top", "wrong: missing f'"),
    ("W1", r"\delta^{[1]} x", "wrong: shapes (missing transpose)"),
    ("W1", r"\left(W^{[2]\top}\delta^{[2]} \odot 1[z^{[2]}>0]\right) x^\top", "wrong: f' of the wrong layer"),
    ("W2", r"\Delta^{[2]} A^{[1]\top}", "wrong: missing 1/m"),
]

HOSTILE = [
    "__import__('os').system('ls')",
    "().__class__.__bases__[0]",
    "2^999999999",
    "x^(10^10)",
    "(" * 100_000 + "x" + ")" * 100_000,
    "x" * 1_000_000,
    "\u0445 + ｘ",
]


def main():
    t = time.perf_counter()
    net = symprop.mlp([16, 32, 32, 4], hidden=symprop.relu, loss=symprop.cross_entropy)
    symprop.check_gradient(net, "W1", r"\delta^{[1]} x^\top")  # derives the network once (cached)
    elapsed = time.perf_counter() - t
    print(f"3-layer network 16-32-32-4 (ReLU, softmax, cross-entropy): derive + first check {elapsed:.3f} s")
    for param, formula, what in CASES:
        t = time.perf_counter()
        result = symprop.check_gradient(net, param, formula)
        elapsed = time.perf_counter() - t
        verdict = "ok" if result.ok else f"wrong [{result.diagnosis.key if result.diagnosis else '-'}]"
        print(f"  {elapsed * 1e3:7.1f} ms  dL/d{param}  {what:38s} -> {verdict}")
    t = time.perf_counter()
    net2 = symprop.mlp([8, 8, 8, 2], hidden=symprop.tanh, loss=symprop.mse)
    result = symprop.check_gradient(net2, "W1", r"\left(W^{[2]\top}\delta^{[2]} \odot (1 - (a^{[1]})^2)\right) x^\top")
    elapsed = time.perf_counter() - t
    print(f"a fresh 3-layer tanh network, derive + check: {elapsed:.3f} s ({'ok' if result.ok else 'wrong'})")

    namespace = fm.namespace(symprop.verify._derivation(net))
    worst = 0.0
    for source in HOSTILE:
        t = time.perf_counter()
        try:
            fm.parse(source, namespace)
            outcome = "ACCEPTED (bug)"
        except FormulaError as exc:
            outcome = f"rejected: {str(exc)[:70]}"
        elapsed = time.perf_counter() - t
        worst = max(worst, elapsed)
        print(f"  {elapsed * 1e3:7.3f} ms  {source[:28]!r:32s} {outcome}")
    print(f"hostile formulas: slowest rejection {worst * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
