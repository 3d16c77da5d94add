"""How a formula's author numbers the layers, names things and lays out the batch.

symprop numbers the layers as Ng's course and CS229 do: the input is a^[0] = x,
the first weights are W^[1] and z^[1] = W^[1] x + b^[1].  Other books count
differently, and a correct formula read in the wrong numbering names other
layers' values:

* Nielsen: the input is layer 1, so the first weights are w^2 and the first
  delta delta^2 (every layer number is ours + 1);
* UFLDL: the input is layer 1 and W^(l) maps layer l to l+1, so W^(1) is our
  W1 but z^(2), a^(2), delta^(2) are our z1, a1, delta1;
* Goodfellow (Alg. 6.4): our numbering, but a^(k) is the pre-activation and
  h^(k) the activation (h^(0) = x).

A numbering is the offset from the author's layer number to ours, for the
weights (W, b) and for the nodes (z, a, delta), and the letters it renames.
``l`` and ``L`` in a layer script are the layer of the gradient being checked
and the output layer, in the author's numbering.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import FormulaError


@dataclass(frozen=True)
class Numbering:
    name: str
    weights: int = 0  # our layer = the author's + this, for W and b
    nodes: int = 0  # ... for z, a, delta
    letters: tuple = ()  # (author's letter, ours): Goodfellow's a is our z, his h our a
    source: str = ""

    def offset(self, group: str) -> int:
        return self.weights if group in ("w", "b") else self.nodes

    def letter(self, base: str) -> str:
        return dict(self.letters).get(base, base)


NUMBERINGS = {
    "ng": Numbering("ng", source="Ng's course and CS229: a^[0] = x, W^[1] maps it to z^[1]"),
    "nielsen": Numbering("nielsen", -1, -1, source="Nielsen: the input is layer 1, the first weights are w^2"),
    "ufldl": Numbering("ufldl", 0, -1, source="UFLDL: the input is layer 1, W^(l) maps layer l to layer l+1"),
    "goodfellow": Numbering("goodfellow", 0, 0, (("a", "z"), ("h", "a")),
                            source="Goodfellow Alg. 6.4: a^(k) the pre-activation, h^(k) the activation, h^(0) = x"),
}
NUMBERINGS["symprop"] = NUMBERINGS["cs229"] = NUMBERINGS["ng"]


def numbering(spec) -> Numbering:
    """A numbering by name ("nielsen", "ufldl", "goodfellow", "ng") or an integer offset (author's layer + k = ours)."""
    if spec is None:
        return NUMBERINGS["ng"]
    if isinstance(spec, Numbering):
        return spec
    if isinstance(spec, bool) or not isinstance(spec, (str, int)):
        raise FormulaError(f"layers must be a numbering name or an integer offset, got {spec!r}")
    if isinstance(spec, int):
        return Numbering(f"offset {spec:+d}", spec, spec, source=f"layer numbers shifted by {spec:+d}")
    if spec not in NUMBERINGS:
        raise FormulaError(f"unknown layer numbering {spec!r}; choose one of {', '.join(sorted(NUMBERINGS))} or an integer offset")
    return NUMBERINGS[spec]


@dataclass(frozen=True)
class Convention:
    """The reading options of one check."""

    numbering: Numbering = field(default_factory=lambda: NUMBERINGS["ng"])
    layer_variables: tuple = ()  # (("l", author's layer of the target), ("L", the output layer))
    rows: bool = False  # batch-first: rows are examples, weights (in, out), the transpose of every value
    names: tuple = ()  # (the author's word, a word the network knows)

    def variable(self, name: str):
        return dict(self.layer_variables).get(name)


def layer_number(text: str, convention: Convention, what: str) -> int:
    """The author's layer number written as 2, l, l+1, L-1 -> an integer (still in the author's numbering)."""
    text = text.replace(" ", "")
    if text.isdigit():
        return int(text)
    head, sign, tail = text[0], text[1:2], text[2:]
    value = convention.variable(head)
    if value is None:
        if head == "L":
            raise FormulaError(f"{what}: L (the output layer) is unknown here")
        raise FormulaError(f"{what}: the layer {head!r} is the layer of the gradient being checked, which has none; "
                           "write the layer's number")
    if not sign:
        return value
    if sign not in "+-" or not tail.isdigit():
        raise FormulaError(f"{what}: a layer is a number, l, l+1, l-1, L or L-1, not {text!r}")
    return value + int(tail) if sign == "+" else value - int(tail)


__all__ = ["Convention", "NUMBERINGS", "Numbering", "layer_number", "numbering"]
