"""The PyTorch export (issue 15): an nn.Module whose backward is symprop's derived backward pass.

Oracles: torch autograd of the exported module's own forward (``loss``, plain
torch functions), for the fuzzer's random networks and the structured ones;
the NumPy module of the same network (itself checked against finite
differences and autograd of the declared loss in test_emit.py);
``torch.autograd.gradcheck`` on the exported ``DerivedLoss``.  The rest
checks what the module promises: torch its only import (in a subprocess where
numpy and symprop cannot be imported), ruff, torch.optim, float32, names, and
one clear error for what it cannot export.

SYMPROP_EXPORT_NETS=N (set by .ci/run) checks N random networks instead of 6.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from emit_netgen import load_module, relative_error, special_networks
from export_nets import generated, network, numpy_batch
from regenerate_golden_emit import GOLDEN_EXPORT, generated_source, golden_path

import symprop
from symprop import names
from symprop.errors import UnsupportedOperationError
from symprop.export_torch import RESERVED_NAMES

ROOT = Path(__file__).resolve().parent.parent
RANDOM_SEEDS = list(range(int(os.environ.get("SYMPROP_EXPORT_NETS", "6"))))
SPECIAL = sorted(special_networks())
LAYERS = ["bn_mlp", "bn_numeric_batch", "ln_column", "ln_sequence", "softmax_rows", "attention_masked", "transformer_block",
          "cnn_max", "cnn_avg", "conv1d", "conv_random1", "conv_random2"]
ALL = SPECIAL + [f"random{s}" for s in RANDOM_SEEDS] + [f"layer_{n}" for n in LAYERS]


source, module = generated("torch")


def batch(name: str, mod, torch, seed: int):
    """Random float64 data and parameters (every entry random, biases too), as torch tensors."""
    data, params = numpy_batch(name, mod, seed)
    return {k: torch.tensor(v) for k, v in data.items()}, {k: torch.tensor(v) for k, v in params.items()}


def flat(grads, names_) -> np.ndarray:
    return np.concatenate([np.ravel(grads[k].detach().numpy()) for k in names_])


# ==========================================================================
# Numbers
# ==========================================================================


@pytest.mark.parametrize("name", ALL)
def test_derived_backward_equals_autograd_of_the_same_forward(name, torch, tmp_path_factory):
    mod = module(name, tmp_path_factory)
    data, params = batch(name, mod, torch, seed=3)
    model = mod.Model(dtype=torch.float64)
    with torch.no_grad():
        for k, v in params.items():
            model.params[k].copy_(v)
    L = model.loss(**data)
    L.backward()  # DerivedLoss.backward: the derived equations
    derived = {k: p.grad for k, p in model.params.items()}
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    reference = mod.loss(leaves, **data)  # plain torch functions: autograd's own backward
    auto = dict(zip(leaves, torch.autograd.grad(reference, list(leaves.values()), allow_unused=True)))
    auto = {k: torch.zeros_like(leaves[k]) if g is None else g for k, g in auto.items()}
    assert abs(float(L.detach()) - float(reference.detach())) <= 1e-12 * max(1.0, abs(float(reference.detach())))
    for k in params:
        assert derived[k].shape == params[k].shape and derived[k].dtype == torch.float64
    error = relative_error(flat(derived, params), flat(auto, params))
    assert error < 1e-9, f"{name}: derived backward vs autograd, relative error {error:.2e}"


@pytest.mark.parametrize("name", SPECIAL + ["random0", "random1", "random2", "layer_bn_mlp", "layer_attention_masked", "layer_cnn_max"])
def test_the_torch_module_computes_what_the_numpy_module_computes(name, torch, tmp_path_factory):
    mod = module(name, tmp_path_factory)
    numpy_mod = load_module(network(name).derive().numpy(), tmp_path_factory.mktemp("numpy"))
    data, params = batch(name, mod, torch, seed=7)
    L, grads = mod.gradients(params, **data)
    L_np, grads_np = numpy_mod.gradients({k: v.numpy() for k, v in params.items()}, **{k: v.numpy() for k, v in data.items()})
    assert relative_error(float(L), L_np) < 1e-12
    error = relative_error(flat(grads, params), np.concatenate([np.ravel(grads_np[k]) for k in params]))
    assert error < 1e-12, f"{name}: torch vs NumPy module, relative error {error:.2e}"


@pytest.mark.parametrize("name", ["two_layer", "gated_residual", "scalar_tanh_bce", "random3", "layer_ln_column", "layer_cnn_avg"])
def test_gradcheck_passes_on_the_exported_function(name, torch, tmp_path_factory):
    mod = module(name, tmp_path_factory)
    data, params = batch(name, mod, torch, seed=11)
    leaves = [params[k].clone().requires_grad_(True) for k in mod.PARAMS]
    args = [data[k] for k in data] + leaves
    assert torch.autograd.gradcheck(mod.DerivedLoss.apply, args, eps=1e-6, atol=1e-7, rtol=1e-6)


def test_the_upstream_gradient_scales_the_derived_gradients(torch, tmp_path_factory):
    mod = module("residual", tmp_path_factory)
    data, params = batch("residual", mod, torch, seed=2)
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    L = mod.DerivedLoss.apply(*data.values(), *leaves.values())
    once = torch.autograd.grad(L, list(leaves.values()), retain_graph=True)
    thrice = torch.autograd.grad(-3.0 * L + 1.0, list(leaves.values()))
    for g1, g3 in zip(once, thrice):
        assert torch.allclose(g3, -3.0 * g1, rtol=1e-14, atol=0)


def test_model_trains_in_float32_with_torch_optim(torch, tmp_path_factory):
    mod = module("random4", tmp_path_factory)
    model = mod.Model(seed=0, dtype=torch.float32)
    for k, p in model.params.items():
        assert isinstance(p, torch.nn.Parameter) and tuple(p.shape) == tuple(mod.PARAMS[k]) and p.dtype == torch.float32
    data, _ = batch("random4", mod, torch, seed=5)
    data = {k: v.to(torch.float32) for k, v in data.items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        L = model.loss(**data)
        L.backward()
        assert all(p.grad.dtype == torch.float32 for p in model.parameters())
        optimizer.step()
        losses.append(float(L.detach()))
    assert losses[-1] < 0.8 * losses[0], losses[::10]
    prediction = model(*[data[k] for k in mod.INPUTS])
    assert prediction.dtype == torch.float32 and prediction.shape[0] == len(next(iter(data.values())))


def test_initialisation_follows_the_numpy_module(torch, tmp_path_factory):
    """He for weights feeding relu, Xavier otherwise, zero biases (the NumPy module's rules, torch's generator)."""
    mod = module("two_layer", tmp_path_factory)
    params = mod.init_params(seed=0, dtype=torch.float64)
    numpy_mod = load_module(network("two_layer").derive().numpy(), tmp_path_factory.mktemp("numpy"))
    reference = numpy_mod.init_params(seed=0)
    for k, value in reference.items():
        assert tuple(params[k].shape) == value.shape
        assert bool((params[k] == 0).all()) == bool((value == 0).all()), k
    assert not torch.equal(params["W1"], mod.init_params(seed=1, dtype=torch.float64)["W1"])
    assert torch.equal(params["W1"], mod.init_params(seed=0, dtype=torch.float64)["W1"])


# ==========================================================================
# The file
# ==========================================================================


def test_only_imports_are_torch_and_the_standard_library():
    for name in SPECIAL + ["random0"]:
        imported = set()
        for node in ast.walk(ast.parse(source(name))):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module.split(".")[0])
        assert imported == {"torch", "math"}, name


def test_imports_and_trains_where_numpy_cannot_be_imported(tmp_path):
    path = tmp_path / "exported.py"
    path.write_text(source("residual"), encoding="utf-8")
    runner = tmp_path / "run_blocked.py"
    runner.write_text(textwrap.dedent(
        """
        import runpy, sys

        blocked = {"numpy", "symprop"}
        for name in blocked:
            sys.modules[name] = None  # import raises ModuleNotFoundError, find_spec says "not installed"
        try:
            import numpy  # noqa: F401
        except ImportError:
            pass
        else:
            raise SystemExit("the import blocker does not work")
        runpy.run_path(sys.argv[1], run_name="__main__")
        print("imported:", sorted(m for m, v in sys.modules.items() if m.split(".")[0] in blocked and v is not None))
        """
    ))
    result = subprocess.run([sys.executable, "-I", str(runner), str(path)], check=False, capture_output=True, text=True,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "epoch 10: loss" in result.stdout and "validation loss" in result.stdout
    assert "imported: []" in result.stdout


@pytest.mark.parametrize("name", ["two_layer", "gated_residual", "custom_and_sin", "random7", "layer_bn_mlp", "layer_transformer_block",
                                  "layer_cnn_max"])
def test_exported_code_passes_ruff_check(name, tmp_path):
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install ruff)")
    path = tmp_path / f"{name}_torch.py"
    path.write_text(source(name), encoding="utf-8")
    check = subprocess.run([ruff, "check", "--isolated", str(path)], check=False, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_backward_pass_comments_each_line_with_its_equation():
    src = source("two_layer")
    body = src[src.index("def _backward_pass(") : src.index("def gradients(")]
    d = network("two_layer").derive()
    for step in d.steps:
        if step.kind == "gradient" and step.role == "parameter":
            assert f"# ({step.number}) " in body and f"\n    {step.name} = " in body, step.name


USER_SCOPES = {"forward", "loss", "gradients", "_forward_pass", "_backward_pass", "backward"}  # DerivedLoss/Model's too


def _names_beside_user_names(tree) -> set:
    """Names bound or read at module level and in the functions whose locals include the user's names."""
    found = set()
    scopes = [tree] + [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in USER_SCOPES]
    for scope in scopes:
        stack = list(ast.iter_child_nodes(scope))
        while stack:
            child = stack.pop()
            if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                found.add(child.name)  # a method's name is the class's attribute: no clash
                continue
            if isinstance(child, (ast.GeneratorExp, ast.ListComp, ast.DictComp, ast.SetComp)):
                continue  # a scope of its own
            if isinstance(child, ast.Name):
                found.add(child.id)
            elif isinstance(child, ast.arg):
                found.add(child.arg)
            elif isinstance(child, ast.alias):
                found.add(child.asname or child.name)
            stack.extend(ast.iter_child_nodes(child))
    return found


def test_every_name_of_the_exported_module_is_the_users_or_reserved():
    for name in ("two_layer", "residual", "layer_bn_mlp", "layer_attention_masked"):
        d = network(name).derive()
        made = {s.name for s in d.network.declared} | {step.name for step in d.steps} | {"d" + s.name for s in d.network.declared}
        used = _names_beside_user_names(ast.parse(d.torch()))
        free = sorted(n for n in used if n not in made and names.reserved_reason(n) is None and not n.startswith(("_", "lse_", "teacher_")))
        assert not free, f"{name}: names the exported module defines that a user could also declare: {free}"


def test_reserved_parameter_names_cover_parameter_dict(torch):
    attributes = {a for a in dir(torch.nn.ParameterDict) if not a.startswith("_")}
    missing = sorted(a for a in attributes if a not in RESERVED_NAMES and names.reserved_reason(a) is None)
    assert not missing, f"add to export_torch.RESERVED_NAMES: {missing}"


# ==========================================================================
# What it cannot export: one line naming it
# ==========================================================================


@pytest.mark.parametrize("code", ["y = np.fft.fft(x)", "y = np.linalg.norm(x)", "y = np.lib.stride_tricks.as_strided(x)", "y = np.unique(x)"])
def test_numpy_without_a_torch_spelling_is_refused_naming_it(code):
    from symprop.printing_torch import to_torch

    with pytest.raises(UnsupportedOperationError, match=r"PyTorch has no spelling of np\."):
        to_torch(code)


def test_a_recurrent_network_is_refused_in_one_line(tmp_path):
    out = tmp_path / "rnn_torch.py"
    result = subprocess.run(
        [sys.executable, "-m", "symprop", "emit", str(ROOT / "examples" / "rnn.py"), "--target", "torch", "-o", str(out)],
        check=False, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300,
    )
    assert result.returncode != 0 and not out.exists()
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "recurrent" in result.stderr and "PyTorch" in result.stderr


def test_a_parameter_named_like_a_parameter_dict_method_is_refused():
    import sympy as sp

    W, x, y = sp.MatrixSymbol("keys", 2, 2), sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("y", 2, 1)
    net = symprop.Network(symprop.mse(symprop.tanh(W * x), y), params=[W], inputs=[x], targets=[y])
    with pytest.raises(UnsupportedOperationError, match="'keys' is an attribute of torch.nn.ParameterDict"):
        net.derive().torch()


def test_cli_emit_target_torch_writes_a_module_that_imports(torch, tmp_path):
    out = tmp_path / "mlp_torch.py"
    result = subprocess.run(
        [sys.executable, "-m", "symprop", "emit", str(ROOT / "examples" / "mlp.py"), "--target", "torch", "-o", str(out)],
        check=False, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    mod = load_module(out.read_text(encoding="utf-8"), tmp_path)
    model = mod.Model(seed=0)
    x = torch.randn(7, *mod.INPUTS["x"])
    assert tuple(model(x).shape) == (7, *mod.TARGETS["y"])


def test_a_network_name_cannot_break_out_of_the_docstrings(torch, tmp_path):
    import sympy as sp

    W, x, y = sp.MatrixSymbol("W", 2, 2), sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("y", 2, 1)
    name = 'evil """ \\ name\nraise SystemExit(1)  # \x00'
    net = symprop.Network(symprop.mse(symprop.tanh(W * x), y), params=[W], inputs=[x], targets=[y], name=name)
    for src in (net.derive().torch(),):
        tree = ast.parse(src)
        assert not any(isinstance(n, ast.Raise) and "SystemExit" in ast.unparse(n) for n in ast.walk(tree))
        mod = load_module(src, tmp_path)
        assert "evil \"\"\" \\ name raise SystemExit(1)" in mod.Model.__doc__


def test_output_is_byte_identical_across_hash_seeds():
    code = "import sys; sys.path.insert(0, 'tests'); from emit_netgen import special_networks; " \
           "print(special_networks()['gated_residual'].derive().torch())"
    outputs = set()
    for seed in ("0", "123"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
        outputs.add(result.stdout)
    assert len(outputs) == 1


def test_dropout_draws_masks_in_training_and_keeps_every_unit_in_eval(torch, tmp_path):
    net = network("layer_dropout_mlp")
    mod = load_module(net.derive().torch(), tmp_path)
    numpy_mod = load_module(net.derive().numpy(), tmp_path)
    data, params = batch("layer_dropout_mlp", mod, torch, seed=1)
    masks = {k: data.pop(k) for k in list(data) if k in mod.MASKS}
    model = mod.Model(dtype=torch.float64)
    with torch.no_grad():
        for k, v in params.items():
            model.params[k].copy_(v)
    model.eval()
    assert torch.allclose(model.loss(**data), mod.loss(params, **data), rtol=1e-13, atol=0)
    model.train()
    torch.manual_seed(0)
    drawn = {float(model.loss(**data).detach()) for _ in range(3)}
    assert len(drawn) == 3  # a fresh mask each step
    L = model.loss(**data, **masks)  # a given mask: the derived gradients equal the NumPy module's
    L.backward()
    L_np, grads_np = numpy_mod.gradients({k: v.numpy() for k, v in params.items()}, **{k: v.numpy() for k, v in {**data, **masks}.items()})
    assert relative_error(float(L.detach()), L_np) < 1e-12
    assert relative_error(flat({k: p.grad for k, p in model.params.items()}, params), np.concatenate([np.ravel(grads_np[k]) for k in params])) < 1e-12


@pytest.mark.parametrize(("name", "target"), GOLDEN_EXPORT)
def test_golden_source(name, target):
    expected = golden_path(name, target).read_text(encoding="utf-8")
    assert generated_source(name, target) == expected, (
        f"exported {target} code for {name} changed; if intended, run: python -m tests.regenerate_golden_emit"
    )


def test_bfloat16_gradients_follow_float64(torch, tmp_path_factory):
    mod = module("two_layer", tmp_path_factory)
    data, _ = batch("two_layer", mod, torch, seed=8)
    grads = {}
    for dtype in (torch.float64, torch.bfloat16):
        model = mod.Model(seed=0, dtype=dtype)
        model.loss(**{k: v.to(dtype) for k, v in data.items()}).backward()
        assert all(p.grad.dtype == dtype for p in model.parameters())
        grads[dtype] = {k: p.grad.to(torch.float64) for k, p in model.params.items()}
    assert relative_error(flat(grads[torch.bfloat16], mod.PARAMS), flat(grads[torch.float64], mod.PARAMS)) < 0.05
