"""Vanishing and exploding gradients, from the worked example's own numbers.

The size of the error signal ||delta^[l]|| layer by layer and its ratio from
one layer to the next, for this network and (option ``compare``) another one
declared with the same names at the same values - the deep sigmoid network
beside the deep ReLU one; the bound sigma' <= 1/4; a plot of log10 ||delta^[l]||
against l; the effect named from the numbers, and the usual remedies.
"""

from __future__ import annotations

import math

import numpy as np

from .context import SectionBuilder
from .structure import dense_layers
from .view import Block, Math, Plot, Section, Series, escape_latex, format_number

MIN_LAYERS = 3  # fewer layers show no trend
VANISHING, EXPLODING = 0.1, 10.0  # ||delta^[1]|| / ||delta^[L]|| beyond these names the effect
PLOT_WIDTH, PLOT_HEIGHT = 8.0, 4.5  # cm
COLOURS = ("blue!70!black", "red!70!black")


class VanishingSection(SectionBuilder):
    """||delta^[l]|| per layer, the ratio per layer, the bound, the plot, the remedies (deep networks with values)."""

    key = "vanishing"

    def build(self) -> list:
        if self.values is None:
            return []
        layers = sorted(dense_layers(self.notes))
        if len(layers) < MIN_LAYERS:
            return []
        series = [(self.net.name, self.norms(self.d, self.values, layers))]
        other = self.options.compare
        if other is not None:
            other = other.derive() if hasattr(other, "derive") else other
            series.append((other.network.name, self.norms(other, other.evaluate(self.given), layers)))
        for label, norms in series:
            for layer, norm in norms.items():
                self._record(f"vanishing:{label}:||delta{layer}||", norm)
        blocks = [self.p(
            "Going down, each layer multiplies the error signal by ", Math(rf"\left({self.layered('W', 'l+1')}\right)^{{\top}}"),
            " and then, entry by entry, by ", Math(rf"f'\left({self.layered('z', 'l')}\right)"), " (BP2), so its size is "
            "a product of one factor per layer:",
        ), self.norm_table(series, layers)]
        blocks.append(Block("plot", graph=self.plot(series, layers)))
        blocks.append(self.p(*self.verdict(series, layers)))
        blocks.append(self.remedies())
        return [Section("Vanishing and exploding gradients", 1, tuple(blocks))]

    @staticmethod
    def norms(derivation, values, layers) -> dict:
        """{l: ||delta^[l]||} at the worked example (Frobenius norms)."""
        out = {}
        for s in derivation.steps:
            if s.kind == "adjoint" and s.role == "pre-activation" and s.layer in layers:
                out[s.layer] = float(np.linalg.norm(np.asarray(values[s.key], dtype=float)))
        return out

    def norm_table(self, series, layers) -> Block:
        delta = self.layered(r"\delta", "l")
        header = [self.cell("l")]
        for _ in series:
            header += [self.cell(rf"\lVert {delta}\rVert"), self.fmt.escape("ratio")]
        rows = []
        for layer in reversed(layers):
            row = [self.fmt.escape(str(layer))]
            for _, norms in series:
                above = norms.get(layer + 1)
                ratio = norms[layer] / above if above else None
                row += [self.cell(format_number(norms[layer])), self.cell(format_number(ratio)) if ratio is not None else ""]
            rows.append(tuple(row))
        which = " and ".join(f"the {label}" for label, _ in series)
        delta_above = self.layered(r"\delta", "l+1")
        caption = self.fmt.prose(
            "The size of the error signal in each layer and its ratio to the layer above, ",
            Math(rf"\lVert {delta}\rVert / \lVert {delta_above}\rVert"), f", for {which}"
            + (" (left to right)" if len(series) > 1 else "") + ":",
        )
        return Block("table", text=caption, header=tuple(header), rows=tuple(rows))

    def plot(self, series, layers) -> Plot:
        logs = [math.log10(max(n, 1e-300)) for _, norms in series for n in norms.values()]
        low, high = math.floor(min(logs)), math.ceil(max(logs))
        high = max(high, low + 1)
        first, last = layers[0], layers[-1]

        def x(layer):
            return round(PLOT_WIDTH * (layer - first) / max(last - first, 1), 3)

        def y(log):
            return round(PLOT_HEIGHT * (log - low) / (high - low), 3)

        step = max(1, (last - first) // 8 + 1)
        x_ticks = tuple((x(layer), str(layer)) for layer in layers if (layer - first) % step == 0 or layer == last)
        y_step = max(1, (high - low) // 6 + (1 if (high - low) % 6 else 0))
        y_ticks = tuple((y(k), rf"10^{{{k}}}") for k in range(low, high + 1, y_step))
        lines = []
        for (label, norms), colour in zip(series, COLOURS):
            logs = tuple(round(math.log10(max(norms[layer], 1e-300)), 3) for layer in layers)
            lines.append(Series(rf"\text{{{escape_latex(label)}}}", label, colour,
                                tuple((x(layer), y(log)) for layer, log in zip(layers, logs)), logs))
        delta = self.layered(r"\delta", "l")
        return Plot(PLOT_WIDTH, PLOT_HEIGHT, x_ticks, y_ticks, "l", rf"\lVert {delta}\rVert", tuple(lines),
                    tuple(str(layer) for layer in layers), "log10 of the norm of delta")

    def verdict(self, series, layers) -> list:
        parts = []
        first, last = layers[0], layers[-1]
        for i, (label, norms) in enumerate(series):
            overall = norms[first] / norms[last] if norms[last] else 0.0
            self._record(f"vanishing:{label}:ratio", overall)
            effect = ("the gradient vanishes (the first layers learn far more slowly than the last)" if overall < VANISHING
                      else "the gradient explodes (the first layers get huge steps)" if overall > EXPLODING
                      else "the gradient keeps its size from layer to layer")
            bottom, top = self.layered(r"\delta", str(first)), self.layered(r"\delta", str(last))
            parts += ["; " if i else "", f"In the {label}" if i == 0 else f"in the {label}", " ",
                      Math(rf"\lVert {bottom}\rVert / \lVert {top}\rVert = {format_number(overall)}"), f", so {effect}"]
        if len(series) == 2:
            kept = [norms[first] / norms[last] if norms[last] else 0.0 for _, norms in series]
            if kept[0] and kept[1] > kept[0]:
                parts += [f". The {series[1][0]} keeps ", Math(format_number(kept[1] / kept[0])),
                          f" times as much of its error signal down to layer {first}"]
        parts.append(". ")
        activations = {dense.a.activation for dense in dense_layers(self.notes).values()}
        if "sigmoid" in activations:
            parts += ["With the sigmoid, ", Math(r"\sigma'(z) = \sigma(z)\left(1 - \sigma(z)\right) \le \frac{1}{4}"),
                      ", so unless the weights are large every sigmoid layer shrinks the error signal at least fourfold: ",
                      Math(r"\left(\frac{1}{4}\right)^{10} \approx 10^{-6}"), " after ten layers. "]
        if "relu" in activations:
            parts += ["ReLU's derivative is 1 wherever a unit is active, so the size of the error signal is left to the weights. "]
        return parts

    def remedies(self) -> Block:
        items = (
            self.fmt.prose("ReLU and its relatives in the hidden layers: ", Math("f' = 1"), " on the active side."),
            self.fmt.prose("Residual connections, ", Math(r"a^{[l]} = a^{[l-1]} + F\left(a^{[l-1]}\right)"),
                           ": the identity path adds the error signal from above unchanged."),
            self.fmt.prose("Careful initialisation (Xavier/Glorot for tanh and sigmoid, He for ReLU): weights scaled so that ",
                           Math(r"\left(W\right)^{\top} \delta"), " keeps the size of ", Math(r"\delta"), " on average."),
            self.fmt.prose("Normalisation (batch or layer norm) keeps pre-activations where ", Math("f'"), " is not small."),
            self.fmt.prose("Against exploding gradients, clipping: rescale the gradient when its norm exceeds a threshold."),
        )
        return Block("box", text=self.fmt.escape("Remedies"), blocks=(Block("list", items=items),))
