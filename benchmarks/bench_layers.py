"""Training steps of the new layers: generated NumPy vs careful hand-written NumPy vs PyTorch eager.

    python benchmarks/bench_layers.py [--quick] [--threads N]

Networks (float32 and float64 each):

* 784-256(BN)-10: batch norm after the hidden layer's linear map, ReLU,
  softmax cross-entropy, batch 256 (declared over the batch: batch=m);
* one attention head, T = 128 tokens of d = 64, batch 32, a linear read-out
  and MSE (each example a d x T matrix);
* the digits CNN of examples/cnn_digits.py, batch 64 (conv 3x3 -> ReLU ->
  max-pool -> conv 3x3 -> ReLU -> max-pool -> dense -> softmax CE).

Each prints the median time of one call of the generated ``gradients`` (loss
and every parameter gradient), of a hand-written NumPy step written here
independently (not for the CNN), and of PyTorch eager (autograd, in a child
process, as in bench_train_step.py), after checking that all agree; then the
ratios.  Also: the batch-norm network's step with the closed-form backward
against the node-by-node one (``derive(closed_forms=False)``), and the derive
time of 1..12 transformer blocks (attention + layer norm + MLP, residuals).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sympy as sp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_train_step import calls_per_sample, fmt, interleaved, rel, serve_torch  # noqa: E402

EPS = 1e-5


# ==========================================================================
# The networks, declared with symprop
# ==========================================================================


def bn_network(n0=784, n1=256, n2=10):
    import symprop

    m = sp.Symbol("m", integer=True, positive=True)
    X, Y = sp.MatrixSymbol("X", n0, m), sp.MatrixSymbol("Y", n2, m)
    W1, b1 = sp.MatrixSymbol("W1", n1, n0), sp.MatrixSymbol("b1", n1, 1)
    g, beta = sp.MatrixSymbol("gamma", n1, 1), sp.MatrixSymbol("beta", n1, 1)
    W2, b2 = sp.MatrixSymbol("W2", n2, n1), sp.MatrixSymbol("b2", n2, 1)
    ones = symprop.ones(1, m)
    h = symprop.relu(symprop.batch_norm(W1 * X + b1 * ones, g, beta))
    loss = symprop.cross_entropy(symprop.softmax(W2 * h + b2 * ones), Y)
    return symprop.Network(loss, params=[W1, b1, g, beta, W2, b2], inputs=[X], targets=[Y], batch=m, name="bn mlp")


def attention_network(d=64, tokens=128):
    import symprop

    X, Y = sp.MatrixSymbol("X", d, tokens), sp.MatrixSymbol("Y", d, tokens)
    WQ, WK, WV, Wo = (sp.MatrixSymbol(n, d, d) for n in ("W_Q", "W_K", "W_V", "W_o"))
    loss = symprop.mse(Wo * symprop.attention(X, WQ, WK, WV), Y)
    return symprop.Network(loss, params=[WQ, WK, WV, Wo], inputs=[X], targets=[Y], name="attention head")


def cnn_network():
    sys.path.insert(0, str(ROOT / "examples"))
    import cnn_digits

    return cnn_digits.net


def load(source, directory, name):
    path = Path(directory) / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ==========================================================================
# Hand-written NumPy (batch-first, independent of symprop)
# ==========================================================================


def hand_bn(params, X, Y):
    W1, b1, gamma, beta, W2, b2 = (params[k] for k in ("W1", "b1", "gamma", "beta", "W2", "b2"))
    m = X.shape[0]
    z1 = X @ W1.T
    z1 += b1.T
    mu = z1.mean(axis=0)
    xc = z1 - mu
    var = (xc * xc).mean(axis=0)
    inv = 1.0 / np.sqrt(var + EPS)
    xhat = xc * inv
    zt = xhat * gamma.T
    zt += beta.T
    a1 = np.maximum(zt, 0)
    z2 = a1 @ W2.T
    z2 += b2.T
    z2 -= z2.max(axis=1, keepdims=True)
    e = np.exp(z2)
    s = e.sum(axis=1, keepdims=True)
    loss = (np.log(s).sum() - (Y * z2).sum()) / m
    d2 = e / s
    d2 -= Y
    d2 *= 1.0 / m
    grads = {"W2": d2.T @ a1, "b2": d2.sum(axis=0)[:, None]}
    dzt = d2 @ W2
    dzt *= zt > 0
    grads["gamma"] = (dzt * xhat).sum(axis=0)[:, None]
    grads["beta"] = dzt.sum(axis=0)[:, None]
    dxhat = dzt * gamma.T
    dz1 = (inv / m) * (m * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    grads["W1"] = dz1.T @ X
    grads["b1"] = dz1.sum(axis=0)[:, None]
    return loss, grads


def hand_attention(params, X, Y):
    """Row layout, (m, T, d): S = Q K^T / sqrt(d) per example, softmax over keys (the last axis)."""
    WQ, WK, WV, Wo = (params[k] for k in ("W_Q", "W_K", "W_V", "W_o"))
    m, d, tokens = X.shape
    x = X.transpose(0, 2, 1)  # (m, T, d)
    q, k, v = x @ WQ.T, x @ WK.T, x @ WV.T
    scale = 1.0 / np.sqrt(WQ.shape[0])
    s = q @ k.transpose(0, 2, 1)
    s *= scale
    s -= s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=-1, keepdims=True)
    o = p @ v
    out = o @ Wo.T
    diff = out - Y.transpose(0, 2, 1)
    loss = (diff * diff).sum() / (diff.size)
    dout = diff * (2.0 / diff.size)  # the mean over examples, tokens and outputs
    grads = {"W_o": dout.reshape(-1, d).T @ o.reshape(-1, o.shape[-1])}
    do = dout @ Wo
    dp = do @ v.transpose(0, 2, 1)
    dv = p.transpose(0, 2, 1) @ do
    ds = p * (dp - (p * dp).sum(axis=-1, keepdims=True))
    ds *= scale
    dq = ds @ k
    dk = ds.transpose(0, 2, 1) @ q
    flat = x.reshape(-1, d)
    grads["W_Q"] = dq.reshape(-1, dq.shape[-1]).T @ flat
    grads["W_K"] = dk.reshape(-1, dk.shape[-1]).T @ flat
    grads["W_V"] = dv.reshape(-1, dv.shape[-1]).T @ flat
    return loss, grads


# ==========================================================================
# PyTorch eager, in its own process
# ==========================================================================


def build_torch(torch, kind, params, X, Y):
    F = torch.nn.functional
    dtype = getattr(torch, str(X.dtype))
    tp = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in params.items()}
    leaves = list(tp.values())
    tx, ty = torch.tensor(X), torch.tensor(Y)
    if kind == "bn":
        target = ty.argmax(dim=1)

        def step():
            z = F.linear(tx, tp["W1"], tp["b1"].view(-1))
            h = F.relu(F.batch_norm(z, None, None, tp["gamma"].view(-1), tp["beta"].view(-1), training=True, eps=EPS))
            loss = F.cross_entropy(F.linear(h, tp["W2"], tp["b2"].view(-1)), target)
            return loss, torch.autograd.grad(loss, leaves)
    elif kind == "attention":
        x, y = tx.transpose(1, 2), ty.transpose(1, 2)

        def step():
            q, k, v = F.linear(x, tp["W_Q"]), F.linear(x, tp["W_K"]), F.linear(x, tp["W_V"])
            o = F.scaled_dot_product_attention(q, k, v)
            loss = F.mse_loss(F.linear(o, tp["W_o"]), y)
            return loss, torch.autograd.grad(loss, leaves)
    else:  # the digits CNN; kernels as (O, C*kh*kw) matrices, images (m, 1, 8, 8)
        target = ty.argmax(dim=1)
        k1, k2 = tp["K1"].view(8, 1, 3, 3), tp["K2"].view(16, 8, 3, 3)

        def step():
            a = F.max_pool2d(F.relu(F.conv2d(tx, k1, tp["b1"].view(-1), padding=1)), 2)
            a = F.max_pool2d(F.relu(F.conv2d(a, k2, tp["b2"].view(-1), padding=1)), 2)
            loss = F.cross_entropy(F.linear(a.flatten(1), tp["W3"], tp["b3"].view(-1)), target)
            return loss, torch.autograd.grad(loss, leaves)
    value, grads = step()
    return step, (float(value.detach()), {k: g.numpy() for k, g in zip(tp, grads)})


def torch_worker(jobs, results, threads):
    serve_torch(jobs, results, threads, build_torch)


# ==========================================================================


def data(kind, dtype, rng):
    if kind == "bn":
        X = rng.standard_normal((256, 784))
        Y = np.eye(10)[rng.integers(0, 10, 256)]
    elif kind == "attention":
        X, Y = rng.standard_normal((32, 64, 128)), rng.standard_normal((32, 64, 128))
    else:
        X = rng.random((64, 1, 8, 8))
        Y = np.eye(10)[rng.integers(0, 10, 64)]
    return X.astype(dtype), Y.astype(dtype)


def derive_times():
    from tests.layer_nets import transformer_block

    print("\nderive time of pre-norm transformer blocks (d = 64, T = 128, MLP 256; SymPy caches cleared)")
    for blocks in (1, 2, 4, 8, 12):
        sp.core.cache.clear_cache()
        t0 = time.perf_counter()
        net = transformer_block(blocks=blocks, d=64, tokens=128, hidden=256)
        t1 = time.perf_counter()
        d = net.derive()
        t2 = time.perf_counter()
        per_block = (t1 - t0 + t2 - t1) / blocks
        print(f"  {blocks:2d} blocks: declare {t1 - t0:6.3f} s  derive {t2 - t1:6.3f} s  ({len(d.steps)} steps, "
              f"{per_block * 1e3:.1f} ms per block)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--only", nargs="*", choices=["bn", "attention", "cnn", "derive"], help="run only these parts")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    import os

    threads = args.threads or os.cpu_count() or 1
    ctx = mp.get_context("spawn")
    jobs, results = ctx.Queue(), ctx.Queue()
    worker = ctx.Process(target=torch_worker, args=(jobs, results, threads), daemon=True)
    worker.start()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        nets = {"bn": bn_network(), "attention": attention_network(), "cnn": cnn_network()}
        modules = {k: load(n.derive().numpy(), tmp, f"gen_{k}") for k, n in nets.items()}
        node_by_node = load(nets["bn"].derive(closed_forms=False).numpy(), tmp, "gen_bn_nodes")
        hands = {"bn": hand_bn, "attention": hand_attention}
        for kind, module in modules.items():
            if args.only and kind not in args.only:
                continue
            for dtype in ("float32", "float64"):
                rng = np.random.default_rng(0)
                params = module.init_params(seed=0, dtype=dtype)
                if kind == "bn":  # away from the plain start (gamma 1, beta 0) so every path matters
                    params["gamma"] += rng.standard_normal(params["gamma"].shape).astype(dtype) * 0.1
                X, Y = data(kind, dtype, rng)
                value, grads = module.gradients(params, X, Y)
                jobs.put(("setup", kind, params, X, Y))
                torch_value, torch_grads, torch_calls = results.get(timeout=600)
                agree = agreement(value, grads, torch_value, torch_grads)
                gen = functools.partial(module.gradients, params, X, Y)
                hand = functools.partial(hands[kind], params, X, Y) if kind in hands else gen
                if kind in hands:
                    hand_value, hand_grads = hand()
                    agree = max(agree, agreement(value, grads, hand_value, hand_grads))
                g, h, t, ratio = interleaved(gen, hand, torch_calls, jobs, results, repeats)
                label = {"bn": "784-256(BN)-10, m = 256", "attention": "attention T=128 d=64, m = 32",
                         "cnn": "digits CNN, m = 64"}[kind]
                rows.append((label, dtype, g, h if kind in hands else None, t, ratio if kind in hands else None))
                print(f"{label:32s} {dtype:8s} gen {fmt(g)}  hand {fmt(h) if kind in hands else '      -':>12s}  torch {fmt(t)}"
                      f"  gen/hand {ratio if kind in hands else float('nan'):5.3f}  gen/torch {g / t:5.3f}  (max rel diff {agree:.1e})",
                      flush=True)
                if kind == "bn":
                    nodes = functools.partial(node_by_node.gradients, params, X, Y)
                    nv, ng = nodes()
                    assert agreement(nv, ng, value, grads) < 1e-3
                    counts = [calls_per_sample(f) for f in (gen, nodes)]
                    closed_t, nodes_t = [], []
                    for _ in range(repeats * 3):  # alternating samples: the machine's load hits both
                        closed_t.append(timed_calls(gen, counts[0]))
                        nodes_t.append(timed_calls(nodes, counts[1]))
                    c, n = float(np.median(closed_t)), float(np.median(nodes_t))
                    print(f"{'  BN backward: closed form':32s} {dtype:8s} {fmt(c)}  node by node {fmt(n)}  speed-up {n / c:5.3f}x")
    jobs.put(None)
    worker.join(timeout=10)
    print(f"\ntorch threads = {threads}; NumPy with its default BLAS threads")
    print(f"{'network':32s} {'dtype':8s} {'generated':>12s} {'hand NumPy':>12s} {'torch eager':>12s} {'gen/hand':>8s} {'gen/torch':>9s}")
    for name, dtype, g, h, t, r in rows:
        hand_text = fmt(h) if h is not None else "-"
        ratio_text = f"{r:8.3f}" if r is not None else f"{'-':>8s}"
        print(f"{name:32s} {dtype:8s} {fmt(g):>12s} {hand_text:>12s} {fmt(t):>12s} {ratio_text} {g / t:9.3f}")
    print("gen/hand: median of paired ratios (back to back); gen/torch: ratio of medians. Targets: BN and attention "
          "gen/hand <= 1.05; CNN gen/torch <= 1.5")
    if not args.only or "derive" in args.only:
        derive_times()


def agreement(value_a, grads_a, value_b, grads_b) -> float:
    """Largest relative difference; a gradient that is 0 in exact arithmetic (the bias before
    batch norm) is compared with the scale of all the gradients instead of its own."""
    scale = max(np.linalg.norm(np.asarray(g, dtype=np.float64)) for g in grads_b.values())
    worst = rel(value_a, value_b)
    for k, b in grads_b.items():
        a, b = np.asarray(grads_a[k], dtype=np.float64), np.asarray(b, dtype=np.float64)
        worst = max(worst, float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-3 * scale)))
    return worst


def timed_calls(step, n):
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n


if __name__ == "__main__":
    main()
