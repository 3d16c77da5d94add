"""The notation box at the top: every symbol and operator the notes use, defined once.

Built after the other sections, from what they printed: a symbol is listed
only if it appears in them (a scalar network's notes have no \\odot).
"""

from __future__ import annotations

from .context import SectionBuilder
from .view import Block, Math, Section


class NotationSection(SectionBuilder):
    """A box of the symbols used in the notes, built from the other sections' text."""

    key = "notation"
    after_the_rest = True  # it lists what the other sections printed

    def build(self) -> list:
        return []

    def summarize(self, sections) -> list:
        used = "\n".join(_texts(sections))
        i = self.example_mark()
        entries = [
            ("L", ["the loss of one example"], True),
            ("J", ["the loss of a mini-batch: the mean of the examples' losses"], r"\partial J" in used or "J &=" in used),
            (self.layered("w" if self.scalar else "W", "l") + ", " + self.layered("a", "l"),
             ["a quantity of layer ", Math("l"), " (the input is layer 0)"], any(n.layer for n in self.net.nodes)),
            (rf"x^{{{i}}}", ["example ", Math("i"), " of a mini-batch of ", Math("m"), " examples"], i in used),
            (r"\hat{y}", ["the prediction"], r"\hat{y}" in used),
            (self.layered(r"\delta", "l"), ["the error signal ", Math(rf"\partial L / \partial {self.layered('z', 'l')}"),
                                            " of a layer's pre-activation"], r"\delta" in used),
            (self.layered(r"\Delta", "l"), ["the error signals of a mini-batch, one column per example"], r"\Delta" in used),
            ("f'", ["the derivative of an activation ", Math("f")] + ([] if self.scalar else [", applied entry by entry"]),
             "f'" in used),
            (r"A^{\top}", ["the transpose of ", Math("A")], r"\top" in used),
            (r"\odot", ["entrywise (Hadamard) product"], r"\odot" in used),
            (r"\oslash", ["entrywise division"], r"\oslash" in used),
            (r"\mathbb{1}\left[z > 0\right]", ["1 where ", Math("z > 0"), " and 0 elsewhere"
                                                  + ("" if self.scalar else ", entry by entry") + " (the derivative of ReLU)"],
             r"\mathbb{1}" in used),
            (r"\mathbf{1}", ["a column of ones (", Math(r"\mathbf{1}_{m}"), ": of ", Math("m"), " ones)"], r"\mathbf{1}" in used),
            (self.lr, ["the learning rate"], self.lr in used),
            (r"\lVert A\rVert", ["the Frobenius norm: the square root of the sum of the squared entries"], r"\lVert" in used),
        ]
        entries += self.op_entries()
        rows = tuple((self.cell(symbol), self.fmt.prose(*meaning)) for symbol, meaning, shown in entries if shown)
        table = Block("table", header=(self.fmt.escape("symbol"), self.fmt.escape("meaning")), rows=rows,
                      columns=r"l>{\raggedright\arraybackslash}p{0.68\linewidth}")
        return [Section("Notation", 1, (Block("box", blocks=(table,)),))]

    def op_entries(self) -> list:
        """The notation of the ops this derivation uses (convolution, pooling, masks ...), as each op states it."""
        from ..network import _postorder

        found = {}
        for step in self.steps:
            for e in _postorder(step.expr):
                notation = getattr(type(e), "NOTATION", None)
                if notation is not None and (type(e).__name__ != "Softmax" or getattr(e, "axis", 0)):
                    found.setdefault(type(e).__name__, notation)
        entries = []
        for _, (symbol, meaning, definition) in sorted(found.items()):
            words = [meaning] + ([": ", Math(definition)] if definition else [])
            entries.append((symbol, words, True))
        return entries

    def example_mark(self) -> str:
        return r"\langle i\rangle" if self.printer_settings["bracket_layers"] == "(l)" else "(i)"


def _texts(sections):
    """Every string the sections hold: prose, equations, tables, lists and the blocks inside boxes."""
    def block_texts(block):
        yield block.text
        for e in block.equations:
            yield from (e.lhs, e.rhs, e.note)
        for row in block.rows:
            yield from row
        yield from block.items
        for inner in block.blocks:
            yield from block_texts(inner)

    for section in sections:
        for block in section.blocks:
            if block is not None:  # a note already made is None
                yield from block_texts(block)
