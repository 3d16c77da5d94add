"""Characters and tokens of a hand-written formula, and the limits checked before anything is built."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ..errors import FormulaError


MAX_LENGTH = 2000  # characters
MAX_TOKENS = 400
# Nested groups and operators: one bracket costs about 5 (sum, product, chain, unary, power) and 1.5 Python frames
# each, so 160 reads 30 nested brackets (a printed mish derivative needs 8) within ~250 frames of the stack.
MAX_DEPTH = 160
MAX_EXPONENT = 16  # |n| in x^n
MAX_DIGITS = 15  # characters of one number


# ==========================================================================
# Characters and tokens
# ==========================================================================

# The few non-ASCII symbols people paste from notes, spelled in ASCII/LaTeX.
UNICODE = {
    "y\u0302": r"\hat{y}",  # y + combining circumflex
    "ŷ": r"\hat{y}",
    "Ŷ": r"\hat{Y}",
    "ᵀ": "^T",
    "⊤": r"\top ",
    "⊙": r"\odot ",
    "∘": r"\circ ",
    "·": r"\cdot ",
    "⋅": r"\cdot ",
    "×": r"\times ",
    "−": "-",
    "′": "'",
    # Greek letters become words (a space before, none after: δ1 is delta1)
    "σ": " sigma",
    "δ": " delta",
    "Δ": " Delta",
    "∑": r"\sum ",
    "𝟏": r"\mathbf{1}",
    "μ": " mu",
    "γ": " gamma",
    "β": " beta",
    "ε": " epsilon",
    "α": " alpha",
    "λ": " lambda",
    "η": " eta",
    "⊘": r" \oslash ",
    "∂": r"\partial ",
    "⋆": r" \star ",
    "∗": r" \ast ",
    "⁻¹": "^{-1}",
    "²": "^{2}",
    "√": r"\sqrt ",
}

# Marks the terminal text puts on names: Ẑ1 is Zhat1, Z̃1 is Ztilde1 (after NFD, a letter and the mark).
_COMBINING = {"\u0302": "hat", "\u0303": "tilde", "\u0304": "bar"}
_ACCENTED = re.compile("([A-Za-z])([\u0302\u0303\u0304])")
# sigma squared is the variance in the notes: σ²1 is var1 (as \sigma^{2\,[1]} in LaTeX)
_VARIANCE = re.compile("σ²(\\d*)")

_TOKEN = re.compile(
    r"""
     (?P<ws>[ \t\r\n$~]+)
    |(?P<num>\d+(?:\.\d+)?|\.\d+)
    |(?P<ident>[A-Za-z][A-Za-z0-9]*)
    |(?P<cmd>\\(?:[A-Za-z]+|.))
    |(?P<op>\*\*|>=|<=|[-+*/@^_'(){}\[\],.<>|=;])
    """,
    re.X,
)

# LaTeX that only changes spacing or sizes: dropped.
_IGNORED_COMMANDS = {
    r"\,", r"\;", r"\:", r"\!", "\\ ", r"\quad", r"\qquad", r"\left", r"\right", r"\big", r"\Big",
    r"\bigg", r"\Bigg", r"\bigl", r"\bigr", r"\Bigl", r"\Bigr", r"\displaystyle", r"\limits",
}
_BRACES = {r"\{": "(", r"\}": ")", r"\lbrack": "[", r"\rbrack": "]", r"\lbrace": "(", r"\rbrace": ")"}
_COMPARISONS = {">": ">", "<": "<", ">=": ">", "<=": "<", r"\gt": ">", r"\lt": "<", r"\geq": ">",
                r"\ge": ">", r"\leq": "<", r"\le": "<"}
_PRODUCT_COMMANDS = {r"\odot": "hadamard", r"\circ": "hadamard", r"\bullet": "hadamard", r"\cdot": "juxt",
                     r"\times": "juxt"}  # \bullet: UFLDL's entrywise product
_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
}
_FONT_COMMANDS = {r"\mathbf", r"\boldsymbol", r"\bm", r"\vec", r"\mathit", r"\mathsf", r"\mathbb", r"\mathcal"}
_WORD_COMMANDS = {r"\text", r"\mathrm", r"\operatorname", r"\textrm", r"\textit", r"\texttt"}


_TRANSPOSE_COMMANDS = (r"\top", r"\intercal", r"\mathsf", r"\mathrm", r"\rm")  # x^\top, x^{\mathsf{T}}


@dataclass(frozen=True)
class Token:
    kind: str  # num | ident | cmd | op | end
    text: str
    pos: int


def _prepare(text: str) -> str:
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a string or a SymPy expression, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"the formula is {len(text)} characters long; the limit is {MAX_LENGTH}")
    if "__" in text:
        raise FormulaError("'__' is not allowed in a formula (formulas are maths, not Python)")
    text = unicodedata.normalize("NFD", text)
    text = _ACCENTED.sub(lambda m: f" {m.group(1)}{_COMBINING[m.group(2)]}", text)
    text = _VARIANCE.sub(lambda m: rf" \sigma^{{2\,[{m.group(1)}]}}" if m.group(1) else r" \sigma^{2}", text)
    for uni, ascii_ in UNICODE.items():
        if uni in text:
            text = text.replace(uni, ascii_)
    for pos, ch in enumerate(text):
        if ch in "\t\r\n":
            continue
        if not (" " <= ch <= "~"):
            name = unicodedata.name(ch, "unnamed")
            raise FormulaError(f"character {ch!r} (U+{ord(ch):04X} {name}) at position {pos} is not allowed in a formula")
    return text


def tokenize(text: str) -> list:
    text = _prepare(text)
    tokens = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise FormulaError(f"unexpected character {text[pos]!r} at position {pos}")
        kind, value = match.lastgroup, match.group()
        pos = match.end()
        if kind == "ws" or value in _IGNORED_COMMANDS:
            continue
        if value in _BRACES:
            kind, value = "op", _BRACES[value]
        if kind == "num" and len(value) > MAX_DIGITS:
            raise FormulaError(f"the number {value[:20]}... is too long (at most {MAX_DIGITS} characters)")
        tokens.append(Token(kind, value, match.start()))
        if len(tokens) > MAX_TOKENS:
            raise FormulaError(f"the formula has more than {MAX_TOKENS} tokens")
    tokens.append(Token("end", "", len(text)))
    return tokens
