"""check_gradient: a hand-derived formula against the derived gradient, with a counterexample and a diagnosis."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import sympy as sp

from .. import formula as fm
from .. import rewrite
from ..derivation import Derivation
from ..errors import FormulaError, SympropError
from ..formula import FormulaShapeError, text
from .mistakes import Diagnosis, diagnose
from .sampling import BATCH_SIZE, EXACT_POINTS, FLOAT_POINTS, Target, _derivation, _matches, _Sampler, _target, compare


# --------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------


@dataclass
class Counterexample:
    values: dict  # the parameters, inputs and targets
    expected: object
    given: object
    index: Optional[tuple] = None
    expected_entry: object = None
    given_entry: object = None
    message: str = ""


@dataclass
class FormulaCheck:
    ok: bool
    label: str  # dL/dW1
    formula: str  # as read, plain text
    source: str  # as given
    batched: bool
    derived: str  # what symprop derives, as text
    points: int
    proved: bool = False  # equal symbolically
    exact: bool = False  # points are exact rationals
    diagnosis: Optional[Diagnosis] = None
    counterexample: Optional[Counterexample] = None
    shape_error: Optional[str] = None
    notes: list = field(default_factory=list)

    def __bool__(self):
        return self.ok

    def __str__(self):
        form = "batch form, mean over the batch" if self.batched else "per example"
        lines = [f"{self.label} ({form})", f"  your formula, as read: {self.formula}"]
        kind = "exact rational" if self.exact else "random float64"
        if self.ok:
            how = "proved symbolically and " if self.proved else ""
            lines.append(f"  verdict: CORRECT ({how}equal at {self.points} {kind} points)")
        else:
            lines.append("  verdict: WRONG")
            if self.shape_error:
                lines.append(f"  {self.shape_error}")
            if self.diagnosis:
                lines.append(f"  diagnosis [{self.diagnosis.key}] {self.diagnosis.title}: {self.diagnosis.message}")
                lines.append(f"    corrected: {self.diagnosis.repaired} matches {self.label} at every point")
            else:
                lines.append("  diagnosis: none of the usual mistakes explains the difference")
            if self.counterexample:
                lines.extend("  " + line for line in _counterexample_lines(self.counterexample, self.label, self.batched))
        lines.append(f"  symprop derives: {self.label} = {self.derived}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, sp.Basic):
        if v.is_Rational:
            return str(v)
        return f"{float(sp.N(v, 20)):.6g}"
    if isinstance(v, np.ndarray):
        if v.size == 1:
            return f"{float(v.reshape(-1)[0]):.6g}"
        return np.array2string(v, precision=4, suppress_small=True, max_line_width=100).replace("\n", "")
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _counterexample_lines(c: Counterexample, label: str, batched: bool = False) -> list:
    lines = [f"counterexample{f' (inputs and targets: one column per example, m = {BATCH_SIZE})' if batched else ''}:"]
    for name, value in c.values.items():
        lines.append(f"  {name} = {_fmt(value)}")
    if c.message and c.given is not None or c.message.startswith("the formula"):
        lines.append("  " + c.message.replace("{label}", label))
    if c.index is not None and c.expected_entry is not None:
        where = "" if c.index in ((), (0, 0)) and not isinstance(c.expected, np.ndarray) else str(list(c.index))
        lines.append(f"  {label}{where}: expected {_fmt(c.expected_entry)}, your formula gives {_fmt(c.given_entry)}")
    if isinstance(c.expected, np.ndarray) and c.expected.size > 1:
        lines.append(f"  expected {label} = {_fmt(c.expected)}")
        if c.given is not None:
            lines.append(f"  your formula   = {_fmt(c.given)}")
    return lines


# --------------------------------------------------------------------------
# check_gradient
# --------------------------------------------------------------------------


def check_gradient(net, param, formula, *, batched: Optional[bool] = None, seed: int = 0,
                   points: Optional[int] = None) -> FormulaCheck:
    """Check a hand-derived formula for dL/d(param) (or for an adjoint such as delta1).

    ``formula`` is a string in the notation of the derivations (see
    ``symprop.formula``) or a SymPy expression in the network's symbols.
    ``batched``: compare with the batch-mean gradient (columns are examples);
    by default decided by the formula's notation (m, X, Delta1, sums).
    """
    from ..printing import text as sympy_text

    d = _derivation(net)
    target = _target(d, param)
    namespace = fm.namespace(d, target.exclude)
    parsed = fm.parse(formula, namespace)
    if batched is None:
        batched = parsed.batch
    elif not batched and parsed.batch:
        raise FormulaError("the formula is written for a batch (m, sums over examples or batch matrices) but batched=False")
    sampler = _Sampler(d, target, batched, seed)
    exact = sampler.exact
    count = points or (EXACT_POINTS if exact else FLOAT_POINTS)
    sample = [sampler.draw(i, count) for i in range(count)]

    derived_expr = target.step.batched if batched else target.step.expr
    result = FormulaCheck(
        ok=False, label=target.label, formula=parsed.text, source=parsed.source, batched=batched,
        derived=sympy_text(derived_expr) if derived_expr is not None else "?", points=count, exact=exact,
    )

    if d.network.loss_reading:
        result.notes.append(d.network.loss_reading)

    def evaluate(tree, point):
        return fm.Evaluator(point.env, point.examples, exact)(tree)

    # Try the readings in order; the first whose shapes fit is the formula.
    chosen, shape_error = None, None
    for tree in parsed.readings:
        try:
            evaluate(tree, sample[0])
        except FormulaShapeError as exc:
            shape_error = shape_error or str(exc)
            continue
        if chosen is None:
            chosen = tree
        if _matches(tree, sample, evaluate, exact):
            result.ok = True
            result.formula = text(tree)
            if tree is not parsed.tree:
                result.notes.append(f"read left to right; with juxtaposition first it reads {text(parsed.tree)}")
            if not batched:
                result.proved = _symbolically_equal(d, target, tree, namespace)
            return result
    tree = chosen if chosen is not None else parsed.tree
    result.formula = text(tree)
    if chosen is None:
        result.shape_error = shape_error
    result.counterexample = _counterexample(tree, sample, evaluate, exact)
    result.diagnosis = diagnose(tree, namespace, sample, evaluate, exact, batched)
    return result


def _counterexample(tree, sample, evaluate, exact) -> Counterexample:
    for point in sample:
        try:
            given = evaluate(tree, point)
        except FormulaShapeError as exc:
            return Counterexample(point.values, point.expected, None, message=str(exc))
        c = compare(point.expected, given, exact)
        if not c.equal:
            return Counterexample(point.values, point.expected, given, c.index, c.expected_entry, c.given_entry, c.message)
    return Counterexample(sample[0].values, sample[0].expected, None)


# --------------------------------------------------------------------------
# The symbolic check (only where quick)
# --------------------------------------------------------------------------

MAX_SYMBOLIC_OPS = 400


def _symbolically_equal(d: Derivation, target: Target, tree, namespace) -> bool:
    try:
        given = fm.to_sympy(tree, namespace)
    except (fm.NotSymbolic, SympropError, ValueError, TypeError, AttributeError):
        return False
    expected = target.step.expr
    adjoints = {s.symbol: s.expr for s in d.steps if s.kind == "adjoint"}
    forward = {s.symbol: s.expr for s in d.steps if s.kind == "forward"}
    for definitions in (adjoints, {**adjoints, **forward}):
        try:
            e, g = _substitute(expected, definitions), _substitute(given, definitions)
            if _same(e, g):
                return True
        except (SympropError, ValueError, TypeError, AttributeError, sp.matrices.exceptions.ShapeError):
            return False
    return False


def _substitute(expr, definitions):
    for _ in range(len(definitions) + 1):
        present = {s: definitions[s] for s in expr.free_symbols if s in definitions}
        if not present:
            return expr
        expr = rewrite.substitute(expr, present)
    return expr


def _same(e, g) -> bool:
    if e == g:
        return True
    if isinstance(e, sp.MatrixExpr) or isinstance(g, sp.MatrixExpr):
        return rewrite.normalize(e) == rewrite.normalize(g)
    if sp.count_ops(e) + sp.count_ops(g) > MAX_SYMBOLIC_OPS:
        return False
    return sp.expand(e - g) == 0 or sp.cancel(sp.expand(e - g)) == 0
