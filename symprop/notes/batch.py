"""The mini-batch form: examples stacked as columns, the loss a batch mean.
"""

from __future__ import annotations

from typing import Optional

import sympy as sp

from ..batch import INDEX, M, batch_name, indexed
from .context import SectionBuilder, _join_math, _outer_product_factors
from .view import Equation, Math, Section


class BatchSection(SectionBuilder):
    """5. A mini-batch."""

    key = "batch"

    def build(self) -> list:
        section = self.batch_section()
        return [] if section is None else [section]

    def batch_section(self) -> Optional[Section]:
        per_example = set(self.net.inputs) | set(self.net.targets)
        per_example |= {s.symbol for s in self.steps if s.kind in ("forward", "loss", "adjoint")}
        lines = []
        mean = rf"\frac{{1}}{{{self.tex(M)}}} \sum_{{{self.tex(INDEX)}=1}}^{{{self.tex(M)}}}"
        ones = False
        outer = False
        for s in self.steps:
            if s.batched is None or s.kind == "update":
                continue
            lhs = self.tex(s.batched_symbol)
            if s.kind == "loss":
                lhs = "J"  # the batch loss; L stays the loss of one example
            elif s.kind == "gradient":
                lhs = _of_the_batch_loss(lhs)
            rhs = self.tex(s.batched)
            if s.kind == "gradient" and s.role == "parameter" and not self.scalar:
                per = self.tex(indexed(s.expr, per_example))
                if isinstance(s.expr, sp.MatAdd):
                    per = rf"\left({per}\right)"
                lines.append(Equation(lhs, "=", rf"{mean} {per}"))
                lines.append(Equation("", "=", rhs))
                outer = outer or _outer_product_factors(s.expr) is not None
            else:
                lines.append(Equation(lhs, "=", rhs))
            ones = ones or bool(s.batched.atoms(sp.OneMatrix)) if isinstance(s.batched, sp.Basic) else ones
        if not lines:
            return None
        blocks = []
        example = self.tex(indexed(sp.Symbol("L"), {sp.Symbol("L")}))  # L^{(i)}: the loss of example i
        adjoints = [s for s in self.steps if s.kind == "adjoint" and s.batched is not None]
        if self.scalar:
            blocks.append(self.p(
                "For a mini-batch of ", Math("m"), " examples, example ", Math("i"), " has the loss ", Math(example),
                ", and the batch loss ", Math("J"), " is their mean. ",
                *(["The error signals, ", Math(self.tex(adjoints[-1].batched_symbol)), " and the other ",
                   Math(r"\partial L / \partial"), " below, are those of example ", Math("i"), "'s own loss ", Math(example),
                   " (no ", Math(r"\frac{1}{m}"), "); "] if adjoints else []),
                "the gradients of the parameters are those of ", Math("J"), ", the mean of the per-example gradients:",
            ))
        else:
            stacked = [self._batch_matrix(sym) for sym in self.net.inputs + self.net.targets]
            deltas = [s for s in adjoints if s.batched_symbol.name.startswith("Delta")]
            blocks.append(self.p(
                "For a mini-batch of ", Math("m"), " examples, stack them as columns: ", *_join_math(stacked),
                " (and likewise every per-example quantity) have one column per example, example ", Math("i"),
                " in column ", Math("i"), ". Each example has its own loss ", Math(example), "; the batch loss ",
                Math("J"), " is their mean. ",
                *(["The error signals are stacked the same way: column ", Math("i"), " of ",
                   Math(self.tex(deltas[-1].batched_symbol)), " is ", Math(self.tex(indexed(deltas[-1].symbol, {deltas[-1].symbol}))),
                   ", the error signal of ", Math(example), " alone (and likewise for every ",
                   Math(r"\partial L / \partial"), " below), without ", Math(r"\frac{1}{m}"), ". "] if deltas else []),
                "The gradients of the parameters are those of ", Math("J"),
                ": the mean of the per-example gradients, where the ", Math(r"\frac{1}{m}"),
                " enters, and the sum over the examples becomes a matrix product:",
            ))
        blocks.append(self.equations(lines))
        if ones:
            blocks.append(self.note(
                "Note: ", Math(r"\mathbf{1}_{m}"), " is a column of ", Math("m"), " ones: ",
                Math(r"b \mathbf{1}_{m}^{\top}"), " copies a bias into every column, and ",
                Math(r"\Delta \mathbf{1}_{m}"), " sums the columns of ", Math(r"\Delta"), " over the batch.",
            ))
        if outer:
            blocks.append(self.note(
                "Note: one matrix product of an ", Math(r"n \times m"), " and an ", Math(r"m \times k"),
                " matrix adds up the ", Math("m"), " outer products of the single examples.",
            ))
        return Section("A mini-batch", 1, tuple(blocks))

    def _batch_matrix(self, sym) -> Math:
        """X in R^{3 x m}: the batch matrix that stacks the examples of ``sym``."""
        wanted = {batch_name(sym.name), batch_name(sym.name) + "_B"}
        for s in self.steps:
            if isinstance(s.batched, sp.Basic):
                for atom in sorted(s.batched.atoms(sp.MatrixSymbol), key=lambda a: a.name):
                    if atom.name in wanted and atom.shape == (sym.shape[0], M):
                        return Math(rf"{self.tex(atom)} \in \mathbb{{R}}^{{{int(sym.shape[0])} \times m}}")
        return Math(self.tex(sym))


def _of_the_batch_loss(tex: str) -> str:
    """\\frac{\\partial L}{\\partial W} -> \\frac{\\partial J}{\\partial W}: a gradient of the batch loss J."""
    prefix = r"\frac{\partial L}"
    return r"\frac{\partial J}" + tex[len(prefix):] if tex.startswith(prefix) else tex
