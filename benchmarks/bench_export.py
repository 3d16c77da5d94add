"""The exported PyTorch and JAX modules: the derived backward pass vs the framework's own autodiff.

    python benchmarks/bench_export.py [--quick] [--no-compile] [--no-jax]

For each network of benchmarks/bench_train_step.py (float32), one training
step's gradient (batch-mean loss and every parameter gradient) is timed two
ways in the same framework and process, samples interleaved (derived,
autograd, derived, ...), median reported:

* torch eager: ``Model.loss(x, y).backward()`` (DerivedLoss, the derived
  equations) vs ``torch.autograd.grad`` of the module's plain ``loss``;
* torch.compile (unless --no-compile): the same two, each compiled;
* JAX jit (unless --no-jax or jax is missing): ``jax.jit(jax.grad(derived_loss))``
  vs ``jax.jit(jax.grad(loss))``.

Memory: the bytes of tensors each torch variant keeps for its backward pass
(counted by torch.autograd.graph.saved_tensors_hooks, each storage once),
not the process's peak.  Results are checked against each other before timing.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_train_step import CONFIGS  # noqa: E402


def load(source: str, directory: str, stem: str):
    path = Path(directory) / f"{stem}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[stem] = module  # torch.compile looks the module up by name
    spec.loader.exec_module(module)
    return module


def network(sizes, hidden, output, loss):
    import symprop
    from symprop import ops

    out = ops.softmax if output == "softmax" else ops.FUNCTIONS[output]
    return symprop.mlp(sizes, hidden=ops.FUNCTIONS[hidden], output=out, loss=ops.LOSSES[loss])


def interleaved(fns: dict, samples: int, warmup: int = 3) -> dict:
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(samples):
        for k, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def saved_bytes(torch, fn) -> int:
    seen, total = set(), 0

    def pack(t):
        nonlocal total
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key not in seen:
            seen.add(key)
            total += storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


def torch_rows(torch, mod, m, samples, compile_too):
    data_rng = torch.Generator().manual_seed(0)
    model = mod.Model(seed=0, dtype=torch.float32)
    x = torch.randn(m, *mod.INPUTS["x"], generator=data_rng)
    y = mod.forward(mod.init_params(seed=1, dtype=torch.float32), x).detach()
    if mod.TARGETS["y"][0] > 1 and "softmax" in mod.__doc__:
        y = torch.nn.functional.one_hot(y.argmax(dim=1), mod.TARGETS["y"][0]).to(torch.float32)
    params = list(model.params.values())

    def derived():
        for p in params:
            p.grad = None
        model.loss(x, y).backward()
        return [p.grad for p in params]

    def autograd():
        return torch.autograd.grad(mod.loss(dict(model.params), x, y), params)

    for a, b in zip(derived(), autograd()):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-5), "derived and autograd gradients differ"
    rows = []
    t = interleaved({"derived": derived, "autograd": autograd}, samples)
    memory = {"derived": saved_bytes(torch, lambda: model.loss(x, y)), "autograd": saved_bytes(torch, lambda: mod.loss(dict(model.params), x, y))}
    rows.append(("torch eager", t, memory))
    if compile_too:
        try:
            loss_c = torch.compile(lambda: model.loss(x, y))
            plain_c = torch.compile(lambda: mod.loss(dict(model.params), x, y))

            def derived_c():
                for p in params:
                    p.grad = None
                loss_c().backward()

            def autograd_c():
                return torch.autograd.grad(plain_c(), params)

            rows.append(("torch.compile", interleaved({"derived": derived_c, "autograd": autograd_c}, samples), None))
        except Exception as e:  # report, do not hide: compile may be unavailable here
            rows.append((f"torch.compile failed: {type(e).__name__}: {str(e).splitlines()[0][:100]}", None, None))
    return rows


def jax_rows(jax, mod, m, samples):
    import jax.numpy as jnp

    key = jax.random.PRNGKey(0)
    params = mod.init_params(seed=0, dtype=jnp.float32)
    x = jax.random.normal(key, (m, *mod.INPUTS["x"]), dtype=jnp.float32)
    y = mod.forward(mod.init_params(seed=1, dtype=jnp.float32), x)
    if mod.TARGETS["y"][0] > 1 and "softmax" in mod.__doc__:
        y = jax.nn.one_hot(y.argmax(axis=1), mod.TARGETS["y"][0], dtype=jnp.float32)
    derived = jax.jit(jax.grad(mod.derived_loss))
    auto = jax.jit(jax.grad(mod.loss))
    a, b = derived(params, x, y), auto(params, x, y)
    for k in a:
        assert jnp.allclose(a[k], b[k], rtol=1e-3, atol=1e-5), f"derived and jax.grad differ on {k}"

    def run(f):
        return lambda: jax.block_until_ready(f(params, x, y))

    return [("JAX jit", interleaved({"derived": run(derived), "autograd": run(auto)}, samples), None)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, the two smaller networks")
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--no-jax", dest="jax", action="store_false")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on a shared machine, spinning OpenMP threads dominate the timings)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    jax = None
    if args.jax:
        try:
            import jax
        except ImportError:
            print("JAX is not installed: no JAX rows (pip install -e '.[jax]')")
    configs = CONFIGS[:2] + CONFIGS[3:4] if args.quick else CONFIGS
    samples = 7 if args.quick else 25
    print(f"one gradient step, float32, CPU, {args.threads} torch thread(s); median of interleaved samples; "
          "'saved' = bytes kept for the backward pass")
    print(f"{'network':34s} {'batch':>5s}  {'framework':16s} {'derived':>10s} {'autograd':>10s} {'ratio':>6s}  saved (derived / autograd)")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, sizes, hidden, output, loss, m) in enumerate(CONFIGS if not args.quick else configs):
            d = network(sizes, hidden, output, loss).derive()
            rows = torch_rows(torch, load(d.torch(), tmp, f"bench_torch_{i}"), m, samples, args.compile)
            if jax is not None:
                rows += jax_rows(jax, load(d.jax(), tmp, f"bench_jax_{i}"), m, samples)
            for framework, t, memory in rows:
                if t is None:
                    print(f"{label:34s} {m:5d}  {framework}")
                    continue
                ratio = t["derived"] / t["autograd"]
                mem = f"{memory['derived'] / 1e6:.2f} MB / {memory['autograd'] / 1e6:.2f} MB" if memory else ""
                print(f"{label:34s} {m:5d}  {framework:16s} {t['derived'] * 1e3:8.3f}ms {t['autograd'] * 1e3:8.3f}ms {ratio:6.2f}  {mem}")


if __name__ == "__main__":
    main()
