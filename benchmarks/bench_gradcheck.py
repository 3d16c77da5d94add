"""gradcheck in fast mode on a 784-1024-1024-10 ReLU network (~1.9M parameters).

Prints the time and the number of loss evaluations of the fast mode (correct
backward, then one with a bug in the first layer's bias), beside the cost of
full central differences estimated from one forward pass (2 per parameter).

    python benchmarks/bench_gradcheck.py [--dtype float32] [--batch 64]

On a small machine shared with other jobs, OpenBLAS's threads spin against
them and one forward pass can take 10x longer; OPENBLAS_NUM_THREADS=1 gives
steady figures.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import symprop  # noqa: E402

SIZES = [784, 1024, 1024, 10]


def softmax_rows(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def forward(params, x):
    """Batch-first: rows are examples; W^[l] has shape (n_l, n_{l-1}), b^[l] (n_l, 1)."""
    a, cache = x, []
    for k in range(1, len(SIZES)):
        z = a @ params[f"W{k}"].T + params[f"b{k}"].T
        cache.append((a, z))
        a = softmax_rows(z) if k == len(SIZES) - 1 else np.maximum(z, 0)
    return a, cache


def loss(params, x, y):
    yhat, _ = forward(params, x)
    return -np.mean(np.sum(y * np.log(yhat), axis=1))


def backward(params, x, y, bug=False):
    yhat, cache = forward(params, x)
    m = x.shape[0]
    grads = {}
    delta = (yhat - y) / m
    for k in range(len(SIZES) - 1, 0, -1):
        a_prev, z = cache[k - 1]
        grads[f"W{k}"] = delta.T @ a_prev
        grads[f"b{k}"] = delta.sum(axis=0).reshape(-1, 1) * (1.5 if bug and k == 1 else 1.0)
        if k > 1:
            delta = (delta @ params[f"W{k}"]) * (cache[k - 2][1] > 0)
    return grads


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    params = {}
    for k in range(1, len(SIZES)):
        params[f"W{k}"] = (rng.standard_normal((SIZES[k], SIZES[k - 1])) * np.sqrt(2 / SIZES[k - 1])).astype(dtype)
        params[f"b{k}"] = (0.01 * rng.standard_normal((SIZES[k], 1))).astype(dtype)
    n_params = sum(p.size for p in params.values())
    x = rng.standard_normal((args.batch, SIZES[0])).astype(dtype)
    y = np.eye(SIZES[-1], dtype=dtype)[rng.integers(0, SIZES[-1], args.batch)]
    data = {"x": x, "y": y}

    loss(params, **data)  # warm up
    t = time.perf_counter()
    repeats = 5
    for _ in range(repeats):
        loss(params, **data)
    forward_time = (time.perf_counter() - t) / repeats

    print(f"network {'-'.join(map(str, SIZES))}, {n_params:,} parameters, batch {args.batch}, {dtype.name}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print(f"one loss evaluation (forward pass): {forward_time * 1e3:.1f} ms")
    buggy = lambda p, **d: backward(p, bug=True, **d)  # noqa: E731
    for label, bw in (("correct backward", backward), ("backward with a bug in db1", buggy)):
        t = time.perf_counter()
        report = symprop.gradcheck(bw, params, data, loss=loss)
        elapsed = time.perf_counter() - t
        verdict = "ok" if report.ok else "wrong: " + ", ".join(report.failed)
        print(f"\ngradcheck fast mode, {label}: {elapsed:.3f} s, {report.loss_evaluations} loss evaluations, "
              f"{report.backward_calls} backward call; verdict: {verdict}")
        print(report)
    full = 2 * n_params * forward_time
    print(f"\nfull central differences (2 loss evaluations per parameter), estimated from one forward pass:\n"
          f"  2 x {n_params:,} x {forward_time * 1e3:.1f} ms = {full:,.0f} s ({full / 3600:.1f} h)")


if __name__ == "__main__":
    main()
