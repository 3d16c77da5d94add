"""Time one training step (forward + backward) of symprop's generated NumPy code.

    python benchmarks/bench_train_step.py [--quick]

For each network of issue 4, in float32 and float64, prints the median time
of one call of the generated ``gradients(params, x, y)`` (loss and all
parameter gradients), of a careful hand-written NumPy step written here
independently, and of PyTorch eager on CPU (autograd), and the ratios
generated / hand-written and generated / PyTorch.

Fairness notes:
* All three compute the same thing from the same parameters and data: the
  batch-mean loss and the gradient of every parameter, no input gradient.
  Each result is checked against the others before timing.
* NumPy (OpenBLAS) and PyTorch both use the machine's cores: torch threads
  are set to os.cpu_count() (and interop threads to 1), OpenBLAS uses its
  default (all cores).  PyTorch is timed in a child process: its OpenMP
  threads spin after each op and would slow down OpenBLAS in the same process
  (measured: a 784-1024^3 step went from ~35 ms to ~220 ms).
* The torch child and this process take turns (never timed at once), with
  a pause between turns for spinning threads to go to sleep.  Samples of
  the three are interleaved (torch, generated, hand, torch, ...), so drifts
  in machine load hit all three; the median over samples is reported.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIGS = [
    # (label, sizes, hidden, output, loss, batch)
    ("784-128-10 relu softmax-CE", [784, 128, 10], "relu", "softmax", "cross_entropy", 64),
    ("784-128-10 relu softmax-CE", [784, 128, 10], "relu", "softmax", "cross_entropy", 1024),
    ("784-1024x3-10 relu softmax-CE", [784, 1024, 1024, 1024, 10], "relu", "softmax", "cross_entropy", 256),
    ("2-3-1 sigmoid MSE", [2, 3, 1], "sigmoid", "sigmoid", "mse", 1),
    ("20 x 256 tanh MSE", [256] * 21, "tanh", "tanh", "mse", 128),
]
DTYPES = ["float32", "float64"]


# ==========================================================================
# The generated code
# ==========================================================================


def generated_module(sizes, hidden, output, loss, directory):
    import symprop
    from symprop import ops

    out = ops.softmax if output == "softmax" else ops.FUNCTIONS[output]
    net = symprop.mlp(sizes, hidden=ops.FUNCTIONS[hidden], output=out, loss=ops.LOSSES[loss])
    source = net.derive().numpy()
    path = Path(directory) / f"gen_{len(sizes)}_{sizes[0]}_{sizes[1]}_{hidden}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ==========================================================================
# Careful hand-written NumPy (independent of symprop)
# ==========================================================================


def hand_sigmoid(z):
    # overflow-free and branch-free: e^min(z,0) / (1 + e^-|z|)
    return np.exp(np.minimum(z, 0)) / (1.0 + np.exp(-np.abs(z)))


def hand_step(params, x, y, hidden, output, loss):
    """Loss and gradients of an MLP, batch-first, biases (n, 1) as declared."""
    depth = len(params) // 2
    Ws = [params[f"W{i}"] for i in range(1, depth + 1)]
    bs = [params[f"b{i}"] for i in range(1, depth + 1)]
    m = x.shape[0]
    acts = [x]
    a = x
    for i in range(depth):
        z = a @ Ws[i].T
        z += bs[i].T
        last = i == depth - 1
        act = output if last else hidden
        if act == "relu":
            a = np.maximum(z, 0, out=z)
        elif act == "tanh":
            a = np.tanh(z, out=z)
        elif act == "sigmoid":
            a = hand_sigmoid(z)
        elif act == "softmax":
            z -= z.max(axis=1, keepdims=True)  # z is now the shifted logits
            e = np.exp(z)
            s = e.sum(axis=1, keepdims=True)
            e /= s
            a = e
            logsum = np.log(s)
        acts.append(a)
    if loss == "cross_entropy":  # softmax output; rows of y sum to 1
        value = (logsum.sum() - (y * z).sum()) / m
        d = a - y
        d *= 1.0 / m
    else:  # mse: mean over outputs and examples
        diff = a - y
        value = (diff * diff).sum() / diff.size
        d = diff
        d *= 2.0 / diff.size
        if output == "sigmoid":
            d *= a * (1.0 - a)
        elif output == "tanh":
            d *= 1.0 - a * a
    grads = {}
    for i in range(depth - 1, -1, -1):
        grads[f"W{i + 1}"] = d.T @ acts[i]
        grads[f"b{i + 1}"] = d.sum(axis=0)[:, None]
        if i:
            d = d @ Ws[i]
            prev = acts[i]
            if hidden == "relu":
                d *= prev > 0
            elif hidden == "tanh":
                d *= 1.0 - prev * prev
            elif hidden == "sigmoid":
                d *= prev * (1.0 - prev)
    return value, grads


# ==========================================================================
# PyTorch eager
# ==========================================================================


def torch_step(torch, Ws, bs, x, target, leaves, hidden, output, loss):
    F = torch.nn.functional
    a = x
    for W, b in zip(Ws[:-1], bs[:-1]):
        a = hidden(F.linear(a, W, b))
    z = F.linear(a, Ws[-1], bs[-1])
    value = F.cross_entropy(z, target) if loss == "cross_entropy" else F.mse_loss(output(z), target)
    return value, torch.autograd.grad(value, leaves)


def serve_torch(jobs, results, threads, build):
    """Serve timing requests in a torch process: ("setup", *args) calls build(torch, *args) -> (step, check)
    and answers (*check, calls per sample); ("sample", n) times n calls of the step."""
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    step = None
    for request in iter(jobs.get, None):
        if request[0] == "sample":
            results.put(sample(step, request[1]))
            continue
        step, check = build(torch, *request[1:])
        results.put((*check, calls_per_sample(step)))


def torch_worker(jobs, results, threads):
    serve_torch(jobs, results, threads, build_torch_step)


def build_torch_step(torch, params, x, y, hidden, output, loss):
    """The MLP's step in torch eager, and its loss and gradients for the comparison."""
    dtype = getattr(torch, str(x.dtype))
    depth = len(params) // 2
    tp = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in params.items()}
    Ws = [tp[f"W{i}"] for i in range(1, depth + 1)]
    bs = [tp[f"b{i}"].view(-1) for i in range(1, depth + 1)]
    tx = torch.tensor(x)
    if loss == "cross_entropy":
        target = torch.tensor(y.argmax(axis=1))  # one-hot -> class indices
    else:
        target = torch.tensor(y)
    act = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}
    leaves = list(tp.values())

    step = functools.partial(torch_step, torch, Ws, bs, tx, target, leaves, act[hidden], act.get(output), loss)
    value, grads = step()
    return step, (float(value.detach()), {k: g.numpy() for k, g in zip(tp, grads)})


# ==========================================================================
# Timing
# ==========================================================================


BUDGET = 0.2  # seconds per torch sample
PAIR_BUDGET = 0.04  # seconds per NumPy sample; generated and hand-written alternate in pairs
PAIRS = 5  # pairs per round
PAUSE = 0.2  # seconds between turns of the two processes: spinning BLAS/OpenMP threads go to sleep


def calls_per_sample(step, budget=BUDGET):
    step()
    once = min(timed(step) for _ in range(3))
    return max(1, int(budget / max(once, 1e-7)))


def timed(step):
    t0 = time.perf_counter()
    step()
    return time.perf_counter() - t0


def sample(step, n):
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n


def interleaved(gen, hand, torch_calls, jobs, results, repeats):
    """Median seconds per call of the generated, hand-written and torch steps,
    and the median of the paired ratios generated / hand-written.

    Each round times torch once (in its process), then PAIRS pairs of short
    generated and hand-written samples back to back, alternating which goes
    first.  The load of this shared machine drifts within seconds; a ratio of
    two samples taken milliseconds apart is robust to that, a ratio of medians
    taken at different moments is not.
    """
    counts = [calls_per_sample(step, PAIR_BUDGET) for step in (gen, hand)]
    times = {"gen": [], "hand": [], "torch": []}
    ratios = []
    for _ in range(repeats):
        time.sleep(PAUSE)
        jobs.put(("sample", torch_calls))
        times["torch"].append(results.get(timeout=600))
        time.sleep(PAUSE)
        for k in range(PAIRS):
            if k % 2:
                h = sample(hand, counts[1])
                g = sample(gen, counts[0])
            else:
                g = sample(gen, counts[0])
                h = sample(hand, counts[1])
            times["gen"].append(g)
            times["hand"].append(h)
            ratios.append(g / h)
        if os.environ.get("BENCH_DEBUG"):
            print(f"  torch {times['torch'][-1] * 1e6:.1f} us, gen/hand {[round(r, 3) for r in ratios[-PAIRS:]]}")
    med = {k: float(np.median(v)) for k, v in times.items()}
    return med["gen"], med["hand"], med["torch"], float(np.median(ratios))


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def fmt(seconds):
    return f"{seconds * 1e3:9.3f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:9.1f} us"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (for a smoke run)")
    parser.add_argument("--only", type=int, nargs="*", help="config indices to run")
    args = parser.parse_args()
    repeats = 3 if args.quick else 9
    threads = os.cpu_count() or 1

    ctx = mp.get_context("spawn")
    jobs, results = ctx.Queue(), ctx.Queue()
    worker = ctx.Process(target=torch_worker, args=(jobs, results, threads), daemon=True)
    worker.start()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (label, sizes, hidden, output, loss, batch) in enumerate(CONFIGS):
            if args.only and index not in args.only:
                continue
            module = generated_module(sizes, hidden, output, loss, tmp)
            for dtype in DTYPES:
                rng = np.random.default_rng(0)
                params = module.init_params(seed=0, dtype=dtype)
                x = rng.standard_normal((batch, sizes[0])).astype(dtype)
                if loss == "cross_entropy":
                    y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], batch)]
                elif output == "sigmoid":
                    y = rng.random((batch, sizes[-1])).astype(dtype)
                else:
                    y = np.tanh(rng.standard_normal((batch, sizes[-1]))).astype(dtype)

                gen_value, gen_grads = module.gradients(params, x, y)
                hand_value, hand_grads = hand_step(params, x, y, hidden, output, loss)
                assert gen_grads[next(iter(gen_grads))].dtype == np.dtype(dtype)
                jobs.put(("setup", params, x, y, hidden, output, loss))
                torch_value, torch_grads, torch_calls = results.get(timeout=600)
                gen_t, hand_t, torch_t, ratio = interleaved(
                    functools.partial(module.gradients, params, x, y),
                    functools.partial(hand_step, params, x, y, hidden, output, loss),
                    torch_calls,
                    jobs,
                    results,
                    repeats,
                )
                agree = max(
                    [rel(gen_value, hand_value), rel(gen_value, torch_value)]
                    + [rel(gen_grads[k], hand_grads[k]) for k in gen_grads]
                    + [rel(gen_grads[k], torch_grads[k]) for k in gen_grads]
                )
                rows.append((f"{label} m={batch}", dtype, gen_t, hand_t, torch_t, ratio))
                print(
                    f"{label + f' m={batch}':40s} {dtype:8s} gen {fmt(gen_t)}  hand {fmt(hand_t)}  torch {fmt(torch_t)}"
                    f"  gen/hand {ratio:5.3f}  gen/torch {gen_t / torch_t:5.3f}  (max rel diff {agree:.1e})",
                    flush=True,
                )
    jobs.put(None)
    worker.join(timeout=10)

    print()
    print(f"NumPy {np.__version__} (OpenBLAS default threads), torch threads = {threads}, {threads} cores")
    print(
        f"{'network':40s} {'dtype':8s} {'generated':>12s} {'hand NumPy':>12s} {'torch eager':>12s} {'gen/hand':>8s} {'gen/torch':>9s}"
    )
    for name, dtype, g, h, t, r in rows:
        print(f"{name:40s} {dtype:8s} {fmt(g):>12s} {fmt(h):>12s} {fmt(t):>12s} {r:8.3f} {g / t:9.3f}")
    worst = max(r for *_, r in rows)
    slower = [(n, d) for n, d, g, _, t, _ in rows if g >= t]
    print("gen/hand: median of paired ratios (samples taken back to back); gen/torch: ratio of medians")
    print(f"\nworst gen/hand ratio {worst:.3f} (target <= 1.05); slower than torch on: {slower or 'none'}")


if __name__ == "__main__":
    main()
