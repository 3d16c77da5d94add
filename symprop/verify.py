"""Checking gradients people derived or coded by hand.

``check_gradient(net, W1, "delta^{[1]} x^T")`` - a hand-derived formula
    The formula (a string, read by ``formula.py``, or a SymPy expression) is
    evaluated at random sample points beside the gradient symprop derives, and
    a symbolic comparison is tried where it is quick.  When they differ, the
    result carries a counterexample and, when one of the usual mistakes
    explains the difference, its diagnosis: every row of ``MISTAKES`` proposes
    repairs of the formula, and a repair that matches the derived gradient at
    every sample point names the mistake.

``gradcheck(my_backward, params, data, loss=my_loss | net=net)`` - hand-written code
    Fast mode: central differences of the loss along a few random directions
    that move all parameters at once, against the inner products of the
    claimed gradients with the same directions.  Only when such a test fails
    are parameters tested one by one, and the failing ones entry by entry.
    With ``net=`` the reference is the network's own derived gradients,
    compared entry by entry (no differences needed).
"""

from __future__ import annotations

import itertools
import math
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Optional

import numpy as np
import sympy as sp

from . import formula as fm
from . import rewrite
from .derivation import Derivation
from .errors import EvaluationError, FormulaError, SympropError
from .formula import FormulaShapeError, name_node, text

# ==========================================================================
# Part 1: hand-derived formulas
# ==========================================================================

FLOAT_POINTS = 3  # sample points for networks of matrices (float64)
EXACT_POINTS = 4  # sample points for scalar networks (exact rationals)
BATCH_SIZE = 3  # examples per sample point of a batched formula (not 2: 1/m and 1/2 would blur)

_derivations = weakref.WeakKeyDictionary()


def _derivation(net) -> Derivation:
    from .network import Network
    from .recurrent import RecurrentDerivation, RecurrentNetwork

    if isinstance(net, (Derivation, RecurrentDerivation)):
        return net
    if not isinstance(net, (Network, RecurrentNetwork)):
        raise SympropError(f"expected a symprop.Network (or its Derivation), got {type(net).__name__}")
    if net not in _derivations:
        _derivations[net] = net.derive()
    return _derivations[net]


@dataclass(frozen=True)
class Target:
    """What a formula claims to be: dL/d(param), or the adjoint of an intermediate."""

    step: object  # the derivation's Step
    label: str  # dL/dW1, delta1
    kind: str  # parameter | input | adjoint
    exclude: frozenset  # adjoints the formula may not use (itself and those computed from it)


def _target(d: Derivation, param) -> Target:
    name = param.name if isinstance(param, (sp.Symbol, sp.MatrixSymbol)) else param
    if not isinstance(name, str):
        raise SympropError(f"param must be a symbol or a name, got {param!r}")
    if name.startswith("dL/d"):
        name = name[4:]
    steps = list(d.steps)
    for s in steps:
        if s.kind == "gradient" and (s.of == name or s.name == name):
            return Target(s, f"dL/d{s.of}", s.role, frozenset())
    for s in steps:
        if s.kind == "adjoint" and (s.of == name or s.name == name or ("d" + s.of) == name):
            later = steps[steps.index(s):]
            exclude = frozenset(t.name for t in later if t.kind == "adjoint")
            return Target(s, s.name if s.name.startswith("delta") else f"dL/d{s.of}", "adjoint", exclude)
    options = [s.of for s in steps if s.kind == "gradient"] + [s.name for s in steps if s.kind == "adjoint"]
    raise FormulaError(f"no gradient or adjoint named {name!r}; choose one of: {', '.join(options)}")


# --------------------------------------------------------------------------
# Sample points
# --------------------------------------------------------------------------

# Exact values for scalar networks: small fractions, none of 0 and +-1 (where a
# missing factor x or w would go unnoticed).
_GRID = [Fraction(n, 2) for n in range(-6, 7) if n not in (0, 2, -2)]
_UNIT_GRID = [Fraction(1, 4), Fraction(1, 2), Fraction(3, 4)]
KINK_MARGIN_FLOAT = 1e-4
KINK_MARGIN_EXACT = Fraction(1, 4)


@dataclass
class Point:
    values: dict  # declared name -> value (per example: inputs and targets of example 0, or all columns)
    env: dict  # name -> value, what the formula's names evaluate to
    examples: Optional[list]  # per-example envs (batched formulas)
    expected: object


class _Sampler:
    def __init__(self, d: Derivation, target: Target, batched: bool, seed: int):
        self.d = d
        self.net = d.network
        self.target = target
        self.batched = batched
        self.exact = self.net.is_scalar and not batched
        self.rng = np.random.default_rng(seed)
        self.kinked = self._kinked_preactivations()
        self.target_kinds = self._target_kinds()

    def _kinked_preactivations(self) -> list:
        """Pre-activations of layers whose activation is not smooth at 0 (ReLU and kin)."""
        from . import ops

        names = []
        for node in self.net.nodes:
            if node.role != "pre-activation":
                continue
            act = next((n for n in self.net.nodes if n.layer == node.layer and n.activation), None)
            rule = ops.FUNCTIONS.get(act.activation) if act else None
            if rule is not None and rule.derivative.has(ops.step.function):
                names.append(node.name)
        return names

    def _target_kinds(self) -> dict:
        from . import ops

        kinds = {}
        for e in sp.preorder_traversal(self.net.loss):
            if isinstance(e, ops.LossExpr) and e.target in self.net.targets:
                rule = e.rule
                kinds[e.target.name] = "distribution" if rule.target_sum_to_one else (
                    "unit" if rule.name == "binary_cross_entropy" else "real")
        return kinds

    # values of the declared symbols ------------------------------------------
    def _param_value(self, sym):
        if self.exact:
            return sp.Rational(*_as_pair(self.rng.choice(_GRID)))
        if isinstance(sym, sp.MatrixSymbol):
            rows, cols = (int(k) for k in sym.shape)
            if cols == 1:  # a bias: small, so that ReLU units are both on and off
                return self.rng.normal(0.0, 0.3, size=(rows, cols))
            return self.rng.normal(0.0, 1.5 / math.sqrt(cols), size=(rows, cols))
        return float(self.rng.normal())

    def _data_value(self, sym):
        kind = self.target_kinds.get(sym.name, "real")
        if self.exact:
            grid = _UNIT_GRID if kind in ("unit", "distribution") else _GRID
            return sp.Rational(*_as_pair(self.rng.choice(grid)))
        if isinstance(sym, sp.MatrixSymbol):
            shape = tuple(int(k) for k in sym.shape)
            if kind == "distribution":  # cross-entropy's targets sum to 1
                p = self.rng.dirichlet(np.ones(shape[0]))
                return p.reshape(shape)
            if kind == "unit":
                return self.rng.uniform(0.1, 0.9, size=shape)
            return self.rng.normal(size=shape)
        if kind in ("unit", "distribution"):
            return float(self.rng.uniform(0.1, 0.9)) if kind == "unit" else 1.0
        return float(self.rng.normal())

    # environments ----------------------------------------------------------
    def _example_env(self, values: dict):
        """Every named value of one example: declared symbols, forward values, adjoints, gradients."""
        if self.exact:
            return self._exact_env(values)
        out = self.d.evaluate(values)
        env = {}
        for sym in self.net.declared:
            v = values[sym.name]
            if isinstance(sym, sp.MatrixSymbol):
                env[sym.name] = np.asarray(v, dtype=float).reshape(tuple(int(k) for k in sym.shape))
            else:
                env[sym.name] = float(v)
        for step in self.d.steps:
            if step.kind == "update":
                continue
            v = out[step.key]
            env[step.name] = np.asarray(v, dtype=float).reshape(step.shape) if step.shape else float(v)
        return env

    def _exact_env(self, values: dict):
        symbols = {sym: values[sym.name] for sym in self.net.declared}
        env = {sym.name: values[sym.name] for sym in self.net.declared}
        for step in self.d.steps:
            if step.kind == "update":
                continue
            value = fm._exact(step.expr.xreplace(symbols))
            symbols[step.symbol] = value
            env[step.name] = value
        return env

    def _usable(self, env, on: Optional[bool]) -> bool:
        """Away from the ReLU kinks, and with the units of every ReLU layer on and off.

        A layer of one unit is on where ``on`` is True and off where it is
        False (a sample of only active units could not tell a missing ReLU'
        factor; only inactive ones would make every gradient 0); a wider
        layer has units of both kinds at every point.
        """
        for name in self.kinked:
            v = env[name]
            entries = [float(sp.N(v, 20))] if self.exact else [float(e) for e in np.asarray(v).reshape(-1)]
            margin = float(KINK_MARGIN_EXACT) if self.exact else KINK_MARGIN_FLOAT
            if min(abs(e) for e in entries) < margin:
                return False
            if on is None:
                continue
            if len(entries) == 1 and (entries[0] > 0) != on:
                return False
            if len(entries) > 1 and not (any(e > 0 for e in entries) and any(e < 0 for e in entries)):
                return False
        return True

    def draw(self, index: int, count: int) -> Point:
        """Point ``index`` of ``count``: the last has single ReLU units off, the others on."""
        for attempt in range(100):
            point = self._draw_once(on=None if attempt >= 50 else index < count - 1)
            if point is not None:
                return point
        raise SympropError("could not draw a sample point away from the ReLU kinks (|z| > 0) in 100 attempts")

    def _draw_once(self, on: Optional[bool]) -> Optional[Point]:
        params = {s.name: self._param_value(s) for s in self.net.params}
        m = BATCH_SIZE if self.batched else 1
        examples = []
        for e in range(m):
            values = dict(params)
            values.update({s.name: self._data_value(s) for s in self.net.inputs + self.net.targets})
            env = self._example_env(values)
            example_on = on if not self.batched or on is None else e < m - 1
            if not self._usable(env, example_on):
                return None
            examples.append((values, env))
        step = self.target.step
        if not self.batched:
            values, env = examples[0]
            return Point(values, env, None, env[step.name])
        envs = [e for _, e in examples]
        for e in envs:
            e["m"] = float(m)
        batch_env = {"m": float(m)}
        for name in envs[0]:
            if name == "m":
                continue
            if name in params:
                batch_env[name] = envs[0][name]
            else:
                columns = [np.asarray(e[name], dtype=float).reshape(-1, 1) for e in envs]
                batch_env[name] = np.hstack(columns)
        per_example = [e[step.name] for e in envs]
        if self.target.kind == "parameter":
            expected = sum(per_example) / m
        else:
            expected = np.hstack([np.asarray(v, dtype=float).reshape(-1, 1) for v in per_example])
            if self.target.kind == "input":  # dL/dx^(i) of the batch mean
                expected = expected / m
        values = {name: (batch_env[name] if name not in params else params[name]) for name in params}
        values.update({s.name: batch_env[s.name] for s in self.net.inputs + self.net.targets})
        return Point(values, batch_env, envs, expected)


def _as_pair(fraction) -> tuple:
    return int(fraction.numerator), int(fraction.denominator)


# --------------------------------------------------------------------------
# Comparing values
# --------------------------------------------------------------------------

FORMULA_RTOL = 1e-8  # float64 evaluations of the same maths in another order differ by ~1e-15


@dataclass
class Comparison:
    equal: bool
    message: str = ""  # shape difference, non-finite values
    index: Optional[tuple] = None  # the worst entry
    expected_entry: object = None
    given_entry: object = None


def _as_array(v):
    return np.asarray(v, dtype=float)


def compare(expected, given, exact: bool) -> Comparison:
    if exact and not isinstance(given, np.ndarray) and not isinstance(expected, np.ndarray):
        given_n = sp.N(given, 30)
        if not given_n.is_number or given_n.has(sp.zoo, sp.nan, sp.oo, -sp.oo) or not given_n.is_real:
            return Comparison(False, f"the formula's value is not a finite number ({given})", (), expected, given)
        diff = abs(sp.N(expected - given, 30))
        equal = diff <= sp.Float("1e-20") * (1 + abs(sp.N(expected, 30)))
        return Comparison(bool(equal), "", (), expected, given)
    e, g = _as_array(expected), _as_array(given)
    if e.size == 1 and g.size == 1:
        e, g = e.reshape(1, 1), g.reshape(1, 1)
    if e.shape != g.shape:
        return Comparison(False, f"the formula has shape {_shape_word(g.shape)} but {{label}} has shape {_shape_word(e.shape)}")
    if not np.all(np.isfinite(g)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(g))[0])
        return Comparison(False, "the formula's value is not finite", idx, e[idx], g[idx])
    err = np.abs(g - e)
    scale = float(np.max(np.abs(e))) if e.size else 0.0
    ok = err <= FORMULA_RTOL * np.abs(e) + 1e-10 * max(scale, 1e-30)
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(err)), err.shape))
    return Comparison(bool(np.all(ok)), "", idx, float(e[idx]), float(g[idx]))


def _shape_word(shape) -> str:
    return "scalar" if shape in ((), (1, 1)) else f"{shape[0]}×{shape[1]}"


# --------------------------------------------------------------------------
# The usual mistakes: each a row proposing repairs of the formula
# --------------------------------------------------------------------------


@dataclass
class RepairContext:
    namespace: fm.Namespace
    batched: bool
    shapes: dict  # path -> shape of that subtree at the first point (None: does not evaluate)
    inside_sum: set  # paths inside a sum over the examples


def _num(value) -> tuple:
    return ("num", Fraction(value))


def _scale(factor, tree):
    return ("mul", "juxt", _num(factor), tree)


def _negate(tree, ctx):
    yield ("neg", tree), "the formula is minus the gradient"


def _transpose_whole(tree, ctx):
    shape = ctx.shapes.get(())
    if shape is None or shape not in ((), (1, 1)):
        yield ("T", tree), "the formula is the transpose of the gradient (dL/dW has the shape of W)"


def _factor_two(tree, ctx):
    yield _scale(2, tree), "the formula is half the gradient: a factor 2 is missing (d/du u^2 = 2u)"
    yield _scale(Fraction(1, 2), tree), "the formula is twice the gradient: an extra factor 2"


def _sum_vs_mean(tree, ctx):
    if ctx.batched and fm.mentions(tree, ("sum",)):
        yield ("div", tree, name_node("m", True)), \
            "the formula sums over the batch but the loss is the batch mean: divide the sum by m"
    if ctx.batched and fm.mentions(tree, ("mean",)):
        yield ("mul", "juxt", name_node("m", True), tree), "the formula takes the mean over the batch where the sum is meant"


def _factor_m(tree, ctx):
    if ctx.batched:
        yield ("div", tree, name_node("m", True)), "a factor 1/m is missing (the loss is the mean over the batch)"
        yield ("mul", "juxt", name_node("m", True), tree), "an extra factor 1/m"


def _matrix_paths(tree, ctx):
    for path, node in fm.subtrees(tree):
        shape = ctx.shapes.get(path)
        if path and (shape is None or len(shape) == 2 and shape != (1, 1)):
            yield path, node


def _toggle(node):
    return node[1] if node[0] == "T" else ("T", node)


def _transposes(tree, ctx):
    """Missing or misplaced transposes: one toggled, a product's factors swapped, two leaves toggled."""
    for path, node in _matrix_paths(tree, ctx):
        if node[0] == "T":
            yield fm.replace(tree, path, node[1]), f"{text(node)} should be {text(node[1])}"
        else:
            yield fm.replace(tree, path, ("T", node)), f"{text(node)} should be {text(('T', node))}"
    for path, node in fm.subtrees(tree):
        if node[0] == "mul" and node[1] in ("matmul", "juxt", "star"):
            swapped = ("mul", node[1], node[3], node[2])
            yield fm.replace(tree, path, swapped), f"the factors are in the wrong order: {text(node)} should be {text(swapped)}"
    leaves = [(p, n) for p, n in _matrix_paths(tree, ctx) if n[0] == "name" or (n[0] == "T" and n[1][0] == "name")]
    for i, (p1, n1) in enumerate(leaves):
        for p2, n2 in leaves[i + 1 :]:
            if p2[: len(p1)] == p1 or p1[: len(p2)] == p2:
                continue
            repaired = fm.replace(fm.replace(tree, p1, _toggle(n1)), p2, _toggle(n2))
            yield repaired, f"{text(n1)} should be {text(_toggle(n1))} and {text(n2)} should be {text(_toggle(n2))}"


def _fprimes(ctx, batch_notation: bool):
    """(layer, f'(z^[l]) tree) for every layer with an entrywise activation."""
    out = []
    for layer in sorted(ctx.namespace.layers):
        tree = fm.fprime(ctx.namespace, layer)
        if tree is not None:
            if batch_notation:
                tree = ("call", tree[1], 1, name_node(tree[3][1], True))
            out.append((layer, tree))
    return out


def _missing_fprime(tree, ctx):
    scalar = all(s in ((), (1, 1), None) for s in ctx.shapes.values())
    for path, node in fm.subtrees(tree):
        shape = ctx.shapes.get(path)
        if scalar and path:
            continue  # scalars commute: the whole formula is the only place to try
        for _layer, fp in _fprimes(ctx, ctx.batched and path not in ctx.inside_sum):
            z = ctx.namespace.names[fp[3][1]]
            if scalar or shape == z.shape or (ctx.batched and shape is not None and path not in ctx.inside_sum
                                              and len(shape) == 2 and shape[0] == z.shape[0] and shape[1] == BATCH_SIZE):
                repaired = fm.replace(tree, path, ("mul", "hadamard", node, fp))
                yield repaired, f"{text(node)} should be multiplied by {text(fp)}"


def _derivative_calls(tree):
    for path, node in fm.subtrees(tree):
        if node[0] == "call" and (node[2] == 1 or node[1] == "step") and node[3][0] == "name":
            yield path, node


def _wrong_layer_fprime(tree, ctx):
    for path, node in _derivative_calls(tree):
        layer = ctx.namespace.layer_of(node[3][1])
        for other, fp in _fprimes(ctx, node[3][-1] != node[3][1]):
            if layer is not None and other != layer:
                yield fm.replace(tree, path, fp), f"{text(node)} should be {text(fp)}"


def _wrong_activation(tree, ctx):
    for path, node in _derivative_calls(tree):
        layer = ctx.namespace.layer_of(node[3][1])
        if layer is None:
            continue
        for other, fp in _fprimes(ctx, node[3][-1] != node[3][1]):
            if other == layer and fp[1] != node[1]:
                fixed = ("call", fp[1], 1, node[3])
                yield fm.replace(tree, path, fixed), f"{text(node)} should be {text(fixed)}"


def _extra_fprime(tree, ctx):
    for path, node in fm.subtrees(tree):
        if node[0] != "mul":
            continue
        for keep, drop in ((2, 3), (3, 2)):
            d = node[drop]
            if d[0] == "call" and (d[2] == 1 or d[1] == "step"):
                yield fm.replace(tree, path, node[keep]), \
                    f"drop the factor {text(d)} (f' is already in the delta, or belongs to no layer here)"


def _wrong_layer_values(tree, ctx):
    """A value of another layer written where this layer's is meant: a2 (1 - a2) for a1 (1 - a1)."""
    names = ctx.namespace.names
    used = {n[1] for _, n in fm.subtrees(tree) if n[0] == "name"}

    def group(entry):  # values that play the same part in another layer
        return (entry.kind, "activation" if entry.role == "prediction" else entry.role)

    for name in sorted(used):
        entry = names[name]
        if entry.kind not in ("forward", "adjoint") or entry.layer is None:
            continue
        for other in names.values():
            if other.name != name and group(other) == group(entry) and other.layer not in (None, entry.layer) \
                    and other.shape == entry.shape:
                # Some occurrences may be right ((yhat - y) w2 yhat (1 - yhat) x): try every
                # subset of them (few: formulas are short), all of them first.
                places = [p for p, n in fm.subtrees(tree) if n[0] == "name" and n[1] == name]
                subsets = [places] + ([list(c) for k in range(1, len(places)) for c in itertools.combinations(places, k)]
                                      if len(places) <= 6 else [])
                for subset in subsets:
                    repaired = tree
                    for p in subset:
                        written = fm.at(tree, p)
                        repaired = fm.replace(repaired, p, name_node(other.name, written[2] != written[1]))
                    which = "" if len(subset) == len(places) else f" ({len(subset)} of its {len(places)} occurrences)"
                    yield repaired, f"{name} should be {other.name}{which}"


@dataclass(frozen=True)
class Mistake:
    key: str
    title: str
    repairs: Callable  # (tree, RepairContext) -> iterable of (repaired tree, sentence)


# The table of the usual mistakes, most specific first; adding one is a row.
MISTAKES = (
    Mistake("sign", "sign error", _negate),
    Mistake("layout", "wrong layout (dL/dW vs its transpose)", _transpose_whole),
    Mistake("factor_2", "factor 2", _factor_two),
    Mistake("sum_vs_mean", "sum vs mean over the batch", _sum_vs_mean),
    Mistake("factor_m", "factor 1/m", _factor_m),
    Mistake("transpose", "missing or misplaced transpose", _transposes),
    Mistake("missing_fprime", "missing f'(z) factor", _missing_fprime),
    Mistake("wrong_layer_fprime", "f' of the wrong layer", _wrong_layer_fprime),
    Mistake("wrong_activation", "derivative of the wrong activation", _wrong_activation),
    Mistake("extra_fprime", "extra f'(z) factor", _extra_fprime),
    Mistake("wrong_layer", "a value of the wrong layer", _wrong_layer_values),
)

MAX_REPAIRS = 400  # candidate repairs tried per formula


@dataclass(frozen=True)
class Diagnosis:
    key: str
    title: str
    message: str
    repaired: Optional[str] = None  # the repaired formula, as text


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
    from .printing import text as sympy_text

    d = _derivation(net)
    if hasattr(d, "cell"):  # a recurrent network: sums over t, checked term by term (verify_recurrent.py)
        from .verify_recurrent import check_gradient as check_recurrent

        return check_recurrent(d, param, formula, seed=seed, points=points, batched=batched)
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


def _matches(tree, sample, evaluate, exact) -> bool:
    for point in sample:
        try:
            given = evaluate(tree, point)
        except FormulaShapeError:
            return False
        if not compare(point.expected, given, exact).equal:
            return False
    return True


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


def _subtree_shapes(tree, point, exact) -> tuple:
    """Shape of every subtree at one point (None where it does not evaluate), and the paths inside sums."""
    shapes, inside = {}, set()
    for path, node in fm.subtrees(tree):
        in_sum = any(fm.at(tree, path[:k])[0] in ("sum", "mean") for k in range(len(path)))
        if in_sum:
            inside.add(path)
        env = point.examples[0] if in_sum and point.examples else point.env
        try:
            value = fm.Evaluator(env, point.examples, exact)(node)
            shapes[path] = value.shape if isinstance(value, np.ndarray) else ()
        except (FormulaError, TypeError, ValueError):
            shapes[path] = None
    return shapes, inside


def diagnose(tree, namespace, sample, evaluate, exact, batched) -> Optional[Diagnosis]:
    shapes, inside = _subtree_shapes(tree, sample[0], exact)
    ctx = RepairContext(namespace, batched, shapes, inside)
    tried = 0
    seen = {tree}
    for mistake in MISTAKES:
        for repaired, sentence in mistake.repairs(tree, ctx):
            if repaired in seen:
                continue
            seen.add(repaired)
            tried += 1
            if tried > MAX_REPAIRS:
                return None
            try:
                if _matches(repaired, sample, evaluate, exact):
                    return Diagnosis(mistake.key, mistake.title, sentence, text(repaired))
            except FormulaError:
                continue
    return None


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


# ==========================================================================
# Part 2: hand-written backward code
# ==========================================================================

RTOL = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 1e-3}  # directional tests vs differences
RTOL_FLOAT32_LOSS = 2e-2  # a loss computed in float32: its own round-off limits the differences
REFERENCE_RTOL = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-3}  # against derived gradients
NOISE = 32  # round-off of a loss evaluation, in units of eps * |L|
WEIGHT_FLOOR = {np.dtype(np.float64): 1e-4, np.dtype(np.float32): 1e-1}
MAX_REDRAWS = 3


@dataclass
class EntryCheck:
    index: tuple
    expected: float  # central difference
    got: float
    abs_err: float
    rel_err: float
    ok: bool
    kink: bool = False


@dataclass
class ParamCheck:
    name: str
    shape: tuple
    ok: bool
    max_abs_err: float
    max_rel_err: float
    worst_index: Optional[tuple] = None
    expected: Optional[float] = None
    got: Optional[float] = None
    evaluations: int = 0  # loss evaluations spent on this parameter alone
    method: str = ""  # joint directions | own direction | entries | derived reference
    entries: list = field(default_factory=list)
    note: str = ""


class GradcheckReport(Mapping):
    """Per parameter verdicts: ``report["W1"].ok``; ``print(report)`` shows the table."""

    def __init__(self, checks: dict, *, reference: str, dtype, loss_evaluations: int, backward_calls: int,
                 seconds: float, step: Optional[float] = None, rtol: Optional[float] = None, notes=()):
        self.checks = checks
        self.reference = reference
        self.dtype = np.dtype(dtype)
        self.loss_evaluations = loss_evaluations
        self.backward_calls = backward_calls
        self.seconds = seconds
        self.step = step
        self.rtol = rtol
        self.notes = list(notes)

    def __getitem__(self, name) -> ParamCheck:
        return self.checks[name]

    def __iter__(self):
        return iter(self.checks)

    def __len__(self):
        return len(self.checks)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks.values())

    @property
    def failed(self) -> list:
        return [name for name, c in self.checks.items() if not c.ok]

    def __bool__(self):
        return self.ok

    def __str__(self):
        wrong = self.failed
        verdict = "all parameters ok" if not wrong else f"{len(wrong)} of {len(self)} parameters WRONG: {', '.join(wrong)}"
        head = f"gradcheck: {verdict}"
        detail = f"reference: {self.reference}; {self.dtype.name}"
        if self.step is not None:
            detail += f", step {self.step:.2g} x parameter scale, rtol {self.rtol:.0e}"
        detail += f"; {self.loss_evaluations} loss evaluations, {self.backward_calls} backward call(s), {self.seconds:.3f} s"
        rows = [("param", "shape", "verdict", "max abs err", "max rel err", "worst entry", "expected", "got", "evals",
                 "checked by")]
        for c in self.checks.values():
            rows.append((
                c.name, str(c.shape), "ok" if c.ok else "WRONG", f"{c.max_abs_err:.2e}", f"{c.max_rel_err:.2e}",
                "-" if c.worst_index is None else str(tuple(c.worst_index)),
                "-" if c.expected is None else f"{c.expected:.6g}", "-" if c.got is None else f"{c.got:.6g}",
                str(c.evaluations), c.method,
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        table = ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
        notes = [f"  note: {n}" for n in self.notes] + [f"  {c.name}: {c.note}" for c in self.checks.values() if c.note]
        return "\n".join([head, "  " + detail, *table, *notes])

    def __repr__(self):
        return f"<GradcheckReport ok={self.ok} failed={self.failed}>"


# --------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------


def _check_params(params) -> dict:
    if not isinstance(params, Mapping) or not params:
        raise EvaluationError("params must be a non-empty dict of parameter name -> NumPy array")
    out = {}
    for name, value in params.items():
        if not isinstance(name, str):
            raise EvaluationError(f"parameter names must be strings, got {name!r}")
        try:
            arr = np.array(value)
        except Exception as exc:  # noqa: BLE001 - any conversion failure is the same user error
            raise EvaluationError(f"parameter {name!r} is not an array of numbers: {exc}") from None
        if arr.dtype.kind in "iub":
            arr = arr.astype(np.float64)
        if arr.dtype not in (np.float64, np.float32):
            raise EvaluationError(f"parameter {name!r} has dtype {arr.dtype}; use float64 or float32")
        if not np.all(np.isfinite(arr)):
            raise EvaluationError(f"parameter {name!r} contains non-finite values")
        arr.flags.writeable = False  # user code must not change the point being checked
        out[name] = arr
    return out


def _check_data(data) -> dict:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise EvaluationError("data must be a dict of name -> array (passed as keyword arguments)")
    out = {}
    for name, value in data.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise EvaluationError(f"data names must be identifiers (they are keyword arguments), got {name!r}")
        arr = np.array(value)
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise EvaluationError(f"data {name!r} contains non-finite values")
        arr.flags.writeable = False
        out[name] = arr
    return out


def _call_backward(backward, params, data) -> dict:
    result = backward(dict(params), **data)
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], Mapping):
        result = result[1]  # (loss, grads), as the generated modules return
    if not isinstance(result, Mapping):
        raise EvaluationError(f"backward must return a dict of parameter name -> gradient, got {type(result).__name__}")
    grads = {}
    missing = []
    for name, p in params.items():
        key = name if name in result else ("d" + name if "d" + name in result else None)
        if key is None:
            missing.append(name)
            continue
        try:
            g = np.asarray(result[key], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise EvaluationError(f"the gradient of {name!r} is not an array of numbers: {exc}") from None
        if g.shape != p.shape:
            hint = " (same size: reshape it)" if g.size == p.size else ""
            raise EvaluationError(f"the gradient of {name!r} has shape {g.shape} but the parameter has shape {p.shape}{hint}")
        if not np.all(np.isfinite(g)):
            raise EvaluationError(f"the gradient of {name!r} contains non-finite values")
        grads[name] = g
    if missing:
        raise EvaluationError(
            f"backward returned no gradient for {', '.join(missing)}; it returned keys {sorted(map(str, result))}"
        )
    return grads


class _CountedLoss:
    def __init__(self, loss, data):
        self.loss = loss
        self.data = data
        self.count = 0
        self.dtype = np.dtype(np.float64)  # of the last value returned

    def __call__(self, params) -> float:
        self.count += 1
        value = self.loss(params, **self.data)
        arr = np.asarray(value)
        if arr.size != 1 or arr.dtype.kind not in "fiu":
            raise EvaluationError(f"loss must return a scalar number, got {type(value).__name__} of shape {arr.shape}")
        self.dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)
        v = float(arr.reshape(-1)[0])
        if not math.isfinite(v):
            raise EvaluationError(f"loss returned a non-finite value ({v})")
        return v


# --------------------------------------------------------------------------
# Directional tests
# --------------------------------------------------------------------------


@dataclass
class _Test:
    ok: bool
    kink: bool  # the second difference explains the error: a kink within the step
    error: float  # (fd - claimed), signed, in loss units
    fd: float  # (L(p+d) - L(p-d)) / 2
    claimed: float  # <g, d>
    abs_err: float  # |fd - claimed| / |d|: an error in gradient units
    rel_err: float
    norm: float  # |d|
    unsure: bool = False  # within the round-off of the loss, not within rtol


class _Checker:
    """Central differences of a loss at a point, with the kink tests; counts evaluations.

    The loss is evaluated at float64 points even when the parameters are
    float32 (NumPy promotes the computation), so that the differences are
    accurate to float64 while the claimed float32 gradients are held to a
    float32 tolerance.  A loss that still computes in float32 gets float32
    steps and tolerances.
    """

    def __init__(self, loss: _CountedLoss, params: dict, grads: dict, step, rtol, seed):
        self.loss = loss
        self.grads = grads
        self.param_dtype = np.dtype(np.float32) if any(p.dtype == np.float32 for p in params.values()) else np.dtype(np.float64)
        self.params = {n: _readonly(p.astype(np.float64)) for n, p in params.items()}
        self.rng = np.random.default_rng(seed)
        # Steps are h times the parameter's rms: a step relative to the weights' size
        # crosses few ReLU kinks (a bias at exactly 0 gets an absolute step).
        self.scale = {}
        for name, p in self.params.items():
            rms = float(np.sqrt(np.mean(np.square(p)))) if p.size else 0.0
            self.scale[name] = rms if rms > 1e-8 else 1.0
        self.L0 = loss(self.params)
        self.dtype = loss.dtype if loss.dtype == np.float32 else np.dtype(np.float64)  # what the loss computes in
        if self.dtype == np.float32:
            self.params = {n: _readonly(p.astype(np.float32)) for n, p in self.params.items()}
            self.L0 = loss(self.params)
        self.eps = float(np.finfo(self.dtype).eps)
        self.h = step if step is not None else self.eps ** (1 / 3)
        if rtol is None:
            rtol = RTOL_FLOAT32_LOSS if self.dtype == np.float32 else RTOL[self.param_dtype]
        self.rtol = rtol
        self.unreliable = 0  # tests that stayed ambiguous after every redraw
        self.grad_norm = {n: float(np.linalg.norm(g)) for n, g in grads.items()}

    def test(self, deltas: dict) -> _Test:
        """Compare the loss's central difference along ``deltas`` with the claimed gradients."""
        plus, minus = dict(self.params), dict(self.params)
        claimed, norm2, terms2 = 0.0, 0.0, 0.0
        for name, d in deltas.items():
            p = self.params[name]
            hi, lo = p + d, p - d
            if self.dtype == np.float32:
                hi, lo = hi.astype(np.float32), lo.astype(np.float32)
                half = (hi.astype(np.float64) - lo.astype(np.float64)) / 2  # the actual half step after rounding
            else:
                half = d  # float64 rounding of p +- d is far below any tolerance
            plus[name], minus[name] = hi, lo
            terms = self.grads[name] * half
            claimed += float(terms.sum())
            terms2 += float(np.vdot(terms, terms))
            norm2 += float(np.vdot(half, half))
        Lp, Lm = self.loss(plus), self.loss(minus)
        fd = (Lp - Lm) / 2
        curvature = (Lp + Lm - 2 * self.L0) / 2
        noise = NOISE * self.eps * max(abs(Lp), abs(Lm), abs(self.L0))
        error = fd - claimed
        err = abs(error)
        # The size the error is measured against: the inner product, or the typical
        # size of its terms when they cancel (a softmax bias's gradient sums to 0).
        size = max(abs(fd), abs(claimed), math.sqrt(terms2))
        ok = err <= self.rtol * size + noise
        # Passing only thanks to round-off: the step was too short to tell.
        unsure = ok and err > self.rtol * size
        # Across one kink the error of a central difference equals the second
        # difference (exactly, for a piecewise-linear loss); for a smooth loss the
        # second difference is O(h^2) while a wrong gradient errs by O(h).
        kink = not ok and abs(curvature) >= 0.5 * err - noise
        norm = math.sqrt(norm2) or 1.0
        return _Test(ok, kink, error, fd, claimed, err / norm, err / max(size, 1e-300), norm, unsure)

    def robust(self, make_deltas: Callable[[], dict]) -> tuple:
        """A test along fresh directions until it is not spoilt by a kink.

        Returns (test, redraws, kink_at_point).  A failing test is repeated
        with a step 8 times shorter: a genuine gradient error shrinks by 8 with
        it (in loss units), an error from kinks crossed by the step does not.
        """
        redraws = 0
        while True:
            deltas = make_deltas()
            t = self.test(deltas)
            for _ in range(2):
                if not t.unsure:
                    break
                deltas = {k: 8 * v for k, v in deltas.items()}  # a longer step, to rise above round-off
                t = self.test(deltas)
            if t.ok:
                return t, redraws, False
            short = self.test({k: v / 8 for k, v in deltas.items()})
            if short.ok:
                consistent = False  # the long step crossed a kink
            else:
                consistent = abs(8 * short.error - t.error) <= 0.25 * abs(t.error)
            if consistent and not (t.kink and short.kink):
                return short, redraws, False  # a genuine error, the same at both steps
            if consistent:
                return short, redraws, True  # the error scales like a kink at the point itself
            redraws += 1
            if redraws >= MAX_REDRAWS:
                self.unreliable += 1
                return (short if not short.ok else t), redraws, False

    def signs(self, name, size: float) -> np.ndarray:
        """A Rademacher direction for one parameter: entries +-size, seeded."""
        bits = self.rng.integers(0, 2, size=self.params[name].shape, dtype=np.int8)
        return np.where(bits == 1, size, -size)

    def joint_deltas(self) -> dict:
        """One direction for all parameters, weighted so that each parameter's share of
        the directional derivative is about the same size: a wrong gradient of a small
        bias is not drowned by a large weight matrix's share."""
        share = {n: self.scale[n] * self.grad_norm[n] for n in self.params}
        largest = max(share.values()) if share else 0.0
        floor = WEIGHT_FLOOR[self.dtype] * largest
        positive = [s for s in share.values() if s > 0]
        target = max(min(positive), floor) if positive else 1.0
        deltas = {}
        for n in self.params:
            weight = min(1.0, target / share[n]) if share[n] > 0 else 1.0
            deltas[n] = self.signs(n, self.h * self.scale[n] * weight)
        return deltas

    def own_deltas(self, name) -> dict:
        return {name: self.signs(name, self.h * self.scale[name])}

    def entry(self, name, index) -> tuple:
        p = self.params[name]
        d = np.zeros(p.shape)
        d[index] = self.h * max(abs(float(p[index])), self.scale[name])
        return self.robust(lambda: {name: d})


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# --------------------------------------------------------------------------
# gradcheck
# --------------------------------------------------------------------------


def gradcheck(backward, params, data=None, *, loss=None, net=None, mode: str = "fast", seed: int = 0,
              directions: int = 2, max_entries: int = 8, rtol: Optional[float] = None,
              step: Optional[float] = None) -> GradcheckReport:
    """Check hand-written backward code: ``backward(params, **data) -> {name: gradient}``.

    Reference: ``loss=my_loss`` (``my_loss(params, **data) -> float``; central
    differences) or ``net=network`` (the network's derived gradients of the
    batch-mean loss; data batch-first, as in the generated code).

    ``mode="fast"``: ``directions`` joint random directional derivatives
    (Rademacher, seeded; all parameters move at once, each weighted so that
    its share of the derivative is about the same).  Cost when the gradients
    are right: 1 + 2 * directions loss evaluations (5 by default), whatever
    the size of the network.  When a joint test fails: 2 * directions more per
    parameter along its own directions, then 2 per entry on at most
    ``max_entries`` entries of each failing parameter (the largest claimed
    gradients, then random ones).  A failing test is repeated at 1/8 of the
    step (2 evaluations): an error that does not scale with the step comes
    from ReLU kinks, and the direction is redrawn; a kink at the point itself
    moves the point slightly.  ``mode="full"``: every entry of every
    parameter (2 evaluations an entry; small networks only).

    Steps: h = eps^(1/3) times each parameter's rms.  Tolerances: rtol 1e-5
    for float64 gradients, 1e-3 for float32 ones (the loss is then evaluated
    at float64 points), 2e-2 when the loss itself computes in float32; plus
    the loss's round-off, 32 eps |L|.
    """
    if not callable(backward):
        raise EvaluationError("backward must be a function backward(params, **data) -> dict of gradients")
    if (loss is None) == (net is None):
        raise EvaluationError(
            "give the reference: loss=my_loss (finite differences) or net=network (derived gradients), one of them")
    if mode not in ("fast", "full"):
        raise EvaluationError(f"mode must be 'fast' or 'full', got {mode!r}")
    started = time.perf_counter()
    params = _check_params(params)
    data = _check_data(data)
    dtypes = {p.dtype for p in params.values()}
    dtype = np.float32 if np.dtype(np.float32) in dtypes else np.float64
    if net is not None:
        return _against_network(backward, params, data, net, dtype, rtol, started)
    if not callable(loss):
        raise EvaluationError("loss must be a function loss(params, **data) -> float")
    grads = _call_backward(backward, params, data)
    counted = _CountedLoss(loss, data)
    checker = _Checker(counted, params, grads, step, rtol, seed)
    notes = []
    backward_calls = 1
    checks, moved = _run_checks(checker, mode, directions, max_entries, notes)
    if moved:
        # Not differentiable at the point (a ReLU input exactly at 0, say): move it slightly.
        notes.append("the loss has a kink at the given point; checked at a point moved by ~1e-3 of each parameter's scale")
        rng = np.random.default_rng(seed + 1)
        moved_params = {n: _readonly((p + 1e-3 * checker.scale[n] * rng.standard_normal(p.shape)).astype(p.dtype))
                        for n, p in params.items()}
        grads = _call_backward(backward, moved_params, data)
        backward_calls += 1
        checker = _Checker(counted, moved_params, grads, step, rtol, seed + 1)
        checks, moved = _run_checks(checker, mode, directions, max_entries, notes)
        if moved:
            notes.append("the loss is not differentiable there either: the verdicts may be unreliable")
    if checker.unreliable:
        notes.append(f"{checker.unreliable} test(s) stayed ambiguous (kinks crossed at every step size tried)")
    if checker.dtype == np.float32:
        notes.append("the loss computes in float32: differences and tolerances are float32's")
    elif checker.param_dtype == np.float32:
        notes.append("float32 parameters: the loss was evaluated at float64 points; tolerance for float32 gradients")
    return GradcheckReport(
        checks, reference="central differences of loss", dtype=checker.param_dtype, loss_evaluations=counted.count,
        backward_calls=backward_calls, seconds=time.perf_counter() - started,
        step=checker.h, rtol=checker.rtol, notes=notes,
    )


def _run_checks(checker: _Checker, mode, directions, max_entries, notes) -> tuple:
    """Per parameter checks, and whether the point itself sits on a kink."""
    params = checker.params
    if mode == "full":
        checks = {}
        for name in params:
            check, at_kink = _localise(checker, name, max_entries=None)
            if at_kink:
                return checks, True
            checks[name] = check
        return checks, False

    joint = []
    for _ in range(max(1, directions)):
        t, redraws, at_kink = checker.robust(checker.joint_deltas)
        if at_kink:
            return {}, True
        joint.append(t)
        if not t.ok:
            break
    if all(t.ok for t in joint):
        worst = max(joint, key=lambda t: t.rel_err)
        return {
            name: ParamCheck(name, p.shape, True, worst.abs_err, worst.rel_err, method="joint directions")
            for name, p in params.items()
        }, False

    # A joint test failed: test each parameter along its own directions (as many as
    # the joint tests: one random direction can be nearly orthogonal to the error).
    checks = {}
    for name, p in params.items():
        before = checker.loss.count
        for _ in range(max(1, directions)):
            t, redraws, at_kink = checker.robust(lambda name=name: checker.own_deltas(name))
            if at_kink:
                return {}, True
            if not t.ok:
                break
        spent = checker.loss.count - before
        if t.ok:
            checks[name] = ParamCheck(name, p.shape, True, t.abs_err, t.rel_err, evaluations=spent, method="own direction")
            continue
        check, at_kink = _localise(checker, name, max_entries)
        if at_kink:
            return {}, True
        check.evaluations += spent
        check.ok = False
        if all(e.ok for e in check.entries):
            check.note = (f"its directional derivative is off by {t.rel_err:.1e} (relative) but the "
                          f"{len(check.entries)} entries checked agree: the wrong entries are elsewhere")
            check.max_abs_err, check.max_rel_err = max(check.max_abs_err, t.abs_err), max(check.max_rel_err, t.rel_err)
        checks[name] = check
    if all(c.ok for c in checks.values()):
        notes.append("a joint directional test failed but every parameter passes on its own direction")
    return checks, False


def _entries_to_check(checker: _Checker, name, max_entries) -> list:
    g = checker.grads[name]
    n = g.size
    if max_entries is None or n <= max_entries:
        return [np.unravel_index(i, g.shape) for i in range(n)]
    flat = np.abs(g).reshape(-1)
    largest = list(np.argsort(-flat, kind="stable")[: (max_entries + 1) // 2])
    rest = np.setdiff1d(np.arange(n), largest)
    others = list(checker.rng.choice(rest, size=min(max_entries - len(largest), rest.size), replace=False))
    return [np.unravel_index(int(i), g.shape) for i in largest + others]


def _localise(checker: _Checker, name, max_entries) -> tuple:
    """Entry-by-entry central differences on one parameter."""
    before = checker.loss.count
    entries = []
    for index in _entries_to_check(checker, name, max_entries):
        index = tuple(int(i) for i in index)
        t, _, at_kink = checker.entry(name, index)
        if at_kink:
            return None, True
        step = t.norm
        expected = t.fd / step
        got = t.claimed / step
        abs_err = abs(expected - got)
        rel_err = abs_err / max(abs(expected), abs(got), 1e-300)
        entries.append(EntryCheck(index, expected, got, abs_err, rel_err, t.ok, t.kink))
    p = checker.params[name]
    wrong = [e for e in entries if not e.ok]
    worst = max(wrong or entries, key=lambda e: e.abs_err)
    check = ParamCheck(
        name, p.shape, not wrong, worst.abs_err, max(e.rel_err for e in entries), worst.index, worst.expected, worst.got,
        evaluations=checker.loss.count - before, method=f"entries ({len(entries)} of {p.size})", entries=entries,
    )
    if wrong:
        check.note = f"{len(wrong)} of {len(entries)} checked entries wrong, e.g. " + ", ".join(
            f"{list(e.index)}: expected {e.expected:.4g}, got {e.got:.4g}" for e in sorted(wrong, key=lambda e: -e.abs_err)[:3])
    return check, False


# --------------------------------------------------------------------------
# Against a symprop network: its derived gradients are the reference
# --------------------------------------------------------------------------


def network_loss_and_gradients(net, params: dict, data: dict) -> tuple:
    """The batch-mean loss and its gradients, from the network's derivation.

    ``params`` in their declared shapes (a bias (n, 1) may be given as (n,));
    ``data`` batch-first: an input declared (n, 1) is given as (m, n).
    Evaluated example by example with the derived per-example equations and
    averaged: simple, and exactly what the derivation says.
    """
    d = _derivation(net)
    if hasattr(d, "loss_and_gradients"):  # a recurrent network: sequences (m, T, n), a loop over t
        return d.loss_and_gradients(params, data)
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


__all__ = [
    "Counterexample", "Diagnosis", "EntryCheck", "FormulaCheck", "GradcheckReport", "MISTAKES", "Mistake",
    "ParamCheck", "check_gradient", "diagnose", "gradcheck", "network_loss_and_gradients",
]
