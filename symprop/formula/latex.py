"""The LaTeX front end of the parser: \\frac, \\hat, fonts, \\text{...}, \\sum and other commands."""

from __future__ import annotations

from ..errors import FormulaError
from .functions import _ELEMENTARY
from .tokens import _FONT_COMMANDS, _GREEK, _WORD_COMMANDS
from .tree import call


class LatexCommands:
    """Parser methods for LaTeX commands (mixed into the parser)."""

    # -- LaTeX commands --------------------------------------------------------
    def parse_command(self):
        tok = self.next()
        cmd = tok.text
        word = cmd[1:]
        if cmd == r"\frac":
            num = self.braced_argument()
            den = self.braced_argument()
            return ("div", num, den)
        if cmd == r"\sqrt":
            return call("sqrt", 0, self.braced_argument())
        if cmd == r"\sum":
            self.batch = True
            self.skip_sum_limits()
            # the sum runs over the rest of the product
            return ("sum", self.parse_chain() if self.juxtaposition_first else self.parse_product())
        if cmd in (r"\hat", r"\widehat"):
            inner = self.inner_word()
            return self.parse_name(inner + "hat", tok)
        if cmd in _FONT_COMMANDS:
            if self.is_op("{") and self.peek(1).kind == "num" and self.peek(1).text == "1" and self.is_op("}", 2):
                self.next(), self.next(), self.next()
                return self.after_one()
            if self.peek().kind == "num" and self.peek().text == "1":
                self.next()
                return self.after_one()
            return self.word_like(self.inner_word(), tok)
        if cmd in _WORD_COMMANDS:
            return self.word_like(self.inner_word(), tok)
        if cmd == r"\max":
            if self.is_op("("):
                return self.parse_max()
            raise self.error(r"expected \max(0, z)")
        if word in _ELEMENTARY or word in ("tanh", "sigma", "exp", "log", "ln") or word in _GREEK:
            return self.word_like(word, tok)
        raise FormulaError(f"unknown LaTeX command {cmd} at position {tok.pos}")

    def after_one(self):
        """\\mathbb{1}: an indicator when a condition follows, else a ones vector."""
        if self.peek().kind == "op" and self.peek().text in ("[", "("):
            node = self.parse_group()
            if not (node[0] == "call" and node[1] == "step"):
                raise FormulaError(r"\mathbb{1}[...] needs a condition such as z > 0")
            return node
        if self.is_op("_"):
            return self.parse_indicator_subscript()
        return ("ones", None)

    def word_like(self, word, tok):
        """A word from LaTeX (\\delta, \\text{ReLU}, \\mathbf{W}): a function or a name."""
        if self.is_function(word) and not self.ns.lookup(word):
            return self.parse_call(word, tok)
        if self.is_generic_f(word):
            return self.parse_call(word, tok)
        return self.parse_name(word, tok)

    def inner_word(self) -> str:
        """The word in \\hat{y}, \\hat y, \\text{ReLU}, \\mathbf{\\delta}."""
        tok = self.next()
        if tok.kind == "ident":
            return tok.text
        if tok.kind == "cmd" and tok.text[1:] in _GREEK:
            return tok.text[1:]
        if tok.kind == "op" and tok.text == "{":
            parts = []
            while not self.is_op("}"):
                t = self.next()
                if t.kind == "ident" or (t.kind == "op" and t.text == "_") or (t.kind == "num" and parts):
                    parts.append(t.text)
                elif t.kind == "cmd" and t.text[1:] in _GREEK:
                    parts.append(t.text[1:])
                elif t.kind == "cmd" and t.text == r"\_":
                    parts.append("_")
                else:
                    raise self.error("expected a word in braces", t)
            self.next()
            if not parts:
                raise self.error("empty braces")
            return "".join(parts)
        raise self.error("expected a word", tok)

    def braced_argument(self):
        if self.is_op("{"):
            return self.parse_group()
        self.enter()
        node = self.parse_primary()  # \frac12, \frac1m
        self.leave()
        return node

    def skip_sum_limits(self):
        """\\sum_i, \\sum_{i=1}^{m}: the sum is always over the examples of the batch."""
        for script in ("_", "^"):
            if self.is_op(script):
                self.next()
                if self.is_op("{"):
                    self.next()
                    count = 0
                    while not self.is_op("}"):
                        t = self.next()
                        count += 1
                        if t.kind == "end" or count > 8 or t.kind not in ("ident", "num", "op"):
                            raise self.error("expected the limits of the sum, as in \\sum_{i=1}^{m}", t)
                    self.next()
                elif self.peek().kind in ("ident", "num"):
                    self.next()
                else:
                    raise self.error("expected the limits of the sum")
