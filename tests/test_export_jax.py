"""The JAX export (issue 15): pure functions on a jax.custom_vjp whose backward is symprop's derived pass.

Oracle: jax.grad of the exported module's own loss (plain jax.numpy), in
float64, on the fuzzer's random networks and the structured ones; under
jax.jit and jax.vmap too.  JAX is optional locally (the ``jax`` fixture
skips with a reason); .ci/run installs it and requires it.

SYMPROP_EXPORT_NETS=N (set by .ci/run) checks every structured network and N
random ones; by default, a selection of nine.
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

from symprop.errors import UnsupportedOperationError

SPECIAL = sorted(special_networks())
LAYERS = ["bn_mlp", "ln_column", "ln_sequence", "attention_masked", "transformer_block"]
if "SYMPROP_EXPORT_NETS" in os.environ:  # CI: every structured network and N random ones
    ALL = SPECIAL + [f"random{s}" for s in range(int(os.environ["SYMPROP_EXPORT_NETS"]))] + [f"layer_{n}" for n in LAYERS]
else:  # tracing and compiling in JAX costs a second or two per network: a selection by default
    ALL = ["two_layer", "gated_residual", "custom_and_sin", "scalar_tanh_bce", "random0", "random1", "random5", "layer_bn_mlp",
           "layer_ln_column"]


source, module = generated("jax")


def batch(name, mod, jnp, seed):
    data, params = numpy_batch(name, mod, seed)
    return {k: jnp.asarray(v) for k, v in data.items()}, {k: jnp.asarray(v) for k, v in params.items()}


def flat(grads, names) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(grads[k])) for k in names])


@pytest.mark.parametrize("name", ALL)
def test_custom_vjp_equals_jax_grad_of_the_same_forward(name, jax, tmp_path_factory):
    import jax.numpy as jnp

    mod = module(name, tmp_path_factory)
    data, params = batch(name, mod, jnp, seed=3)
    L, derived = jax.value_and_grad(mod.derived_loss)(params, *data.values())
    L_ref, reference = jax.value_and_grad(mod.loss)(params, **data)
    assert relative_error(float(L), float(L_ref)) < 1e-12
    for k in params:
        assert derived[k].shape == params[k].shape and derived[k].dtype == jnp.float64
    error = relative_error(flat(derived, params), flat(reference, params))
    assert error < 1e-9, f"{name}: custom_vjp vs jax.grad, relative error {error:.2e}"
    jitted = jax.jit(jax.grad(mod.derived_loss))(params, *data.values())
    assert relative_error(flat(jitted, params), flat(reference, params)) < 1e-9


def test_vmap_over_batches_and_the_upstream_gradient(jax, tmp_path_factory):
    import jax.numpy as jnp

    mod = module("gated_residual", tmp_path_factory)
    data, params = batch("gated_residual", mod, jnp, seed=4)
    # two batches at once (inputs scaled; targets kept: the cross-entropy's targets must sum to 1)
    stacked = {k: jnp.stack([v, 2.0 * v if k in mod.INPUTS else v]) for k, v in data.items()}
    per_batch = jax.vmap(jax.grad(mod.derived_loss), in_axes=(None, 0, 0))(params, *stacked.values())
    for i in range(2):
        one = jax.grad(mod.loss)(params, **{k: v[i] for k, v in stacked.items()})
        assert relative_error(flat({k: g[i] for k, g in per_batch.items()}, params), flat(one, params)) < 1e-9
    scaled = jax.grad(lambda p: -3.0 * mod.derived_loss(p, *data.values()))(params)
    once = jax.grad(mod.derived_loss)(params, *data.values())
    assert relative_error(flat(scaled, params), -3.0 * flat(once, params)) < 1e-14


def test_only_imports_are_jax_and_the_standard_library():
    for name in SPECIAL[:6] + ["random0"]:
        imported = set()
        for node in ast.walk(ast.parse(source(name))):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module.split(".")[0])
        assert imported == {"jax", "math"}, name


def test_trains_where_symprop_and_torch_cannot_be_imported(jax, tmp_path):
    path = tmp_path / "exported_jax.py"
    path.write_text(source("two_layer"), encoding="utf-8")
    runner = tmp_path / "run_blocked.py"
    runner.write_text(textwrap.dedent(
        """
        import runpy, sys

        blocked = {"symprop", "torch", "sympy"}  # jax needs numpy: that one stays
        for name in blocked:
            sys.modules[name] = None
        runpy.run_path(sys.argv[1], run_name="__main__")
        print("imported:", sorted(m for m, v in sys.modules.items() if m.split(".")[0] in blocked and v is not None))
        """
    ))
    result = subprocess.run([sys.executable, "-I", str(runner), str(path)], check=False, capture_output=True, text=True,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "epoch 10: loss" in result.stdout and "validation loss" in result.stdout
    assert "imported: []" in result.stdout


@pytest.mark.parametrize("name", ["two_layer", "custom_and_sin", "random7", "layer_bn_mlp", "layer_transformer_block"])
def test_exported_code_passes_ruff_check(name, tmp_path):
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install ruff)")
    path = tmp_path / f"{name}_jax.py"
    path.write_text(source(name), encoding="utf-8")
    check = subprocess.run([ruff, "check", "--isolated", str(path)], check=False, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_convolution_is_refused_naming_its_helper():
    with pytest.raises(UnsupportedOperationError, match=r"helper image_windows .*JAX"):
        network("layer_cnn_max").derive().jax()


def test_cli_emit_target_jax_writes_a_module_that_predicts(jax, tmp_path):
    import jax.numpy as jnp

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "mlp_jax.py"
    result = subprocess.run(
        [sys.executable, "-m", "symprop", "emit", str(root / "examples" / "mlp.py"), "--target", "jax", "-o", str(out)],
        check=False, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(root)}, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    mod = load_module(out.read_text(encoding="utf-8"), tmp_path)
    x = jnp.ones((7, *mod.INPUTS["x"]))
    assert tuple(mod.forward(mod.init_params(seed=0), x).shape) == (7, *mod.TARGETS["y"])
