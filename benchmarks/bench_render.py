"""Time to derive and render the lecture notes of deep MLPs (printed, never asserted).

    python benchmarks/bench_render.py [DEPTH ...]        # default: 10 20 100

For each depth: an MLP of that many layers (width 16, ReLU, softmax +
cross-entropy), the time of the first net.derive() and standalone .tex of a
freshly declared network (SymPy's caches start cold for it), then the best of
3 repeats of derive, .tex, .md and .tex with a worked example (random values),
each rendering on a derivation of its own (what the notes compute once per
derivation - the confirmed mistakes, the network with another activation - is
not reused between repeats).  The last column is t(depth) / t(first depth) of
.tex with a worked example: the notes must stay linear in depth (repeated
layers are collapsed, every section linear).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import symprop  # noqa: E402

WIDTH = 16


def best_of(fn, repeat=3):
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def random_values(net, seed=0):
    rng = np.random.default_rng(seed)
    values = {}
    for sym in net.declared:
        rows, cols = (int(d) for d in sym.shape)
        values[sym.name] = rng.normal(scale=1 / np.sqrt(cols), size=(rows, cols))
    values["y"] = np.eye(int(net.targets[0].shape[0]))[:, :1]
    return values


def fresh(net, render, repeat=3):
    """Best of ``repeat`` renderings, each of a derivation of its own (derived before the clock starts)."""
    times, result = [], None
    for _ in range(repeat):
        d = net.derive()
        start = time.perf_counter()
        result = render(d)
        times.append(time.perf_counter() - start)
    return min(times), result


def main(depths) -> int:
    print(f"{'layers':>6} {'first derive+.tex':>18} | best of 3: {'derive':>8} {'.tex':>8} {'.md':>8} {'.tex+values':>12}"
          f" {'size':>7} {'ratio':>6}")
    base = None
    for depth in depths:
        net = symprop.mlp([WIDTH] * depth + [4], hidden=symprop.relu, loss=symprop.cross_entropy, name=f"{depth}-layer MLP")
        start = time.perf_counter()
        net.derive().latex(standalone=True)
        t_first = time.perf_counter() - start
        t_derive, _ = best_of(net.derive)
        t_tex, tex = fresh(net, lambda d: d.latex(standalone=True))
        t_md, _ = fresh(net, lambda d: d.markdown())
        values = random_values(net)
        t_values, _ = fresh(net, lambda d, values=values: d.latex(standalone=True, values=values))
        base = base or (depth, t_values)
        print(f"{depth:6d} {t_first:17.3f}s | {'':10} {t_derive:7.3f}s {t_tex:7.3f}s {t_md:7.3f}s {t_values:11.3f}s"
              f" {len(tex) // 1024:5d}KB {t_values / base[1]:5.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main([int(a) for a in sys.argv[1:]] or [10, 20, 100]))
