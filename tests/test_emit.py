"""The generated NumPy training module (issue 4).

Numbers come from independent oracles: central finite differences of the
generated loss (float64) and PyTorch autograd on the *declared* SymPy loss
(tests/torch_oracle.py), over random networks and structured ones.  The rest
checks what the module promises: NumPy its only import (in a subprocess
where nothing else can be imported), dtype, stability, shape checks,
determinism, style (ruff), golden files, optimizers against torch.optim,
the CLI and the digits example.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from emit_netgen import (
    HIDDEN,
    LOSSES,
    central_differences,
    load_module,
    random_data,
    random_params,
    relative_error,
    special_networks,
)
from export_nets import generated, network
from regenerate_golden_emit import GOLDEN_EMIT, generated_source, golden_path
from tiers import enabled

ROOT = Path(__file__).resolve().parent.parent
RANDOM_SEEDS = list(range(40))
SPECIAL = sorted(special_networks())

source, module = generated("numpy")
ALL = SPECIAL + [f"random{s}" for s in RANDOM_SEEDS]


def concatenated(grads: dict) -> np.ndarray:
    return np.concatenate([np.ravel(grads[k]) for k in sorted(grads)])


# ==========================================================================
# Numbers
# ==========================================================================


def test_random_networks_cover_every_activation_loss_and_depth():
    recipes = [network(f"random{s}").recipe for s in RANDOM_SEEDS]
    text = " ".join(recipes)
    for name in HIDDEN + ["softmax"]:
        assert f"'{name}'" in text, f"no random network uses {name}"
    for loss in LOSSES:
        assert f"loss={loss}" in text
    depths = {len(network(f"random{s}").params) for s in RANDOM_SEEDS}
    assert len(depths) >= 4
    assert re.search(r"widths=\[[^\]]*\b1\b", text), "no random network has a layer of width 1"


@pytest.mark.parametrize("name", ALL)
def test_gradients_match_central_differences(name, tmp_path_factory):
    mod = module(name, tmp_path_factory)
    data = random_data(network(name), 5, seed=3)
    params = random_params(mod, seed=4, scale=0.7)
    value, grads = mod.gradients(params, **data)
    assert np.isclose(value, mod.loss(params, **data), rtol=1e-13, atol=0)
    assert sorted(grads) == sorted(mod.PARAMS)
    for k, g in grads.items():
        assert np.shape(g) == tuple(mod.PARAMS[k])
    numeric = central_differences(mod, params, data)
    error = relative_error(concatenated(grads), concatenated(numeric))
    assert error < 1e-6, f"{name}: relative error {error:.2e} against finite differences"


@pytest.mark.parametrize("name", ALL)
def test_gradients_match_torch_autograd(name, torch, tmp_path_factory):
    from torch_oracle import TorchOracle

    mod = module(name, tmp_path_factory)
    net = network(name)
    data = random_data(net, 5, seed=5)
    params = random_params(mod, seed=6, scale=0.7)
    value, grads = mod.gradients(params, **data)
    ref_value, ref_grads = TorchOracle(torch, net).loss_and_gradients(params, data)
    assert relative_error(value, ref_value) < 1e-12
    error = relative_error(concatenated(grads), concatenated(ref_grads))
    assert error < 1e-9, f"{name}: relative error {error:.2e} against torch autograd"


@pytest.mark.parametrize("name", ALL)
def test_float32_stays_float32(name, tmp_path_factory):
    mod = module(name, tmp_path_factory)
    net = network(name)
    data = {k: v.astype(np.float32) for k, v in random_data(net, 6, seed=7).items()}
    params = mod.init_params(seed=0, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grads = mod.gradients(params, **data)
        prediction = mod.forward(params, **{s.name: data[s.name] for s in net.inputs})
    assert np.asarray(value).dtype == np.float32
    assert {np.asarray(g).dtype for g in grads.values()} == {np.dtype(np.float32)}
    for p in prediction if isinstance(prediction, tuple) else (prediction,) if prediction is not None else ():
        assert p.dtype == np.float32


def _stable_by_contract(name) -> bool:
    """Networks made only of ops the issue requires to be overflow-free.

    Excluded: a user's custom activation (its formula is theirs) and binary
    cross-entropy of a softmax (not fused: log(1 - softmax) is taken).
    """
    if name == "custom_and_sin":
        return False
    recipe = getattr(network(name), "recipe", "")
    return not ("loss=binary_cross_entropy" in recipe and "'softmax'" in recipe)


@pytest.mark.parametrize("name", [n for n in ALL if _stable_by_contract(n)])
def test_preactivations_of_1e4_give_finite_results_without_warnings(name, tmp_path_factory):
    mod = module(name, tmp_path_factory)
    net = network(name)
    data = random_data(net, 6, seed=8, scale=1e4)  # |z| ~ 1e4 in the first layer
    params = random_params(mod, seed=9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning (overflow, log(0), 0/0) fails
        with np.errstate(all="raise", under="ignore"):
            value, grads = mod.gradients(params, **data)
    assert np.isfinite(value)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_saturated_softmax_and_sigmoid_losses_are_exact(tmp_path):
    """The fused losses agree with the exact value where log(yhat) would be -inf."""
    two = load_module(source("two_layer"), tmp_path)
    params = {k: np.zeros(s) for k, s in two.PARAMS.items()}
    params["b2"] = np.array([[0.0], [-2000.0]])  # z2 = (0, -2000): softmax = (1, 0)
    x = np.zeros((1, 3))
    assert two.loss(params, x=x, y=np.array([[0.0, 1.0]])) == pytest.approx(2000.0, rel=1e-15)
    neuron = load_module(source("sigmoid_111"), tmp_path)
    p = {"w1": 0.0, "b1": 0.0, "w2": 0.0, "b2": -800.0}  # yhat = sigma(-800) = 0 in float64
    assert neuron.loss(p, x=np.zeros(1), y=np.ones(1)) == pytest.approx(800.0, rel=1e-15)


# ==========================================================================
# What the generated code looks like
# ==========================================================================


def _function_source(src: str, name: str) -> str:
    start = src.index(f"\ndef {name}(")
    end = src.index("\n\n\n", start + 1)
    return src[start:end]


def test_backward_pass_reads_like_the_derivation():
    src = source("two_layer")
    body = _function_source(src, "gradients")
    backward = body[body.index("# backward pass") :]
    lines = [line.strip() for line in backward.splitlines()[1:] if line.strip()]
    code = [line for line in lines if not line.startswith("#")]
    # every statement follows the numbered equation it computes, and is named as in the derivation
    comment = None
    for line in lines:
        if line.startswith("#"):
            comment = line
            continue
        if line.startswith("return"):
            break
        target = re.match(r"(\w+) [*+-]?= ", line).group(1)
        if target in ("grads",):
            continue
        assert re.match(r"# \(\d+\) ", comment), line
        assert re.fullmatch(r"delta\d|dW\d|db\d", target), line
    assert "# (7) δ2 = ŷ - y, times 1/m" in lines
    assert "delta2 = inv_m * (yhat - y)" in code  # the simplified output delta, 1/m once
    assert "dW1 = delta1.T @ x" in code and "db1 = delta1.sum(axis=0)[:, None]" in code
    assert "delta1 = delta2 @ W2" in code and "delta1 *= a1 > 0" in code  # ReLU' from the output
    assert "softmax" not in backward  # no softmax Jacobian at run time
    assert not re.search(r"\bdx\b", body)  # no gradient for the input
    assert not re.search(r"\bz1\b", "\n".join(code))  # z1 is not kept for the backward pass
    assert "np.ones" not in src and "astype" not in body


def test_only_import_is_numpy():
    for name in ALL[:20]:
        tree = ast.parse(source(name))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module)
        assert imported == {"numpy"}, name


def test_generated_module_runs_standalone_in_a_subprocess(tmp_path):
    """Only the standard library and numpy can be imported; the demo trains."""
    path = tmp_path / "two_layer_train.py"
    path.write_text(source("residual"), encoding="utf-8")
    runner = tmp_path / "run_standalone.py"
    runner.write_text(
        textwrap.dedent(
            """
            import runpy, sys

            allowed = set(sys.stdlib_module_names) | {"numpy"}

            class Block:
                def find_spec(self, name, path=None, target=None):
                    if name.split(".")[0] not in allowed:
                        raise ImportError(f"blocked import of {name}")
                    return None

            sys.meta_path.insert(0, Block())
            try:
                import sympy  # noqa: F401
            except ImportError:
                pass
            else:
                raise SystemExit("the import blocker does not work")
            runpy.run_path(sys.argv[1], run_name="__main__")
            print("imported:", sorted(m for m in sys.modules if m.split(".")[0] in {"symprop", "sympy", "jinja2", "torch"}))
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-I", str(runner), str(path)],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "epoch  10/10  train loss" in result.stdout
    assert "validation loss" in result.stdout
    assert "imported: []" in result.stdout


def _ruff():
    exe = shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed (pip install ruff)")
    return exe


@pytest.mark.parametrize("name", SPECIAL + ["random0", "random7", "random11"])
def test_generated_code_is_lint_clean_and_formatted(name, tmp_path):
    ruff = _ruff()
    path = tmp_path / f"{name}_train.py"
    path.write_text(source(name), encoding="utf-8")
    check = subprocess.run([ruff, "check", "--isolated", str(path)], check=False, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [ruff, "format", "--isolated", "--check", "--diff", str(path)], check=False, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


@pytest.mark.parametrize("name", GOLDEN_EMIT)
def test_golden_source(name):
    expected = golden_path(name).read_text(encoding="utf-8")
    assert generated_source(name) == expected, (
        f"generated code for {name} changed; if intended, run: python -m tests.regenerate_golden_emit"
    )


def test_output_is_byte_identical_across_hash_seeds():
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from symprop import examples; "
        "sys.stdout.write(examples.residual().derive().numpy() + examples.gated().derive().numpy())"
    )
    outputs = set()
    for seed in ("1", "2", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", code, str(ROOT)], check=False, capture_output=True, text=True, env=env, timeout=300
        )
        assert result.returncode == 0, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1
    assert outputs.pop() == source("residual") + source("gated")


def test_first_line_marks_the_file_as_generated():
    from symprop.outputs import GENERATED_MARK

    assert source("two_layer").splitlines()[0].startswith(f"# {GENERATED_MARK}")


# ==========================================================================
# Shape checks
# ==========================================================================


def test_shape_errors_name_the_input_and_both_shapes(tmp_path):
    mod = load_module(source("two_layer"), tmp_path)
    params = mod.init_params()
    x, y = np.zeros((5, 3)), np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"x must have shape \(m, 3\), got \(5, 4\)"):
        mod.gradients(params, x=np.zeros((5, 4)), y=y)
    with pytest.raises(ValueError, match=r"x must have shape \(m, 3\), got \(3,\)"):
        mod.forward(params, x=np.zeros(3))
    with pytest.raises(ValueError, match=r"y has 4 examples but x has 5"):
        mod.loss(params, x=x, y=np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"y must have shape \(m, 2\), got \(5, 2, 1\)"):
        mod.gradients(params, x=x, y=np.zeros((5, 2, 1)))
    with pytest.raises(ValueError, match="empty batch"):
        mod.gradients(params, x=np.zeros((0, 3)), y=np.zeros((0, 2)))


def test_scalar_network_takes_flat_batches(tmp_path):
    mod = load_module(source("relu_neuron"), tmp_path)
    assert mod.INPUTS == {"x": ()} and mod.PARAMS == {"w": (), "b": ()}
    value, grads = mod.gradients({"w": 3.0, "b": 1.0}, x=np.array([2.0]), y=np.array([5.0]))
    # the relu-neuron notes: z = 7, a = 7, L = 4, dL/dw = 2 (a - y) x = 8, dL/db = 4
    assert value == 4.0 and grads == {"w": 8.0, "b": 4.0}
    with pytest.raises(ValueError, match=r"x must have shape \(m,\), got \(2, 1\)"):
        mod.gradients({"w": 3.0, "b": 1.0}, x=np.ones((2, 1)), y=np.ones(2))


# ==========================================================================
# Training: optimizers and the loop
# ==========================================================================


def _torch_optimizer(torch, name, params):
    opt = torch.optim
    return {
        "SGD": lambda: opt.SGD(params, lr=0.1),
        "momentum": lambda: opt.SGD(params, lr=0.1, momentum=0.9),
        "RMSprop": lambda: opt.RMSprop(params, lr=0.01, alpha=0.99, eps=1e-8),
        "AdaGrad": lambda: opt.Adagrad(params, lr=0.01, eps=1e-10),
        "Adam": lambda: opt.Adam(params, lr=0.001),
        "AdamW": lambda: opt.AdamW(params, lr=0.001, weight_decay=0.01),
    }[name]()


def _our_optimizer(mod, name, clip_norm):
    return {
        "SGD": lambda: mod.SGD(lr=0.1, clip_norm=clip_norm),
        "momentum": lambda: mod.SGD(lr=0.1, momentum=0.9, clip_norm=clip_norm),
        "RMSprop": lambda: mod.RMSprop(lr=0.01, rho=0.99, eps=1e-8, clip_norm=clip_norm),
        "AdaGrad": lambda: mod.AdaGrad(lr=0.01, eps=1e-10, clip_norm=clip_norm),
        "Adam": lambda: mod.Adam(lr=0.001, clip_norm=clip_norm),
        "AdamW": lambda: mod.AdamW(lr=0.001, weight_decay=0.01, clip_norm=clip_norm),
    }[name]()


@pytest.mark.parametrize("clip_norm", [None, 0.05])
@pytest.mark.parametrize("name", ["SGD", "momentum", "RMSprop", "AdaGrad", "Adam", "AdamW"])
def test_optimizers_match_torch_optim(name, clip_norm, torch, tmp_path):
    mod = load_module(source("two_layer"), tmp_path)
    rng = np.random.default_rng(0)
    ours = mod.init_params(seed=0)
    theirs = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in ours.items()}
    optimizer = _our_optimizer(mod, name, clip_norm)
    reference = _torch_optimizer(torch, name, list(theirs.values()))
    for _ in range(5):
        grads = {k: rng.standard_normal(v.shape) for k, v in ours.items()}
        optimizer.step(ours, grads)
        for k, t in theirs.items():
            t.grad = torch.tensor(grads[k])
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(list(theirs.values()), clip_norm)
        reference.step()
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k].detach().numpy(), rtol=1e-12, atol=1e-14)


def test_train_shuffles_batches_and_reports_the_loss_per_epoch(tmp_path, capsys):
    mod = load_module(source("two_layer"), tmp_path)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 3))
    y = np.eye(2)[(x[:, 0] + x[:, 1] > 0).astype(int)]
    params = mod.init_params(seed=0)
    before = mod.loss(params, x=x, y=y)
    history = mod.train(
        params,
        {"x": x[:150], "y": y[:150]},
        epochs=15,
        batch_size=16,
        optimizer=mod.Adam(lr=0.05),
        validation={"x": x[150:], "y": y[150:]},
    )
    out = capsys.readouterr().out
    assert out.count("train loss") == 15 and out.count("validation loss") == 15
    assert len(history["train"]) == len(history["validation"]) == 15
    assert history["validation"][-1] < 0.5 * before
    # same seed, same batches: the same history
    again = mod.init_params(seed=0)
    assert (
        mod.train(
            again, {"x": x[:150], "y": y[:150]}, epochs=15, batch_size=16, optimizer=mod.Adam(lr=0.05), verbose=False
        )["train"]
        == history["train"]
    )


# ==========================================================================
# The command line and the examples
# ==========================================================================


def test_cli_emit_writes_a_module_that_trains(tmp_path):
    out = tmp_path / "mlp_train.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    emit = subprocess.run(
        [sys.executable, "-m", "symprop", "emit", str(ROOT / "examples" / "mlp.py"), "-o", str(out)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert emit.returncode == 0, emit.stderr
    run = subprocess.run(
        [sys.executable, str(out)], check=False, capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("train loss") == 10


@pytest.mark.skipif(not enabled("SYMPROP_TRAIN_EXAMPLES"), reason="training examples run in the full tier (SYMPROP_FULL=1, CI)")
def test_digits_example_reaches_95_percent(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "digits.py"), "--outdir", str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", result.stdout).group(1))
    assert accuracy >= 0.95, result.stdout
    assert (tmp_path / "digits_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "digits_train.py").read_text().startswith("# Generated by symprop")


def test_train_in_float32_converts_the_data_once(tmp_path):
    mod = load_module(source("residual"), tmp_path)
    params = mod.init_params(seed=0, dtype=np.float32)
    rng = np.random.default_rng(2)
    data = {"x": rng.standard_normal((64, 3)), "y": np.eye(2)[rng.integers(0, 2, 64)]}  # float64
    history = mod.train(params, data, epochs=2, optimizer=mod.AdamW(lr=0.01, clip_norm=1.0), verbose=False)
    assert {p.dtype for p in params.values()} == {np.dtype(np.float32)}
    assert all(np.isfinite(history["train"]))
