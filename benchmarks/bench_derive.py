"""Derivation time against depth: must be linear (named intermediates, no re-expansion).

    python benchmarks/bench_derive.py

Prints the median derive time of an L-layer MLP (width 16, sigmoid hidden
layers, softmax + cross-entropy) and of an L-block residual tower, for
L = 1 ... 100, and the ratio t(100)/t(10) (linear: about 10).  "declare" is
building the SymPy expression and the Network (SymPy's own "+" re-flattens
the residual sums, which is quadratic in depth).
"""

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sympy as sp  # noqa: E402

import symprop  # noqa: E402


def mlp(depth):
    return symprop.mlp([16] * (depth + 1) + [10], hidden=symprop.sigmoid, loss=symprop.cross_entropy)


def residual(depth):
    """h_l = tanh(W_l h_{l-1} + b_l) + h_{l-1}: a deep residual tower."""
    x, y = sp.MatrixSymbol("x", 16, 1), sp.MatrixSymbol("y", 10, 1)
    h, params = x, []
    for layer in range(1, depth + 1):
        W, b = sp.MatrixSymbol(f"W{layer}", 16, 16), sp.MatrixSymbol(f"b{layer}", 16, 1)
        params += [W, b]
        h = symprop.tanh(W * h + b) + h
    Wo = sp.MatrixSymbol("Wo", 10, 16)
    return symprop.Network(symprop.cross_entropy(symprop.softmax(Wo * h), y), params=params + [Wo], inputs=[x], targets=[y])


def time_derive(build, depth: int, repeats: int) -> tuple:
    derive_times, declare_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        net = build(depth)
        declared = time.perf_counter()
        net.derive()
        derive_times.append(time.perf_counter() - declared)
        declare_times.append(declared - start)
    return statistics.median(declare_times), statistics.median(derive_times)


def main():
    depths = [1, 2, 5, 10, 20, 50, 100]
    for label, build in (("MLP, sigmoid hidden layers, softmax + CE", mlp), ("residual tower, tanh", residual)):
        print(label)
        results = {}
        print(f"{'layers':>6}  {'declare (s)':>11}  {'derive (s)':>10}  {'derive per layer (ms)':>21}")
        for depth in depths:
            declare, t = time_derive(build, depth, repeats=5 if depth <= 20 else 3)
            results[depth] = t
            print(f"{depth:>6}  {declare:>11.4f}  {t:>10.4f}  {1000 * t / depth:>21.2f}")
        print(f"  t(100)/t(10) = {results[100] / results[10]:.2f}   (linear in depth: ~10; target <= 12)")
        print(f"  t(100) = {results[100]:.3f} s   (target < 1 s)\n")


if __name__ == "__main__":
    main()
