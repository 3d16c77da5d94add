"""Against a symprop network: its derived gradients are the reference for gradcheck."""

from __future__ import annotations

import time

import numpy as np
import sympy as sp

from ..errors import EvaluationError
from .gradcheck import REFERENCE_RTOL, GradcheckReport, ParamCheck, _call_backward
from .sampling import _derivation


def network_loss_and_gradients(net, params: dict, data: dict) -> tuple:
    """The batch-mean loss and its gradients, from the network's derivation.

    ``params`` in their declared shapes (a bias (n, 1) may be given as (n,));
    ``data`` batch-first: an input declared (n, 1) is given as (m, n).
    Evaluated example by example with the derived per-example equations and
    averaged: simple, and exactly what the derivation says.
    """
    d = _derivation(net)
    network = d.network
    declared_params = {s.name: s for s in network.params}
    missing = sorted(set(declared_params) - set(params))
    extra = sorted(set(params) - set(declared_params))
    if missing or extra:
        raise EvaluationError(
            f"params do not match the network's parameters {sorted(declared_params)}"
            + (f": missing {missing}" if missing else "") + (f": unknown {extra}" if extra else "")
        )
    values = {}
    for name, sym in declared_params.items():
        shape = tuple(int(k) for k in sym.shape) if isinstance(sym, sp.MatrixSymbol) else ()
        p = np.asarray(params[name], dtype=np.float64)
        if p.size != (int(np.prod(shape)) if shape else 1):
            raise EvaluationError(f"parameter {name!r} has shape {p.shape} but the network declares {shape or 'a scalar'}")
        values[name] = p.reshape(shape) if shape else float(p.reshape(-1)[0])
    per_example = network.inputs + network.targets
    names = {s.name for s in per_example}
    missing = sorted(names - set(data))
    extra = sorted(set(data) - names)
    if missing or extra:
        raise EvaluationError(
            f"data must give the network's inputs and targets {sorted(names)}"
            + (f": missing {missing}" if missing else "") + (f": unknown {extra}" if extra else "")
        )
    m = None
    columns = {}
    for sym in per_example:
        arr = np.asarray(data[sym.name], dtype=np.float64)
        n = int(sym.shape[0]) if isinstance(sym, sp.MatrixSymbol) else 1
        if arr.ndim == 1 and n == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2 or arr.shape[1] != n:
            raise EvaluationError(
                f"data {sym.name!r} has shape {arr.shape}; expected batch-first ({'m'}, {n}) (one row per example)"
            )
        if m is not None and arr.shape[0] != m:
            raise EvaluationError(f"data {sym.name!r} has {arr.shape[0]} examples but another input has {m}")
        m = arr.shape[0]
        columns[sym.name] = arr
    if not m:
        raise EvaluationError("data has no examples")
    total_loss = 0.0
    total = {name: 0.0 for name in declared_params}
    for i in range(m):
        example = dict(values)
        for sym in per_example:
            row = columns[sym.name][i]
            example[sym.name] = row.reshape(-1, 1) if isinstance(sym, sp.MatrixSymbol) else float(row[0])
        out = d.evaluate(example)
        total_loss += float(np.asarray(out["L"]).reshape(-1)[0])
        for name in declared_params:
            total[name] = total[name] + np.asarray(out[f"dL/d{name}"], dtype=np.float64)
    grads = {}
    for name in declared_params:
        g = np.asarray(total[name] / m, dtype=np.float64)
        grads[name] = g.reshape(np.shape(params[name]))
    return total_loss / m, grads


def _against_network(backward, params, data, net, dtype, rtol, started) -> GradcheckReport:
    _, reference = network_loss_and_gradients(net, params, data)
    grads = _call_backward(backward, params, data)
    rtol = rtol if rtol is not None else REFERENCE_RTOL[np.dtype(dtype)]
    checks = {}
    for name, p in params.items():
        e, g = reference[name].astype(np.float64), grads[name]
        err = np.abs(g - e)
        scale = float(np.max(np.abs(e))) if e.size else 0.0
        ok_entries = err <= rtol * np.maximum(np.abs(e), np.abs(g)) + rtol * 1e-2 * scale
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
        checks[name] = check
    return GradcheckReport(
        checks, reference="the network's derived gradients (batch mean)", dtype=dtype, loss_evaluations=0,
        backward_calls=1, seconds=time.perf_counter() - started, rtol=rtol,
    )
