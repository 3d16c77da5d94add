"""gradcheck: hand-written backward code against central differences of a loss (or the network's gradients)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..errors import EvaluationError
from .sampling import check_seed
from .patterns import Pattern, layer_of_name, layer_pattern, non_finite_pattern, shape_pattern, value_pattern


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
    pattern: Optional[Pattern] = None  # how it is wrong, when the numbers show it (patterns.py)

    def __str__(self):
        verdict = "ok" if self.ok else "WRONG"
        where = "" if self.worst_index is None or self.expected is None else (
            f"; worst entry {tuple(self.worst_index)}: expected {self.expected:.6g}, got {self.got:.6g}")
        pattern = f"; pattern {self.pattern}" if self.pattern is not None else ""
        return (f"{self.name} {tuple(self.shape)}: {verdict} (max rel err {self.max_rel_err:.2e}, "
                f"checked by {self.method or '-'}){where}{pattern}")

    __repr__ = __str__  # report["W1"] in a notebook shows its verdict


class GradcheckReport(Mapping):
    """Per parameter verdicts: ``report["W1"].ok``; ``print(report)`` shows the table."""

    def __init__(self, checks: dict, *, reference: str, dtype, loss_evaluations: int, backward_calls: int,
                 seconds: float, step: Optional[float] = None, rtol: Optional[float] = None, notes=(), patterns=()):
        self.checks = checks
        self.reference = reference
        self.dtype = np.dtype(dtype)
        self.loss_evaluations = loss_evaluations
        self.backward_calls = backward_calls
        self.seconds = seconds
        self.step = step
        self.rtol = rtol
        self.notes = list(notes)
        self.patterns = list(patterns)  # across parameters: an error propagating down the layers

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

    def _head(self) -> tuple:
        wrong = self.failed
        verdict = "all parameters ok" if not wrong else f"{len(wrong)} of {len(self)} parameters WRONG: {', '.join(wrong)}"
        detail = f"reference: {self.reference}; {self.dtype.name}"
        if self.step is not None:
            detail += f", step {self.step:.2g} x parameter scale, rtol {self.rtol:.0e}"
        detail += f"; {self.loss_evaluations} loss evaluations, {self.backward_calls} backward call(s), {self.seconds:.3f} s"
        return f"gradcheck: {verdict}", detail

    def _rows(self) -> list:
        rows = [("param", "shape", "verdict", "max abs err", "max rel err", "worst entry", "expected", "got", "evals",
                 "checked by")]
        for c in self.checks.values():
            rows.append((
                c.name, str(c.shape), "ok" if c.ok else "WRONG", f"{c.max_abs_err:.2e}", f"{c.max_rel_err:.2e}",
                "-" if c.worst_index is None else str(tuple(c.worst_index)),
                "-" if c.expected is None else f"{c.expected:.6g}", "-" if c.got is None else f"{c.got:.6g}",
                str(c.evaluations), c.method,
            ))
        return rows

    def _remarks(self) -> list:
        named = [f"{c.name}: pattern {c.pattern}" for c in self.checks.values() if c.pattern is not None]
        named += [f"pattern {p}" for p in self.patterns]
        return named + [f"note: {n}" for n in self.notes] + [f"{c.name}: {c.note}" for c in self.checks.values() if c.note]

    def __str__(self):
        head, detail = self._head()
        rows = self._rows()
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        table = ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join([head, "  " + detail, *table, *("  " + r for r in self._remarks())])

    __repr__ = __str__  # a notebook cell ending in gradcheck(...) shows the table

    def _repr_markdown_(self):
        head, detail = self._head()
        rows = self._rows()
        table = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        table += ["| " + " | ".join(cell.replace("|", "\\|") for cell in r) + " |" for r in rows[1:]]
        return "\n".join([f"**{head}**", "", detail, "", *table, "", *(f"- {r}" for r in self._remarks())]).rstrip() + "\n"


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


_FROZEN = (
    "gradcheck passes the parameters read-only, so that the point being checked cannot change under it; "
    "write results into new arrays (or work on p.copy())"
)


def _frozen_write(exc: BaseException, who: str):
    """NumPy's bare "assignment destination is read-only", explained (else None)."""
    if isinstance(exc, ValueError) and "read-only" in str(exc):
        return EvaluationError(f"{who} wrote into a parameter array: {_FROZEN}")
    return None


def _call_backward(backward, params, data, batch_size: Optional[int] = None) -> tuple:
    """The claimed gradients, and verdicts for those that cannot be compared (wrong shape, NaN/inf)."""
    try:
        result = backward(dict(params), **data)
    except ValueError as exc:
        explained = _frozen_write(exc, "backward")
        if explained is None:
            raise
        raise explained from exc
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], Mapping):
        result = result[1]  # (loss, grads), as the generated modules return
    if not isinstance(result, Mapping):
        raise EvaluationError(f"backward must return a dict of parameter name -> gradient, got {type(result).__name__}")
    grads, problems = {}, {}
    missing = []
    for name, p in params.items():
        key = name if name in result else ("d" + name if "d" + name in result else None)
        if key is None:
            missing.append(name)
            continue
        raw = result[key]
        if np.iscomplexobj(raw):
            imaginary = np.max(np.abs(np.imag(np.asarray(raw))), initial=0.0)
            if imaginary != 0:  # the gradient of a real loss is real: dropping the imaginary part would hide the bug
                raise EvaluationError(f"the gradient of {name!r} is complex (imaginary parts up to {imaginary:.3g}); it must be real")
            raw = np.real(raw)
        try:
            g = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise EvaluationError(f"the gradient of {name!r} is not an array of numbers: {exc}") from None
        if g.shape != p.shape and _same_vector(g.shape, p.shape):
            g = g.reshape(p.shape)  # (n,) for (n, 1): the same vector
        if g.shape != p.shape:
            problems[name] = _unusable(name, p, g, shape_pattern(name, g.shape, p.shape, batch_size))
        elif not np.all(np.isfinite(g)):
            problems[name] = _unusable(name, p, g, non_finite_pattern(name, g))
        else:
            grads[name] = g
    if missing:
        raise EvaluationError(
            f"backward returned no gradient for {', '.join(missing)}; it returned keys {sorted(map(str, result))}"
        )
    return grads, problems


def _same_vector(a: tuple, b: tuple) -> bool:
    """(n,) and (n, 1) or (1, n), or two single numbers: the same vector whatever the reading."""
    if int(np.prod(a)) != int(np.prod(b)):
        return False
    if int(np.prod(a)) == 1:
        return True
    if len(a) == len(b):
        return False
    one_d, two_d = (a, b) if len(a) == 1 else (b, a)
    return len(one_d) == 1 and len(two_d) == 2 and 1 in two_d


def _unusable(name, p, g, pattern: Pattern) -> ParamCheck:
    note = pattern.message if pattern.key == "shape" else ""
    return ParamCheck(name, p.shape, False, math.inf, math.inf, method="not compared", note=note,
                      pattern=None if pattern.key == "shape" else pattern)


class _CountedLoss:
    def __init__(self, loss, data):
        self.loss = loss
        self.data = data
        self.count = 0
        self.dtype = np.dtype(np.float64)  # of the last value returned

    def __call__(self, params) -> float:
        self.count += 1
        try:
            value = self.loss(params, **self.data)
        except ValueError as exc:
            explained = _frozen_write(exc, "loss")
            if explained is None:
                raise
            raise explained from exc
        arr = np.asarray(value)
        if arr.dtype.kind == "c":
            raise EvaluationError(f"loss returned a complex value ({complex(arr.reshape(-1)[0])}); it must be a real number")
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
        share = {n: self.scale[n] * self.grad_norm[n] for n in self.grads}
        largest = max(share.values()) if share else 0.0
        floor = WEIGHT_FLOOR[self.dtype] * largest
        positive = [s for s in share.values() if s > 0]
        target = max(min(positive), floor) if positive else 1.0
        deltas = {}
        for n in self.grads:
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
              step: Optional[float] = None, layout=None, names: Optional[dict] = None,
              hyperparams: Optional[dict] = None, reduction: str = "mean") -> GradcheckReport:
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

    With ``net=``: ``layout="in_out"`` (or ``{"W1": "in_out"}``) for weights
    stored (in, out), the transposes of the declared (out, in), as in
    batch-first code that computes ``X @ W`` (without it such weights are
    refused with "transposed?", never reshaped); ``names={"X": "x", ...}``
    maps your names to the network's; integer class labels are accepted for
    one-hot targets; ``hyperparams={"lamda": 1e-3}`` gives the network's
    hyper-parameters; ``reduction="sum"`` when your loss sums over the batch.

    A wrong gradient gets, when the numbers show it, a named pattern (sign,
    constant factor and its likely cause, transpose, bias summed over the
    wrong axis, regularisation term, NaN/inf; across parameters an error that
    propagates down the layers): ``report["W1"].pattern``, ``report.patterns``.
    """
    if not callable(backward):
        raise EvaluationError("backward must be a function backward(params, **data) -> dict of gradients")
    if (loss is None) == (net is None):
        raise EvaluationError(
            "give the reference: loss=my_loss (finite differences) or net=network (derived gradients), one of them")
    if mode not in ("fast", "full"):
        raise EvaluationError(f"mode must be 'fast' or 'full', got {mode!r}")
    check_seed(seed)
    started = time.perf_counter()
    params = _check_params(params)
    data = _check_data(data)
    dtypes = {p.dtype for p in params.values()}
    dtype = np.float32 if np.dtype(np.float32) in dtypes else np.float64
    if net is not None:
        from .reference import _against_network  # it builds on this module

        return _against_network(backward, params, data, net, dtype, rtol, started, layout=layout, names=names,
                                hyperparams=hyperparams, reduction=reduction)
    if layout is not None or names is not None or hyperparams is not None or reduction != "mean":
        raise EvaluationError("layout=, names=, hyperparams= and reduction= describe the network: they need net=")
    if not callable(loss):
        raise EvaluationError("loss must be a function loss(params, **data) -> float")
    batch_size = _batch_size(data)
    grads, problems = _call_backward(backward, params, data, batch_size)
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
        grads, problems = _call_backward(backward, moved_params, data, batch_size)
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
    for name, check in checks.items():
        if not check.ok and check.entries and check.pattern is None:  # the entries checked show how it is wrong
            expected = np.array([e.expected for e in check.entries])
            got = np.array([e.got for e in check.entries])
            check.pattern = value_pattern(expected, got, rtol=max(100 * checker.rtol, 1e-4), batch_size=batch_size)
    checks = {name: checks[name] if name in checks else problems[name] for name in params}
    return GradcheckReport(
        checks, reference="central differences of loss", dtype=checker.param_dtype, loss_evaluations=counted.count,
        backward_calls=backward_calls, seconds=time.perf_counter() - started,
        step=checker.h, rtol=checker.rtol, notes=notes, patterns=_across(checks, {n: layer_of_name(n) for n in params}),
    )


def _batch_size(data: dict) -> Optional[int]:
    """The examples in the batch: the common first axis of the data arrays, if there is one."""
    sizes = {a.shape[0] for a in data.values() if a.ndim >= 1}
    return sizes.pop() if len(sizes) == 1 else None


def _across(checks: dict, layers: dict) -> list:
    """Patterns across parameters (an error propagating down), and "only the bias" within a layer."""
    wrong = [c for c in checks.values() if not c.ok]
    if wrong and all(c.pattern is not None for c in wrong) and len({c.pattern.key for c in wrong}) == 1:
        return []  # one pattern names every wrong gradient (a factor, a sign, NaN): the layers add nothing
    pattern = layer_pattern({n: c.ok for n, c in checks.items()}, layers)
    for name, check in checks.items():
        layer = layers.get(name)
        if check.ok or check.pattern is not None or layer is None or len(check.shape) > 2 or \
                (len(check.shape) == 2 and 1 not in check.shape):
            continue
        same_layer = [n for n, k in layers.items() if k == layer and n != name]
        if same_layer and all(checks[n].ok for n in same_layer):
            check.pattern = Pattern("only_bias", f"only the bias of layer {layer} is wrong, its weights are right: "
                                                 "is it summed over the examples (axis 0 of batch-first arrays)?")
    return [pattern] if pattern is not None else []


def _run_checks(checker: _Checker, mode, directions, max_entries, notes) -> tuple:
    """Per parameter checks (of the gradients that can be compared), and whether the point sits on a kink."""
    params = {name: checker.params[name] for name in checker.grads}
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
