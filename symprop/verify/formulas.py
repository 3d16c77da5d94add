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
from ..formula.conventions import Convention
from ..formula.evaluate import free_indices
from .mistakes import Diagnosis, diagnose
from .sampling import check_seed
from .sampling import (
    BATCH_SIZE, EXACT_POINTS, FLOAT_POINTS, Target, _derivation, _matches, _Sampler, _target, compare, transposed,
)


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
    over_batch: bool = False  # the network is declared over a batch (its values are whole batches)
    derived_latex: str = ""  # the derived gradient in LaTeX, for notebooks

    def __bool__(self):
        return self.ok

    def __repr__(self):  # a notebook cell ending in check_gradient(...) shows the verdict, not the fields
        return str(self)

    def _repr_markdown_(self):
        lines = str(self).split("\n")
        md = [f"**{lines[0]}**", "", "```text", *lines[1:-1 - len(self.notes)], "```"]
        derived = f"${self.derived_latex}$" if self.derived_latex else f"`{self.label} = {self.derived}`"
        md += ["", f"symprop derives: {derived}", *(f"\n*note:* {n}" for n in self.notes)]
        return "\n".join(md)

    def __str__(self):
        form = "batch form, mean over the batch" if self.batched else "per example"
        if self.over_batch:
            form = "a network over a batch: the batch mean"
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


def _latex_equation(label: str, expr) -> str:
    """The derived equation in LaTeX (dL/dW1 as a fraction, delta1 as delta^{[1]}); "" where the label is not a name."""
    from ..printing import latex, latex_name

    if expr is None or not label.replace("/", "").isidentifier():
        return ""
    lhs = rf"\frac{{\partial L}}{{\partial {latex_name(label[4:])}}}" if label.startswith("dL/d") else latex_name(label)
    return f"{lhs} = {latex(expr)}"


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
                   points: Optional[int] = None, layers=None, convention: str = "columns", names: Optional[dict] = None,
                   hyperparams: Optional[dict] = None) -> FormulaCheck:
    """Check a hand-derived formula for dL/d(param) (or for an adjoint such as delta1).

    ``formula`` is a string in the notation of the derivations (see
    ``symprop.formula``) or a SymPy expression in the network's symbols; it
    may be an equation (``dW1 = ...``, ``\\frac{\\partial C}{\\partial w^l_{jk}} = ...``).
    ``batched``: compare with the batch-mean gradient (columns are examples);
    by default decided by the formula's notation (m, X, Delta1, sums).

    The author's conventions: ``layers`` is the layer numbering ("ng", the
    default; "nielsen", "ufldl", "goodfellow"; or an integer offset), in
    which ``l`` and ``L`` in a layer script are the target's layer and the
    output layer; ``convention="rows"`` reads the formula in the row
    (batch-first) convention, where examples are rows and weights (in, out),
    every value the transpose of symprop's (dW1 = X^T Delta1); ``names`` maps
    the author's words to the network's (``{"dscores": "Delta2"}``);
    ``hyperparams`` gives numbers to the network's hyper-parameters (drawn
    at random otherwise: the formula must hold for every value).
    """
    from ..printing import text as sympy_text

    if convention not in ("columns", "rows"):
        raise FormulaError(f"convention must be 'columns' (symprop's) or 'rows' (batch-first), got {convention!r}")
    check_seed(seed)
    rows = convention == "rows"
    d = _derivation(net)
    if hasattr(d, "cell"):  # a recurrent network: sums over t, checked term by term (verify_recurrent.py)
        from ..verify_recurrent import check_gradient as check_recurrent

        return check_recurrent(d, param, formula, seed=seed, points=points, batched=batched)
    target = _target(d, param)
    conv = _convention(d, target, layers, rows, names)
    namespace = fm.namespace(d, target.exclude, conv)
    parsed = fm.parse(formula, namespace)
    if namespace.over_batch:  # the network's own values are whole batches: nothing to sum over
        if batched:
            raise FormulaError(f"the network is declared over a batch (batch={d.network.batch}): its gradients are "
                               "already batch means; leave batched unset")
        if fm.mentions(parsed.tree, ("sum", "mean")):
            raise FormulaError("the network is declared over a batch: write a sum over the examples as a product "
                               "with a ones vector (Z1 1_m), not as a sum over i")
        batched = False
    elif batched is None:
        batched = parsed.batch
    elif not batched and parsed.batch:
        raise FormulaError("the formula is written for a batch (m, sums over examples or batch matrices) but batched=False")
    sampler = _Sampler(d, target, batched, seed, hyperparams)
    exact = sampler.exact
    count = points or (EXACT_POINTS if exact else FLOAT_POINTS)
    columns_sample = [sampler.draw(i, count) for i in range(count)]
    sample = [transposed(p) for p in columns_sample] if rows else columns_sample

    derived_expr = target.step.batched if batched else target.step.expr
    label = target.label if not rows else f"{target.label}ᵀ"
    result = FormulaCheck(
        ok=False, label=label, formula=parsed.text, source=parsed.source, batched=batched,
        derived=sympy_text(derived_expr) if derived_expr is not None else "?", points=count, exact=exact,
        over_batch=namespace.over_batch, derived_latex=_latex_equation(target.label, derived_expr),
    )
    result.notes.extend(_convention_notes(conv, parsed, target))
    if namespace.over_batch:
        result.notes.append(f"the network is declared over a batch: checked on batches of m = {sampler.batch_size} "
                            "examples (one per column)")
    if d.network.loss_reading:
        result.notes.append(d.network.loss_reading)

    order = _index_order(parsed, sample[0], exact)
    if free_indices(parsed.tree):
        result.notes.append(_components_note(order, target, parsed))

    def evaluate(tree, point):
        return fm.Evaluator(point.env, point.examples, exact, order, namespace.ops)(tree, np.shape(point.expected))

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
            if not batched and not rows:
                result.proved = _symbolically_equal(d, target, tree, namespace)
            return result
    tree = chosen if chosen is not None else parsed.tree
    result.formula = text(tree)
    if chosen is None:
        result.shape_error = shape_error
    result.counterexample = _counterexample(tree, sample, evaluate, exact)
    regularisation = _regularisation_tree(d, target, namespace, rows)
    result.diagnosis = diagnose(tree, namespace, sample, evaluate, exact, batched, regularisation)
    if result.diagnosis is None and chosen is None:  # no reading fits: a repair of another one may
        for other in parsed.readings:
            if other != tree:
                result.diagnosis = diagnose(other, namespace, sample, evaluate, exact, batched, regularisation)
                if result.diagnosis is not None:
                    result.formula = text(other)
                    break
    if not rows and not exact:
        flipped = [transposed(p) for p in columns_sample]
        if any(_matches(reading, flipped, evaluate, exact) for reading in parsed.readings):
            result.notes.append("in the row (batch-first) convention - examples as rows, weights (in, out) - this "
                                "formula is right: pass convention='rows'")
    return result


def _regularisation_tree(d, target, namespace, rows):
    """The gradient's terms straight from the loss that hold no example (lamda W1), as a tree; None if none."""
    if target.kind != "parameter":
        return None
    net = d.network
    constant = set(net.params) | set(net.hyperparams)
    shares = [c.expr for c in target.step.contributions
              if c.consumer == net.loss_node.name and c.expr.free_symbols <= constant]
    if not shares:
        return None
    try:
        tree = fm.from_sympy(shares[0] if len(shares) == 1 else sum(shares[1:], shares[0]), namespace)
    except FormulaError:
        return None
    return tree  # (in the row convention its names evaluate to the transposes: lamda W1 is lamda W1ᵀ there)


def _convention(d, target, layers, rows, names) -> Convention:
    """The reading options: the numbering, l and L in it, rows, the author's names (checked)."""
    numbering = fm.numbering(layers)
    plain = fm.namespace(d, target.exclude)
    variables = []
    found = plain.group_of(target.step.name) or plain.group_of(target.step.of)
    if found is not None:
        group, ours = found
        variables += [("l", ours - numbering.offset(group)), ("k", ours - numbering.offset(group))]
    variables.append(("L", plain.depth() - numbering.offset("a")))
    if names is not None and not isinstance(names, dict):
        raise FormulaError(f"names must be a dict of the author's words -> the network's names, got {type(names).__name__}")
    words = dict(names or {})
    for word, meant in words.items():
        if not (isinstance(word, str) and isinstance(meant, str)):
            raise FormulaError("names must map the author's words (strings) to the network's names (strings)")
        if plain.lookup(meant) is None:
            if any(tok.kind == "ident" and tok.text in words for tok in fm.tokenize(meant)):
                raise FormulaError(f"names: the formula given for {word!r} uses another of your words; write it in the network's names")
            fm.parse(meant, plain)  # a formula of the network's names (names={"dscores": "Delta2 / m"}), or a clear error
    return Convention(numbering, tuple(variables), rows, tuple(words.items()))


def _convention_notes(conv: Convention, parsed, target) -> list:
    notes = []
    if conv.numbering.name != "ng":
        l_value = conv.variable("l")
        where = f"; l = {l_value} is the layer of {target.label}" if l_value is not None else ""
        notes.append(f"layers in the {conv.numbering.name} numbering ({conv.numbering.source}){where}")
    if conv.rows:
        notes.append("row (batch-first) convention: every value is the transpose of symprop's (examples as rows, "
                     f"weights (in, out)), so the formula is compared with {target.label}ᵀ")
    if parsed.lhs:
        notes.append(f"the left-hand side {parsed.lhs} is taken as {target.label}")
    return notes


def _index_order(parsed, point, exact) -> tuple:
    """Which free index runs over the rows: the left-hand side's order, else the one whose shape fits."""
    free = free_indices(parsed.tree)
    if len(free) != 2:
        return parsed.index_order or free
    if parsed.index_order and set(parsed.index_order) >= set(free):
        return tuple(i for i in parsed.index_order if i in free)
    expected = np.shape(point.expected)
    for order in (free, free[::-1]):
        try:
            value = fm.Evaluator(point.env, point.examples, exact, order)(parsed.tree)
        except FormulaError:
            continue
        if np.shape(value) == expected:
            return order
    return free


def _components_note(order, target, parsed) -> str:
    if len(order) == 2:
        how = "the left-hand side's order" if parsed.index_order else "the shapes (alphabetical where both fit)"
        return (f"read in components: {order[0]} runs over the rows of {target.label}, {order[1]} over its columns "
                f"(from {how}); each entry is your formula at those indices")
    return f"read in components: {order[0]} runs over the entries of {target.label}"


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
        except RecursionError:  # a very deep network: no proof, the numeric verdict stands
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
