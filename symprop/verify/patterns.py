"""Naming the pattern of a wrong gradient, beside gradcheck's report.

The entry-by-entry localisation says *where* a gradient is wrong; the data
often also say *how*:

* got = -expected: a sign error;
* got = c x expected for one constant c, with its likely cause (c = m: a sum
  over the batch where the loss is the mean; c = 1/2: a missing factor 2);
* got = expected^T (the transposed shape, or a square matrix's transpose);
* a bias whose gradient has one entry per example: summed over the wrong axis;
* the regularisation term missing, halved, doubled or with the wrong sign
  (known when the network declares its strength as a hyper-parameter);
* NaN or inf (an overflow: exp of unshifted logits);
* one layer wrong and every layer below it wrong: an error that starts in
  that layer's backward step and propagates down.

Each function takes numbers only (expected and got arrays, sizes), so the
patterns are the same for every reference (finite differences or a network).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import numpy as np

PATTERN_RTOL = 1e-4  # relative to the largest entry: patterns are named only when they fit this well


@dataclass(frozen=True)
class Pattern:
    key: str  # sign | factor | transposed | bias_axis | regularisation | zero | non_finite | from_layer | one_layer | only_bias
    message: str
    factor: Optional[float] = None  # of a "factor" pattern: got = factor x expected

    def __str__(self):
        return f"[{self.key}] {self.message}"


def _close(a, b, rtol: float) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return False
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)), 1e-300)
    return bool(np.all(np.abs(a - b) <= rtol * scale))


def _near(c: float, target: float, rtol: float = 1e-3) -> bool:
    return abs(c - target) <= rtol * max(abs(target), 1e-12)


def factor_cause(c: float, batch_size: Optional[int] = None) -> str:
    """The likely cause of got = c x expected."""
    sign = "minus " if c < 0 else ""
    a = abs(c)
    if batch_size and batch_size > 2:
        m = batch_size
        if _near(a, m):
            return f"{sign}m = {m} (the batch size): a sum over the batch where the loss is the batch mean (a missing 1/m)"
        if _near(a, 1 / m):
            return f"{sign}1/m = 1/{m}: divided by the batch size once too often (or a mean where the sum is meant)"
        if _near(a, m / 2):
            return f"{sign}m/2 = {m / 2:g}: a sum over the batch (missing 1/m) and a missing factor 2"
        if _near(a, 2 * m):
            return f"{sign}2m = {2 * m}: a sum over the batch (missing 1/m) and an extra factor 2"
    if _near(a, 0.5):
        return f"{sign}1/2: a missing factor 2 (d/du u^2 = 2u)"
    if _near(a, 2):
        return f"{sign}2: an extra factor 2 (the 1/2 of 1/2 ||.||^2 cancels the 2 of the derivative)"
    return f"{c:.4g}: a constant factor (a scaling applied twice or not at all?)"


def value_pattern(expected, got, *, rtol: float = PATTERN_RTOL, batch_size: Optional[int] = None,
                  regularisation=None, wrong_axis=None) -> Optional[Pattern]:
    """How ``got`` differs from ``expected`` (arrays of the same shape), or None.

    ``regularisation``: the regularisation term's share of the expected
    gradient (same shape), when known; ``wrong_axis``: what a bias gradient
    summed over the wrong axis would be (same shape), when known.
    """
    e, g = np.asarray(expected, dtype=float), np.asarray(got, dtype=float)
    if e.shape != g.shape or e.size == 0 or _close(e, g, rtol):
        return None
    if regularisation is not None:
        r = np.asarray(regularisation, dtype=float)
        if r.shape == e.shape and not _close(r, 0 * r, 1e-12) and float(np.max(np.abs(r))) > 1e-6 * float(np.max(np.abs(e))):
            for c, words in ((0.0, "missing"), (0.5, "halved (written lambda/2 W: the 1/2 of lambda/2 ||W||^2 cancels the 2)"),
                             (2.0, "doubled"), (-1.0, "of the wrong sign (it must pull the weights towards 0)")):
                if _close(g, e - r + c * r, rtol):
                    return Pattern("regularisation", f"the regularisation term is {words}: got = expected + {c - 1:g} x (its term)")
    if _close(g, 0 * g, 1e-300) and not _close(e, 0 * e, 1e-300):
        return Pattern("zero", "got is all zeros: no gradient reaches this parameter (a term missing, or a mask that zeroes everything)")
    if wrong_axis is not None:
        w = np.asarray(wrong_axis, dtype=float)
        if w.shape == g.shape and e.size > 1 and _close(g, w, rtol):
            return Pattern("bias_axis", "the bias gradient is summed over the wrong axis (over the units instead of the examples)")
    pattern = _scaling(e, g, rtol, batch_size, "")
    if pattern is None and regularisation is not None:  # the data term scaled, the regularisation term right
        r = np.asarray(regularisation, dtype=float)
        pattern = _scaling(e - r, g - r, rtol, batch_size, " in the data term (the regularisation term is right)")
    return pattern


def _scaling(e, g, rtol, batch_size, where: str) -> Optional[Pattern]:
    """got = -expected, expectedᵀ or c x expected (of the whole gradient or of one of its terms)."""
    if _close(e, 0 * e, 1e-300):
        return None
    if _close(g, -e, rtol):
        return Pattern("sign", f"got = -expected{where}: a sign error (a step along it would climb the loss)")
    if e.ndim == 2 and e.shape[0] == e.shape[1] > 1 and not _close(e, e.T, rtol) and _close(g, e.T, rtol):
        return Pattern("transposed", f"got = expectedᵀ{where}: the gradient is transposed (dL/dW has the shape and layout of W)")
    ee = float(np.vdot(e, e))
    if e.size > 1:
        c = float(np.vdot(g, e)) / ee
        if c != 0 and not _near(c, 1.0, 10 * rtol) and _close(g, c * e, rtol):
            return Pattern("factor", f"got = c x expected{where} with c = {factor_cause(c, batch_size)}", c)
    return None


def shape_pattern(name: str, got_shape: tuple, shape: tuple, batch_size: Optional[int] = None) -> Pattern:
    """A gradient of the wrong shape: transposed, a bias summed over the wrong axis, or just the wrong shape."""
    got_shape, shape = tuple(got_shape), tuple(shape)
    if len(got_shape) == 2 and got_shape == shape[::-1]:
        return Pattern("transposed", f"the gradient of {name} is {_shape(got_shape)}, {name} is {_shape(shape)}: "
                                     "transposed (dL/dW has the shape of W)")
    vector = len(shape) == 1 or (len(shape) == 2 and 1 in shape)
    got_vector = len(got_shape) == 1 or (len(got_shape) == 2 and 1 in got_shape)
    if batch_size and vector and got_vector and int(np.prod(got_shape)) == batch_size != int(np.prod(shape)):
        return Pattern("bias_axis", f"the gradient of {name} has one entry per example ({_shape(got_shape)}, m = {batch_size}): "
                                    "summed over the wrong axis (a bias's gradient sums over the examples, axis 0 "
                                    "of batch-first arrays)")
    return Pattern("shape", f"the gradient of {name} has shape {_shape(got_shape)} but {name} has {_shape(shape)}")


def non_finite_pattern(name: str, got) -> Pattern:
    g = np.asarray(got, dtype=float)
    what = "NaN" if np.isnan(g).any() else "inf"
    return Pattern("non_finite", f"the gradient of {name} contains {what} ({int(np.sum(~np.isfinite(g)))} of {g.size} entries): "
                                 "an overflow (exp of large logits: subtract each row's max first) or a division by zero")


def _shape(shape) -> str:
    return "×".join(str(k) for k in shape) if len(shape) != 1 else f"({shape[0]},)"


def layer_of_name(name: str) -> Optional[int]:
    """The layer a parameter's name says (W2, b_2, W_hidden2): trailing digits, or None."""
    match = re.search(r"(\d+)$", name)
    return int(match.group(1)) if match else None


def layer_pattern(verdicts: dict, layers: dict) -> Optional[Pattern]:
    """Across parameters: one layer wrong and every layer below it wrong (an error propagating down).

    ``verdicts``: name -> ok; ``layers``: name -> layer number (1 = the first
    hidden layer), for the parameters whose layer is known.
    """
    known = {n: layer for n, layer in layers.items() if layer is not None and n in verdicts}
    wrong = {n for n, ok in verdicts.items() if not ok}
    if not wrong or not known or not wrong <= set(known):
        return None
    numbers = sorted(set(known.values()))
    if len(numbers) < 2:
        return None
    by_layer = {k: [n for n in known if known[n] == k] for k in numbers}
    wrong_layers = sorted({known[n] for n in wrong})
    top = wrong_layers[-1]
    if all(set(by_layer[k]) <= wrong for k in numbers if k <= top) and not any(k > top and set(by_layer[k]) & wrong for k in numbers):
        below = [k for k in numbers if k < top]
        if not below:
            return Pattern("from_layer", f"only layer {top}, the lowest, is wrong and the layers above are right: "
                                         f"the error is in layer {top}'s own backward step (its f', its delta)")
        if top == numbers[-1]:
            return Pattern("from_layer", f"every layer is wrong (layers {below[0]}-{top}): the error starts at the output "
                                         "(the loss's gradient, the output delta) and propagates down")
        return Pattern("from_layer", f"layer {top} is wrong and so is every layer below it (layers {below[0]}-{top}), the "
                                     f"layers above are right: the error starts in layer {top}'s backward step and propagates down")
    if len(wrong_layers) == 1 and top > numbers[0] and set(by_layer[top]) <= wrong:
        return Pattern("one_layer", f"only layer {top} is wrong and the layers below it are right: the error is in "
                                    f"layer {top}'s own gradients (dW, db), not in the delta it passes down")
    return None


__all__ = ["PATTERN_RTOL", "Pattern", "factor_cause", "layer_of_name", "layer_pattern", "non_finite_pattern",
           "shape_pattern", "value_pattern"]
