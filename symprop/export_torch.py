"""Derivation -> a standalone PyTorch module (torch and the standard library its only imports).

The NumPy emitter (``emit``, ``emit_matrix``) decides every line: which
equations each function computes, in which order, in which layout, what the
backward pass keeps.  This module takes the same lines, spelled in torch by
``printing_torch.to_torch``, and arranges them as PyTorch wants them:

* ``forward(params, x)`` and ``loss(params, x, y)``: plain torch functions of
  the declared network (torch autograd can differentiate them; that is the
  test oracle);
* ``_forward_pass`` (the forward lines of the NumPy ``gradients``, returning
  L and what the backward pass reads) and ``_backward_pass`` (the derived
  backward equations, each commented with its equation), joined as
  ``DerivedLoss``, a ``torch.autograd.Function``: ``loss.backward()`` runs
  symprop's derived backward pass, not autograd's;
* ``Model``, an ``nn.Module``: the parameters as ``nn.Parameter``s with the
  declared shapes and the NumPy module's initialisation (He, Xavier, zero
  biases), ``model(x)`` the prediction, ``model.loss(x, y)`` the batch-mean
  loss through ``DerivedLoss``.

The upstream gradient of ``DerivedLoss`` (1 for ``L.backward()``) multiplies
the derived parameter gradients: the derivation's seed is dL/dL = 1.
"""

from __future__ import annotations

import builtins

from sympy.core.parameters import distribute

from .emit import Function, Line, _Emitter
from .emit_matrix import MatrixEmitter, is_matrix_layout
from .errors import UnsupportedOperationError
from .printing_torch import translate, translate_helper
from .templating import environment

# attributes of torch.nn.ParameterDict (and nn.Module): a parameter of that name cannot be a key
RESERVED_NAMES = frozenset({
    "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "clear", "compile", "copy", "cpu", "cuda",
    "double", "dump_patches", "eval", "extra_repr", "float", "forward", "fromkeys", "get", "get_buffer", "get_extra_state",
    "get_parameter", "get_submodule", "half", "ipu", "items", "keys", "load_state_dict", "modules", "mtia", "named_buffers",
    "named_children", "named_modules", "named_parameters", "parameters", "pop", "popitem", "register_backward_hook",
    "register_buffer", "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "register_module", "register_parameter", "register_state_dict_post_hook", "register_state_dict_pre_hook",
    "requires_grad_", "set_extra_state", "set_submodule", "setdefault", "share_memory", "smooth_l1_loss", "state_dict",
    "T_destination", "to", "to_empty", "train", "training", "type", "update", "values", "xpu", "zero_grad",
})


class _ExportMixin:
    """Overrides of the NumPy emitters: the same lines in another framework, split for its autodiff."""

    target, target_name = "torch", "PyTorch"
    ERF = "torch.special.erf"  # NumPy has no erf; the frameworks have

    def _like(self):
        return self.data[0].name if self.data else None

    def _line(self, name, comments, code) -> Line:
        try:
            translated = [translate(c, self.target, self._like()) for c in code]
        except UnsupportedOperationError as e:
            raise UnsupportedOperationError(f"cannot export {name} = ... to {self.target_name}: {e}") from None
        line = super()._line(name, comments, translated)
        line.numpy_code = code  # the passes re-spell it with its in-place updates (_in_place)
        return line

    def _in_place(self, line) -> Line:
        """``line`` spelled with the NumPy code's in-place updates (into fresh arrays): for the derived
        passes, which run without autograd (DerivedLoss, gradients under no_grad)."""
        code = [translate(c, self.target, self._like(), in_place=True) for c in line.numpy_code]
        return Line(line.name, line.comments, code, line.reads)

    def _helper(self, source: str) -> str:
        source = super()._helper(source)
        name = source.split("(", 1)[0].removeprefix("def ").strip()
        if name == "erf":
            return f"def erf(x):\n    return {self.ERF}(x)\n"
        try:
            return translate_helper(source, self.target)
        except UnsupportedOperationError as e:
            raise UnsupportedOperationError(
                f"cannot export the helper {name} (used by this network's ops) to {self.target_name}: {e}"
            ) from None

    def _function(self, name, args, doc, lines, result, uses_m=True, sections=(), tail=()) -> Function:
        if name == "gradients":
            self._gradient_parts = (args, lines, sections)
        return super()._function(name, args, doc, lines, result, uses_m, sections, tail)

    # -- the autograd.Function (torch), the custom_vjp (JAX) -------------------
    def _split_gradients(self) -> dict:
        args, lines, sections = self._gradient_parts
        n_forward = sections[1][0] if len(sections) > 1 else len(lines)
        forward = [self._in_place(line) for line in lines[:n_forward] if line.name]  # the NumPy module's `del`: not here
        backward = [self._in_place(line) for line in lines[n_forward:]]
        defined = {line.name for line in backward}
        reads = set().union(*(line.reads for line in backward)) if backward else set()
        arg_names = [a.split("=")[0] for a in args]
        masks = {m.name for m in self.masks}
        batch = self.net.batch
        computed = ["inv_m"] + ([batch.name] if batch is not None and batch.is_Symbol else [])  # 1/m, m: numbers
        numbers = [n for n in [*computed, *arg_names] if n in reads - defined and (n in computed or n in masks)]
        order = [*arg_names, *(p.name for p in self.net.params), *(line.name for line in forward)]
        tensors = [n for n in dict.fromkeys(order) if n in reads - defined and n not in numbers]
        known = defined | set(tensors) | set(numbers) | self.printer.helpers_used | {"torch", "math", "jax", "jnp"} | set(dir(builtins))
        unknown = reads - known
        if unknown:
            raise UnsupportedOperationError(f"the backward pass reads {sorted(unknown)}, which the forward pass does not compute")
        grads = [(p.name, "d" + p.name) for p in self.net.params]
        result = f"L, ({_tuple(tensors)}), ({_tuple(numbers)})"
        forward_fn = super()._function(
            "_forward_pass", args,
            ["The loss L of a batch, and what the derived backward pass reads (saved by DerivedLoss)."],
            forward, result,
        )
        if "inv_m" in numbers and not any(b.startswith("inv_m = ") for b in forward_fn.body):
            forward_fn.body.insert(0, f"inv_m = 1.0 / len({arg_names[0]})")
        if len(computed) > 1 and computed[1] in numbers and not any(b.startswith(f"{computed[1]} = ") for b in forward_fn.body):
            forward_fn.body.insert(0, f"{computed[1]} = len({arg_names[0]})  # the batch size")
        body = []
        for line in backward:
            body.extend(f"# {c}" for c in line.comments)
            body.extend(line.code)
        unpack = []
        if tensors:
            unpack.append(f"{_unpacked(tensors)} = tensors")
        if numbers:
            unpack.append(f"{_unpacked(numbers)} = numbers")
        backward_fn = Function(
            "_backward_pass", ["tensors", "numbers"],
            ['"""dL/dp for every parameter p, by the derived backward pass (the equations of the docstring)."""'],
            [], unpack, [f"# {self._backward_heading()}", *body], "",
        )
        backward_fn.body += self._dict_lines("grads = ", [(f'"{n}"', g) for n, g in grads], indent=4)
        backward_fn.result = "grads"
        return {
            "forward_pass": forward_fn,
            "backward_pass": backward_fn,
            "data_args": arg_names,
            "data_signature": args,
        }

    def view(self) -> dict:
        model = super().view()
        bad = sorted(p.name for p in self.net.params if p.name in RESERVED_NAMES)
        if bad and self.target == "torch":
            raise UnsupportedOperationError(
                f"parameter name {bad[0]!r} is an attribute of torch.nn.ParameterDict: rename it to export to PyTorch"
            )
        model.update(self._split_gradients())
        model["functions"] = [f for f in model["functions"] if f.name != "gradients"]
        model["param_names"] = [p.name for p in self.net.params]
        model["mask_names"] = [m.name for m in self.masks]
        model["forward_args"] = next(f.args for f in model["functions"] if f.name == "forward")
        return model


def _unpacked(names) -> str:
    """The target of ``... = tensors``: ``(a,)`` for one name, as ruff format writes it."""
    return f"({names[0]},)" if len(names) == 1 else ", ".join(names)


def _tuple(names) -> str:
    return ", ".join(names) + ("," if len(names) == 1 else "")


class _TorchMixin(_ExportMixin):
    """torch's random numbers for the initialisation and the demo's data."""

    def init_lines(self) -> list:
        out = []
        for line in super().init_lines():
            if line.startswith("#"):
                out.append(line)
                continue
            line = line.replace("rng.standard_normal()", "rng.standard_normal(())")
            line = line.replace("rng.standard_normal(", "torch.randn(generator=rng, dtype=torch.float64, size=")
            line = line.replace("np.sqrt(", "math.sqrt(").replace("np.zeros(", "torch.zeros(").replace("np.ones(", "torch.ones(")
            out.append(line)
        return out

    def demo(self) -> dict:
        lines = []
        for line in super().demo()["lines"]:
            line = line.replace("np.random.default_rng(0)", "torch.Generator().manual_seed(0)")
            line = line.replace("rng.standard_normal(", "torch.randn(generator=rng, size=")
            lines.append(translate(line, "torch"))
        return {"lines": lines}


class TorchEmitter(_TorchMixin, _Emitter):
    pass


class TorchMatrixEmitter(_TorchMixin, MatrixEmitter):
    pass


def torch_module(derivation) -> str:
    """The source of a standalone PyTorch module for ``derivation`` (see the module docstring)."""
    return render(derivation, TorchMatrixEmitter if is_matrix_layout(derivation) else TorchEmitter, "module_torch.py.j2")


def render(derivation, emitter_class, template: str) -> str:
    if derivation.network.hyperparams:  # generated code holds numbers: the declared defaults
        derivation = derivation.network.bind({}).derive()
    with distribute(False):  # as numpy_module: numbers are not distributed over sums
        model = emitter_class(derivation).view()
    return environment(latex=False).get_template(template).render(**model)


__all__ = ["RESERVED_NAMES", "torch_module"]
