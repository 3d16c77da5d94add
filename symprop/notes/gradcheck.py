"""Checking one gradient by hand: the centred difference next to the backprop value, and what each costs."""

from __future__ import annotations

import numpy as np

from .context import SectionBuilder
from .view import Equation, Math, Section, format_number

STEP = 1e-4  # h of the centred difference: its error is O(h^2), its rounding O(eps / h)


def _digits(value: float) -> str:
    """More digits than the notes' 4: the two losses differ only far down."""
    text = f"{value:.10g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text


class GradcheckSection(SectionBuilder):
    """The centred difference for one parameter (entry) of the worked example; the cost argument (only with values)."""

    key = "gradcheck"

    def build(self) -> list:
        if self.values is None or not self.net.params:
            return []
        param = self.net.params[0]
        value = np.array(self.given[param.name], dtype=float)
        gradient = np.asarray(self.values[f"dL/d{param.name}"], dtype=float).reshape(value.shape)
        k = int(np.argmax(np.abs(gradient).reshape(-1)))  # the entry the check says most about
        name = self.name(param.name)
        if value.size > 1:
            index = np.unravel_index(k, value.shape)
            name = self.entry(name, *(i + 1 for i in index))

        def loss_at(shift):
            moved = value.copy()
            moved.reshape(-1)[k] += shift
            return float(np.asarray(self.d.evaluate({**self.given, param.name: moved})["L"], dtype=float).reshape(-1)[0])

        up, down = loss_at(STEP), loss_at(-STEP)
        centred = (up - down) / (2 * STEP)
        backprop = float(gradient.reshape(-1)[k])
        relative = abs(centred - backprop) / max(abs(centred), abs(backprop), 1e-300)
        self._record("gradcheck:centred difference", centred)
        self._record("gradcheck:backprop", backprop)
        count = sum(int(np.asarray(self.given[p.name]).size) for p in self.net.params)
        self._record("gradcheck:parameters", count)
        h = r"10^{-4}"
        blocks = (
            self.p(
                "A derived gradient can be checked with two more forward passes: move one parameter a little each way and "
                "divide the change of the loss by the distance. With ", Math(rf"h = {h}"), " and ",
                Math(rf"{name} = {format_number(float(value.reshape(-1)[k]))}"),
                " (the entry with the largest gradient):" if value.size > 1 else ":",
            ),
            self.equations([
                _line(rf"L\left({name} + h\right)", _digits(up)),
                _line(rf"L\left({name} - h\right)", _digits(down)),
                _line(rf"\frac{{L\left({name} + h\right) - L\left({name} - h\right)}}{{2h}}", _digits(centred)),
                _line(rf"\frac{{\partial L}}{{\partial {name}}}", _digits(backprop), note=r"\text{backpropagation}"),
            ]),
            self.p(
                "The two agree to a relative difference of ", Math(format_number(relative)),
                " (the centred difference is off by terms of order ", Math("h^2"), "; the one-sided ",
                Math(r"\left(L(\theta + h) - L(\theta)\right) / h"), " by order ", Math("h"), "). "
                f"Checking every gradient this way costs two forward passes per {'parameter' if self.scalar else 'parameter entry'}:"
                f" this network has {count} {'parameters' if self.scalar else 'entries'}, so {2 * count} forward passes. "
                f"Backpropagation gives all {count} at once, from one forward "
                "and one backward pass, and the backward pass costs about as much as one or two forward passes: that is why "
                "networks are trained with backpropagation and only checked with differences.",
            ),
        )
        return [Section("Checking a gradient numerically", 1, blocks)]


def _line(lhs, rhs, note=""):
    return Equation(lhs, "=", rhs, note=note)
