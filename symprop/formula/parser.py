"""The recursive-descent parser: the grammar shared by every notation, producing one formula tree."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from ..errors import FormulaError
from .functions import ELEMENTARY_FUNCTIONS, function_words
from .conventions import layer_number
from .latex import LOSS_WORDS, LatexCommands
from .layer_words import CONVOLUTION_COMMANDS, LayerWords
from .numpy_text import NumpyCalls
from .scripts import LAYER_LETTERS, NameScripts
from .names import Namespace
from .sympy_form import from_sympy
from .tokens import (
    _COMPARISONS, _PRODUCT_COMMANDS, MAX_DEPTH, MAX_EXPONENT, Token, tokenize,
)
from .tree import call, children, mentions, name_node, subtrees, text


# ==========================================================================
# The parser
# ==========================================================================


@dataclass(frozen=True)
class Formula:
    tree: tuple  # the main reading
    source: str
    batch: bool  # written in batch notation (m, X, Delta1, sums over examples)
    # Readings to try in order: juxtaposition binding tighter than the explicit
    # operators (a ⊙ b c = a ⊙ (b c)), then everything left to right
    # (a b ⊙ c d = ((a b) ⊙ c) d).  The first whose shapes fit is used.
    readings: tuple = ()
    lhs: str = ""  # the left-hand side of an equation ("dW1 = ..."), as written
    index_order: tuple = ()  # component indices in the order of the left-hand side (w_{jk}: j the row)

    @property
    def text(self) -> str:
        return text(self.tree)


def parse(source, namespace_: Namespace) -> Formula:
    """Read a formula (string or SymPy expression) against a network's names."""
    if isinstance(source, sp.Basic):
        tree = from_sympy(source, namespace_)
        return Formula(tree, sp.sstr(source), mentions(tree, ("sum", "mean")) or _uses_m(tree), (tree,))
    tokens = tokenize(source)
    lhs, tokens = _equation(tokens, source)
    parser = _Parser(tokens, namespace_)
    tree = parser.parse()
    _check_degree(tree)
    flat = _Parser(tokens, namespace_, juxtaposition_first=False).parse()
    readings = (tree,) if flat == tree else (tree, flat)
    batch = parser.batch or mentions(tree, ("sum", "mean")) or _uses_m(tree)
    return Formula(tree, source, batch, readings, lhs.strip(), _lhs_indices(lhs))


def _equation(tokens, source) -> tuple:
    """An equation's left-hand side (text) and the tokens of its right-hand side; ("", tokens) without one."""
    depth = 0
    for k, tok in enumerate(tokens):
        if tok.kind == "op" and tok.text in "([{":
            depth += 1
        elif tok.kind == "op" and tok.text in ")]}":
            depth -= 1
        elif tok.kind == "op" and tok.text == "=" and depth == 0:
            if k == 0 or tokens[k + 1].kind == "end":
                raise FormulaError("an equation needs both sides: dW1 = <formula>")
            rest = [Token(t.kind, t.text, t.pos) for t in tokens[k + 1:]]
            if _equation(rest, source)[0]:
                raise FormulaError("only one '=' is allowed: dW1 = <formula>")
            return source[: tok.pos], rest
    return "", tokens


def _lhs_indices(lhs: str) -> tuple:
    """The component indices of a left-hand side, in order: dC/dw^l_{jk} -> (j, k)."""
    import re

    from .scripts import INDEX_LETTERS

    found = []
    for group in re.findall(r"_\{?\s*([A-Za-z](?:\s*,?\s*[A-Za-z])?)\s*\}?", lhs):
        letters = [c for c in group if c.isalpha()]
        if letters and all(c in INDEX_LETTERS for c in letters):
            found += [c for c in letters if c not in found]
    return tuple(found)


MAX_DEGREE = 4 * MAX_EXPONENT


def _check_degree(tree) -> None:
    """Refuse powers of powers that multiply out to a huge degree.

    Each exponent is small, but SymPy combines (w^16)^16 into w^256 and a
    tower of five took minutes of exact arithmetic (issue 11).
    """
    def degree(node) -> int:
        parts = [degree(child) for _, child in children(node)]
        if node[0] == "pow":
            return abs(node[2]) * parts[0]
        if node[0] in ("mul", "div", "outer"):
            return sum(parts)
        if node[0] == "call":
            return 1  # f(x^16)^16 is not multiplied out
        return max(parts, default=1)

    found = degree(tree)
    if found > MAX_DEGREE:
        raise FormulaError(
            f"powers of powers multiply: this formula has degree {found} (the limit is {MAX_DEGREE}); "
            f"write the exponent once, from -{MAX_EXPONENT} to {MAX_EXPONENT}"
        )


def _uses_m(tree) -> bool:
    return any(n[0] == "name" and n[1] == "m" for _, n in subtrees(tree))


class _Parser(NameScripts, LatexCommands, NumpyCalls, LayerWords):
    def __init__(self, tokens, namespace_: Namespace, juxtaposition_first: bool = True):
        self.juxtaposition_first = juxtaposition_first
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.ns = namespace_
        self.functions = function_words()
        self.batch = False

    # -- helpers ---------------------------------------------------------
    def peek(self, k=0) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def is_op(self, text, k=0) -> bool:
        tok = self.peek(k)
        return tok.kind == "op" and tok.text == text

    def expect_op(self, text):
        tok = self.next()
        if tok.kind != "op" or tok.text != text:
            raise self.error(f"expected {text!r}", tok)
        return tok

    def error(self, message, tok=None) -> FormulaError:
        tok = tok or self.peek()
        where = "at the end" if tok.kind == "end" else f"at position {tok.pos} ({tok.text!r})"
        return FormulaError(f"syntax error {where}: {message}")

    def enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FormulaError(f"the formula is nested more than {MAX_DEPTH} levels deep")

    def leave(self):
        self.depth -= 1

    # -- grammar -----------------------------------------------------------
    def parse(self):
        if self.peek().kind == "end":
            raise FormulaError("the formula is empty")
        tree = self.parse_sum()
        tok = self.peek()
        if tok.kind != "end":
            if tok.text in _COMPARISONS:
                raise self.error("a comparison only makes sense inside an indicator such as 1[z > 0]", tok)
            raise self.error("unexpected token", tok)
        return tree

    def parse_sum(self):
        self.enter()
        node = self.parse_product()
        while self.peek().kind == "op" and self.peek().text in "+-":
            op = self.next().text
            node = ("add" if op == "+" else "sub", node, self.parse_product())
        self.leave()
        return node

    def parse_product(self):
        self.enter()
        node = self.parse_chain()
        while True:
            tok = self.peek()
            if tok.kind == "op" and tok.text in ("*", "@", "/"):
                self.next()
                rhs = self.parse_chain()
                node = ("div", node, rhs) if tok.text == "/" else ("mul", "star" if tok.text == "*" else "matmul", node, rhs)
            elif tok.kind == "cmd" and tok.text in _PRODUCT_COMMANDS:
                self.next()
                node = ("mul", _PRODUCT_COMMANDS[tok.text], node, self.parse_chain())
            elif tok.kind == "cmd" and tok.text in (r"\div", r"\oslash"):
                self.next()
                node = ("div", node, self.parse_chain())
            elif tok.kind == "cmd" and tok.text in CONVOLUTION_COMMANDS:
                node = ("op", self.convolution_kind(), None, node, self.parse_chain())
            elif not self.juxtaposition_first and self.starts_factor(tok):
                rhs = self.parse_power()
                node = rhs if node == ("num", Fraction(1)) else ("mul", "juxt", node, rhs)
            else:
                break
        self.leave()
        return node

    def parse_chain(self):
        """Juxtaposed factors: 2 (a - y) sigma'(z) x."""
        self.enter()
        node = self.parse_unary()
        while self.juxtaposition_first and self.starts_factor(self.peek()):
            rhs = self.parse_power()
            # 1[z > 0] is the indicator itself, not 1 times it
            node = rhs if node == ("num", Fraction(1)) else ("mul", "juxt", node, rhs)
        self.leave()
        return node

    def starts_factor(self, tok) -> bool:
        if tok.kind in ("num", "ident"):
            return True
        if tok.kind == "op":
            return tok.text in ("(", "[", "{")
        if tok.kind == "cmd":
            return tok.text not in _PRODUCT_COMMANDS and tok.text not in _COMPARISONS and tok.text not in (
                r"\div", r"\oslash", r"\top", r"\intercal", r"\prime") and tok.text not in CONVOLUTION_COMMANDS
        return False

    def parse_unary(self):
        tok = self.peek()
        if tok.kind == "op" and tok.text in "+-":
            self.next()
            self.enter()
            inner = self.parse_unary()
            self.leave()
            return inner if tok.text == "+" else ("neg", inner)
        return self.parse_power()

    def parse_power(self):
        self.enter()
        node = self.parse_primary()
        while True:
            if self.is_op("^") or self.is_op("**"):
                marks = self.parse_superscript()
                node = self.apply_marks(node, marks)
            elif self.is_op(".") and self.peek(1).kind == "ident" and self.peek(1).text == "T":
                self.next()
                self.next()
                node = ("T", node)
            elif self.is_op(".") and self.peek(1).kind == "ident" and self.is_op("(", 2):
                node = self.parse_method(node)  # a.dot(b), a.sum(axis=0)
            elif self.is_op("_") and node[0] == "num" and node[1] == 1:
                node = self.parse_indicator_subscript()
            elif self.is_op("'"):
                raise self.error("a prime (') may only follow a function name, as in sigma'(z) or relu'(z1)")
            elif self.is_op("_"):
                raise self.error("a subscript here: only names (W_2) and functions take subscripts")
            else:
                break
        self.leave()
        return node

    def apply_marks(self, node, marks):
        for mark in marks:
            if mark[0] == "T":
                node = ("T", node)
            elif mark[0] == "pow":
                node = ("pow", node, mark[1])
            elif mark[0] == "layer":
                raise FormulaError(f"a layer index [{mark[1]}] only goes on a name, as in W^{{[{mark[1]}]}}")
            elif mark[0] == "prime":
                raise FormulaError("a prime only goes on a function name, as in sigma'(z)")
        return node

    # -- primaries ---------------------------------------------------------
    def parse_primary(self):
        tok = self.peek()
        if tok.kind == "num":
            self.next()
            if tok.text == "1" and self.peek().kind == "op" and self.peek().text in ("(", "["):
                return self.parse_group()  # 1[z > 0]: the indicator
            return ("num", Fraction(tok.text))
        if tok.kind == "op" and tok.text in ("(", "[", "{"):
            return self.parse_group()
        if tok.kind == "ident":
            return self.parse_word()
        if tok.kind == "cmd":
            return self.parse_command()
        if tok.kind == "end":
            raise self.error("the formula ends too early")
        raise self.error("expected a number, a name or '('", tok)

    def parse_group(self):
        opening = self.next().text
        closing = {"(": ")", "[": "]", "{": "}"}[opening]
        self.enter()
        node = self.parse_sum()
        tok = self.peek()
        if tok.text in _COMPARISONS and tok.kind in ("op", "cmd"):
            self.next()
            node = self.indicator(node, _COMPARISONS[tok.text], self.parse_sum())
        tok = self.peek()
        if tok.kind == "op" and tok.text == "," and opening == "(":
            raise self.error("a list (a, b) here: only max(0, z) takes two arguments")
        if not (tok.kind == "op" and tok.text == closing):
            raise self.error(f"expected {closing!r} to close {opening!r}")
        self.next()
        self.leave()
        return node

    def indicator(self, lhs, op, rhs):
        # 1[a > b] = step(a - b); kinks (a == b) are avoided by the sample points.
        if op == "<":
            lhs, rhs = rhs, lhs
        arg = lhs if rhs == ("num", Fraction(0)) else ("sub", lhs, rhs)
        return call("step", 0, arg)

    def parse_indicator_subscript(self):
        """1_{z > 0} (an indicator) or 1_m (a ones vector)."""
        self.expect_op("_")
        tok = self.peek()
        if tok.kind == "op" and tok.text == "{" and self.peek(1).kind in ("ident", "num") and self.is_op("}", 2):
            self.next()
            tok = self.peek()  # 1_{m}, 1_{n}: as 1_m
            self.next(), self.next()
            self.batch = self.batch or tok.text == "m"
            return ("ones", None)
        if tok.kind in ("ident", "num"):  # 1_m, 1_n: a ones vector (its length comes from the product)
            self.next()
            self.batch = self.batch or tok.text == "m"
            return ("ones", None)
        if not (tok.kind == "op" and tok.text == "{"):
            raise self.error("expected 1_{z > 0} or 1_m")
        self.next()
        self.enter()
        lhs = self.parse_sum()
        tok = self.next()
        if tok.text not in _COMPARISONS:
            if lhs[0] == "name" and lhs[1] == "m" and tok.text == "}":
                self.leave()
                return ("ones", None)
            raise self.error("expected a comparison such as z > 0 in 1_{...}", tok)
        node = self.indicator(lhs, _COMPARISONS[tok.text], self.parse_sum())
        self.expect_op("}")
        self.leave()
        return node

    def parse_word(self):
        """An identifier: a function, a name (with its scripts), or several names run together (wx)."""
        tok = self.next()
        word = tok.text
        # Words joined by underscores that name one thing: leaky_relu, W_out (a declared
        # name).  Other subscripts (W_2, y_hat, relu_prime) are read as scripts below.
        while self.is_op("_") and self.peek(1).kind in ("ident", "num"):
            joined = word + "_" + self.peek(1).text
            if not (self.is_function(joined) or self.ns.lookup(joined) or joined in dict(self.ns.convention.names)):
                break
            self.next()
            self.next()
            word = joined
        macro = dict(self.ns.convention.names).get(word)
        if macro is not None and not self.ns.lookup(word):
            return self.parse_macro(word, macro, tok)
        if word == "e" and self.is_op("^") and not self.ns.lookup(word) and not (
                self.scripted_name(word) and self.layer_superscript()):  # e^{[1]} is the network's e1
            return self.parse_exponential()  # e^{-z}, e^{\tilde{Z}^{[1]}}: exp of the superscript
        if word == "np" and self.is_op(".") and self.peek(1).kind == "ident" and not self.ns.lookup(word):
            return self.parse_numpy(tok)
        if word[:1] == "d" and self.is_op("/") and self.peek(1).kind == "ident" and self.peek(1).text[:1] == "d" \
                and word[1:] in LOSS_WORDS:
            return self.parse_d_over_d(tok)  # dL/dz1
        if word in ("sum", "mean") and self.is_op("("):
            self.batch = True
            return (word, self.parse_group())
        if word == "ones" and not self.ns.lookup(word):
            if self.is_op("("):
                self.skip_call()  # ones(1, m), ones(n): the length comes from the product anyway
            return ("ones", None)
        layer_op = self.layer_word(word)
        if layer_op is not None:
            return self.parse_layer_op(*layer_op, tok)
        if word == "max" and self.is_op("(") and not self.ns.lookup(word):
            return self.parse_max()
        if self.is_generic_f(word) and (self.is_op("(") or self.is_op("'") or self.is_op("^") or self.is_op("_")):
            return self.parse_call(word, tok)
        if self.is_function(word) and (not self.ns.lookup(word) or self.is_op("(")) and not self.scripted_name(word):
            return self.parse_call(word, tok)  # sigma(z) is the sigmoid even where a value is named sigma
        if self.ns.lookup(word) or self.is_op("_") or self.is_op("^"):
            return self.parse_name(word, tok)
        return self.split_word(word, tok)

    def layer_superscript(self) -> bool:
        """The ^ ahead opens a layer script: ^{[1]}, ^[l-1], ^{(2)}."""
        k = self.i + 1
        k += self.tokens[k].kind == "op" and self.tokens[k].text == "{"
        opening = self.tokens[k]
        if not (opening.kind == "op" and opening.text in ("[", "(")):
            return False
        closing = "]" if opening.text == "[" else ")"
        inside = []
        for t in self.tokens[k + 1:]:
            if t.kind == "op" and t.text == closing:
                break
            inside.append(t)
        return bool(inside) and all(t.kind == "num" or (t.kind == "ident" and t.text in LAYER_LETTERS) or
                                    (t.kind == "op" and t.text in "+-") for t in inside)

    def parse_exponential(self):
        """e^{...} (a group: any formula) or e^x (one factor), read as exp of the exponent."""
        self.next()  # ^
        if self.is_op("{") or self.is_op("("):
            exponent = self.parse_group()
        elif self.is_op("-"):
            self.next()
            exponent = ("neg", self.parse_primary())
        else:
            exponent = self.parse_primary()
        return call("exp", 0, exponent)

    def parse_macro(self, word, formula, tok):
        """A word the author defined as a formula (names={"dscores": "Delta2 / m"}): that formula, as a group."""
        sub = _Parser(tokenize(formula), self.ns, self.juxtaposition_first)
        sub.depth = self.depth + 1
        tree = sub.parse()
        self.batch = self.batch or sub.batch
        return tree

    def is_function(self, word) -> bool:
        return word in self.functions or word.lower() in self.functions

    def is_generic_f(self, word) -> bool:
        """f, g, phi as a layer's activation - unless the network names values g1, ... and g^{[1]} is one of them."""
        return self.generic(word) and not self.ns.lookup(word) and not self.scripted_name(word)

    def generic(self, word) -> bool:
        if word == "phi" and any(act == "gelu" for act, _ in self.ns.layers.values()):
            return False  # GELU's derivative z phi(z) + Phi(z): phi is the normal density there
        return word in GENERIC_FUNCTIONS

    def function_name(self, word) -> str:
        return self.functions.get(word) or self.functions[word.lower()]  # phi and Phi differ; ReLU is relu

    def split_word(self, word, tok):
        """wx -> w x, when the pieces are all names of the network (longest pieces first)."""
        pieces = _segment(word, lambda w: self.ns.lookup(w) is not None)
        if pieces is None:
            raise FormulaError(
                f"unknown name {word!r} at position {tok.pos}; known names: {self.ns.known()}; "
                f"functions: {', '.join(sorted(set(self.functions)))}"
            )
        nodes = [self.name_node(p) for p in pieces[:-1]]
        nodes.append(self.parse_name(pieces[-1], tok))  # scripts after wx^T belong to x
        node = nodes[0]
        for n in nodes[1:]:
            node = ("mul", "juxt", node, n)
        return node

    def name_node(self, word):
        name, batch = self.ns.lookup(word)
        self.batch = self.batch or batch
        return name_node(name, batch)

    # -- functions -----------------------------------------------------------
    def parse_call(self, word, tok):
        """f(...), f'(...), f_prime(...), f^2(...), \\sigma'(...), \\sigma z; f'(z^{[1]}) is layer 1's."""
        order, power, layer = 0, None, None
        while True:
            if self.is_op("'"):
                self.next()
                order += 1
            elif self.is_op("_") and self.peek(1).text == "prime":
                self.next()
                self.next()
                order += 1
            elif self.is_op("_") and self.generic(word):
                self.next()
                sub = self.script_word()
                if not sub.isdigit():
                    raise FormulaError(f"{word}_{sub}: write the layer's number, as in {word}_1 or {word}^{{[1]}}")
                layer = sub
            elif self.is_op("^"):
                for mark in self.parse_superscript():
                    if mark[0] == "prime":
                        order += 1
                    elif mark[0] == "pow":
                        power = mark[1]
                    elif mark[0] == "layer" and self.generic(word):
                        layer = mark[1]
                    else:
                        raise FormulaError(f"unexpected superscript on the function {word!r}")
            else:
                break
        if order > 1:
            raise FormulaError(f"{word}{chr(39) * order}: only first derivatives are supported")
        if self.peek().kind == "op" and self.peek().text in ("(", "[", "{"):
            arg = self.parse_group()
        elif self.starts_factor(self.peek()):
            arg = self.parse_power()  # \sigma z, \tanh z^{[1]}
        else:
            raise self.error(f"expected the argument of {word}")
        node = self.function_node(word, order, arg, layer, tok)
        return node if power is None else ("pow", node, power)

    def function_node(self, word, order, arg, layer, tok):
        if self.generic(word) and arg[0] == "entry" and layer is None:
            return ("call",) + self.function_node(word, order, arg[1], layer, tok)[1:3] + (arg,)  # f'(z_j): z's layer
        if self.generic(word):
            if layer is not None:  # the author's numbering: the layer of its pre-activation
                layer = layer_number(layer, self.ns.convention, f"{word}^[{layer}]") + self.ns.convention.numbering.offset("z")
            if layer is None and arg[0] == "name":
                layer = self.ns.layer_of(arg[1])
            if layer is None and arg[0] == "name" and (self.ns.group_of(arg[1]) or ("",))[0] == "a":
                layer = self.ns.group_of(arg[1])[1]  # f'(a^[l]): layer l's f', at the activation (a mistake to diagnose)
            if layer is None or layer not in self.ns.layers:
                raise FormulaError(
                    f"f{chr(39) * order}(...) at position {tok.pos}: say which layer's activation, "
                    "by its argument z^{[l]} or as f^{[l]}"
                )
            name = self.ns.layers[layer][0]
        else:
            name = self.function_name(word)
        if order and (name == "softmax" or name in ELEMENTARY_FUNCTIONS):
            raise FormulaError(f"{word}' is not supported in formulas; write its derivative out")
        return call(name, order, arg)

    def parse_max(self):
        self.expect_op("(")
        self.enter()
        first = self.parse_sum()
        self.expect_op(",")
        second = self.parse_sum()
        self.expect_op(")")
        self.leave()
        zero = ("num", Fraction(0))
        if first == zero:
            return call("relu", 0, second)
        if second == zero:
            return call("relu", 0, first)
        raise FormulaError("max(a, b) is supported only as max(0, z) (ReLU)")


GENERIC_FUNCTIONS = ("f", "g", "phi", "varphi")  # a layer's activation: f'(z^[1]), Ng's g'^{[1]}(Z^{[1]}), d2l's phi


def _segment(word, known):
    """Split ``word`` into known names, preferring long pieces (None if impossible)."""
    n = len(word)
    best = [None] * (n + 1)
    best[n] = []
    for start in range(n - 1, -1, -1):
        for end in range(n, start, -1):
            if best[end] is not None and known(word[start:end]):
                best[start] = [word[start:end]] + best[end]
                break
    return best[0]
