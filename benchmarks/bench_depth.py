"""Depth: a 1000-layer MLP and a 1000-block residual tower, declared, derived, rendered and emitted.

    python benchmarks/bench_depth.py [--depths 100,1000] [--repeats 1]

For each network and depth it prints the seconds of each stage (the best of
``--repeats`` runs) and, for the largest against the smallest depth, the ratio
t(L_max)/t(L_min) of every stage (linear in depth: about 10 for 1000/100).
Targets (issue 11): declare + derive < 5 s at 1000 layers, each ratio <= 12.
Nothing here is asserted: tests/test_depth.py checks that 1000 layers work at
all (no RecursionError) without timing anything.

    declare  building the SymPy expression and the Network
    derive   Network.derive()
    render   Derivation.latex(standalone=True) and .markdown()
    emit     Derivation.numpy()
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sympy.core.cache import clear_cache  # noqa: E402

import symprop  # noqa: E402
from symprop import examples  # noqa: E402

WIDTH = 16


def mlp(depth):
    """The textbook MLP: depth layers of width 16, ReLU hidden layers, MSE."""
    return symprop.mlp([WIDTH] * (depth + 1), hidden=symprop.relu, loss=symprop.mse)


def residual(depth):
    """h_l = tanh(W_l h_{l-1} + b_l) + h_{l-1}: a tower of residual blocks, softmax + cross-entropy on top."""
    return examples.residual_tower(depth, width=WIDTH)


STAGES = ("declare", "derive", "render", "emit")


def run_once(build, depth) -> dict:
    # SymPy's caches hold the expressions of the previous run: building an equal
    # expression again makes every cache lookup compare the two residual DAGs
    # structurally, which unfolds them into trees (exponential in depth).  A
    # fresh cache measures what a user building the network once sees.
    clear_cache()
    times = {}
    start = time.perf_counter()
    net = build(depth)
    times["declare"] = time.perf_counter() - start
    start = time.perf_counter()
    d = net.derive()
    times["derive"] = time.perf_counter() - start
    start = time.perf_counter()
    tex, md = d.latex(standalone=True), d.markdown()
    times["render"] = time.perf_counter() - start
    start = time.perf_counter()
    source = d.numpy()
    times["emit"] = time.perf_counter() - start
    assert tex and md and source
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default="100,1000", help="comma-separated depths (default 100,1000)")
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs per depth (default 1)")
    args = parser.parse_args(argv)
    depths = [int(d) for d in args.depths.split(",")]
    sys.setrecursionlimit(1000)  # Python's default: nothing may rely on a raised limit
    for label, build in (("MLP", mlp), ("residual tower", residual)):
        results = {}
        for depth in depths:
            runs = [run_once(build, depth) for _ in range(args.repeats)]
            best = {stage: min(r[stage] for r in runs) for stage in STAGES}
            results[depth] = best
            cells = "  ".join(f"{stage} {best[stage]:7.2f} s" for stage in STAGES)
            print(f"{label:15s} L={depth:5d}  {cells}  declare+derive {best['declare'] + best['derive']:6.2f} s", flush=True)
        low, high = min(depths), max(depths)
        if high > low:
            ratios = "  ".join(f"{stage} {results[high][stage] / results[low][stage]:5.1f}" for stage in STAGES)
            print(f"{label:15s} t({high})/t({low}):  {ratios}", flush=True)


if __name__ == "__main__":
    main()
