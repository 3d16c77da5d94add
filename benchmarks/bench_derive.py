"""Derivation time against depth: must be linear (named intermediates, no re-expansion).

    python benchmarks/bench_derive.py

Prints the median derive time of an L-layer MLP (width 16, sigmoid hidden
layers, softmax + cross-entropy) for L = 1 ... 100 and the ratio t(100)/t(10)
(linear: about 10).
"""

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import symprop  # noqa: E402


def time_derive(depth: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        net = symprop.mlp([16] * (depth + 1) + [10], hidden=symprop.sigmoid, loss=symprop.cross_entropy)
        start = time.perf_counter()
        net.derive()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    depths = [1, 2, 5, 10, 20, 50, 100]
    results = {}
    print(f"{'layers':>6}  {'derive (s)':>10}  {'per layer (ms)':>14}")
    for depth in depths:
        t = time_derive(depth, repeats=5 if depth <= 20 else 3)
        results[depth] = t
        print(f"{depth:>6}  {t:>10.4f}  {1000 * t / depth:>14.2f}")
    print(f"t(100)/t(10) = {results[100] / results[10]:.2f}   (linear in depth: ~10; target <= 12)")
    print(f"t(100) = {results[100]:.3f} s   (target < 1 s)")


if __name__ == "__main__":
    main()
