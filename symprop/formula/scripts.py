"""Names and their scripts: W^{[2]}, W_2, w^l_{jk}, a^{(l-1)}, A^{[1]^T}, delta^{[1](i)}.

A superscript holds a layer ([2], (2), {2}, 2 where the bare letter names
nothing, l, l+1, L-1), an example ((i)), a transpose (T, \\top, ^T nested in
the layer's script), a prime or a small exponent.  A subscript holds a layer
(W_2), a word (y_hat, W_out) or component indices (delta_j, w_{jk}).  Layers
are read in the author's numbering (``Convention.numbering``) and turned into
symprop's.
"""

from __future__ import annotations

import re
from fractions import Fraction

from ..errors import FormulaError
from .conventions import layer_number
from .tokens import _TRANSPOSE_COMMANDS, _WORD_COMMANDS, MAX_EXPONENT

INDEX_LETTERS = ("i", "j", "k", "p", "q")  # component indices (on vectors and matrices); an example index on scalars
LAYER_LETTERS = ("l", "L", "k")  # in a layer script: the target's layer, the output layer (k: Goodfellow's loop)

# The letter of a layered name -> its group in Namespace.layered
_GROUPS = {"w": "w", "W": "w", "b": "b", "z": "z", "Z": "z", "a": "a", "A": "a", "h": "a", "delta": "delta",
           "Delta": "delta", "dz": "delta", "dZ": "delta", "da": "da", "dA": "da"}
_GROUP_WORDS = {"w": "weights", "b": "biases", "z": "pre-activations", "a": "activations", "delta": "deltas",
                "da": "activation adjoints"}


class NameScripts:
    """Parser methods for names and their scripts (mixed into the parser)."""

    def parse_name(self, base, tok):
        """A name and its scripts: W^{[2]}, W_2, a^{[1](i)}, delta_1, y_hat, W^{[2]\\top}, w^l_{jk}."""
        layer = None
        indices = ()
        after = []  # transposes and powers, applied once the name is known
        while self.is_op("_") or self.is_op("^"):
            if self.is_op("_"):
                self.next()
                parts = self.script_parts()
                sub = "".join(parts)
                joined = next((f"{base}_{w}" for w in (sub, "_".join(parts))
                               if self.ns.lookup(f"{base}_{w}") or self._layered(f"{base}_{w}")), None)
                if joined:
                    base = joined  # W_out; Z_c^{[1]}, Z_{c,b}^{[1]} (a name with a subscript and a layer)
                elif sub.isdigit():
                    layer = sub
                elif sub == "hat":
                    base += "hat"
                elif parts and all(p in INDEX_LETTERS for p in parts) and len(parts) <= 2:
                    indices = tuple(parts)
                elif parts and parts[0] in ("i", "n"):
                    pass  # an example index with its limits (_{i=1})
                else:
                    raise FormulaError(f"unknown subscript {base}_{sub} at position {tok.pos}; known names: {self.ns.known()}")
            else:
                for mark in self.parse_superscript():
                    if mark == ("pow", 2) and base == "sigma" and self._variance_named():
                        base = "var"  # sigma^2, sigma^{2 [1]}: the variance, as the notes name it
                    elif mark[0] == "layer":
                        layer = mark[1]
                    elif mark[0] == "example":
                        pass
                    elif mark[0] == "prime":
                        raise FormulaError(f"a prime on the name {base!r}: primes go on functions, as in sigma'(z)")
                    elif layer is None and mark[0] == "pow" and not after and self._is_layer_power(base, mark[1]):
                        layer = str(mark[1])
                    else:
                        after.append(mark)
        node = self.resolve(base, layer, tok)
        if indices and self.ns.names[node[1]].shape != ():
            node = ("entry", node, indices)
        return self.apply_marks(node, after)

    def _layered(self, base) -> bool:
        """Names of the network are ``base`` and a layer number (Z_c1 for Z_c)."""
        return any(re.fullmatch(re.escape(base) + r"\d+", n) for n in self.ns.names)

    def _variance_named(self) -> bool:
        return any(re.fullmatch(r"var\d*", n) for n in self.ns.names)

    def _is_layer_power(self, base, n) -> bool:
        # W^2 where W names nothing but W2 exists (or would, in another numbering): a layer without brackets.
        if self.ns.lookup(base):
            return False
        return self.ns.lookup(f"{base}{n}") is not None or self.ns.convention.numbering.letter(base) in _GROUPS

    def resolve(self, base, layer, tok):
        conv = self.ns.convention
        letter = conv.numbering.letter(base)
        if layer is None:
            candidates = [base] if letter == base else [letter, base]
            ours = None
        else:
            user = layer_number(layer, conv, f"{base}^[{layer}]")
            group = _GROUPS.get(letter)
            ours = user + conv.numbering.offset(group) if group else user
            candidates = [f"{letter}{ours}", f"{letter}_{ours}"]
            if letter == "w":
                candidates += [f"W{ours}", f"W_{ours}"]  # Nielsen's w^l is the matrix W
            if not self.ns.numbered and ours == 1:
                candidates.append(letter)  # one-layer networks name z, a, delta without a number
            if letter in ("a", "A", "h") and ours == 0:
                candidates.append(letter + "0")
            if group and (group, ours) in self.ns.layered and letter.islower():
                candidates.append(self.ns.layered[(group, ours)])
        for word in candidates:
            if self.ns.lookup(word):
                return self.name_node(word)
        raise FormulaError(self._no_such_name(base, letter, layer, ours, tok))

    def _no_such_name(self, base, letter, layer, ours, tok) -> str:
        shown = base if layer is None else f"{base}^[{layer}]"
        group = _GROUPS.get(letter)
        conv = self.ns.convention
        if layer is not None and group:
            existing = sorted((k, n) for (g, k), n in self.ns.layered.items() if g == group)
            if existing:
                listed = ", ".join(n for _, n in existing)
                name = f"{'delta' if group == 'delta' else letter}{ours}"
                where = "" if str(ours) == str(layer) else f" ({shown} in the {conv.numbering.name} numbering is layer {ours})"
                hint = ""
                if conv.numbering.name == "ng" and ours == self.ns.depth() + 1:
                    hint = ("; numbering the input as layer 1? pass layers='nielsen' (or 'ufldl', where W^(l) maps "
                            "layer l to l+1)")
                if group == "delta" and (group, ours) in self.ns.layered and self.ns.layered[(group, ours)] in self.ns.excluded:
                    return (f"{shown} is {self.ns.layered[(group, ours)]}, which the formula may not use: it is the "
                            "value being checked or computed from it")
                return f"there is no {name}{where}: this network's {_GROUP_WORDS[group]} are {listed}{hint}"
        return f"unknown name {shown!r} at position {tok.pos}; known names: {self.ns.known()}"

    def script_parts(self) -> list:
        """The words of a subscript: _2, _{2}, _i, _{jk} (j, k), _{j,k}, _{hat}, _{\\text{hat}}."""
        tok = self.next()
        if tok.kind == "num":
            return [tok.text]
        if tok.kind == "ident":
            return [tok.text] if not _index_pair(tok.text) else list(tok.text)
        if tok.kind == "op" and tok.text == "{":
            parts = []
            depth = 0  # braces of \mathrm{out} inside the subscript
            while depth or not self.is_op("}"):
                t = self.next()
                if t.kind == "end" or len(parts) > 8:
                    raise self.error("unclosed subscript", t)
                if t.kind in ("num", "ident"):
                    parts.append(t.text)
                elif t.kind == "op" and t.text in ("{", "}"):
                    depth += 1 if t.text == "{" else -1
                elif t.kind == "op" and t.text in ("(", ")", "[", "]", "=", ","):
                    continue
                elif t.kind == "cmd" and t.text in _WORD_COMMANDS:
                    continue
                else:
                    raise self.error("unexpected token in a subscript", t)
            self.next()
            if len(parts) == 1 and _index_pair(parts[0]):
                return list(parts[0])  # _{jk}
            if parts and parts[0] in ("i", "n") and len(parts) > 1 and not all(p in INDEX_LETTERS for p in parts):
                return parts[:1]  # _{i=1}
            return parts
        raise self.error("expected a subscript", tok)

    def script_word(self) -> str:
        return "".join(self.script_parts())

    def parse_superscript(self) -> list:
        """Marks of a superscript: ("layer", "2" or "l-1"), ("example",), ("T",), ("prime",), ("pow", n)."""
        self.next()  # ^ or **
        tok = self.peek()
        if tok.kind == "op" and tok.text == "{":
            self.next()
            marks = self.script_marks(closing="}")
            self.expect_op("}")
            return marks
        if tok.kind == "op" and tok.text in ("(", "["):
            return self.script_marks(single=True)
        if tok.kind == "op" and tok.text == "-":
            self.next()
            return [("pow", -self.small_integer(self.next()))]
        if tok.kind == "cmd" and tok.text == r"\circ":  # x^∘-1/2: a Hadamard power (every power here is entrywise)
            self.next()
            sign = -1 if self.is_op("-") and self.next() else 1
            return [("pow", self.exponent(self.next(), sign))]
        return self.script_marks(single=True)

    def layer_text(self, first) -> str:
        """l, l+1, L-1 after its first letter (the tokens that follow it in the script)."""
        text = first.text
        if self.peek().kind == "op" and self.peek().text in "+-" and self.peek(1).kind == "num":
            text += self.next().text + self.next().text
        return text

    def script_marks(self, closing=None, single=False) -> list:
        marks = []
        while True:
            tok = self.peek()
            if closing is not None and tok.kind == "op" and tok.text == closing:
                break
            if tok.kind == "end":
                raise self.error("unclosed superscript", tok)
            self.next()
            if tok.kind == "op" and tok.text in ("[", "("):
                marks.append(self.bracketed_mark(tok))
            elif tok.kind == "ident" and tok.text in LAYER_LETTERS and closing is not None or \
                    (tok.kind == "ident" and tok.text in ("l", "L") and single):
                marks.append(("layer", self.layer_text(tok)))
            elif tok.kind == "op" and tok.text == "^":  # a script on the layer's script: A^{[1]^T}
                if self.is_op("{"):
                    self.next()
                    marks.extend(self.script_marks(closing="}"))
                    self.expect_op("}")
                else:
                    marks.extend(self.script_marks(single=True))
            elif (tok.kind == "ident" and tok.text == "T") or (tok.kind == "cmd" and tok.text in _TRANSPOSE_COMMANDS):
                if tok.kind == "cmd" and tok.text in (r"\mathsf", r"\mathrm", r"\rm"):
                    # \mathsf{T}
                    if self.is_op("{"):
                        self.next()
                        t = self.next()
                        if t.text != "T":
                            raise self.error("expected T", t)
                        self.expect_op("}")
                    elif self.next().text != "T":
                        raise self.error("expected T")
                marks.append(("T",))
            elif (tok.kind == "op" and tok.text == "'") or (tok.kind == "cmd" and tok.text == r"\prime"):
                marks.append(("prime",))
            elif tok.kind == "cmd" and tok.text == r"\circ" and closing is not None:
                continue  # ^{\circ -2}: a Hadamard power
            elif tok.kind == "num":
                marks.append(("pow", self.exponent(tok, 1) if closing is not None else self.small_integer(tok)))
            elif tok.kind == "op" and tok.text == "-" and self.peek().kind == "num":
                number = self.next()
                marks.append(("pow", self.exponent(number, -1) if closing is not None else -self.small_integer(number)))
            else:
                raise FormulaError(
                    f"unexpected {tok.text!r} in a superscript at position {tok.pos}: "
                    f"expected T, \\top, a layer [l], an example (i) or a small integer exponent"
                )
            if single:
                break
        if sum(m[0] == "pow" for m in marks) > 1:
            raise FormulaError("two exponents in one superscript")
        return marks

    def bracketed_mark(self, opening):
        """[2], (2), [l+1], (L-1): a layer; (i): an example; (3) as a power is refused."""
        inner = self.next()
        close = "]" if opening.text == "[" else ")"
        if inner.kind == "num" and self.is_op(close):
            self.next()
            return ("layer", inner.text) if inner.text.isdigit() else ("pow", self.small_integer(inner))
        if inner.kind == "ident" and inner.text == "n" and self.is_op("_"):  # UFLDL's n_l: the number of layers
            self.next()
            self.script_parts()
            inner = type(inner)("ident", "L", inner.pos)
        if inner.kind == "ident" and inner.text in LAYER_LETTERS:
            text = self.layer_text(inner)
            if self.is_op(close):
                self.next()
                return ("layer", text)
        if inner.kind == "ident" and self.is_op(close) and opening.text == "(" and len(inner.text) == 1:
            self.next()
            return ("example",)
        if inner.kind == "ident" and self.is_op(close):
            raise FormulaError(f"layer index [{inner.text}]: write the layer's number (or l, l+1, L), as in W^{{[2]}}")
        raise FormulaError(
            "an exponent must be a small integer (from "
            f"-{MAX_EXPONENT} to {MAX_EXPONENT}); x^(10^10) and the like are refused"
        )

    def exponent(self, tok, sign: int):
        """n or n/k (a square root's 1/2, -1/2): an int, or a Fraction."""
        n = sign * self.small_integer(tok)
        if self.is_op("/") and self.peek(1).kind == "num":
            self.next()
            k = self.small_integer(self.next())
            if k == 0:
                raise FormulaError("an exponent n/0")
            n = Fraction(n, k)
            n = int(n) if n.denominator == 1 else n
        return n

    def small_integer(self, tok) -> int:
        if tok.kind != "num" or not tok.text.isdigit() or int(tok.text) > MAX_EXPONENT:
            raise FormulaError(
                f"exponent {tok.text!r} at position {tok.pos}: exponents must be integers from "
                f"-{MAX_EXPONENT} to {MAX_EXPONENT}"
            )
        return int(tok.text)


def _index_pair(word: str) -> bool:
    """jk, ij, kj: two component indices written together."""
    return len(word) == 2 and all(c in INDEX_LETTERS for c in word) and word[0] != word[1]


__all__ = ["INDEX_LETTERS", "LAYER_LETTERS", "NameScripts"]
