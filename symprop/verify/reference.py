"""Against a symprop network: its derived gradients are the reference for gradcheck.

Real code keeps its own conventions, and they are translated here, never
guessed by reshaping: weights stored (in, out) (``layout="in_out"``), names
of its own (``names={"X": "x"}``), integer class labels for one-hot targets,
a loss summed over the batch (``reduction="sum"``), and the numbers of the
network's hyper-parameters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..errors import EvaluationError
from ..numeric import check_shape
from .gradcheck import REFERENCE_RTOL, GradcheckReport, ParamCheck, _across, _call_backward
from .patterns import PATTERN_RTOL, value_pattern
from .sampling import _derivation

LAYOUTS = ("out_in", "in_out")  # W as declared (n_out, n_in), or its transpose (n_in, n_out) as in X @ W


@dataclass
class NetworkReference:
    """The network's loss and gradients at the user's point, in the user's names and shapes."""

    loss: float
    grads: dict  # user name -> gradient, in the shape of the user's parameter
    batch_size: int
    layers: dict = field(default_factory=dict)  # user name -> layer of the network (None: not in a layer)
    regularisation: dict = field(default_factory=dict)  # user name -> the hyper-parameter terms' share
    wrong_axis: dict = field(default_factory=dict)  # user name -> a bias gradient summed over the units instead
    notes: list = field(default_factory=list)


def network_loss_and_gradients(net, params: dict, data: dict, **options) -> tuple:
    """The batch-mean loss and its gradients, from the network's derivation.

    ``params`` in their declared shapes (a bias (n, 1) may be given as (n,));
    ``data`` batch-first: an input declared (n, 1) is given as (m, n).
    Evaluated example by example with the derived per-example equations and
    averaged: simple, and exactly what the derivation says.  ``options``:
    ``layout``, ``names``, ``hyperparams``, ``reduction`` (see ``gradcheck``).
    """
    ref = network_reference(net, params, data, **options)
    return ref.loss, ref.grads


def _layouts(layout, user_params) -> dict:
    """user parameter name -> "out_in" | "in_out"."""
    if layout is None or isinstance(layout, str):
        chosen = layout or "out_in"
        if chosen not in LAYOUTS:
            raise EvaluationError(f"layout must be one of {', '.join(map(repr, LAYOUTS))} or a dict name -> layout, got {layout!r}")
        return {name: chosen for name in user_params}
    if not isinstance(layout, dict):
        raise EvaluationError(f"layout must be a string or a dict name -> layout, got {type(layout).__name__}")
    unknown = sorted(set(layout) - set(user_params))
    if unknown:
        raise EvaluationError(f"layout names parameters that are not given: {unknown}")
    bad = {k: v for k, v in layout.items() if v not in LAYOUTS}
    if bad:
        raise EvaluationError(f"layout values must be {' or '.join(map(repr, LAYOUTS))}, got {bad}")
    return {name: layout.get(name, "out_in") for name in user_params}


def _renaming(names, given: set, network_names: set) -> dict:
    """user name -> network name, for every name given (identity where not mapped)."""
    names = dict(names or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
        raise EvaluationError("names must map your names (strings) to the network's names (strings)")
    unknown = sorted(v for v in names.values() if v not in network_names)
    if unknown:
        raise EvaluationError(f"names maps to {unknown}, which the network does not declare; it declares {sorted(network_names)}")
    targets = [names.get(n, n) for n in given]
    twice = sorted({t for t in targets if targets.count(t) > 1})
    if twice:
        raise EvaluationError(f"two of your names map to the same network name: {twice}")
    return {n: names.get(n, n) for n in given}


def _declared_shape(sym) -> tuple:
    return tuple(int(k) for k in sym.shape) if isinstance(sym, sp.MatrixSymbol) else ()


def _param_value(user: str, sym, value: np.ndarray, layout: str):
    """The network's value of one parameter from the user's array (never reshaped beyond (n,) <-> (n, 1))."""
    shape = _declared_shape(sym)
    p = np.asarray(value, dtype=np.float64)
    if not shape:
        if p.size != 1:
            raise EvaluationError(f"{user} has shape {p.shape}, the network declares a scalar")
        return float(p.reshape(-1)[0])
    dims = getattr(sym, "dims", None)
    if dims is not None and p.shape == tuple(dims):  # kernels as PyTorch keeps them, (O, C, kh, kw)
        return p.reshape(shape)
    if layout == "in_out":
        user_shape = shape[::-1]
        if p.ndim == 1 and 1 in shape and p.size == max(shape):
            return p.reshape(shape)
        check_shape(user, p.shape, user_shape, "its layout 'in_out' makes it")
        return p.reshape(user_shape).T
    try:
        check_shape(user, p.shape, shape)
    except EvaluationError as exc:
        if str(exc).endswith("transposed?"):
            raise EvaluationError(f"{exc} (weights stored (in, out), as for X @ W: pass layout='in_out', or declare "
                                  f"{sym.name} as (in, out) and write {sym.name}.T * x)") from None
        raise
    return p.reshape(shape)


def _to_user(g, user_value: np.ndarray, layout: str) -> np.ndarray:
    g = np.asarray(g, dtype=np.float64)
    if layout == "in_out" and g.ndim == 2:
        g = g.T
    return g.reshape(np.shape(user_value))


def _data_columns(network, data: dict, renaming: dict, notes: list) -> tuple:
    """network name -> batch-first (m, n) array; and m."""
    kinds = _target_kinds(network)
    columns, m = {}, None
    for user, name in renaming.items():
        sym = next(s for s in network.inputs + network.targets if s.name == name)
        n = int(sym.shape[0]) if isinstance(sym, sp.MatrixSymbol) else 1
        arr = np.asarray(data[user])
        feature = _example_shape(network, sym)
        if len(feature) > 1:  # an example that is a matrix or an image: (m,) + its shape
            arr = np.asarray(arr, dtype=np.float64)
            if arr.shape[1:] != feature:
                raise EvaluationError(f"data {user!r} has shape {arr.shape}; expected (m,) + {feature}, one example per entry")
            if m is not None and arr.shape[0] != m:
                raise EvaluationError(f"data {user!r} has {arr.shape[0]} examples but another input has {m}")
            m = arr.shape[0]
            columns[name] = arr
            continue
        if sym in network.targets and n > 1 and arr.dtype.kind in "iu" and (arr.ndim == 1 or arr.shape[1:] == (1,)):
            labels = arr.reshape(-1)
            if labels.size and (labels.min() < 0 or labels.max() >= n):
                raise EvaluationError(f"data {user!r}: class labels must be 0..{n - 1} for the network's {n} outputs, "
                                      f"got {int(labels.min())}..{int(labels.max())}")
            arr = np.eye(n)[labels]
            notes.append(f"{user}: integer class labels read as one-hot rows of {n}"
                         + ("" if kinds.get(name) == "distribution" else " (the network's loss does not expect one-hot targets)"))
        arr = np.asarray(arr, dtype=np.float64)
        if arr.ndim == 1 and n == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2 or arr.shape[1] != n:
            hint = ": transposed?" if arr.ndim == 2 and arr.shape[0] == n else ""
            raise EvaluationError(
                f"data {user!r} has shape {arr.shape}; expected batch-first (m, {n}) (one row per example){hint}")
        if m is not None and arr.shape[0] != m:
            raise EvaluationError(f"data {user!r} has {arr.shape[0]} examples but another input has {m}")
        m = arr.shape[0]
        columns[name] = arr
    if not m:
        raise EvaluationError("data has no examples")
    return columns, m


def _example_shape(network, sym) -> tuple:
    """The shape of one example of ``sym`` in batch-first data: (n,) for a column (and for the
    columns of a network declared over a batch), an image's (C, H, W), a sequence's (d, T)."""
    if not isinstance(sym, sp.MatrixSymbol):
        return (1,)
    if getattr(sym, "dims", None) is not None:
        return tuple(sym.dims)
    if network.batch is not None or sym.shape[1] == 1:
        return (int(sym.shape[0]),)
    return (int(sym.shape[0]), int(sym.shape[1]))


def _example_value(network, sym, row):
    """One example of batch-first data, in the shape the derivation declares."""
    if not isinstance(sym, sp.MatrixSymbol):
        return float(row[0])
    return row.reshape(int(sym.shape[0]), int(sym.shape[1]))


def _target_kinds(network) -> dict:
    from .. import ops

    kinds = {}
    for e in sp.preorder_traversal(network.loss):
        if isinstance(e, ops.LossExpr) and e.target in network.targets:
            kinds[e.target.name] = "distribution" if e.rule.target_sum_to_one else "other"
    return kinds


def parameter_layers(network) -> dict:
    """network parameter name -> the layer whose pre-activation uses it (None: outside the layers)."""
    layers = {}
    for node in network.nodes:
        if node.role == "pre-activation" and node.layer is not None:
            for p in network.params:
                if p in node.definition.free_symbols:
                    layers.setdefault(p.name, node.layer)
    return {p.name: layers.get(p.name) for p in network.params}


def _hyper_values(network, hyperparams) -> dict:
    if hyperparams is not None and not isinstance(hyperparams, dict):
        raise EvaluationError(f"hyperparams must be a dict of name -> number, got {type(hyperparams).__name__}")
    given = dict(hyperparams or {})
    known = {s.name for s in network.hyperparams}
    unknown = sorted(str(getattr(k, "name", k)) for k in given if str(getattr(k, "name", k)) not in known)
    if unknown:
        raise EvaluationError(f"hyperparams gives {unknown}, which the network does not declare"
                              + (f"; it declares {sorted(known)}" if known else ""))
    values = {}
    for sym in network.hyperparams:
        value = given.get(sym.name, given.get(sym, network.hyperparam_defaults.get(sym.name)))
        if value is None:
            raise EvaluationError(f"the network's hyper-parameter {sym.name!r} needs a number: hyperparams={{'{sym.name}': ...}}")
        try:
            values[sym.name] = float(value)
        except (TypeError, ValueError):
            raise EvaluationError(f"the hyper-parameter {sym.name!r} must be a number, got {value!r}") from None
        if not np.isfinite(values[sym.name]):
            raise EvaluationError(f"the hyper-parameter {sym.name!r} must be finite, got {value!r}")
    return values


def network_reference(net, params: dict, data: dict, *, layout=None, names=None, hyperparams=None,
                      reduction: str = "mean") -> NetworkReference:
    d = _derivation(net)
    if hasattr(d, "loss_and_gradients"):  # a recurrent network: sequences (m, T, n), a loop over t
        loss, grads = d.loss_and_gradients(params, data)
        return NetworkReference(loss, grads, len(next(iter(data.values()))), notes=[])
    network = d.network
    if reduction not in ("mean", "sum"):
        raise EvaluationError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if names is not None and not isinstance(names, dict):
        raise EvaluationError(f"names must be a dict of your names -> the network's names, got {type(names).__name__}")
    declared = {s.name: s for s in network.params}
    data_symbols = {s.name for s in network.inputs + network.targets}
    param_names = _renaming(names and {k: v for k, v in names.items() if k in params}, set(params), set(declared))
    data_names = _renaming(names and {k: v for k, v in names.items() if k in data}, set(data), data_symbols)
    missing = sorted(set(declared) - set(param_names.values()))
    extra = sorted(u for u, n in param_names.items() if n not in declared)
    if missing or extra:
        raise EvaluationError(
            f"params do not match the network's parameters {sorted(declared)}"
            + (f": missing {missing}" if missing else "") + (f": unknown {extra}" if extra else "")
            + (" (map your names with names={...})" if missing and extra else ""))
    missing = sorted(data_symbols - set(data_names.values()))
    extra = sorted(u for u, n in data_names.items() if n not in data_symbols)
    if missing or extra:
        raise EvaluationError(
            f"data must give the network's inputs and targets {sorted(data_symbols)}"
            + (f": missing {missing}" if missing else "") + (f": unknown {extra}" if extra else ""))
    layouts = _layouts(layout, params)
    values = {param_names[u]: _param_value(u, declared[param_names[u]], params[u], layouts[u]) for u in params}
    notes = []
    if any(v == "in_out" for v in layouts.values()):
        flipped = sorted(u for u, v in layouts.items() if v == "in_out" and np.ndim(params[u]) == 2 and 1 not in np.shape(params[u]))
        notes.append(f"layout 'in_out': {', '.join(flipped) or 'no matrix'} read as the transpose of the declared (out, in)")
    columns, m = _data_columns(network, data, data_names, notes)
    hyper = _hyper_values(network, hyperparams)

    def batch(hyper_values):
        total_loss, total, per_example = 0.0, {n: 0.0 for n in declared}, {n: [] for n in declared}
        scale = 1.0 if reduction == "sum" else 1.0 / m
        if network.batch is not None:  # declared over a batch: one evaluation of the batch mean
            example = dict(values)
            example.update(hyper_values)
            example.update({sym.name: columns[sym.name].T for sym in network.inputs + network.targets})
            out = d.evaluate(example)
            grads = {n: np.asarray(out[f"dL/d{n}"], dtype=np.float64) * (m * scale) for n in declared}
            return float(np.asarray(out["L"]).reshape(-1)[0]) * m * scale, grads, {n: [] for n in declared}, scale
        for i in range(m):
            example = dict(values)
            example.update(hyper_values)
            for sym in network.inputs + network.targets:
                example[sym.name] = _example_value(network, sym, columns[sym.name][i])
            out = d.evaluate(example)
            total_loss += float(np.asarray(out["L"]).reshape(-1)[0])
            for n in declared:
                g = np.asarray(out[f"dL/d{n}"], dtype=np.float64)
                total[n] = total[n] + g
                per_example[n].append(g)
        return total_loss * scale, {n: total[n] * scale for n in declared}, per_example, scale

    loss, grads, per_example, scale = batch(hyper)
    user_of = {n: u for u, n in param_names.items()}
    ref = NetworkReference(loss, {user_of[n]: _to_user(g, params[user_of[n]], layouts[user_of[n]]) for n, g in grads.items()},
                           m, notes=notes)
    layers = parameter_layers(network)
    ref.layers = {user_of[n]: layers[n] for n in declared}
    if any(v != 0 for v in hyper.values()):  # the hyper-parameter terms' share: the gradient minus the one at 0
        _, grads0, _, _ = batch({k: 0.0 for k in hyper})
        for n in declared:
            ref.regularisation[user_of[n]] = _to_user(grads[n] - grads0[n], params[user_of[n]], layouts[user_of[n]])
    for n, sym in declared.items():  # vectors: what summing the per-example gradients over the units gives
        shape = _declared_shape(sym)
        if len(shape) == 2 and shape[1] == 1 and shape[0] == m and m > 1 and per_example[n]:
            rows = np.hstack([np.asarray(g).reshape(-1, 1) for g in per_example[n]]).T  # (m, n), batch-first
            ref.wrong_axis[user_of[n]] = (scale * rows.sum(axis=1)).reshape(np.shape(params[user_of[n]]))
    return ref


def _against_network(backward, params, data, net, dtype, rtol, started, *, layout=None, names=None, hyperparams=None,
                     reduction="mean") -> GradcheckReport:
    ref = network_reference(net, params, data, layout=layout, names=names, hyperparams=hyperparams, reduction=reduction)
    grads, problems = _call_backward(backward, params, data, ref.batch_size)
    rtol = rtol if rtol is not None else REFERENCE_RTOL[np.dtype(dtype)]
    # the scale of every gradient together: a gradient that is 0 in exact arithmetic (the bias before a
    # batch norm) is round-off on both sides, compared with that scale, not its own
    overall = max((float(np.max(np.abs(g))) for g in ref.grads.values() if np.size(g)), default=0.0)
    checks = {}
    for name, p in params.items():
        if name in problems:
            checks[name] = problems[name]
            continue
        e, g = ref.grads[name].astype(np.float64), grads[name]
        err = np.abs(g - e)
        scale = float(np.max(np.abs(e))) if e.size else 0.0
        ok_entries = err <= rtol * np.maximum(np.abs(e), np.abs(g)) + rtol * 1e-2 * max(scale, 1e-4 * overall)
        rel = err / np.maximum(np.maximum(np.abs(e), np.abs(g)), max(1e-6 * scale, 1e-300))
        worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(err)), err.shape)) if err.size else None
        check = ParamCheck(
            name, p.shape, bool(np.all(ok_entries)), float(err.max(initial=0.0)), float(rel.max(initial=0.0)),
            worst, float(e[worst]) if worst is not None else None, float(g[worst]) if worst is not None else None,
            method="derived reference",
        )
        if not check.ok:
            bad = int(np.sum(~ok_entries))
            check.note = f"{bad} of {p.size} entries differ from the derived gradient"
            check.pattern = value_pattern(e, g, rtol=max(PATTERN_RTOL, 10 * rtol), batch_size=ref.batch_size,
                                          regularisation=ref.regularisation.get(name), wrong_axis=ref.wrong_axis.get(name))
        checks[name] = check
    notes = list(ref.notes)
    factors = [c.pattern.factor for c in checks.values() if c.pattern is not None and c.pattern.factor is not None]
    if len(factors) == len(checks) > 0 and all(abs(f - ref.batch_size) <= 1e-3 * ref.batch_size for f in factors):
        notes.append(f"every gradient is m = {ref.batch_size} times the network's: your loss sums over the batch where the "
                     "network's is the batch mean (pass reduction='sum' if the sum is what you mean)")
    form = "batch sum" if reduction == "sum" else "batch mean"
    return GradcheckReport(
        checks, reference=f"the network's derived gradients ({form})", dtype=dtype, loss_evaluations=0,
        backward_calls=1, seconds=time.perf_counter() - started, rtol=rtol, notes=notes,
        patterns=_across(checks, ref.layers),
    )


__all__ = ["LAYOUTS", "NetworkReference", "network_loss_and_gradients", "network_reference", "parameter_layers"]
