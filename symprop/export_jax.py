"""Derivation -> a standalone JAX module (jax and the standard library its only imports).

The same lines as the NumPy module (see ``export_torch``: the NumPy emitter
decides them, ``printing_torch.translate`` spells them in jax.numpy), as pure
functions of a dict of parameters:

* ``init_params(seed, dtype)``, ``forward(params, x)``, ``loss(params, x, y)``:
  plain jax.numpy (``jax.grad`` of ``loss`` is the test oracle);
* ``derived_loss(params, x, y)``: the same loss as a ``jax.custom_vjp`` whose
  backward is symprop's derived backward pass (``_forward_pass`` saves what
  ``_backward_pass`` reads); ``jax.grad(derived_loss)`` and ``gradients``
  run the derived equations; all of it ``jax.jit``-able.
"""

from __future__ import annotations

from .emit import _Emitter
from .emit_matrix import MatrixEmitter, is_matrix_layout
from .export_torch import _ExportMixin, render
from .printing_torch import translate


class _JaxMixin(_ExportMixin):
    target, target_name = "jax", "JAX"
    ERF = "jax.scipy.special.erf"

    def init_lines(self) -> list:
        out, draws = [], 0
        for line in super().init_lines():
            if not line.startswith("#") and "rng.standard_normal(" in line:
                line = line.replace("rng.standard_normal()", "rng.standard_normal(())")
                line = line.replace("rng.standard_normal(", f"jax.random.normal(jax.random.fold_in(key, {draws}), dtype=dtype, shape=")
                draws += 1
            line = line.replace("np.sqrt(", "math.sqrt(").replace("np.zeros(", "jnp.zeros(").replace("np.ones(", "jnp.ones(")
            out.append(line)
        return out

    def demo(self) -> dict:
        lines, draws = [], 0
        for line in super().demo()["lines"]:
            line = line.replace("np.random.default_rng(0)", "jax.random.PRNGKey(0)")
            while "rng.standard_normal(" in line:
                line = line.replace("rng.standard_normal(", f"jax.random.normal(jax.random.fold_in(rng, {draws}), shape=", 1)
                draws += 1
            lines.append(translate(line, "jax"))
        return {"lines": lines}


class JaxEmitter(_JaxMixin, _Emitter):
    pass


class JaxMatrixEmitter(_JaxMixin, MatrixEmitter):
    pass


def jax_module(derivation) -> str:
    """The source of a standalone JAX module for ``derivation`` (see the module docstring)."""
    return render(derivation, JaxMatrixEmitter if is_matrix_layout(derivation) else JaxEmitter, "module_jax.py.j2")


__all__ = ["jax_module"]
