"""Numbers for a derivation: every step evaluated at given values (worked examples).

The steps are printed once as NumPy code by ``printing.NumPyPrinter`` (the
per-example, mathematical layout) and compiled into one function, so the
numbers come from the same printer the generated modules build on.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from .derivation import ETA
from .errors import EvaluationError
from .printing import NumPyPrinter, helper_namespace


def _compile(derivation):
    cache = derivation._cache
    if "evaluate" in cache:
        return cache["evaluate"]
    printer = NumPyPrinter()
    declared = [s.name for s in derivation.network.declared + derivation.network.hyperparams]
    lines = [f"def _evaluate({', '.join(declared + ['eta'])}):", "    out = {}"]
    batch = derivation.network.batch
    if batch is not None and batch.is_Symbol:
        first = derivation.network.inputs[0] if derivation.network.inputs else derivation.network.targets[0]
        lines.append(f"    {batch.name} = {first.name}.shape[1]  # the batch size")
    for step in derivation.steps:
        code = printer.doprint(step.expr)
        lines.append(f"    {step.name} = {code}")
        lines.append(f"    out[{step.key!r}] = {step.name}")
    lines.append("    return out")
    source = "\n".join(lines) + "\n"
    namespace = helper_namespace(printer.helpers_used)
    exec(compile(source, "<symprop evaluate>", "exec"), namespace)  # our own printed code, validated names
    cache["evaluate"] = namespace["_evaluate"]
    return namespace["_evaluate"]


def _lookup(values: dict, sym):
    for key in (sym, sym.name):
        if key in values:
            return values[key]
    raise KeyError(sym.name)


def _as_array(name, value, sym):
    try:
        if isinstance(value, sp.MatrixBase):
            value = [[float(v) for v in value.row(i)] for i in range(value.rows)]
        elif isinstance(value, sp.Basic):
            value = float(value)
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise EvaluationError(f"the value of {name!r} is not a number or an array of numbers: {exc}") from None
    if not np.all(np.isfinite(arr)):
        raise EvaluationError(f"the value of {name!r} is not finite: {value!r}")
    if isinstance(sym, sp.MatrixSymbol):
        if not all(d.is_Integer for d in sym.shape):  # n x m over a batch of m examples
            rows = int(sym.shape[0])
            if arr.ndim != 2 or arr.shape[0] != rows or arr.shape[1] < 1:
                raise EvaluationError(f"{name!r} has shape ({rows}, {sym.shape[1]}) but the value given has shape {arr.shape}")
            return arr
        shape = tuple(int(d) for d in sym.shape)
        dims = getattr(sym, "dims", None)
        if dims is not None and arr.shape == tuple(dims):  # an image (C, H, W) or kernels (O, C, kh, kw)
            return arr.reshape(shape)
        check_shape(name, arr.shape, shape)
        return arr.reshape(shape)
    if arr.size != 1:
        raise EvaluationError(f"{name!r} is a scalar but the value given has shape {arr.shape}")
    return float(arr.reshape(-1)[0])


def shape_text(shape) -> str:
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "×".join(str(k) for k in shape) if shape else "a scalar"


def check_shape(name: str, given: tuple, declared: tuple, what: str = "the network declares"):
    """A value must have its declared shape, or (n,) for (n, 1) (1x1: any single number).

    Never reshaped otherwise: a transposed matrix reshaped to fit scrambles its
    entries silently, so it is refused, with the hint when the transpose fits.
    """
    given, declared = tuple(given), tuple(declared)
    if given == declared or (declared[1:] == (1,) and given == declared[:1]):
        return
    if declared == (1, 1) and int(np.prod(given, dtype=np.int64)) == 1:
        return
    if len(given) == 2 and given == declared[::-1]:
        raise EvaluationError(f"{name} is {shape_text(given)}, {what} {shape_text(declared)}: transposed?")
    raise EvaluationError(f"{name!r} has shape {given}, {what} {declared}"
                          + (" (a (n,) vector stands only for an (n, 1) column)" if len(given) == 1 else ""))


def evaluate(derivation, values: dict, learning_rate=None) -> dict:
    if not isinstance(values, dict):
        raise EvaluationError(f"values must be a dict of symbol (or name) -> number, got {type(values).__name__}")
    net = derivation.network
    known = {s.name for s in net.declared + net.hyperparams}
    unknown = [str(k if isinstance(k, str) else getattr(k, "name", k)) for k in values]
    unknown = sorted(set(unknown) - known)
    if unknown:
        raise EvaluationError(f"values given for unknown names {unknown}; the network declares {sorted(known)}")
    args = {}
    missing = []
    for sym in derivation.network.declared:
        try:
            args[sym.name] = _as_array(sym.name, _lookup(values, sym), sym)
        except KeyError:
            missing.append(sym.name)
    for sym in net.hyperparams:  # a given number, else the declared default
        try:
            args[sym.name] = _as_array(sym.name, _lookup(values, sym), sym)
        except KeyError:
            if net.hyperparam_defaults.get(sym.name) is None:
                missing.append(f"{sym.name} (a hyper-parameter without a default)")
            else:
                args[sym.name] = float(net.hyperparam_defaults[sym.name])
    if missing:
        raise EvaluationError(f"no value given for {', '.join(missing)}")
    batch = derivation.network.batch
    if batch is not None and batch.is_Symbol:
        sizes = {name: args[name].shape[1] for name in (s.name for s in derivation.network.inputs + derivation.network.targets)}
        if len(set(sizes.values())) > 1:
            raise EvaluationError(f"the inputs and targets must have the same number of columns (examples): {sizes}")
    eta = 0.0 if learning_rate is None else float(learning_rate)
    if not np.isfinite(eta):
        raise EvaluationError(f"the learning rate is not finite: {learning_rate!r}")
    with np.errstate(all="ignore"):
        raw = _compile(derivation)(eta=eta, **args)
    out = {}
    for step in derivation.steps:
        if step.kind == "update" and learning_rate is None:
            continue
        value = np.asarray(raw[step.key], dtype=float)
        out[step.key] = float(value.reshape(-1)[0]) if value.size == 1 else value
        if step.kind == "adjoint" and step.name.startswith("delta"):
            out[f"dL/d{step.of}"] = out[step.key]
    return out


__all__ = ["evaluate", "ETA"]
