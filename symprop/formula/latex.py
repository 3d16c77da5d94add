"""The LaTeX front end of the parser: \\frac, \\hat, fonts, \\text{...}, \\sum and other commands.

Derivatives name adjoints: \\frac{\\partial L}{\\partial z^{[l]}} and \\partial C / \\partial a^L
are delta^[l] and dL/da^L, \\nabla_a C is the output's (Nielsen), dL/dz1 in
plain text; in components, \\frac{\\partial C}{\\partial z^l_j} is delta^l_j.
A sum over a component index (\\sum_k w_{kj} \\delta_k) sums over that index;
any other \\sum is over the examples of the batch.
"""

from __future__ import annotations

from ..errors import FormulaError
from .functions import _ELEMENTARY
from .tokens import _FONT_COMMANDS, _GREEK, _WORD_COMMANDS
from .tree import call, name_node, subtrees

LOSS_WORDS = ("L", "C", "J", "E")  # the loss in dL/dz, \\partial C / \\partial a, \\nabla_a C


class LatexCommands:
    """Parser methods for LaTeX commands (mixed into the parser)."""

    # -- LaTeX commands --------------------------------------------------------
    def parse_command(self):
        tok = self.next()
        cmd = tok.text
        word = cmd[1:]
        if cmd == r"\frac" and self.is_op("{") and self.peek(1).text == r"\partial":
            return self.parse_partial_fraction()
        if cmd == r"\partial":
            return self.parse_partial_quotient(tok)
        if cmd == r"\nabla":
            return self.parse_nabla(tok)
        if cmd == r"\frac":
            num = self.braced_argument()
            den = self.braced_argument()
            return ("div", num, den)
        if cmd == r"\sqrt":
            return call("sqrt", 0, self.braced_argument())
        if cmd == r"\sum":
            index = self.skip_sum_limits()
            # the sum runs over the rest of the product
            body = self.parse_chain() if self.juxtaposition_first else self.parse_product()
            if index and any(n[0] == "entry" and index in n[2] for _, n in subtrees(body)):
                return ("isum", index, body)  # over a component: sum_k w_{kj} delta_k
            self.batch = True
            return ("sum", body)
        if cmd in (r"\hat", r"\widehat", r"\tilde", r"\widetilde", r"\bar", r"\overline"):
            inner = self.inner_word()
            accent = {"widehat": "hat", "widetilde": "tilde", "overline": "bar"}.get(word, word)
            return self.parse_name(inner + accent, tok)
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
        """\\mathbb{1}: an indicator when a condition follows, else a ones vector (\\mathbf{1} (a + b) is a product)."""
        if self.peek().kind == "op" and self.peek().text in ("[", "("):
            start = self.i
            node = self.parse_group()
            if node[0] == "call" and node[1] == "step":
                return node
            if self.tokens[start].text == "[":
                raise FormulaError(r"\mathbb{1}[...] needs a condition such as z > 0")
            self.i = start  # a ones vector times the group that follows
            return ("ones", None)
        if self.is_op("_"):
            return self.parse_indicator_subscript()
        return ("ones", None)

    def word_like(self, word, tok):
        """A word from LaTeX (\\delta, \\text{ReLU}, \\mathbf{W}): a function or a name."""
        layer_op = self.layer_word(word)
        if layer_op is not None:
            return self.parse_layer_op(*layer_op, tok)
        if self.is_function(word) and (not self.ns.lookup(word) or self.is_op("(")) and not self.scripted_name(word):
            return self.parse_call(word, tok)  # \sigma(z) is the sigmoid even where a value is named sigma
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
        if tok.kind == "cmd" and (tok.text in _FONT_COMMANDS or tok.text in _WORD_COMMANDS):
            return self.inner_word()  # \hat{\boldsymbol{y}}
        if tok.kind == "op" and tok.text == "{":
            parts = []
            while not self.is_op("}"):
                t = self.next()
                if t.kind == "ident" or (t.kind == "op" and t.text == "_") or (t.kind == "num" and parts):
                    parts.append(t.text)
                elif t.kind == "cmd" and (t.text in _FONT_COMMANDS or t.text in _WORD_COMMANDS) and not parts:
                    parts.append(self.inner_word())
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
        """\\sum_i, \\sum_{i=1}^{m}, \\sum_k: the index letter (the first word of the lower limit), or None."""
        index = None
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
                        if script == "_" and count == 1 and t.kind == "ident":
                            index = t.text
                    self.next()
                elif self.peek().kind in ("ident", "num"):
                    t = self.next()
                    if script == "_" and t.kind == "ident":
                        index = t.text
                else:
                    raise self.error("expected the limits of the sum")
        return index

    # -- derivatives as names of adjoints ----------------------------------------
    def loss_word(self):
        """L, C, J, E, \\mathcal{L}, \\ell: the loss in the numerator of a derivative."""
        tok = self.next()
        if tok.kind == "ident" and tok.text in LOSS_WORDS:
            return tok
        if tok.kind == "cmd" and tok.text in (r"\mathcal", r"\mathscr") and self.inner_word() in LOSS_WORDS:
            return tok
        if tok.kind == "cmd" and tok.text == r"\ell":
            return tok
        raise self.error("expected the loss (L, C, J, E) after \\partial", tok)

    def parse_partial_fraction(self):
        """\\frac{\\partial L}{\\partial z^{[1]}}: the adjoint of z1."""
        self.expect_op("{")
        self.next()  # \partial
        self.loss_word()
        self.expect_op("}")
        self.expect_op("{")
        tok = self.next()
        if tok.text != r"\partial":
            raise self.error("expected \\partial in the denominator of a derivative", tok)
        node = self.parse_power()
        self.expect_op("}")
        return self.adjoint_node(node, tok)

    def parse_partial_quotient(self, tok):
        """\\partial L / \\partial z^{[1]}."""
        self.loss_word()
        self.expect_op("/")
        second = self.next()
        if second.text != r"\partial":
            raise self.error("expected \\partial L / \\partial (a name)", second)
        node = self.parse_power()
        transposes = 0
        while node[0] == "T":  # ∂L/∂S1ᵀ, as the terminal text prints (∂L/∂S1)ᵀ
            node, transposes = node[1], transposes + 1
        adjoint = self.adjoint_node(node, tok)
        for _ in range(transposes):
            adjoint = ("T", adjoint)
        return adjoint

    def parse_nabla(self, tok):
        """\\nabla_a C (Nielsen: the output activations), \\nabla_{a^{[1]}} L, \\nabla_{\\hat y} J."""
        self.expect_op("_")
        if self.is_op("{"):
            self.next()
            node = self.nabla_subject()
            self.expect_op("}")
        else:
            node = self.nabla_subject(single=True)
        if self.peek().kind == "ident" and self.peek().text in LOSS_WORDS or self.peek().text in (r"\mathcal", r"\ell"):
            self.loss_word()
        return self.adjoint_node(node, tok)

    def nabla_subject(self, single=False):
        tok = self.peek()
        if tok.kind == "ident" and tok.text == "a" and not self.ns.lookup("a") and (single or not self.is_op("^", 1)):
            self.next()
            return self.name_node(self.ns.layered[("a", self.ns.depth())])  # Nielsen's bare a: the output layer
        if single and tok.kind == "ident":
            self.next()
            return self.resolve(tok.text, None, tok)
        return self.parse_power()

    def parse_d_over_d(self, tok):
        """dL/dz1, dJ/dA1 (plain text)."""
        self.expect_op("/")
        second = self.next()
        return self.adjoint_node(self.parse_name(second.text[1:], second), tok)

    def adjoint_node(self, node, tok):
        """The adjoint of the value ``node`` names (an entry of it for an entry)."""
        entry = node[2] if node[0] == "entry" else None
        if node[0] == "entry":
            node = node[1]
        if node[0] != "name":
            raise FormulaError(f"a derivative at position {tok.pos} must be of the loss by one named value, as in "
                               "\\partial L / \\partial z^{[1]}")
        name, batch = node[1], node[2] != node[1]
        adjoint = self.ns.adjoints.get(name)
        entry_of = self.ns.names[name]
        if adjoint is None:
            what = "a parameter's gradient" if entry_of.kind == "parameter" else "not an adjoint symprop derives"
            raise FormulaError(f"dL/d{name} is {what}: a formula may use the adjoints of the network's values "
                               "(delta^[l] = dL/dz^[l], dL/da^[l], dL/dyhat)")
        if adjoint in self.ns.excluded:
            raise FormulaError(f"dL/d{name} ({adjoint}) is the value being checked or computed from it: write it out")
        out = self.name_node(adjoint) if not batch else name_node(adjoint, True)
        if batch:
            self.batch = True
        return ("entry", out, entry) if entry else out
