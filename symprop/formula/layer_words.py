r"""The parser's words for layer ops, as the notes print them (see ``layers.py`` for their values).

    text                      LaTeX
    K1 ⋆ X                    K^{[1]} \star X
    rot180(K1) ∗full dZ1      \operatorname{rot}_{180}\left(K^{[1]}\right) \ast_{\mathrm{full}} ...
    route_max(dP1; A1)        \operatorname{route}_{\max}\left(...; A^{[1]}\right)
    1/4·up2(dP1)              \frac{1}{4} \operatorname{up}_{2}\left(...\right)
    maxpool2(A1), avgpool2    \operatorname{maxpool}_{2}\left(...\right)
    vec(P2), vec⁻¹(df2)       \operatorname{vec}\left(...\right), \operatorname{vec}^{-1}\left(...\right)
    mask(S, Mask)             \operatorname{mask}\left(S, \mathrm{Mask}\right)
    softmax_rows(Z)           \operatorname{softmax}_{\mathrm{row}}\left(Z\right)

A name of the network always wins over these words.
"""

from __future__ import annotations

import re

from ..errors import FormulaError
from .layers import LAYER_OPS

CONVOLUTION_COMMANDS = (r"\star", r"\ast")  # ⋆ (correlation) and ∗ (with _full: the full convolution)
_WINDOWED = re.compile(r"(up|maxpool|avgpool)(\d*)$")


class LayerWords:
    """Parser methods for layer ops (mixed into the parser)."""

    def layer_word(self, word):
        """(op name, window or None) when ``word`` starts a layer op here; None otherwise."""
        if self.ns.lookup(word):
            return None
        follows = self.is_op("(") or self.is_op("_") or self.is_op("^")
        if word in ("rot180", "rot") and follows:
            return ("rot180", 180 if word == "rot180" else None)
        match = _WINDOWED.match(word)
        if match and follows:
            return (match.group(1), int(match.group(2)) if match.group(2) else None)
        if word in ("vec", "unvec", "mask", "route") and follows:
            return ("route_max" if word == "route" else word, None)
        if word == "softmax" and self.is_op("_") and self.peek(1).text != "prime":
            return ("softmax_rows", None)
        return None

    def parse_layer_op(self, name, k, tok):
        """The scripts (_{180}, _2, _{\\max}, _{\\mathrm{row}}, ^{-1}) and the operands of a layer op."""
        if self.is_op("_"):
            self.next()
            script = self.layer_script()
            if name == "rot180" and script == "180" and k is None:
                k = 180
            elif name in ("up", "maxpool", "avgpool") and script.isdigit() and k is None:
                k = int(script)
            elif not ((name == "route_max" and script == "max") or (name == "softmax_rows" and script in ("row", "rows"))):
                raise FormulaError(f"unexpected subscript {script!r} on {name} at position {tok.pos}")
        if self.is_op("^") and name == "vec":
            marks = self.parse_superscript()
            if marks != [("pow", -1)]:
                raise FormulaError(f"vec^... at position {tok.pos}: only vec^{{-1}} (vec⁻¹, the inverse of vec) is known")
            name = "unvec"
        if name == "rot180" and k != 180:
            raise FormulaError(f"rot at position {tok.pos}: write rot180 (or \\operatorname{{rot}}_{{180}})")
        if name in ("up", "maxpool", "avgpool") and k is None:
            raise FormulaError(f"{name} at position {tok.pos}: say the window, as in {name}2 or {name}_{{2}}")
        count = LAYER_OPS[name]
        if count == 1 and not self.is_op("("):
            if not self.starts_factor(self.peek()):
                raise self.error(f"expected the argument of {name}")
            return ("op", name, k if name != "rot180" else None, self.parse_power())  # rot180 K
        return ("op", name, k if name != "rot180" else None, *self.operands(name, count))

    def layer_script(self) -> str:
        """The word of a subscript: 180, 2, max, \\max, row, \\mathrm{row}, {full}."""
        if self.peek().kind == "cmd" and self.peek().text == r"\max":
            self.next()
            return "max"
        if self.is_op("{") and self.peek(1).kind == "cmd" and self.peek(1).text == r"\max":
            self.next(), self.next()
            self.expect_op("}")
            return "max"
        return "".join(self.script_parts())

    def operands(self, name, count) -> list:
        """(a) or (a, b) / (a; b)."""
        self.expect_op("(")
        self.enter()
        args = [self.parse_sum()]
        while self.peek().kind == "op" and self.peek().text in (",", ";"):
            self.next()
            args.append(self.parse_sum())
        self.expect_op(")")
        self.leave()
        if len(args) != count:
            raise FormulaError(f"{name}(...) takes {count} operand{'s' if count > 1 else ''}, got {len(args)}")
        return args

    def convolution_kind(self) -> str:
        """After ⋆ (\\star): the correlation; after ∗ (\\ast): the full convolution, written ∗full or \\ast_{full}."""
        tok = self.next()
        if tok.text == r"\star":
            return "corr"
        if self.is_op("_"):
            self.next()
            script = self.layer_script()
        elif self.peek().kind == "ident" and self.peek().text == "full":
            script = self.next().text
        else:
            script = ""
        if script != "full":
            raise FormulaError(f"∗ (\\ast) at position {tok.pos} is read only as the full convolution, ∗full "
                               "(\\ast_{\\mathrm{full}}); write ⋆ (\\star) for the correlation")
        return "full"

    def scripted_name(self, word) -> bool:
        """\\sigma^{[1]}, \\sigma^{2\\,[1]}, g^{[1]}: a name of the network with scripts, not the function sigma (or g).

        Scripts with a prime, or an argument in parentheses after them
        (g^{[1]}(Z^{[1]}), g'^{[1]}), make it the function.
        """
        if not (self.is_op("^") or self.is_op("_")):
            return False
        named = any(re.fullmatch(re.escape(word) + r"_?\d+", n) for n in self.ns.names) or (
            word == "sigma" and any(re.fullmatch(r"var\d*", n) for n in self.ns.names))
        if not named:
            return False
        k, primed = self.i, False
        while self.tokens[k].kind == "op" and self.tokens[k].text in ("^", "_"):
            k += 1
            depth = 0
            while True:
                t = self.tokens[k]
                if t.kind == "end":
                    return True
                primed = primed or t.text in ("'", r"\prime", "prime")
                depth += {"{": 1, "}": -1}.get(t.text, 0) if t.kind == "op" else 0
                k += 1
                if depth == 0:
                    break
        after = self.tokens[k]
        return not primed and not (after.kind == "op" and after.text == "(")


__all__ = ["CONVOLUTION_COMMANDS", "LayerWords"]
