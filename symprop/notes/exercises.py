"""Exercises with answers; every answer is computed by symprop.

1. Redo the worked example with another target (the engine's numbers at it).
2. Which formula is right (the right one and mistakes check_gradient confirms wrong).
3. Derive an error signal with another activation (the network with that
   activation, derived by symprop).
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..errors import SympropError
from .context import SectionBuilder
from .mistakes import common_mistakes
from .structure import dense_layers
from .view import Block, Math, Section, format_number

MAX_LAYERS_REDECLARED = 8  # the exercise with another activation: networks of up to 8 layers


class ExercisesSection(SectionBuilder):
    """A short exercise set; the answers follow, in a subsection of their own."""

    key = "exercises"

    def build(self) -> list:
        exercises = [e for e in (self.other_target(), self.which_is_right(), self.other_activation()) if e is not None]
        if not exercises:
            return []
        questions = Block("list", items=tuple(q for q, _ in exercises), numbered=True)
        answers = Block("list", items=tuple(a for _, a in exercises), numbered=True)
        return [Section("Exercises", 1, (questions,)), Section("Answers", 2, (answers,))]

    # -- 1. another target ---------------------------------------------------------
    def other_target(self):
        if self.values is None or len(self.net.targets) != 1:
            return None
        target = self.net.targets[0]
        old = np.asarray(self.given[target.name], dtype=float)
        new = self.changed_target(old)
        values = {**self.given, target.name: new.reshape(old.shape) if old.shape else float(new)}
        try:
            numbers = self.d.evaluate(values, learning_rate=self.learning_rate)
        except SympropError:
            return None
        loss = float(np.asarray(numbers["L"], dtype=float).reshape(-1)[0])
        self._record("exercise:L", loss)
        first = self.net.params[0]
        gradient = np.asarray(numbers[f"dL/d{first.name}"], dtype=float)
        self._record(f"exercise:dL/d{first.name}", gradient)
        question = self.fmt.prose(
            "Redo the worked example with the target ", Math(rf"{self.name(target.name)} = {self.value(new)}"),
            " (everything else as it is): what are ", Math("L"), " and ", Math(rf"\partial L / \partial {self.name(first.name)}"), "?",
        )
        answer = self.fmt.prose(
            Math(rf"L = {format_number(loss)}"), " and ", Math(rf"\partial L / \partial {self.name(first.name)} = {self.value(gradient)}"),
            " (the forward pass is unchanged up to the loss; only the error signal at the output, and so every gradient, changes).",
        )
        return question, answer

    def changed_target(self, old):
        """Another valid target: the next class, 1 - y for a probability, 0 (or 1) for a regression target."""
        loss = self.net.loss_node.definition
        name = loss.rule.name if ops.is_loss_node(loss) else ""
        flat = old.reshape(-1)
        if name == "cross_entropy" and flat.size > 1:
            return np.roll(flat, 1).reshape(old.shape)
        if name == "binary_cross_entropy":
            return 1.0 - old
        return np.zeros_like(old) if np.any(old) else np.ones_like(old)

    # -- 2. which formula is right -------------------------------------------------
    def which_is_right(self):
        mistakes = common_mistakes(self.notes)
        if not mistakes:
            return None
        targets = {}
        for m in mistakes:
            targets.setdefault((m.label, m.target, m.right, m.batched), []).append(m)
        (label, _, right, _), wrong = max(targets.items(), key=lambda kv: len(kv[1]))
        wrong = wrong[:2]
        options = [m.wrong for m in wrong]
        at = sum(len(m.wrong) for m in wrong) % (len(options) + 1)  # where the right one goes: fixed, not always first
        options.insert(at, right)
        letters = "abc"
        question = self.fmt.prose(
            "Which of these is right? ", *[part for i, option in enumerate(options)
                                            for part in ((" " if i else ""), f"({letters[i]}) ", Math(rf"{label} = {option}"))],
        )
        reasons = []
        for i, option in enumerate(options):
            if option == right:
                continue
            m = next(m for m in wrong if m.wrong == option)
            reasons += [f" ({letters[i]}) is wrong: "] + list(m.why) + ["."]
        answer = self.fmt.prose(f"({letters[at]}), the equation derived above.", *reasons)
        return question, answer

    # -- 3. another activation -----------------------------------------------------
    def other_activation(self):
        layers = dense_layers(self.notes)
        if len(layers) > MAX_LAYERS_REDECLARED:
            return None  # declaring the network again costs more than linear time in its depth
        for layer, dense in sorted(layers.items()):
            if layer + 1 not in layers or not isinstance(ops.activation_rule(dense.a.activation), ops.ScalarFunction):
                continue
            old = dense.a.activation
            new = "sigmoid" if old == "tanh" else "tanh"
            key = ("notes:with activation", old, new)
            try:
                if key not in self.d._cache:  # derived once for the .tex and the .md
                    self.d._cache[key] = _with_activation(self.net, old, new).derive()
                delta = self.d._cache[key].step(dense.delta.name)
            except (SympropError, KeyError):
                return None
            rule, old_rule = ops.activation_rule(new), ops.activation_rule(old)
            question = self.fmt.prose(
                "Derive ", Math(self.tex(dense.delta.symbol)), f" when {new} replaces {old} (", Math(rule.latex or new),
                " for ", Math(old_rule.latex or old), ") in this network.",
            )
            answer = self.fmt.prose(
                Math(rf"{self.tex(dense.delta.symbol)} = {self.tex(delta.expr)}"),
                f" (symprop's derivation of the network with {new}; only the factor ", Math("f'"), " changes).",
            )
            return question, answer
        return None


def _with_activation(net, old: str, new: str):
    """The network with every application of the activation ``old`` replaced by ``new``."""
    from ..network import Network

    rule = ops.activation_rule(new)

    def is_old(e):
        return ops.is_activation_node(e) and ops.activation_name(e) == old

    loss = net.loss.replace(is_old, lambda e: rule(ops.activation_argument(e)))
    if loss == net.loss:
        raise SympropError(f"no {old} to replace")
    return Network(loss, params=list(net.params), inputs=list(net.inputs), targets=list(net.targets), name=net.name)

