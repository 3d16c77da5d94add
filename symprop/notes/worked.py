"""The worked example: the forward pass, the backward pass and the update with numbers.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from .context import SectionBuilder, _join_math
from .view import Block, Equation, Math, Section, _equation_chain, _substitution, format_number


class WorkedSection(SectionBuilder):
    """7. A worked example (only with values)."""

    key = "worked"

    def build(self) -> list:
        return [] if self.values is None else self.worked_sections()

    def worked_sections(self) -> list:
        sections = []
        if not self.interleaved():
            sections.append(Section("A worked example", 1, tuple(self.given_blocks())))
            forward = []
            for s in self.steps:
                if s.kind in ("forward", "loss"):
                    forward.extend(self.worked_line(s))
            sections.append(Section("Forward pass", 2, (self.equations(forward),)))
            backward = []
            for s in self.steps:
                if s.kind in ("adjoint", "gradient"):
                    backward.extend(self.worked_backward(s))
            blocks = []
            if self.scalar:
                blocks.append(self.p("Every local derivative, then each gradient from the one above it:"))
            blocks.append(self.equations(backward))
            if not self.scalar:
                blocks.append(self.gradient_size_table())
            sections.append(Section("Backward pass", 2, tuple(blocks)))

        updates = []
        for s in self.steps:
            if s.kind == "update":
                updates.extend(self.worked_update(s))
        what = {"sgd": "gradient descent", "momentum": "SGD with momentum, from a zero velocity",
                "adam": "Adam, from zero means"}[self.optimizer]
        blocks = [
            self.p(f"The first step of {what}, with ", Math(rf"{self.lr} = {format_number(self.learning_rate)}"), ":"),
            self.equations(updates),
        ]
        if self.interleaved() and not self.scalar:
            blocks.append(self.gradient_size_table())
        sections.append(Section("The update, with the numbers" if self.interleaved() else "Update", 1 if self.interleaved() else 2,
                                tuple(blocks)))
        return sections

    def given_blocks(self) -> list:
        """The values of the worked example: every input, parameter and target, and the learning rate."""
        given = []
        for sym in self.net.inputs + self.net.params + self.net.targets:
            given.append((self.name(sym.name), self.value(self.given[sym.name], sym)))
        given.append((self.lr, format_number(self.learning_rate)))
        if self.scalar:
            values = [Math(f"{name} = {value}") for name, value in given]
            return [self.p("Take ", *_join_math(values), " (the learning rate ", Math(self.lr), ").")]
        return [
            self.p("Take these values for one example and the parameters:"),
            self.equations(Equation(name, "=", value) for name, value in given),
        ]

    def numbered_line(self, s) -> list:
        """The forward step with its numbers, numbered as the step: z = w x + b = 3 . 2 + 1 = 7   (1)."""
        lines = self.worked_line(s)
        last = lines[-1]
        lines[-1] = Equation(last.lhs, last.rel, last.rhs, last.note, str(s.number), f"({s.number})")
        return lines

    def worked_update(self, s) -> list:
        if self.optimizer == "sgd":
            return self.worked_line(s, rel=r"\leftarrow")
        new, states = self.first_step(s.of)
        lines = []
        for letter, value in states:
            name = rf"{letter}_{{{self.tex(s.symbol)}}}"
            self._record(f"{self.optimizer}:{name}", value)
            lines.append(Equation(name, "=", self.value(value)))
        self._record(f"{self.optimizer}:{s.name}", new)
        lines.append(Equation(self.tex(s.symbol), r"\leftarrow", self.value(new, s.symbol)))
        return lines

    def worked_line(self, s, rel="=") -> list:
        """lhs = expression = expression with the numbers = value (scalars); lhs = expression = value (arrays)."""
        value = self.values[s.key]
        self._record(s.key, value)
        lhs = self.tex(s.symbol)
        if not self.scalar:
            return _equation_chain(lhs, rel, [self.tex(s.expr), self.value(value, s.symbol)])
        expr = s.expr
        if s.kind == "loss" and ops.is_loss_node(expr):
            expr = expr.rule.explicit(expr.prediction, expr.target) * expr.rule.factor(expr.prediction)
        return _equation_chain(lhs, rel, self.worked_chain(expr, value))

    def worked_backward(self, s) -> list:
        value = self.values[s.key]
        self._record(s.key, value)
        lhs = self.tex(s.symbol)
        if not self.scalar:
            return _equation_chain(lhs, "=", [self.tex(s.expr), self.value(value, s.symbol)])
        lines = []
        terms_symbolic, terms_numbers = [], []
        for c in s.contributions:
            local_value = self.evaluate_expr(c.local)
            self._record(f"local:{c.consumer}/{s.of}", local_value)
            partial = self.partial(c.consumer, s.of)
            if c.upstream == 1 and len(s.contributions) == 1:
                continue  # the loss itself: the line below differentiates it directly
            lines.extend(_equation_chain(partial, "=", self.worked_chain(c.local, local_value)))
            if c.upstream == 1:  # the loss uses the value directly, besides through other nodes
                terms_symbolic.append(partial)
                terms_numbers.append(_substitution(local_value))
                continue
            upstream_value = self.evaluate_expr(c.upstream)
            terms_symbolic.append(rf"{self.tex(c.upstream)} \cdot {partial}")
            terms_numbers.append(rf"{_substitution(upstream_value)} \cdot {_substitution(local_value)}")
        if terms_symbolic:
            lines.extend(_equation_chain(lhs, "=", [" + ".join(terms_symbolic), " + ".join(terms_numbers), format_number(value)]))
        else:  # the gradient of the loss itself
            lines.extend(_equation_chain(lhs, "=", self.worked_chain(s.expr, value)))
        if len(s.forms) > 1 and terms_symbolic:
            # the closed form gives the same number: a check students can do by hand
            lines.extend(_equation_chain(lhs, "=", self.worked_chain(s.expr, value), note=rf"\text{{by ({s.number})}}"))
        return lines

    def worked_chain(self, expr, value) -> list:
        """[expression, expression with the numbers, value], without repeating itself."""
        parts = [self.tex(expr), self.with_numbers(expr), format_number(value)]
        out = []
        for part in parts:
            if not out or out[-1] != part:
                out.append(part)
        return out

    def gradient_size_table(self) -> Block:
        rows = []
        for s in self.steps:
            if s.kind == "gradient" and s.role == "parameter":
                norm = float(np.linalg.norm(np.asarray(self.values[s.key], dtype=float)))
                self._record(f"norm:{s.key}", norm)
                # \partial L / \partial W inline: a \frac in a table row collides with the rows around it
                rows.append((self.cell(rf"\partial L / \partial {self.name(s.of)}"), self.cell(format_number(norm))))
        return Block(
            "table",
            text=self.fmt.prose("The size of each gradient (its Frobenius norm) shows which layers learn fastest:"),
            header=(self.fmt.escape("gradient"), self.fmt.escape("norm")),
            rows=tuple(rows),
        )
