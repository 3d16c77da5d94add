"""Common mistakes, made on this network's own equations and judged by symprop.check_gradient.

Each mistake is one of the verifier's diagnosis table (a missing f'(z), f' of
the wrong layer, a missing transpose or the transposed layout, a forgotten
1/m, a lost factor 2) applied to a derived equation.  A mistake goes into the
notes only if check_gradient reads its formula - as printed in the notes -
as wrong, and the right formula, as printed, as right: the notes never call a
formula wrong that is not.  Networks of more than MAX_LAYERS_DEEP layers get no
box.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..batch import M
from ..errors import SympropError
from .context import SectionBuilder
from .structure import dense_layers, entrywise, product, transpose
from .view import Block, Section

MAX_MISTAKES = 4
# Deeper networks get no box: check_gradient's symbolic proof substitutes every layer below (14 s for one formula of a
# 100-layer MLP), and their lowest layers' error signals vanish or explode, so a numeric check cannot tell right
# from wrong there (a 400-layer ReLU MLP's mistaken delta read as right).
MAX_LAYERS_DEEP = 8


@dataclass(frozen=True)
class Mistake:
    label: str  # LaTeX of the left-hand side: \delta^{[1]}, \frac{\partial J}{\partial W^{[1]}}
    target: str  # what check_gradient checks: delta1, W1
    right: str  # LaTeX of the derived formula
    wrong: str  # LaTeX of the mistaken one
    why: tuple  # prose parts (text and Math) saying what is wrong
    diagnosis: str  # check_gradient's diagnosis of the wrong formula ("" if it names none)
    batched: bool = False


def common_mistakes(notes) -> list:
    """The mistakes of this network that check_gradient confirms.

    Computed once per derivation and notation (the .tex and the .md of the
    same notes share them): check_gradient runs twice per candidate.
    """
    key = ("notes:mistakes", notes.printer_settings["bracket_layers"])
    if key not in notes.d._cache:
        notes.d._cache[key] = _confirmed(notes, list(_candidates(notes)))[:MAX_MISTAKES]
    return notes.d._cache[key]


def _candidates(notes):
    """(label, target, right expr/tex, wrong expr/tex, why parts, batched), most instructive first."""
    from .view import Math

    layers = dense_layers(notes)
    tex = notes.tex
    by_of = {s.of: s for s in notes.steps if s.kind in ("adjoint", "gradient")}
    for layer, dense in sorted(layers.items()):
        above = layers.get(layer + 1)
        delta = dense.delta
        if above is None or above.input != dense.a.symbol or delta.local_derivative is None:
            continue
        upstream = product(transpose(above.weight), above.delta.symbol)
        fz = rf"f'\left({tex(dense.z.symbol)}\right)"
        yield (tex(delta.symbol), delta.name, delta.expr, upstream,
               ("the factor ", Math(fz), " is missing: the error signal passes back through the activation too (BP2)"), False)
        shifted = {dense.z.symbol: above.z.symbol, dense.a.symbol: above.a.symbol}
        if all(getattr(k, "shape", ()) == getattr(v, "shape", ()) for k, v in shifted.items()):
            yield (tex(delta.symbol), delta.name, delta.expr, entrywise(upstream, delta.local_derivative.xreplace(shifted)),
                   ("it takes ", Math("f'"), " at the layer above, ", Math(tex(above.z.symbol)), "; BP2 needs the layer's own ",
                    Math(fz)), False)
        if not notes.scalar and above.weight.shape[0] == above.weight.shape[1]:
            yield (tex(delta.symbol), delta.name, delta.expr, entrywise(product(above.weight, above.delta.symbol),
                                                                          delta.local_derivative),
                   (Math(tex(above.weight)), " needs its transpose: the error goes back along the same weights, from ",
                    "the layer's outputs to its inputs"), False)
        break  # the lowest layer with a layer above it: one of each kind is enough
    for layer, dense in sorted(layers.items()):
        gradient = by_of.get(dense.weight.name)
        if gradient is None:
            continue
        if not notes.scalar:
            yield (tex(gradient.symbol), dense.weight.name, gradient.expr, product(dense.input, transpose(dense.delta.symbol)),
                   (Math(tex(gradient.symbol)), " has the shape of ", Math(tex(dense.weight)), ": ", Math(r"\delta a^{\top}"),
                    ", not its transpose ", Math(r"a \delta^{\top}")), False)
        if gradient.batched is not None:
            summed = sp.expand(gradient.batched * M) if notes.scalar else gradient.batched * M
            label = tex(gradient.symbol).replace(r"\frac{\partial L}", r"\frac{\partial J}", 1)
            yield (label, dense.weight.name, gradient.batched, summed,
                   ("the batch loss ", Math("J"), " is the mean of the examples' losses: the ", Math(r"\frac{1}{m}"),
                    " is missing"), True)
        break
    loss_derivatives = [s for s in notes.steps if s.kind == "adjoint" and [c.consumer for c in s.contributions] == [
        notes.net.loss_node.name]]
    for s in loss_derivatives:
        c, rest = s.expr.as_coeff_Mul() if not isinstance(s.expr, sp.MatrixExpr) else (1, s.expr)
        if c == 2:
            yield (tex(s.symbol), s.name, s.expr, rest,
                   ("the derivative of ", Math(r"u^2"), " is ", Math("2u"), ": the factor 2 is lost"), False)


def _confirmed(notes, candidates) -> list:
    from ..verify import check_gradient

    out = []
    seen = set()
    right_read = {}  # (target, formula) -> the checker reads the derived formula, as printed, as right
    if len(dense_layers(notes)) > MAX_LAYERS_DEEP:
        return []
    for label, target, right, wrong, why, batched in candidates:
        right_tex, wrong_tex = (notes.tex(e) if isinstance(e, sp.Basic) else e for e in (right, wrong))
        if wrong_tex in seen:
            continue
        try:
            if (target, right_tex) not in right_read:
                right_read[(target, right_tex)] = check_gradient(notes.d, target, right_tex, batched=batched).ok
            verdict_wrong = check_gradient(notes.d, target, wrong_tex, batched=batched)
        except SympropError:
            continue  # a formula the checker cannot read is not shown
        if right_read[(target, right_tex)] and not verdict_wrong.ok:
            seen.add(wrong_tex)
            diagnosis = verdict_wrong.diagnosis.title if verdict_wrong.diagnosis else ""
            out.append(Mistake(label, target, right_tex, wrong_tex, tuple(why), diagnosis, batched))
    return out


class MistakesSection(SectionBuilder):
    """A box of common mistakes on this network's own equations, each confirmed wrong by check_gradient."""

    key = "mistakes"

    def build(self) -> list:
        mistakes = common_mistakes(self.notes)
        if not mistakes:
            return []
        rows = tuple(
            (self.cell(rf"{m.label} = {m.wrong}"), self.fmt.prose(*m.why) + ".",
             self.fmt.escape(m.diagnosis) if m.diagnosis else self.fmt.escape("(wrong; no diagnosis)"))
            for m in mistakes
        )
        table = Block("table", header=(self.fmt.escape("wrong formula"), self.fmt.escape("what is wrong"),
                                       self.fmt.escape("check_gradient says")), rows=rows,
                      columns=r">{\raggedright\arraybackslash}p{0.36\linewidth}>{\raggedright\arraybackslash}p{0.34\linewidth}"
                              r">{\raggedright\arraybackslash}p{0.18\linewidth}")
        intro = self.p(
            "Each formula below is a mistake students make, written for this network; symprop.check_gradient "
            "reads each as wrong (its diagnosis in the last column), and reads the right formula, derived above, as right.",
        )
        return [Section("Common mistakes", 1, (Block("box", blocks=(intro, table)),))]
