"""The update rule of the optimizer (SGD, momentum or Adam).
"""

from __future__ import annotations

import sympy as sp

from .context import ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON, MOMENTUM, SectionBuilder
from .view import Equation, Math, Section, format_number


class UpdateSection(SectionBuilder):
    """6. The update rule."""

    key = "update"

    def build(self) -> list:
        return [self.update_section()]

    def update_section(self) -> Section:
        lines = []
        for s in self.steps:
            if s.kind == "update":
                lines.extend(self.update_rule(s))
        if self.optimizer == "sgd":
            intro = self.p(
                "Gradient descent (SGD) with learning rate ", Math(self.lr),
                " moves every parameter a small step against its gradient",
                " (for a mini-batch, the batch gradients above):",
            )
        elif self.optimizer == "momentum":
            intro = self.p(
                "SGD with momentum keeps a velocity ", Math(r"v"), " per parameter, zero at the start, "
                "that accumulates past gradients (momentum ", Math(rf"\mu = {format_number(MOMENTUM)}"),
                ", learning rate ", Math(self.lr), "):",
            )
        else:
            intro = self.p(
                "Adam keeps running means of each gradient and of its square, ", Math("s"), " and ", Math("r"),
                " (the first and second moments; the letters of Goodfellow et al., since ", Math("m"),
                " is the batch size here), zero at the start, and divides one by the square root of the other, "
                "entry by entry (",
                Math(rf"\beta_1 = {format_number(ADAM_BETA1)}"), ", ", Math(rf"\beta_2 = {format_number(ADAM_BETA2)}"),
                ", ", Math(rf"\epsilon = {format_number(ADAM_EPSILON)}"), "; at step ", Math("t"),
                ", counted from 1, the bias-corrected means are ", Math(r"\hat{s} = s / (1 - \beta_1^{t})"), " and ",
                Math(r"\hat{r} = r / (1 - \beta_2^{t})"), "):",
            )
        return Section("The update rule", 1, (intro, self.equations(lines)))

    def update_rule(self, s) -> list:
        """The optimizer's equations for one parameter; the last one is the numbered update."""
        theta = self.tex(s.symbol)
        grad = self.tex(self.by_name["d" + s.of].symbol)
        tag = dict(tag=str(s.number), label=f"({s.number})")
        if self.optimizer == "sgd":
            return [Equation(theta, r"\leftarrow", self.tex(s.expr), **tag)]
        if self.optimizer == "momentum":
            v = rf"v_{{{theta}}}"
            return [
                Equation(v, r"\leftarrow", rf"\mu {v} + {grad}"),
                Equation(theta, r"\leftarrow", rf"{theta} - {self.lr} {v}", **tag),
            ]
        first, second = rf"s_{{{theta}}}", rf"r_{{{theta}}}"
        square = rf"{grad} \odot {grad}" if isinstance(s.symbol, sp.MatrixSymbol) else rf"\left({grad}\right)^{{2}}"
        first_hat, second_hat = rf"\hat{{s}}_{{{theta}}}", rf"\hat{{r}}_{{{theta}}}"
        if isinstance(s.symbol, sp.MatrixSymbol):
            update = rf"{theta} - {self.lr} \, {first_hat} \oslash \left(\sqrt{{{second_hat}}} + \epsilon\right)"
        else:
            update = rf"{theta} - {self.lr} \frac{{{first_hat}}}{{\sqrt{{{second_hat}}} + \epsilon}}"
        return [
            Equation(first, r"\leftarrow", rf"\beta_1 {first} + \left(1 - \beta_1\right) {grad}"),
            Equation(second, r"\leftarrow", rf"\beta_2 {second} + \left(1 - \beta_2\right) {square}"),
            Equation(theta, r"\leftarrow", update, **tag),
        ]
