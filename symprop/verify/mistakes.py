"""The usual mistakes in hand-derived formulas: a table, each row proposing repairs of the formula.

A row names a mistake and proposes repaired formulas (each with the sentence
that says what was repaired); the first repair that matches the derived
gradient at every sample point is the diagnosis.  A new mistake is one
function and one row; tests/test_mistakes.py holds each row's test formulas.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Optional

import numpy as np

from .. import formula as fm
from . import layer_mistakes as lm
from ..errors import FormulaError
from ..formula import name_node, text
from ..formula.evaluate import free_indices
from .sampling import BATCH_SIZE, _matches


# --------------------------------------------------------------------------
# The usual mistakes: each a row proposing repairs of the formula
# --------------------------------------------------------------------------


@dataclass
class RepairContext:
    namespace: fm.Namespace
    batched: bool
    shapes: dict  # path -> shape of that subtree at the first point (None: does not evaluate)
    inside_sum: set  # paths inside a sum over the examples
    regularisation: Optional[tuple] = None  # the hyper-parameter terms of the gradient, as a tree (lamda W1)
    env: dict = field(default_factory=dict)  # the values of the names at the first point (their shapes)


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
    elif ctx.namespace.over_batch:  # a network over a batch: its adjoints hold the 1/m of the mean already
        yield ("mul", "juxt", name_node("m"), tree), ("an extra factor 1/m: the network's adjoints are of the batch "
                                                      "mean already (dL/dYhat holds its 1/m)")
        yield ("div", tree, name_node("m")), "a factor 1/m is missing (the loss is the mean over the batch)"


def _matrix_paths(tree, ctx):
    for path, node in fm.subtrees(tree):
        shape = ctx.shapes.get(path)
        if path and (shape is None or len(shape) == 2 and shape != (1, 1)):
            yield path, node


def _toggle(node):
    return node[1] if node[0] == "T" else ("T", node)


def _transposes(tree, ctx):
    """Missing or misplaced transposes: one toggled, a product's factors swapped, two leaves toggled."""
    paths = list(_matrix_paths(tree, ctx))
    for path, node in paths:  # a transpose written where none belongs first: K1ᵀ for K1, not (c K1ᵀ)ᵀ
        if node[0] == "T":
            yield fm.replace(tree, path, node[1]), f"{text(node)} should be {text(node[1])}"
    for path, node in paths:
        if node[0] != "T":
            yield fm.replace(tree, path, ("T", node)), f"{text(node)} should be {text(('T', node))}"
    for path, node in fm.subtrees(tree):
        if node[0] == "mul" and node[1] in ("matmul", "juxt", "star"):
            swapped = ("mul", node[1], node[3], node[2])
            yield fm.replace(tree, path, swapped), f"the factors are in the wrong order: {text(node)} should be {text(swapped)}"
    leaves = [(p, n) for p, n in _matrix_paths(tree, ctx) if n[0] == "name" or (n[0] == "T" and n[1][0] == "name")]
    compound = [(p, n) for p, n in _matrix_paths(tree, ctx) if (p, n) not in leaves]
    compound.sort(key=lambda pn: pn[1][0] != "T")  # a transpose written on a compound factor first: (W x - y)ᵀ
    # two leaves first, then a compound factor and another (2 (W x - y)ᵀ x for 2 (W x - y) xᵀ)
    for group in (list(itertools.combinations(leaves, 2)), list(itertools.product(compound, leaves + compound))):
        for (p1, n1), (p2, n2) in group:
            if p1 == p2 or p2[: len(p1)] == p1 or p1[: len(p2)] == p2:
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
    free = free_indices(tree)
    if free:  # components: f'(z_j) at a free index
        for _layer, fp in _fprimes(ctx, False):
            for index in free:
                entry = ("call", fp[1], 1, ("entry", fp[3], (index,)))
                yield ("mul", "juxt", tree, entry), f"{text(tree)} should be multiplied by {text(entry)}"
        return
    scalar = all(s in ((), (1, 1), None) for s in ctx.shapes.values())
    for path, node in fm.subtrees(tree):
        shape = ctx.shapes.get(path)
        if scalar and path:
            continue  # scalars commute: the whole formula is the only place to try
        for _layer, fp in _fprimes(ctx, ctx.batched and path not in ctx.inside_sum):
            z = ctx.namespace.names[fp[3][1]]
            column = z.shape[::-1] if ctx.namespace.convention.rows else z.shape  # rows: every value transposed
            rows = z.shape[0] if z.shape else 1
            batch = (BATCH_SIZE, rows) if ctx.namespace.convention.rows else (rows, BATCH_SIZE)
            if scalar or shape == column or (ctx.batched and path not in ctx.inside_sum and shape == batch):
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


def _shown(tree, name) -> str:
    """How the formula writes a canonical name (A1 in batch notation for a1)."""
    return next((n[2] for _, n in fm.subtrees(tree) if n[0] == "name" and n[1] == name), name)


def _as_written(tree, name, other) -> tuple:
    """(name, other) as the formula writes them: (Z1, A1) in batch notation."""
    shown = _shown(tree, name)
    return shown, name_node(other, shown != name)[2]


def _renamed(tree, name, other):
    """``tree`` with occurrences of ``name`` replaced by ``other`` (every subset of them, all of them first)."""
    # Some occurrences may be right ((yhat - y) w2 yhat (1 - yhat) x): try every
    # subset of them (few: formulas are short), all of them first.
    places = [p for p, n in fm.subtrees(tree) if n[0] == "name" and n[1] == name]
    subsets = [places] + ([list(c) for k in range(1, len(places)) for c in itertools.combinations(places, k)]
                          if len(places) <= 6 else [])
    for subset in subsets:
        repaired = tree
        for p in subset:
            written = fm.at(tree, p)
            repaired = fm.replace(repaired, p, name_node(other, written[2] != written[1]))
        which = "" if len(subset) == len(places) else f" ({len(subset)} of its {len(places)} occurrences)"
        yield repaired, which


def _wrong_layer_values(tree, ctx):
    """A value of another layer written where this layer's is meant: a2 (1 - a2) for a1 (1 - a1), a1ᵀ for xᵀ."""
    ns = ctx.namespace
    used = sorted({n[1] for _, n in fm.subtrees(tree) if n[0] == "name"})
    for name in used:
        found = ns.group_of(name)
        if found is None or found[0] in ("w", "b"):
            continue
        group, layer = found
        for (other_group, other_layer), other in sorted(ns.layered.items(), key=lambda kv: (abs(kv[0][1] - layer), kv[0][1])):
            if other_group == group and other_layer != layer and other in ns.names:
                a, b = _as_written(tree, name, other)
                for repaired, which in _renamed(tree, name, other):
                    yield repaired, f"{a} should be {b}{which}"


def _fprime_at_activation(tree, ctx):
    """f' at the activation a^[l] where the pre-activation z^[l] is meant (sigma'(a1), sigmoid(A1)(1 - sigmoid(A1)));
    or a derivative written in the activation fed the pre-activation (1 - Z1^2 for tanh' = 1 - A1^2)."""
    ns = ctx.namespace
    used = sorted({n[1] for _, n in fm.subtrees(tree) if n[0] == "name"})
    for name in used:
        found = ns.group_of(name)
        if found is None or found[0] not in ("a", "z") or found[1] == 0:
            continue
        group, layer = found
        other = ns.layered.get(("z" if group == "a" else "a", layer))
        if other is None or other not in ns.names:
            continue
        a, b = _as_written(tree, name, other)
        for repaired, which in _renamed(tree, name, other):
            if group == "a":
                yield repaired, (f"{a} should be {b}{which}: f' is evaluated at the activation instead of the "
                                 f"pre-activation (f'({b}), with {b} = W x + b before f)")
            else:
                yield repaired, (f"{a} should be {b}{which}: a derivative written in the activation "
                                 f"(tanh' = 1 - a^2, sigma' = a (1 - a)) takes {b} = f({a}), not {a}")


def _regularisation(tree, ctx):
    """The regularisation term forgotten, halved, doubled or with the wrong sign (known from the derivation)."""
    r = ctx.regularisation
    if r is None:
        return
    term = text(r)
    yield ("add", tree, r), f"the regularisation term {term} is missing"
    yield ("add", tree, _scale(Fraction(1, 2), r)), \
        f"the regularisation term is halved: {term} (the 1/2 of lambda/2 ||W||^2 cancels the 2 of the derivative)"
    yield ("sub", tree, r), f"the regularisation term is doubled: it is {term}"
    yield ("add", tree, _scale(2, r)), f"the regularisation term has the wrong sign: it is +{term}"


_NUMBERING_SHIFTS = (
    (-1, ("w", "b", "z", "a", "delta", "da"), "with every layer number one lower: written with the input as layer 1 "
     "(Nielsen's numbering)? pass layers='nielsen'"),
    (-1, ("z", "a", "delta", "da"), "with z, a and delta one layer lower and W, b as written: UFLDL's numbering "
     "(W^(l) maps layer l to l+1)? pass layers='ufldl'"),
    (+1, ("w", "b", "z", "a", "delta", "da"), "with every layer number one higher: pass layers=1 (your layer l is symprop's l+1)"),
)


def _numbering(tree, ctx):
    """Right under a shifted layer numbering: every layered name moved by one layer."""
    ns = ctx.namespace
    layered = [(p, n, ns.group_of(n[1])) for p, n in fm.subtrees(tree) if n[0] == "name"]
    layered = [(p, n, g) for p, n, g in layered if g is not None]
    if len({n[1] for _, n, _ in layered}) < 2:
        return  # one value of another layer is a wrong layer, not a numbering
    weights = any(g[0] in ("w", "b") for _, _, g in layered)
    for shift, groups, sentence in _NUMBERING_SHIFTS:
        if not weights and shift == -1:  # no W or b written: Nielsen's and UFLDL's numberings read it alike
            sentence = ("with every layer number one lower: the input numbered as layer 1, as in Nielsen and UFLDL? "
                        "pass layers='nielsen' or layers='ufldl'")
        repaired, moved = tree, False
        for path, node, (group, layer) in layered:
            if group not in groups:
                continue
            other = ns.layered.get((group, layer + shift))
            if other is None or other not in ns.names:
                break
            repaired = fm.replace(repaired, path, name_node(other, node[2] != node[1]))
            moved = True
        else:
            if moved:
                yield repaired, f"the formula is right {sentence}"


def _reduce_axis(tree, ctx):
    """np.sum over the wrong axis, or without keepdims=True (a 1-D result NumPy treats as a row)."""
    for path, node in fm.subtrees(tree):
        if node[0] != "reduce" or node[2] is None:
            continue
        _, how, axis, keepdims, arg = node
        if not keepdims:
            yield fm.replace(tree, path, ("reduce", how, axis, True, arg)), \
                f"np.{how}(..., axis={axis}) drops the axis (a 1-D array NumPy treats as a row): add keepdims=True"
        why = ("the softmax Jacobian sums along the axis the softmax normalises" if lm.mentions_softmax(tree, ctx)
               else "a bias sums over the examples")
        for keep in (keepdims, True):
            yield fm.replace(tree, path, ("reduce", how, 1 - axis, keep, arg)), \
                f"np.{how} over axis {axis} should be over axis {1 - axis} ({why})"


def _swapped_indices(tree, ctx):
    """Components: the indices swapped (w_{jk} for w_{kj}; a_j delta_k for a_k delta_j)."""
    entries = [(p, n) for p, n in fm.subtrees(tree) if n[0] == "entry" and len(n[2]) == 2]
    for path, node in entries:
        yield fm.replace(tree, path, ("entry", node[1], node[2][::-1])), \
            f"{text(node)} should be {text(('entry', node[1], node[2][::-1]))} (row and column swapped)"
    letters = sorted({i for _, n in fm.subtrees(tree) if n[0] == "entry" for i in n[2]})
    for a, b in itertools.combinations(letters, 2):
        swap = {a: b, b: a}
        repaired = tree
        for path, node in fm.subtrees(tree):
            if node[0] == "entry":
                repaired = fm.replace(repaired, path, ("entry", node[1], tuple(swap.get(i, i) for i in node[2])))
        yield repaired, f"the indices {a} and {b} are swapped (w_jk: j is the row, the unit the weight feeds)"


@dataclass(frozen=True)
class Mistake:
    key: str
    title: str
    repairs: Callable  # (tree, RepairContext) -> iterable of (repaired tree, sentence)


# The table of the usual mistakes, most specific first; adding one is a row.
MISTAKES = (
    Mistake("axis", "sum over the wrong axis", _reduce_axis),
    Mistake("sign", "sign error", _negate),
    Mistake("layout", "wrong layout (dL/dW vs its transpose)", _transpose_whole),
    Mistake("regularisation", "regularisation term forgotten, halved, doubled or of the wrong sign", _regularisation),
    Mistake("factor_2", "factor 2", _factor_two),
    Mistake("sum_vs_mean", "sum vs mean over the batch", _sum_vs_mean),
    Mistake("factor_m", "factor 1/m", _factor_m),
    Mistake("indices", "component indices swapped", _swapped_indices),
    Mistake("bn_mean_path", "the path through the mean of a batch or layer norm forgotten", lm.missing_mean_path),
    Mistake("bn_variance_path", "the path through the variance of a batch or layer norm forgotten", lm.missing_variance_path),
    Mistake("softmax_axis", "the softmax Jacobian applied along the wrong axis", lm.softmax_axis),
    Mistake("ones_axis", "a sum or a broadcast along the wrong axis", lm.ones_axis),
    Mistake("conv_flip", "the kernel flip (rot180) forgotten or extra", lm.conv_flip),
    Mistake("conv_order", "correlation and full convolution, or their operands, confused", lm.conv_order),
    Mistake("pooling", "max-pool routing and average-pool spreading confused, or the 1/k² forgotten", lm.pooling),
    Mistake("dropout_mask", "the dropout mask forgotten", lm.dropout_mask),
    Mistake("constant_factor", "a constant factor of a layer (1/p_keep, 1/√d_k) forgotten or extra", lm.constant_factor),
    Mistake("missing_sum", "a sum over the positions or examples forgotten", lm.missing_sum),
    Mistake("transpose", "missing or misplaced transpose", _transposes),
    Mistake("numbering", "right under another layer numbering", _numbering),
    Mistake("fprime_at_activation", "f' at the activation instead of the pre-activation", _fprime_at_activation),
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


def _subtree_shapes(tree, point, exact, ops=None) -> tuple:
    """Shape of every subtree at one point (None where it does not evaluate), and the paths inside sums."""
    shapes, inside = {}, set()
    for path, node in fm.subtrees(tree):
        in_sum = any(fm.at(tree, path[:k])[0] in ("sum", "mean") for k in range(len(path)))
        if in_sum:
            inside.add(path)
        env = point.examples[0] if in_sum and point.examples else point.env
        try:
            value = fm.Evaluator(env, point.examples, exact, ops=ops)(node)
            shapes[path] = value.shape if isinstance(value, np.ndarray) else ()
        except (FormulaError, TypeError, ValueError):
            shapes[path] = None
    return shapes, inside


def diagnose(tree, namespace, sample, evaluate, exact, batched, regularisation=None) -> Optional[Diagnosis]:
    shapes, inside = _subtree_shapes(tree, sample[0], exact, namespace.ops)
    ctx = RepairContext(namespace, batched, shapes, inside, regularisation, sample[0].env)
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
