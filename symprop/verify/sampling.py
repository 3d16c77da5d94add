"""What a formula claims to be, the sample points it is evaluated at, and comparing values."""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import numpy as np
import sympy as sp

from .. import formula as fm
from ..derivation import Derivation
from ..errors import FormulaError, SympropError
from ..formula import FormulaShapeError


FLOAT_POINTS = 3  # sample points for networks of matrices (float64)
EXACT_POINTS = 4  # sample points for scalar networks (exact rationals)
BATCH_SIZE = 3  # examples per sample point of a batched formula (not 2: 1/m and 1/2 would blur)

_derivations = weakref.WeakKeyDictionary()


def check_seed(seed) -> None:
    """A seed NumPy's random generators take: a whole number >= 0 (else one clear line, not NumPy's traceback)."""
    from ..errors import EvaluationError

    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise EvaluationError(f"the seed must be a whole number >= 0 (NumPy's random generators take no other), got {seed!r}")


def _derivation(net) -> Derivation:
    from ..network import Network
    from ..recurrent import RecurrentDerivation, RecurrentNetwork

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
    def __init__(self, d: Derivation, target: Target, batched: bool, seed: int, hyperparams: Optional[dict] = None):
        self.d = d
        self.net = d.network
        self.target = target
        self.batched = batched
        self.hyper = _hyper_numbers(self.net, hyperparams)
        self.exact = self.net.is_scalar and not batched
        self.rng = np.random.default_rng(seed)
        self.kinked = self._kinked_preactivations()
        self.target_kinds = self._target_kinds()
        # a network declared over a batch of m examples: m is a number at the sample points
        self.batch_size = network_batch_size(self.net)
        self.sizes = {self.net.batch: self.batch_size} if self.net.batch is not None and self.net.batch.is_Symbol else {}
        self.constants = {c.name: float(c.value) for c in fm.network_constants(self.net)}

    def _dims(self, shape) -> tuple:
        return tuple(int(sp.sympify(k).xreplace(self.sizes)) for k in shape)

    def _kinked_preactivations(self) -> list:
        """Pre-activations of layers whose activation is not smooth at 0 (ReLU and kin)."""
        from .. import ops

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
        from .. import ops
        from ..network import _postorder

        kinds = {}
        for e in _postorder(self.net.loss):  # iterative, each subexpression once: deep nets are deep
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

    def _hyper_value(self, sym):
        """The given number, else a random one per point (a formula must hold for every value)."""
        if sym.name in self.hyper:
            v = self.hyper[sym.name]
            return sp.Rational(*_as_pair(Fraction(v).limit_denominator(10**6))) if self.exact else float(v)
        if self.exact:
            return sp.Rational(*_as_pair(self.rng.choice(_UNIT_GRID)))
        return float(self.rng.uniform(0.2, 0.9))

    def _data_value(self, sym):
        kind = self.target_kinds.get(sym.name, "real")
        if self.exact:
            grid = _UNIT_GRID if kind in ("unit", "distribution") else _GRID
            return sp.Rational(*_as_pair(self.rng.choice(grid)))
        if isinstance(sym, sp.MatrixSymbol):
            shape = self._dims(sym.shape)
            hints = self.net.hints.get(sym, {})
            if "dropout" in hints:
                return _mask(self.rng, shape, float(hints["dropout"]))
            if "attention_mask" in hints:  # any 0/1 mask that lets every query see itself
                return np.maximum(_mask(self.rng, shape, 0.6), np.eye(*shape))
            if kind == "distribution":  # cross-entropy's targets sum to 1, column by column
                return self.rng.dirichlet(np.ones(shape[0]), size=shape[1]).T
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
        env = dict(self.constants)
        if self.net.batch is not None:
            env["m"] = float(self.batch_size)
        for sym in self.net.declared + self.net.hyperparams:
            v = values[sym.name]
            if isinstance(sym, sp.MatrixSymbol):
                env[sym.name] = np.asarray(v, dtype=float).reshape(self._dims(sym.shape))
            else:
                env[sym.name] = float(v)
        for step in self.d.steps:
            if step.kind == "update":
                continue
            v = out[step.key]
            env[step.name] = np.asarray(v, dtype=float).reshape(self._dims(step.shape)) if step.shape else float(v)
        return env

    def _exact_env(self, values: dict):
        declared = self.net.declared + self.net.hyperparams
        symbols = {sym: values[sym.name] for sym in declared}
        env = {sym.name: values[sym.name] for sym in declared}
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
        params.update({s.name: self._hyper_value(s) for s in self.net.hyperparams})
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
            if name in params or name in self.constants:  # shared by every example
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


def network_batch_size(net) -> Optional[int]:
    """The number of examples at the sample points of a network declared over a batch (None: per example).

    A symbolic m is given a value unlike every other dimension of the
    network, so that a transpose or a sum over the wrong axis cannot fit.
    """
    if net.batch is None:
        return None
    if net.batch.is_Integer:
        return int(net.batch)
    dims = {int(d) for s in net.declared for d in s.shape if sp.sympify(d).is_Integer}
    dims |= {int(d) for n in net.nodes for d in getattr(n.symbol, "shape", ()) if sp.sympify(d).is_Integer}
    m = 6
    while m in dims:
        m += 1
    return m


def _mask(rng, shape, keep: float) -> np.ndarray:
    """A 0/1 mask keeping each entry with probability ``keep``, with both a 0 and a 1 where it has two entries."""
    for _ in range(100):
        mask = (rng.random(shape) < keep).astype(float)
        if mask.size < 2 or 0 < mask.sum() < mask.size:
            return mask
    return mask


def _hyper_numbers(net, hyperparams) -> dict:
    if hyperparams is not None and not isinstance(hyperparams, dict):
        raise FormulaError(f"hyperparams must be a dict of name -> number, got {type(hyperparams).__name__}")
    given = {getattr(k, "name", k): v for k, v in (hyperparams or {}).items()}
    known = {s.name for s in net.hyperparams}
    unknown = sorted(str(k) for k in given if k not in known)
    if unknown:
        raise FormulaError(f"hyperparams gives {unknown}, which the network does not declare"
                           + (f"; it declares {sorted(known)}" if known else ""))
    out = {}
    for name, value in given.items():
        try:
            out[name] = float(value)
        except (TypeError, ValueError):
            raise FormulaError(f"the hyper-parameter {name!r} must be a number, got {value!r}") from None
        if not math.isfinite(out[name]):
            raise FormulaError(f"the hyper-parameter {name!r} must be finite, got {value!r}")
    return out


def transposed(point: Point) -> Point:
    """The point in the row convention: every matrix value transposed (rows are examples, weights (in, out))."""
    def flip(env):
        return {k: (v.T if isinstance(v, np.ndarray) else v) for k, v in env.items()}

    examples = [flip(e) for e in point.examples] if point.examples is not None else None
    expected = point.expected.T if isinstance(point.expected, np.ndarray) else point.expected
    return Point(flip(point.values), flip(point.env), examples, expected)


def _as_pair(fraction) -> tuple:
    return int(fraction.numerator), int(fraction.denominator)


# --------------------------------------------------------------------------
# Comparing values
# --------------------------------------------------------------------------

FORMULA_RTOL = 1e-8  # float64 evaluations of the same maths in another order differ by ~1e-15
FORMULA_ATOL = 1e-12  # a gradient that is 0 in exact arithmetic (a bias before batch norm) is round-off, ~1e-17


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
    ok = err <= FORMULA_RTOL * np.abs(e) + 1e-10 * max(scale, 1e-30) + FORMULA_ATOL
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(err)), err.shape))
    return Comparison(bool(np.all(ok)), "", idx, float(e[idx]), float(g[idx]))


def _shape_word(shape) -> str:
    return "scalar" if shape in ((), (1, 1)) else f"{shape[0]}×{shape[1]}"


def _matches(tree, sample, evaluate, exact) -> bool:
    for point in sample:
        try:
            given = evaluate(tree, point)
        except FormulaShapeError:
            return False
        if not compare(point.expected, given, exact).equal:
            return False
    return True
