"""Reliability of what symprop writes: finite numbers far from the origin, and
byte-identical outputs across runs and hash seeds."""

import hashlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import symprop
from symprop import ops
from tests.netgen import build_network, hidden_activations, random_spec

ROOT = Path(__file__).resolve().parent.parent


def load_module(derivation):
    namespace = {}
    exec(compile(derivation.numpy(), "<generated>", "exec"), namespace)  # our generated code
    return namespace


def scaled_data(net, rng, scale, m=4):
    data = {}
    for sym in net.inputs:
        shape = (m,) if net.is_scalar else (m, int(sym.shape[0]))
        data[sym.name] = scale * rng.normal(size=shape)
    for sym in net.targets:
        shape = (m,) if net.is_scalar else (m, int(sym.shape[0]))
        v = rng.uniform(0.05, 1.0, size=shape)
        data[sym.name] = v / v.sum(axis=-1, keepdims=True) if not net.is_scalar and shape[1] > 1 else v
    return data


def assert_finite_without_warnings(net, rng, scale=1e4):
    module = load_module(net.derive())
    params = {k: scale * v for k, v in module["init_params"](seed=0).items()}
    data = scaled_data(net, rng, scale)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        warnings.simplefilter("error")
        loss, grads = module["gradients"](params, **data)
        value = module["loss"](params, **data)
    assert np.isfinite(loss) and np.isfinite(value), (net, loss)
    for name, g in grads.items():
        assert np.all(np.isfinite(g)), (net, name)


@pytest.mark.parametrize("activation", hidden_activations())
@pytest.mark.parametrize("loss", sorted(ops.LOSSES))
def test_generated_code_is_finite_at_1e4(activation, loss):
    """Inputs and parameters scaled up to 1e4: finite losses and gradients, no warnings."""
    net = symprop.mlp([3, 4, 4, 2], hidden=ops.FUNCTIONS[activation], loss=ops.LOSSES[loss])
    assert_finite_without_warnings(net, np.random.default_rng(0))


@pytest.mark.parametrize("seed", range(40))
def test_generated_networks_are_finite_at_1e4(seed):
    spec = random_spec(np.random.default_rng(seed), depth=int(np.random.default_rng(seed).integers(1, 4)))
    assert_finite_without_warnings(build_network(spec), np.random.default_rng(seed))


def outputs_digest(seed: str, tmp: Path, pdf: bool) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    out = tmp / f"run{seed}"
    out.mkdir()
    args = ["derive", str(ROOT / "examples" / "sigmoid_111.py"), "--values", "x=2,w1=0.5,w2=0.8,b1=0,b2=0,y=1",
            "--tex", "n.tex", "--md", "n.md", "--py", "n.py"] + (["--pdf"] if pdf else [])
    proc = subprocess.run([sys.executable, "-m", "symprop", *args], cwd=out, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    proc2 = subprocess.run([sys.executable, "-m", "symprop", "derive", str(ROOT / "examples" / "residual.py"),
                            "--tex", "r.tex", "--md", "r.md", "--py", "r.py"], cwd=out, env=env, capture_output=True, text=True)
    assert proc2.returncode == 0, proc2.stderr
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


def test_every_output_is_identical_across_hash_seeds(tmp_path):
    import shutil

    pdf = shutil.which("pdflatex") is not None
    first = outputs_digest("0", tmp_path, pdf)
    second = outputs_digest("4242", tmp_path, pdf)
    assert first == second
    assert {"n.tex", "n.md", "n.py", "r.tex", "r.md", "r.py"} <= set(first)
    assert ("n.pdf" in first) == pdf
