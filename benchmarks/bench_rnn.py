"""Recurrent networks: derive time against T, and the generated training step against PyTorch eager.

    python benchmarks/bench_rnn.py [--quick] [--threads N]

1. Derive time of a tanh RNN for T = 10, 100, 1000 (the recursion is stated
   once: derive does not depend on T), and, for comparison, the time of the
   things that do loop over t: evaluate (the numbers of every step of one
   example) and the notes with a worked example.
2. One training step (loss and every parameter gradient, no input gradient)
   of a tanh RNN, T = 50, hidden 128, batch 32, 64 inputs, 10 classes with
   softmax cross-entropy at every step: symprop's generated NumPy module
   against torch eager on CPU (nn.RNN + a linear output layer, autograd), in
   float32 and float64.  Both compute the batch mean over the sequences of the
   sum over the steps; their results are compared before timing.  NumPy
   (OpenBLAS) and torch get the same number of threads (--threads, default
   all cores); torch runs in a child process (its OpenMP threads spin after
   each op and would slow OpenBLAS down in the same process), and the two
   take turns, torch then NumPy, round after round: the ratio of each round's
   two samples, then their median, is robust to the drifting load of a
   shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _threads_from_argv() -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    known, _ = parser.parse_known_args()
    return known.threads


# OpenBLAS reads its thread count when NumPy is imported: set it first.
THREADS = _threads_from_argv()
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import importlib.util  # noqa: E402
import multiprocessing as mp  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train_step import PAUSE, calls_per_sample, fmt, rel, sample, serve_torch  # noqa: E402

INPUTS, HIDDEN, CLASSES, STEPS, BATCH = 64, 128, 10, 50, 32
DTYPES = ["float32", "float64"]


# ==========================================================================
# 1. derive time against T
# ==========================================================================


def derive_times(quick: bool):
    from sympy.core.cache import clear_cache

    import symprop

    rows = []
    for T in (10, 100, 1000):
        derive, evaluate, notes = [], [], []
        for _ in range(1 if quick else 3):
            clear_cache()  # SymPy's cache would make every derive after the first one faster
            t0 = time.perf_counter()
            net = symprop.rnn(3, 8, 2, T=T, loss_at="last")
            d = net.derive()
            derive.append(time.perf_counter() - t0)
            rng = np.random.default_rng(0)
            values = {p.name: rng.standard_normal(tuple(int(k) for k in p.shape)) * 0.3 for p in net.params}
            values.update(x=rng.standard_normal((T, 3)) * 0.1, y=rng.standard_normal(2))
            t0 = time.perf_counter()
            d.evaluate(values)
            evaluate.append(time.perf_counter() - t0)
            if T <= 100:  # the notes print a row per step: 1000 rows make no lecture
                t0 = time.perf_counter()
                d.latex(standalone=True, values=values)
                notes.append(time.perf_counter() - t0)
        rows.append((T, min(derive), min(evaluate), min(notes) if notes else None))
        print(f"T = {T:5d}  derive {min(derive) * 1e3:8.1f} ms   evaluate (every step) {min(evaluate) * 1e3:8.1f} ms"
              + (f"   notes with a worked example {min(notes) * 1e3:8.1f} ms" if notes else ""), flush=True)
    return rows


# ==========================================================================
# 2. the training step
# ==========================================================================


def generated_module(directory):
    import symprop

    net = symprop.rnn(INPUTS, HIDDEN, CLASSES, T=STEPS, loss=symprop.cross_entropy)
    path = Path(directory) / "bench_rnn_train.py"
    path.write_text(net.derive().numpy())
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_worker(jobs, results, threads):
    serve_torch(jobs, results, threads, build_torch_step)


def build_torch_step(torch, params, x, y):
    """nn.RNN and a linear output layer with symprop's parameters; its loss and gradients for the comparison."""
    dtype = getattr(torch, str(x.dtype))
    rnn = torch.nn.RNN(INPUTS, HIDDEN, nonlinearity="tanh", batch_first=True).to(dtype)
    linear = torch.nn.Linear(HIDDEN, CLASSES).to(dtype)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor(params["U"]))
        rnn.weight_hh_l0.copy_(torch.tensor(params["W"]))
        rnn.bias_ih_l0.copy_(torch.tensor(params["b"][:, 0]))
        rnn.bias_hh_l0.zero_()
        linear.weight.copy_(torch.tensor(params["V"]))
        linear.bias.copy_(torch.tensor(params["c"][:, 0]))
    tx = torch.tensor(x)
    target = torch.tensor(y.argmax(axis=-1)).reshape(-1)  # one-hot -> class indices
    leaves = [rnn.weight_hh_l0, rnn.weight_ih_l0, rnn.bias_ih_l0, linear.weight, linear.bias]
    m = x.shape[0]

    def step():
        out, _ = rnn(tx)
        scores = linear(out).reshape(-1, CLASSES)
        value = torch.nn.functional.cross_entropy(scores, target, reduction="sum") / m
        return value, torch.autograd.grad(value, leaves)

    value, grads = step()
    check = {n: g.numpy().reshape(params[n].shape) for n, g in zip(["W", "U", "b", "V", "c"], grads)}
    return step, (float(value.detach()), check)


def step_ratios(module, jobs, results, dtype, rounds):
    rng = np.random.default_rng(0)
    params = module.init_params(seed=0, dtype=dtype)
    x = rng.standard_normal((BATCH, STEPS, INPUTS)).astype(dtype)
    y = np.eye(CLASSES, dtype=dtype)[rng.integers(0, CLASSES, (BATCH, STEPS))]
    value, grads = module.gradients(params, x, y)
    jobs.put(("setup", params, x, y))
    torch_value, torch_grads, torch_calls = results.get(timeout=600)
    agree = max([rel(value, torch_value)] + [rel(grads[k], torch_grads[k]) for k in grads])

    def gen():
        return module.gradients(params, x, y)

    calls = calls_per_sample(gen, 0.2)
    gen_times, torch_times, ratios = [], [], []
    for _ in range(rounds):
        time.sleep(PAUSE)
        jobs.put(("sample", torch_calls))
        t = results.get(timeout=600)
        time.sleep(PAUSE)
        g = sample(gen, calls)
        gen_times.append(g)
        torch_times.append(t)
        ratios.append(g / t)
        if os.environ.get("BENCH_DEBUG"):
            print(f"  torch {fmt(t)}  generated {fmt(g)}  ratio {g / t:.3f}")
    return float(np.median(gen_times)), float(np.median(torch_times)), float(np.median(ratios)), agree


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--threads", type=int, default=THREADS, help="threads of OpenBLAS and of torch (default: all cores)")
    args = parser.parse_args()

    print("1. derive time of a tanh RNN (3 inputs, 8 hidden, 2 outputs) against T, SymPy's cache cleared before each")
    derive_times(args.quick)

    print(f"\n2. one training step: tanh RNN, T = {STEPS}, hidden {HIDDEN}, batch {BATCH}, {INPUTS} inputs, "
          f"{CLASSES} classes (softmax cross-entropy at every step)")
    ctx = mp.get_context("spawn")
    jobs, results = ctx.Queue(), ctx.Queue()
    worker = ctx.Process(target=torch_worker, args=(jobs, results, THREADS), daemon=True)
    worker.start()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        module = generated_module(tmp)
        for dtype in DTYPES:
            gen_t, torch_t, ratio, agree = step_ratios(module, jobs, results, dtype, 3 if args.quick else 11)
            rows.append((dtype, gen_t, torch_t, ratio))
            print(f"{dtype:8s} generated {fmt(gen_t)}  torch eager {fmt(torch_t)}  generated/torch {ratio:5.3f}"
                  f"  (max rel diff {agree:.1e})", flush=True)
    jobs.put(None)
    worker.join(timeout=10)
    print(f"\nNumPy {np.__version__}, OpenBLAS and torch threads = {THREADS}, {os.cpu_count()} cores; "
          "generated/torch: median over rounds of each round's ratio (target <= 1.0)")
    for dtype, g, t, r in rows:
        print(f"{dtype:8s} {fmt(g):>12s} {fmt(t):>12s} {r:8.3f}")


if __name__ == "__main__":
    main()
