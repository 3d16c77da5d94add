"""Checking a hand-derived BPTT formula: dL/dW = sum_t delta_t h_{t-1}^T, in the notation of the notes.

A parameter of a recurrent network is shared by every step, so its gradient
is the sum over t of the gradient of step t, and that is the gradient of the
cell (``RecurrentDerivation.cell``).  A formula ``\\sum_{t=1}^{T} <term>`` is
therefore checked term by term: the names of step t in the term (delta_t,
h_{t-1}, x_t, dL/do_t, as the notes print them, or delta[t], h[t-1] as the
terminal does) are read as the cell's values, and the term is checked against
the cell's gradient by ``verify.check_gradient`` (random points, diagnoses of
the usual mistakes).  Equal terms at every value of a step's inputs, previous
state and what later steps send back give equal sums for every sequence.
"""

from __future__ import annotations

import re

import sympy as sp

from . import verify
from .errors import FormulaError
from .recurrent import time_latex, time_text

# A leading sum over the steps: \sum_{t=1}^{T}, \sum_t, sum_t, Σ_t
_SUM = re.compile(r"^\s*(?:\\sum|sum|Σ)\s*(?:_\s*\{\s*t\s*(?:=\s*1\s*)?\}|_\s*t)\s*(?:\^\s*(?:\{\s*T\s*\}|T))?\s*")
# a time index left over after the names of step t were read: a value of another step
_OTHER_STEP = re.compile(r"_\s*\{[^{}]*\bt\s*[+-]\s*\d+\s*\}|\[\s*t\s*[+-]\s*\d+\s*\]|_\{?\s*t\s*\}?|\[\s*t\s*\]")


def _name_forms(d) -> list:
    """(form as written, cell name, time name) for every value of step t (and of step T), longest forms first."""
    found = {}
    for lab in ("t", "T"):
        for cell_symbol, time_symbol in d.mapping(lab).items():
            if cell_symbol.name == "L":
                continue
            for form in _forms(time_symbol.name, d.derivative_names):
                found.setdefault(form, (cell_symbol.name, time_symbol.name))
    return sorted(((form, *names) for form, names in found.items()), key=lambda p: -len(p[0]))


def _forms(name, derivative_names) -> set:
    tex, text = time_latex(name, derivative_names), time_text(name, derivative_names)
    # the same one-character subscripts without braces (h_t; h_{t-1} keeps them) and ASCII text (delta[t], dL/dh[t])
    unbraced = re.sub(r"_\{([A-Za-z0-9])\}", r"_\1", tex)
    ascii_text = text.replace("∂L/∂", "dL/d").replace("δ", "delta").replace("ŷ", "yhat")
    return {f for f in (tex, text, unbraced, ascii_text) if f}


def to_cell(formula: str, d) -> tuple:
    """(summed over t?, the formula with the names of step t read as the cell's names, {cell name: time text})."""
    match = _SUM.match(formula)
    summed = match is not None
    body = formula[match.end():] if summed else formula
    if re.search(r"\\sum|Σ|\bsum_", body):
        raise FormulaError("write the sum over the steps once, in front: \\sum_{t=1}^{T} <the term of step t>")
    back = {}
    for form, cell_name, time_symbol_name in _name_forms(d):
        pattern = r"(?<![A-Za-z0-9\\])" + re.escape(form) + r"(?![A-Za-z0-9_])"
        if re.search(pattern, body):
            body = re.sub(pattern, lambda _: f" {cell_name} ", body)
            back.setdefault(cell_name, time_text(time_symbol_name, d.derivative_names))
    left = _OTHER_STEP.search(body)
    if left:
        raise FormulaError(
            f"the formula uses {left.group(0).strip()!r}, a value symprop does not know at step t: the term of step t may use "
            "the values of step t, the previous state (h_{t-1}) and the parameters"
        )
    return summed, body, back


def _to_time(text, back) -> str:
    if not text:
        return text
    for cell_name in sorted(back, key=len, reverse=True):
        text = re.sub(r"(?<![A-Za-z0-9_\[])" + re.escape(cell_name) + r"(?![A-Za-z0-9_\[])", back[cell_name], text)
    return text


def check_gradient(d, param, formula, *, seed: int = 0, points=None, batched=None):
    """Check a hand-derived formula for dL/d(param) of a recurrent network; see the module docstring."""
    if batched:
        raise FormulaError("the formulas of a recurrent network are checked per example (sums over t of the terms of step t)")
    if not isinstance(formula, str):
        raise FormulaError("give the formula of a recurrent network as text, in the notation of its notes")
    name = param.name if isinstance(param, (sp.Symbol, sp.MatrixSymbol)) else str(param)
    name = name[4:] if name.startswith("dL/d") else name
    steps = {s.of: s for s in d.steps if s.kind == "gradient"}
    if name not in steps:
        raise FormulaError(f"no parameter named {name!r}; choose one of: {', '.join(steps)}")
    step = steps[name]
    summed, body, back = to_cell(formula, d)
    result = verify.check_gradient(d.cell, name, body, batched=False, seed=seed, points=points)
    if not result.ok and result.diagnosis is None:
        result.diagnosis = _wrong_step(d, name, body, back, seed, points)
    for cell_symbol, time_symbol in d.mapping("t").items():
        if cell_symbol.name != "L":  # (the L of dL/dW is the whole loss)
            back.setdefault(cell_symbol.name, time_text(time_symbol.name, d.derivative_names))
    back.update(_cell_names(d))
    one_term = d.network.loss_at == "last" and step.before_last is None
    result.label = f"dL/d{name}"
    result.source = formula
    result.formula = ("Σ_t " if summed else "") + _to_time(result.formula, back)
    result.derived = d.text(step.last) if one_term else "Σ_t " + d.text(step.expr)
    result.derived_latex = ""  # the cell's LaTeX has no t and no sum: notebooks show the text form above
    if result.diagnosis is not None:
        result.diagnosis = verify.Diagnosis(
            result.diagnosis.key, result.diagnosis.title, _to_time(result.diagnosis.message, back),
            ("Σ_t " if summed else "") + _to_time(result.diagnosis.repaired, back) if result.diagnosis.repaired else None,
        )
    if result.counterexample is not None:
        result.counterexample.values = {back.get(k, k): v for k, v in result.counterexample.values.items()}
        result.notes.append("the counterexample is one step t: its inputs, previous state, what the later steps send back "
                            f"and the weight of its loss ({d.network.weight.name}: 1, or 0 before T when the loss is at T only)")
    if not summed and not one_term and d.network.T > 1:
        term = result.formula
        result.ok, result.proved = False, False
        if result.diagnosis is None:
            result.diagnosis = verify.Diagnosis(
                "sum_over_t", "missing sum over t",
                f"{name} is used at every step, so its gradient is the sum over t = 1..T of the gradient of each step",
                f"Σ_t {term}" if result.counterexample is None else None,
            )
        else:
            result.notes.append(f"{name} is used at every step: its gradient is a sum over t (Σ_t ...)")
    result.notes.append("checked term by term: the term of step t against the gradient of the cell at step t")
    return result


def _cell_names(d) -> dict:
    """{cell name: time text} of the carries and the loss's weight, which the checker's counterexample lists."""
    out = {d.network.weight.name: "the weight of L[t]"}
    for prev, g in d.network.carries.items():
        out[g.name] = f"what step t+1 sends back to {prev.name}[t]"
    return out


def _wrong_step(d, name, body, back, seed, points):
    """A state of the wrong step (h_t for h_{t-1}, or the reverse), if swapping it repairs the term."""
    for prev, node in d.state_nodes.items():
        now, before = node.name, prev.name
        pattern = r"(?<![A-Za-z0-9_])(" + re.escape(now) + "|" + re.escape(before) + r")(?![A-Za-z0-9_])"
        if not re.search(pattern, body):
            continue
        swapped = re.sub(pattern, lambda m: before if m.group(1) == now else now, body)
        try:
            repaired = verify.check_gradient(d.cell, name, swapped, batched=False, seed=seed, points=points)
        except FormulaError:
            continue
        if repaired.ok:
            wrote = before if re.search(r"(?<![A-Za-z0-9_])" + re.escape(before) + r"(?![A-Za-z0-9_])", body) else now
            should = now if wrote == before else before
            lab = "T" if "[T" in back.get(wrote, "") else "t"
            mapping = d.mapping(lab)
            names = {now: time_text(mapping[node.symbol].name, d.derivative_names),
                     before: time_text(mapping[prev].name, d.derivative_names)}
            return verify.Diagnosis("wrong_step", "a value of the wrong step", f"{names[wrote]} should be {names[should]}",
                                    _to_time(repaired.formula, {**back, **names}))
    return None


__all__ = ["check_gradient", "to_cell"]
