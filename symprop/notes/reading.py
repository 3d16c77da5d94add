"""What the numbers of the worked example say, in sentences: every number in them is computed here.

The sign and size of each gradient and what the step does with it; the loss
after the step, from a fresh forward pass at the updated parameters (not the
first-order estimate); ReLU units that are dead or sit on the kink in this
example; sigmoid layers, whose derivative (at most 1/4) shrinks the error signal.
"""

from __future__ import annotations

import numpy as np

from .context import SectionBuilder
from .structure import dense_layers
from .view import Block, Math, Section, format_number

MAX_PARAMETERS = 6  # deeper networks: the sentences about the first and the last layers' weights only
SIGMOID_BOUND = 0.25  # max of sigma'(z) = sigma(z) (1 - sigma(z)), at z = 0
MAX_UNITS = 3  # more dead ReLU units than this: one sentence for all


class ReadingSection(SectionBuilder):
    """Sentences from the worked example's numbers (only with values)."""

    key = "reading"

    def build(self) -> list:
        if self.values is None:
            return []
        items = [self.gradient_sentence(p) for p in self.parameters()]
        items.append(self.loss_sentence())
        items.extend(self.activation_sentences(sorted(dense_layers(self.notes).values(), key=lambda d: -d.layer)))
        return [Section("What the numbers say", 2, (Block("list", items=tuple(i for i in items if i)),))]

    def parameters(self) -> list:
        params = list(self.net.params)
        if len(params) <= MAX_PARAMETERS:
            return params
        weights = [p for p in params if any(dense.weight == p for dense in dense_layers(self.notes).values())]
        return (weights[:1] + weights[-1:]) if weights else params[:MAX_PARAMETERS]

    # -- gradients ---------------------------------------------------------------
    def gradient_sentence(self, param) -> str:
        gradient = np.asarray(self.values[f"dL/d{param.name}"], dtype=float)
        name = self.name(param.name)
        if gradient.size == 1:
            g = float(gradient.reshape(-1)[0])
            self._record(f"reading:dL/d{param.name}", g)
            before = float(np.asarray(self.given[param.name], dtype=float).reshape(-1)[0])
            after = float(self.first_step(param.name)[0].reshape(-1)[0])
            if g == 0:
                return self.fmt.prose(Math(rf"\partial L / \partial {name} = 0"), ": to first order the loss does not "
                                      "depend on ", Math(name), " here, and the step leaves it at ", Math(format_number(before)), ".")
            direction = ("raises", "lowers") if g > 0 else ("lowers", "raises")
            return self.fmt.prose(
                Math(rf"\partial L / \partial {name} = {format_number(g)}"), ": raising ", Math(name), " by a small ",
                Math(r"\varepsilon"), f" {direction[0]} the loss by about ", Math(rf"{format_number(abs(g))} \varepsilon"),
                f", so the step {direction[1]} ", Math(name), ": ", Math(rf"{format_number(before)} \to {format_number(after)}"), ".",
            )
        flat = np.abs(gradient).reshape(-1)
        k = int(np.argmax(flat))
        row, col = np.unravel_index(k, gradient.shape) if gradient.ndim == 2 else (k, 0)
        largest = float(gradient.reshape(-1)[k])
        self._record(f"reading:max dL/d{param.name}", largest)
        matrix = gradient.ndim == 2 and gradient.shape[1] > 1
        entry = self.entry(name, row + 1, col + 1) if matrix else self.entry(name, row + 1)
        if largest == 0:
            return self.fmt.prose(Math(rf"\partial L / \partial {name} = \mathbf{{0}}"), ": no entry of ", Math(name),
                                  " changes the loss to first order here; the step leaves it as it is.")
        return self.fmt.prose(
            "The largest entry of ", Math(rf"\partial L / \partial {name}"), " in size is ",
            Math(format_number(largest)), f", at ({row + 1}, {col + 1})" if matrix else f", entry {row + 1}", ": raising ",
            Math(entry), " by a small ",
            Math(r"\varepsilon"), " changes the loss by about ", Math(rf"{format_number(largest)} \varepsilon"),
            "; the step moves every entry against the sign of its gradient.",
        )

    def loss_sentence(self) -> str:
        before = float(np.asarray(self.values["L"], dtype=float).reshape(-1)[0])
        after = self.loss_after_the_step()
        self._record("reading:L after the step", after)
        what = {"sgd": "step of gradient descent", "momentum": "step of SGD with momentum", "adam": "step of Adam"}[self.optimizer]
        verdict = (" lower, as a step against the gradient should be when the learning rate is small enough." if after < before
                   else " not lower: this learning rate overshoots here." if after > before else " the same.")
        return self.fmt.prose(
            f"The loss after one {what}, from a fresh forward pass at the updated parameters: ",
            Math(rf"L = {format_number(before)} \to {format_number(after)}"), ";" + verdict,
        )

    # -- activations -------------------------------------------------------------
    def activation_sentences(self, layers) -> list:
        """Dead ReLUs and kinks, one sentence each (a summary when there are many); the sigmoid layers' slopes."""
        dead, kinks, slopes = [], [], []
        for dense in layers:
            z = np.asarray(self.values[dense.z.name], dtype=float).reshape(-1)
            if dense.a.activation == "relu":
                gradient = np.asarray(self.values[f"dL/d{dense.weight.name}"], dtype=float).reshape(z.size, -1)
                dead += [(dense, j, z[j], not np.any(gradient[j])) for j in range(z.size) if z[j] < 0]
                kinks += [(dense, j) for j in range(z.size) if z[j] == 0]
            elif dense.a.activation == "sigmoid":
                a = np.asarray(self.values[dense.a.name], dtype=float).reshape(-1)
                slopes.append((dense, float(np.max(a * (1 - a)))))
        out = [self.dead_sentence(*unit) for unit in dead] if len(dead) <= MAX_UNITS else [self.dead_summary(dead)]
        out += [self.fmt.prose(
            Math(rf"{self.unit_value(dense.z, j)} = 0"), " sits on the kink of ReLU, where it has no derivative; "
            "symprop (as PyTorch) takes ", Math(r"\operatorname{ReLU}'(0) = 0"), ".",
        ) for dense, j in kinks[:MAX_UNITS]]
        if len(slopes) <= 2:
            out += [self.slope_sentence(dense, slope) for dense, slope in slopes]
        elif slopes:
            dense, slope = max(slopes, key=lambda ds: ds[1])
            self._record("reading:max sigma'", slope)
            out.append(self.fmt.prose(
                f"In each of the {len(slopes)} sigmoid layers every entry of ", Math(r"\sigma'(z)"), " is at most ",
                Math(format_number(slope)), f" here (the largest, in layer {dense.layer}; ", Math(r"\sigma'"),
                " is never more than ", Math(r"\frac{1}{4}"), "): each layer multiplies the error signal sent back from "
                "above by such factors, so it shrinks layer after layer.",
            ))
        return out

    def dead_sentence(self, dense, j, z, zero_row) -> str:
        unit = "The ReLU" if self.scalar else f"Unit {j + 1} of layer {dense.layer}"
        tail = ["."]
        if zero_row:
            where = [] if self.scalar else [f"row {j + 1} of "]
            tail = [", and "] + where + [Math(rf"\partial L / \partial {self.name(dense.weight.name)}"),
                                        " is zero: " + ("its weights do not move." if not self.scalar else "it does not move.")]
        return self.fmt.prose(
            unit, " is dead for this example: ", Math(rf"{self.unit_value(dense.z, j)} = {format_number(z)} < 0"), ", so ",
            Math(r"\operatorname{ReLU}' = 0"), " there and its error signal is 0", *tail,
        )

    def dead_summary(self, dead) -> str:
        zero_rows = sum(1 for *_, zero_row in dead if zero_row)
        return self.fmt.prose(
            f"{len(dead)} ReLU units are dead for this example (their pre-activation is negative, so their error signal "
            f"is 0); {zero_rows} of them have a zero row in the gradient of their layer's weights, which do not move.",
        )

    def slope_sentence(self, dense, slope) -> str:
        self._record(f"reading:max sigma' layer {dense.layer}", slope)
        sigma_prime = rf"\sigma'\left({self.name(dense.z.name)}\right)"
        size = [Math(rf"{sigma_prime} = {format_number(slope)}")] if self.scalar else [
            "Every entry of ", Math(sigma_prime), " is at most ", Math(format_number(slope))]
        return self.fmt.prose(
            *size, " here (", Math(r"\sigma'"), " is never more than ", Math(r"\frac{1}{4}"),
            f"): the error signal of layer {dense.layer} is the one sent back from above times this factor, so passing "
            "through the sigmoid shrinks it" + (" at least fourfold." if slope <= SIGMOID_BOUND else "."),
        )

    def unit(self, dense, j) -> object:
        return "The ReLU" if self.scalar else f"Unit {j + 1} of layer {dense.layer}"

    def unit_value(self, node, j) -> str:
        return self.name(node.name) if self.scalar else self.entry(self.name(node.name), j + 1)

