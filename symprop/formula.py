r"""Hand-written gradient formulas: a parser of our own, their numbers and their SymPy form.

A student writes ``\delta^{[1]} x^{\top}`` or ``W2.T @ delta2 * relu_prime(z1)``;
this module reads it - with a hand-written tokenizer and recursive-descent
parser, never ``eval`` or ``sympify`` of user text - into a small tree (the
AST, nested tuples), which can then be

* evaluated numerically at a sample point (``Evaluator``): the verdict and the
  diagnoses of ``verify.check_gradient`` run on this, cheaply, many times;
* built into a SymPy expression of the network's symbols (``to_sympy``) for
  the symbolic check;
* printed back as plain text (``text``) so the user sees how it was read.

A SymPy expression given instead of a string is converted to the same tree
(``from_sympy``).

Notation (both forms may be mixed)
----------------------------------
names      W^{[2]} W_2 W_{2} W2; \delta^{[1]} delta1 dz1; a^{[1]} a1; a^{[0]} = x;
           \hat{y} yhat y_hat (also a^{[L]}); batch matrices X, A1, Z1, Delta1, Yhat;
           m (batch size); an example index ^{(i)} or _i is allowed and ignored
transpose  x^T x^{\top} x.T W^{[2]\top} xᵀ
products   @            matrix product
           \odot \circ ⊙  Hadamard (entrywise) product
           *            NumPy's *: entrywise, with NumPy broadcasting ((n,1)*(1,k) is an outer product)
           juxtaposition, \cdot, \times: matrix product when the sizes fit, else
                        entrywise when the shapes are equal (textbooks write delta sigma'(z))
           a scalar (or a 1x1 value) times anything scales it
           juxtaposition binds tighter than the explicit operators: a \odot b c = a \odot (b c)
functions  \sigma sigma sigmoid, \tanh, \text{ReLU} relu, softplus, ... (every registered op,
           by its name, its LaTeX word or an alias); a prime or _prime means the derivative:
           \sigma'(z) relu_prime(z1) \text{ReLU}'(z); f'(z^{[1]}) is layer 1's activation's;
           1[z>0] \mathbb{1}[z>0] 1_{z>0} (z1 > 0) are the indicator; max(0, z) is ReLU;
           exp, log, ln, sqrt, softmax
other      \frac{a}{b}, a/b, powers x^2 (entrywise on matrices; small integer exponents
           only), \mathbf{1} / ones (a ones vector, sized by the product it is in),
           \sum_i E or sum(E): the sum over the examples of E, mean(E) = sum(E)/m
           (batched formulas: inside a sum, names are one example's values).

Limits (checked before anything is built): length, tokens, nesting depth,
number length and exponent size; characters outside ASCII other than a few
maths symbols are refused.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

import numpy as np
import sympy as sp

from . import algebra as alg
from . import ops
from .errors import FormulaError

MAX_LENGTH = 2000  # characters
MAX_TOKENS = 400
MAX_DEPTH = 40  # nested groups / operators
MAX_EXPONENT = 16  # |n| in x^n
MAX_DIGITS = 15  # characters of one number


class FormulaShapeError(FormulaError):
    """The formula parses but its shapes do not fit together (a verdict, not a crash)."""


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
}

_TOKEN = re.compile(
    r"""
     (?P<ws>[ \t\r\n$~]+)
    |(?P<num>\d+(?:\.\d+)?|\.\d+)
    |(?P<ident>[A-Za-z][A-Za-z0-9]*)
    |(?P<cmd>\\(?:[A-Za-z]+|.))
    |(?P<op>\*\*|>=|<=|[-+*/@^_'(){}\[\],.<>|=])
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
_PRODUCT_COMMANDS = {r"\odot": "hadamard", r"\circ": "hadamard", r"\cdot": "juxt", r"\times": "juxt"}
_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
}
_FONT_COMMANDS = {r"\mathbf", r"\boldsymbol", r"\bm", r"\vec", r"\mathit", r"\mathsf", r"\mathbb", r"\mathcal"}
_WORD_COMMANDS = {r"\text", r"\mathrm", r"\operatorname", r"\textrm", r"\textit", r"\texttt"}
# Elementary functions a formula may call: name -> (NumPy, SymPy).  The one
# place to add one: the parser, the evaluators and the SymPy conversions read it.
ELEMENTARY_FUNCTIONS = {
    "exp": (np.exp, sp.exp), "log": (np.log, sp.log), "sqrt": (np.sqrt, sp.sqrt),
    "sin": (np.sin, sp.sin), "cos": (np.cos, sp.cos), "tan": (np.tan, sp.tan),
    "sinh": (np.sinh, sp.sinh), "cosh": (np.cosh, sp.cosh), "arctan": (np.arctan, sp.atan),
    "erf": (lambda x: _numpy_erf()(x), sp.erf),  # NumPy has no erf: symprop's own
}
_ELEMENTARY = {name: name for name in ELEMENTARY_FUNCTIONS} | {"ln": "log", "atan": "arctan"}
_SYMPY_ELEMENTARY = tuple(f for _, f in ELEMENTARY_FUNCTIONS.values())  # classes, for from_sympy
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


# ==========================================================================
# The names a formula may use: the network's vocabulary
# ==========================================================================


@dataclass(frozen=True)
class Name:
    name: str  # the network's identifier: W1, x, z1, delta1, yhat, m
    kind: str  # parameter | input | target | forward | adjoint | count
    shape: tuple  # () for scalars
    layer: Optional[int] = None
    symbol: object = None
    per_example: bool = False  # has one value per example (a batch matrix in batched formulas)
    role: str = ""  # of forward values and adjoints: pre-activation | activation | prediction | loss


@dataclass
class Namespace:
    names: dict  # canonical name -> Name
    aliases: dict = field(default_factory=dict)  # other spelling -> canonical name
    batch_aliases: dict = field(default_factory=dict)  # batch-matrix name (X, Delta1) -> canonical name
    layers: dict = field(default_factory=dict)  # layer -> (activation registry name, pre-activation name)
    numbered: bool = True  # names carry layer numbers (z1, a1) rather than z, a

    def lookup(self, word: str):
        """(canonical name, written in batch notation) or None."""
        if word in self.names and word != "m":
            return word, False
        if word == "m" and "m" in self.names:
            return "m", True
        if word in self.aliases:
            return self.aliases[word], False
        if word in self.batch_aliases:
            return self.batch_aliases[word], True
        return None

    def known(self) -> str:
        shown = sorted(n for n in self.names if n != "m")
        text = ", ".join(shown)
        if "m" in self.names:
            text += "; batch matrices " + ", ".join(sorted(self.batch_aliases)) + " and m"
        return text

    def layer_of(self, name: str) -> Optional[int]:
        for layer, (_, z) in self.layers.items():
            if z == name:
                return layer
        return None


def namespace(derivation, exclude=()) -> Namespace:
    """The names a formula about ``derivation``'s network may use.

    Parameters, inputs and targets; every forward value (z1, a1, yhat, L);
    every adjoint (delta1, da1, dyhat) except those in ``exclude`` (the one
    being checked and the ones computed from it); ``m``.
    """
    from .batch import batch_name

    net = derivation.network
    names = {}
    for group, kind in ((net.params, "parameter"), (net.inputs, "input"), (net.targets, "target")):
        for s in group:
            names[s.name] = Name(s.name, kind, alg.shape_of(s), None, s, kind != "parameter")
    layers = {}
    for step in derivation.steps:
        if step.kind in ("forward", "loss"):
            names[step.name] = Name(step.name, "forward", step.shape, step.layer, step.symbol, True, step.role)
        elif step.kind == "adjoint" and step.name not in exclude:
            names[step.name] = Name(step.name, "adjoint", step.shape, step.layer, step.symbol, True, step.role)
    for node in net.nodes:
        if node.role == "pre-activation":
            act = next((n for n in net.nodes if n.layer == node.layer and n.activation), None)
            if act is not None:
                layers[node.layer] = (act.activation, node.name)
    numbered = any(re.search(r"\d$", n.name) for n in net.nodes if n.layer is not None)
    aliases = {}
    for name, entry in list(names.items()):
        if entry.kind == "adjoint" and name.startswith("delta"):
            aliases["dz" + name[5:]] = name
        if entry.kind == "forward" and name.startswith("yhat") and entry.layer is not None:
            aliases[f"a{entry.layer}" if numbered else "a"] = name
    if len(net.inputs) == 1 and net.inputs[0].name != "a0":
        aliases["a0"] = net.inputs[0].name
    for alias in list(aliases):
        if alias in names:
            del aliases[alias]
    names["m"] = Name("m", "count", (), None, sp.Symbol("m", integer=True, positive=True), False)
    batch_aliases = {}
    for name, entry in names.items():
        if entry.per_example:
            batch = batch_name(name)
            if batch not in names and batch not in aliases:
                batch_aliases[batch] = name
    for alias, name in list(aliases.items()):
        if names[name].per_example:
            batch = batch_name(alias)
            if batch not in names and batch not in batch_aliases:
                batch_aliases[batch] = name
    return Namespace(names, aliases, batch_aliases, layers, numbered)


# ==========================================================================
# Functions a formula may call
# ==========================================================================


def _latex_word(latex: str) -> str:
    match = re.fullmatch(r"\\(?:operatorname|mathrm|text)\{([A-Za-z]+)\}|\\([A-Za-z]+)", latex or "")
    return (match.group(1) or match.group(2)) if match else ""


def function_words() -> dict:
    """lower-case word -> registry name, for every registered scalar function."""
    table = {}
    for name, rule in ops.FUNCTIONS.items():
        for word in (name, _latex_word(rule.latex), *getattr(rule, "aliases", ())):
            if word:
                table.setdefault(word.lower(), name)
    table["softmax"] = "softmax"
    for word, name in _ELEMENTARY.items():
        table[word] = name
    return table


def _rule(name):
    return ops.FUNCTIONS.get(name)


# ==========================================================================
# The tree
# ==========================================================================
#
#   ("num", Fraction)          ("name", canonical, as shown)   ("ones", shape or None)
#   ("neg", a)  ("T", a)  ("sum", a)  ("mean", a)  ("pow", a, n)
#   ("add", a, b)  ("sub", a, b)  ("div", a, b)  ("mul", kind, a, b)
#   ("call", function, order, a)   order 1 = the derivative; "step" is 1[a > 0]
#
# kind of "mul": matmul (@), hadamard (⊙), star (NumPy *), juxt (juxtaposition / \cdot)

_CHILD_SLOTS = {"neg": (1,), "T": (1,), "sum": (1,), "mean": (1,), "pow": (1,), "add": (1, 2), "sub": (1, 2),
                "div": (1, 2), "mul": (2, 3), "call": (3,)}


def children(node) -> list:
    return [(i, node[i]) for i in _CHILD_SLOTS.get(node[0], ())]


def subtrees(node, path=()):
    """(path, node) for every node, the root first."""
    yield path, node
    for i, child in children(node):
        yield from subtrees(child, path + (i,))


def at(node, path):
    for i in path:
        node = node[i]
    return node


def replace(node, path, new):
    if not path:
        return new
    i = path[0]
    return node[:i] + (replace(node[i], path[1:], new),) + node[i + 1 :]


def mentions(node, kinds) -> bool:
    return any(n[0] in kinds for _, n in subtrees(node))


_PRECEDENCE = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4, "T": 4}
_MUL_TEXT = {"matmul": " @ ", "hadamard": " ⊙ ", "star": " * ", "juxt": " "}


def text(node) -> str:
    """The tree as one line of plain text, with the parentheses that show how it was read."""

    def wrap(child, minimum):
        s = text(child)
        return f"({s})" if _PRECEDENCE.get(child[0], 9) < minimum else s

    op = node[0]
    if op == "num":
        v = node[1]
        return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
    if op == "name":
        return node[-1]  # as written: x, or X in batch notation
    if op == "ones":
        return "ones"
    if op == "neg":
        return "-" + wrap(node[1], 3)
    if op in ("add", "sub"):
        return f"{wrap(node[1], 1)} {'+' if op == 'add' else '-'} {wrap(node[2], 2)}"
    if op == "mul":
        # A product inside a product of another kind gets parentheses: (W2ᵀ delta2) * relu'(z1)
        left = node[2]
        minimum = 3 if (left[0] == "mul" and left[1] != node[1]) or left[0] == "div" else 2
        return wrap(left, minimum) + _MUL_TEXT[node[1]] + wrap(node[3], 3)
    if op == "div":
        return f"{wrap(node[1], 3)} / {wrap(node[2], 3)}"
    if op == "pow":
        return f"{wrap(node[1], 5)}^{node[2]}"
    if op == "T":
        return wrap(node[1], 5) + "ᵀ"
    if op in ("sum", "mean"):
        return f"{op}({text(node[1])})"
    if op == "call":
        _, name, order, arg = node
        if name == "step" and order == 0:
            return f"1[{text(arg)} > 0]"
        return f"{name}{chr(39) * order}({text(arg)})"
    raise FormulaError(f"unknown formula node {op!r}")


def name_node(name: str, batch: bool = False):
    """("name", canonical, as shown): batch notation shows X, Delta1 for x, delta1."""
    if batch and name != "m":
        from .batch import batch_name

        return ("name", name, batch_name(name))
    return ("name", name, name)


def call(function: str, order: int, arg):
    return ("call", function, order, arg)


def fprime(namespace_: Namespace, layer: int):
    """f'(z^[l]) of a layer, as a tree (None where it is not an entrywise function)."""
    activation, z = namespace_.layers[layer]
    if activation in ("softmax", "identity") or z not in namespace_.names:
        return None
    return call(activation, 1, name_node(z))


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

    @property
    def text(self) -> str:
        return text(self.tree)


def parse(source, namespace_: Namespace) -> Formula:
    """Read a formula (string or SymPy expression) against a network's names."""
    if isinstance(source, sp.Basic):
        tree = from_sympy(source, namespace_)
        return Formula(tree, sp.sstr(source), mentions(tree, ("sum", "mean")) or _uses_m(tree), (tree,))
    tokens = tokenize(source)
    parser = _Parser(tokens, namespace_)
    tree = parser.parse()
    _check_degree(tree)
    flat = _Parser(tokens, namespace_, juxtaposition_first=False).parse()
    readings = (tree,) if flat == tree else (tree, flat)
    return Formula(tree, source, parser.batch or mentions(tree, ("sum", "mean")) or _uses_m(tree), readings)


MAX_DEGREE = 4 * MAX_EXPONENT


def _check_degree(tree) -> None:
    """Refuse powers of powers that multiply out to a huge degree.

    Each exponent is small, but SymPy combines (w^16)^16 into w^256 and a
    tower of five took minutes of exact arithmetic (issue 11).
    """
    def degree(node) -> int:
        op = node[0]
        if op == "pow":
            return abs(node[2]) * degree(node[1])
        if op in ("mul", "div"):
            return degree(node[2]) + degree(node[3]) if op == "mul" else degree(node[1]) + degree(node[2])
        if op in ("add", "sub"):
            return max(degree(node[1]), degree(node[2]))
        if op in ("neg", "T", "sum", "mean"):
            return degree(node[1])
        return 1  # a name, a number, a function call (f(x^16)^16 is not multiplied out)

    found = degree(tree)
    if found > MAX_DEGREE:
        raise FormulaError(
            f"powers of powers multiply: this formula has degree {found} (the limit is {MAX_DEGREE}); "
            "write the exponent once, from -16 to 16"
        )


def _uses_m(tree) -> bool:
    return any(n[0] == "name" and n[1] == "m" for _, n in subtrees(tree))


class _Parser:
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
            elif tok.kind == "cmd" and tok.text == r"\div":
                self.next()
                node = ("div", node, self.parse_chain())
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
                r"\div", r"\top", r"\intercal", r"\prime")
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
        if tok.kind == "ident" and tok.text == "m":
            self.next()
            self.batch = True
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
            if not (self.is_function(joined) or self.ns.lookup(joined)):
                break
            self.next()
            self.next()
            word = joined
        if word in ("sum", "mean") and self.is_op("("):
            self.batch = True
            return (word, self.parse_group())
        if word == "ones" and not self.ns.lookup(word):
            return ("ones", None)
        if word == "max" and self.is_op("(") and not self.ns.lookup(word):
            return self.parse_max()
        if self.is_generic_f(word) and (self.is_op("(") or self.is_op("'") or self.is_op("^") or self.is_op("_")):
            return self.parse_call(word, tok)
        if self.is_function(word) and not self.ns.lookup(word):
            return self.parse_call(word, tok)
        if self.ns.lookup(word) or self.is_op("_") or self.is_op("^"):
            return self.parse_name(word, tok)
        return self.split_word(word, tok)

    def is_function(self, word) -> bool:
        return word.lower() in self.functions

    def is_generic_f(self, word) -> bool:
        return word == "f" and not self.ns.lookup("f")

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

    def parse_name(self, base, tok):
        """A name and its scripts: W^{[2]}, W_2, a^{[1](i)}, delta_1, y_hat, W^{[2]\\top}."""
        layer = None
        after = []  # transposes and powers, applied once the name is known
        while self.is_op("_") or self.is_op("^"):
            if self.is_op("_"):
                self.next()
                sub = self.script_word()
                if self.ns.lookup(f"{base}_{sub}"):
                    base = f"{base}_{sub}"
                elif sub.isdigit():
                    layer = sub
                elif sub == "hat":
                    base += "hat"
                elif sub in ("i", "j", "k", "n"):
                    pass  # example index
                else:
                    raise FormulaError(f"unknown subscript {base}_{sub} at position {tok.pos}; known names: {self.ns.known()}")
            else:
                for mark in self.parse_superscript():
                    if mark[0] == "layer":
                        layer = mark[1]
                    elif mark[0] == "example":
                        pass
                    elif mark[0] == "prime":
                        raise FormulaError(f"a prime on the name {base!r}: primes go on functions, as in sigma'(z)")
                    elif layer is None and mark[0] == "pow" and not after and self._is_layer_power(base, mark[1]):
                        layer = str(mark[1])
                    else:
                        after.append(mark)
        return self.apply_marks(self.resolve(base, layer, tok), after)

    def _is_layer_power(self, base, n) -> bool:
        # W^2 where W2 exists and W does not: a layer written without brackets.
        return not self.ns.lookup(base) and self.ns.lookup(f"{base}{n}") is not None

    def resolve(self, base, layer, tok):
        candidates = [base] if layer is None else [f"{base}{layer}", f"{base}_{layer}"]
        if layer is not None and not self.ns.numbered and layer == "1":
            candidates.append(base)  # one-layer networks name z, a, delta without a number
        if layer is not None and base in ("a", "A") and layer == "0":
            candidates.append(base + "0")
        for word in candidates:
            if self.ns.lookup(word):
                return self.name_node(word)
        shown = base if layer is None else f"{base}^[{layer}]"
        raise FormulaError(f"unknown name {shown!r} at position {tok.pos}; known names: {self.ns.known()}")

    def script_word(self) -> str:
        """The text of a subscript: _2, _{2}, _i, _{hat}, _{\\text{hat}}."""
        tok = self.next()
        if tok.kind in ("num", "ident"):
            return tok.text
        if tok.kind == "op" and tok.text == "{":
            parts = []
            while not self.is_op("}"):
                t = self.next()
                if t.kind == "end" or len(parts) > 8:
                    raise self.error("unclosed subscript", t)
                if t.kind in ("num", "ident"):
                    parts.append(t.text)
                elif t.kind == "op" and t.text in ("(", ")", "[", "]", "{", "}", "=", ","):
                    continue
                elif t.kind == "cmd" and t.text in _WORD_COMMANDS:
                    continue
                else:
                    raise self.error("unexpected token in a subscript", t)
            self.next()
            return "".join(parts[:1]) if parts and parts[0] in ("i", "j", "k", "n") else "".join(parts)
        raise self.error("expected a subscript", tok)

    def parse_superscript(self) -> list:
        """Marks of a superscript: ("layer", "2"), ("example",), ("T",), ("prime",), ("pow", n)."""
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
        return self.script_marks(single=True)

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
                inner = self.next()
                close = "]" if tok.text == "[" else ")"
                if inner.kind == "num" and self.is_op(close):
                    self.next()
                    marks.append(("layer", inner.text) if inner.text.isdigit() else ("pow", self.small_integer(inner)))
                elif inner.kind == "ident" and self.is_op(close) and tok.text == "(" and len(inner.text) == 1:
                    self.next()
                    marks.append(("example",))
                elif inner.kind == "ident" and self.is_op(close):
                    raise FormulaError(f"layer index [{inner.text}]: write the layer's number, as in W^{{[2]}}")
                else:
                    raise FormulaError(
                        "an exponent must be a small integer (from "
                        f"-{MAX_EXPONENT} to {MAX_EXPONENT}); x^(10^10) and the like are refused"
                    )
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
            elif tok.kind == "num":
                marks.append(("pow", self.small_integer(tok)))
            elif tok.kind == "op" and tok.text == "-" and self.peek().kind == "num":
                marks.append(("pow", -self.small_integer(self.next())))
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

    def small_integer(self, tok) -> int:
        if tok.kind != "num" or not tok.text.isdigit() or int(tok.text) > MAX_EXPONENT:
            raise FormulaError(
                f"exponent {tok.text!r} at position {tok.pos}: exponents must be integers from "
                f"-{MAX_EXPONENT} to {MAX_EXPONENT}"
            )
        return int(tok.text)

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
            elif self.is_op("_") and word == "f":
                self.next()
                sub = self.script_word()
                if not sub.isdigit():
                    raise FormulaError(f"f_{sub}: write the layer's number, as in f_1 or f^{{[1]}}")
                layer = int(sub)
            elif self.is_op("^"):
                for mark in self.parse_superscript():
                    if mark[0] == "prime":
                        order += 1
                    elif mark[0] == "pow":
                        power = mark[1]
                    elif mark[0] == "layer" and word == "f":
                        layer = int(mark[1])
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
        if word == "f":
            if layer is None and arg[0] == "name":
                layer = self.ns.layer_of(arg[1])
            if layer is None or layer not in self.ns.layers:
                raise FormulaError(
                    f"f{chr(39) * order}(...) at position {tok.pos}: say which layer's activation, "
                    "by its argument z^{[l]} or as f^{[l]}"
                )
            name = self.ns.layers[layer][0]
        else:
            name = self.functions[word.lower()]
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


# ==========================================================================
# Shapes and products (shared by the numeric evaluator and the SymPy builder)
# ==========================================================================


def _scalar_like(shape) -> bool:
    return shape == () or shape == (1, 1)


def product_rule(kind, sa, sb):
    """How ``a <kind> b`` multiplies: "scale", "matmul", "hadamard", "broadcast", or None (no fit)."""
    if sa == () or sb == ():
        return "scale"
    fits = sa[1] == sb[0]
    if kind == "matmul":
        return "matmul" if fits else None
    if kind == "hadamard":
        if sa == sb:
            return "hadamard"
        return "scale" if _scalar_like(sa) or _scalar_like(sb) else None
    if kind == "star":  # NumPy's *: entrywise with broadcasting
        if sa == sb:
            return "hadamard"
        if all(x == y or x == 1 or y == 1 for x, y in zip(sa, sb)):
            return "broadcast"
        return None
    # juxtaposition / \cdot: the matrix product when it fits, else entrywise
    if fits:
        return "matmul"
    if sa == sb:
        return "hadamard"
    if _scalar_like(sa) or _scalar_like(sb):
        return "scale"
    return None


def _shape_text(shape) -> str:
    return "scalar" if shape == () else f"{shape[0]}×{shape[1]}"


def _no_fit(kind, a, b, sa, sb) -> FormulaShapeError:
    what = {"matmul": "@", "hadamard": "⊙", "star": "*", "juxt": "times"}[kind]
    hint = ""
    if kind in ("matmul", "juxt") and len(sa) == 2 and len(sb) == 2:
        if sa[0] == sb[0] or sa[1] == sb[1] or sa[1] == sb[1] or sa[0] == sb[1]:
            hint = ": missing transpose?"
    return FormulaShapeError(
        f"shapes do not fit: {text(a)} ({_shape_text(sa)}) {what} {text(b)} ({_shape_text(sb)}){hint}"
    )


# ==========================================================================
# Numbers: evaluating a tree at a sample point
# ==========================================================================


class Ones:
    """A ones vector whose length comes from the product it is in."""

    def __init__(self, transposed=False):
        self.transposed = transposed


def _shape(v) -> tuple:
    if isinstance(v, np.ndarray):
        return v.shape
    if isinstance(v, Ones):
        return None
    return ()


_NUMPY = {}


def _numpy_functions():
    """NumPy helpers of every registered function, and their derivatives (our own printed code)."""
    key = tuple(sorted((name, id(rule)) for name, rule in ops.FUNCTIONS.items()))
    if _NUMPY.get("key") != key:
        from .printing import NumPyPrinter, helper_namespace

        namespace_ = helper_namespace(list(ops.FUNCTIONS) + ["softmax"])
        derivatives = {}
        for name, rule in ops.FUNCTIONS.items():
            printer = NumPyPrinter()
            code = printer.doprint(rule.derivative)
            # eval of code printed by our own printer from the registry, never of user text
            derivatives[name] = eval(compile(f"lambda _t, _u: {code}", f"<{name}'>", "eval"), namespace_)
        _NUMPY.clear()
        _NUMPY.update(key=key, functions=namespace_, derivatives=derivatives)
    return _NUMPY


def _exact(expr):
    """An exact SymPy value with symprop's function objects replaced by their definitions."""
    for _ in range(8):
        mapping = {a: a.rule.definition(a.args[0]) for a in expr.atoms(ops.ScalarFunctionBase)}
        mapping.update({a: a.rule.explicit(a.prediction, a.target) for a in expr.atoms(ops.LossExpr)})
        if not mapping:
            break
        expr = expr.xreplace(mapping)
    return expr


class Evaluator:
    """Evaluate a tree: NumPy floats (matrices are 2-D arrays), or exact SymPy numbers for scalar networks.

    ``env`` maps names to values; ``examples`` (batched formulas) is one such
    mapping per example, used inside sums over the batch.
    """

    def __init__(self, env: dict, examples=None, exact: bool = False):
        self.env = env
        self.examples = examples
        self.exact = exact
        self.in_sum = False

    def __call__(self, tree):
        value = self.eval(tree)
        if isinstance(value, Ones):
            raise FormulaShapeError("cannot tell the length of the ones vector: use it in a product, as in Delta1 @ ones")
        return value

    def eval(self, node):
        op = node[0]
        method = getattr(self, "_" + op)
        return method(node)

    # leaves
    def _num(self, node):
        v = node[1]
        return sp.Rational(v.numerator, v.denominator) if self.exact else v.numerator / v.denominator

    def _name(self, node):
        name = node[1]
        if name not in self.env:
            if name == "m":
                raise FormulaError("m (the batch size) appears only in batched formulas")
            raise FormulaError(f"{name!r} has no value here")
        return self.env[name]

    def _ones(self, node):
        if node[1] is not None:
            return np.ones(node[1])
        return Ones()

    # structure
    def _neg(self, node):
        return -self.eval(node[1])

    def _T(self, node):
        v = self.eval(node[1])
        if isinstance(v, Ones):
            return Ones(not v.transposed)
        return v.T if isinstance(v, np.ndarray) else v

    def _add(self, node, sign=1):
        a, b = self.eval(node[1]), self.eval(node[2])
        a, b = self._sized_ones(a, b), self._sized_ones(b, a)
        sa, sb = _shape(a), _shape(b)
        if sa != sb and not (_scalar_like(sa) or _scalar_like(sb)):
            word = "add" if sign > 0 else "subtract"
            raise FormulaShapeError(
                f"cannot {word} {text(node[1])} ({_shape_text(sa)}) and {text(node[2])} ({_shape_text(sb)})"
            )
        return a + b if sign > 0 else a - b

    def _sub(self, node):
        return self._add(node, -1)

    def _sized_ones(self, v, other):
        if isinstance(v, Ones) and isinstance(other, np.ndarray):
            return np.ones(other.shape)
        return v

    def _mul(self, node):
        kind = node[1]
        a, b = self.eval(node[2]), self.eval(node[3])
        if isinstance(b, Ones) and not b.transposed and isinstance(a, np.ndarray):
            b = np.ones((a.shape[1], 1))
        if isinstance(a, Ones) and a.transposed and isinstance(b, np.ndarray):
            a = np.ones((1, b.shape[0]))
        a, b = self._sized_ones(a, b), self._sized_ones(b, a)
        if isinstance(a, Ones) or isinstance(b, Ones):
            raise FormulaShapeError("cannot tell the length of the ones vector in " + text(node))
        sa, sb = _shape(a), _shape(b)
        rule = product_rule(kind, sa, sb)
        if rule is None:
            raise _no_fit(kind, node[2], node[3], sa, sb)
        if rule == "matmul":
            return a @ b
        return a * b  # scale, hadamard and broadcast are all NumPy's *

    def _div(self, node):
        a, b = self.eval(node[1]), self.eval(node[2])
        sa, sb = _shape(a), _shape(b)
        if not (_scalar_like(sb) or sa == sb):
            raise FormulaShapeError(f"cannot divide {text(node[1])} ({_shape_text(sa)}) by {text(node[2])} ({_shape_text(sb)})")
        with np.errstate(all="ignore"):
            if self.exact and b == 0:
                return sp.zoo
            return a / b

    def _pow(self, node):
        a = self.eval(node[1])
        with np.errstate(all="ignore"):
            if self.exact:
                return sp.zoo if (a == 0 and node[2] < 0) else a ** node[2]
            if isinstance(a, np.ndarray):
                return np.power(a, float(node[2]))
            return np.inf if (a == 0 and node[2] < 0) else float(a) ** node[2]

    def _sum(self, node, mean=False):
        if self.examples is None:
            raise FormulaError("a sum over the examples needs a batched formula (batched=True)")
        if self.in_sum:
            raise FormulaError("sums over the examples cannot be nested")
        total = None
        outer = self.env
        self.in_sum = True
        try:
            for example in self.examples:
                self.env = example
                value = self(node[1])
                total = value if total is None else total + value
        finally:
            self.env = outer
            self.in_sum = False
        return total / len(self.examples) if mean else total

    def _mean(self, node):
        return self._sum(node, mean=True)

    def _call(self, node):
        _, name, order, arg_node = node
        arg = self.eval(arg_node)
        if isinstance(arg, Ones):
            raise FormulaShapeError(f"cannot tell the length of the ones vector in {text(node)}")
        if self.exact:
            return self._exact_call(name, order, arg)
        with np.errstate(all="ignore"):
            if name in ELEMENTARY_FUNCTIONS:
                return ELEMENTARY_FUNCTIONS[name][0](arg)
            table = _numpy_functions()
            if name == "softmax":
                if _shape(arg) == ():
                    raise FormulaShapeError("softmax needs a column vector")
                return table["functions"]["softmax"](arg, axis=0)
            f = table["functions"][name]
            if order == 0:
                return f(arg)
            value = table["derivatives"][name](arg, f(arg))
            return np.broadcast_to(value, np.shape(arg)).astype(float) if isinstance(arg, np.ndarray) else float(value)

    def _exact_call(self, name, order, arg):
        if name == "softmax":
            raise FormulaShapeError("softmax needs a column vector")
        if name in ELEMENTARY_FUNCTIONS:
            return ELEMENTARY_FUNCTIONS[name][1](arg)
        rule = _rule(name)
        if order == 0:
            return _exact(rule.definition(arg))
        return _exact(rule.derivative.xreplace({ops.T: arg, ops.U: rule.definition(arg)}))


# ==========================================================================
# SymPy: the tree as an expression of the network's symbols
# ==========================================================================


class NotSymbolic(Exception):
    """The tree has no per-example SymPy form (sums over the batch, ones of unknown size)."""


def to_sympy(tree, namespace_: Namespace):
    """The per-example SymPy expression of a tree (shapes already checked numerically)."""
    def build(node):
        op = node[0]
        if op == "num":
            return sp.Rational(node[1].numerator, node[1].denominator)
        if op == "name":
            entry = namespace_.names[node[1]]
            if entry.kind == "count":
                raise NotSymbolic(node)
            return entry.symbol
        if op == "ones":
            if node[1] is None:
                raise NotSymbolic(node)
            return sp.OneMatrix(*node[1])
        if op == "neg":
            return alg.neg(build(node[1]))
        if op == "T":
            return alg.transpose(build(node[1]))
        if op in ("add", "sub"):
            a, b = build(node[1]), build(node[2])
            if op == "sub":
                b = alg.neg(b)
            return alg.add(*_broadcast_terms(a, b))
        if op == "mul":
            return _sym_product(node[1], build(node[2]), build(node[3]))
        if op == "div":
            a, b = build(node[1]), build(node[2])
            if alg.is_matrix(b) and b.shape != (1, 1):
                return alg.hadamard(a, alg.hadamard_power(b, -1))
            if alg.is_matrix(b):
                raise NotSymbolic(node)
            return alg.scale(1 / b, a) if alg.is_matrix(a) else a / b
        if op == "pow":
            a = build(node[1])
            return alg.hadamard_power(a, node[2]) if alg.is_matrix(a) else a ** node[2]
        if op == "call":
            return _sym_call(node[1], node[2], build(node[3]))
        raise NotSymbolic(node)

    return build(tree)


def _broadcast_terms(a, b):
    if alg.is_matrix(a) == alg.is_matrix(b) and alg.shape_of(a) == alg.shape_of(b):
        return a, b
    if not alg.is_matrix(a):
        return alg.scale(a, sp.OneMatrix(*b.shape)), b
    if not alg.is_matrix(b):
        return a, alg.scale(b, sp.OneMatrix(*a.shape))
    raise NotSymbolic((a, b))  # a 1x1 matrix broadcast in a sum: numbers only


def _sym_product(kind, a, b):
    rule = product_rule(kind, alg.shape_of(a), alg.shape_of(b))
    if rule == "scale":
        if not alg.is_matrix(a):
            return alg.scale(a, b) if alg.is_matrix(b) else a * b
        if not alg.is_matrix(b):
            return alg.scale(b, a)
        raise NotSymbolic((a, b))  # a 1x1 matrix scaling a matrix
    if rule == "matmul":
        return alg.matmul(a, b)
    if rule == "hadamard":
        return alg.hadamard(a, b)
    if rule == "broadcast" and a.shape[1] == 1 and b.shape[0] == 1:
        return alg.matmul(a, b)  # column * row: the outer product
    raise NotSymbolic((a, b))


def _elementary_name(e) -> str:
    return next(name for name, (_, f) in ELEMENTARY_FUNCTIONS.items() if isinstance(e, f))


def _numpy_erf():
    """symprop's NumPy erf (the one emitted into generated modules)."""
    from .printing import helper_namespace

    return helper_namespace(["erf"])["erf"]


def _sym_call(name, order, arg):
    if name == "softmax":
        return ops.softmax(arg)
    if name in ELEMENTARY_FUNCTIONS:
        f = ELEMENTARY_FUNCTIONS[name][1]
        return alg.elementwise(sp.Lambda(alg.T, f(alg.T)), arg) if alg.is_matrix(arg) else f(arg)
    rule = _rule(name)
    if order == 0:
        return rule(arg)
    if alg.is_matrix(arg):
        return alg.elementwise(sp.Lambda(alg.T, rule.derivative_at(alg.T)), arg)
    return rule.derivative_at(arg)


# ==========================================================================
# SymPy -> tree (a formula given as a SymPy expression)
# ==========================================================================


def from_sympy(expr, namespace_: Namespace):
    count = [0]

    def number(v):
        return ("num", Fraction(int(v.p), int(v.q)))

    def fold(op, kind, args):
        nodes = [conv(a) for a in args]
        node = nodes[0]
        for n in nodes[1:]:
            node = (op, kind, node, n) if kind else (op, node, n)
        return node

    def power(base, exponent):
        if exponent == sp.Rational(1, 2):
            return call("sqrt", 0, conv(base))
        if not (exponent.is_Integer and abs(int(exponent)) <= MAX_EXPONENT):
            raise FormulaError(f"exponent {exponent} in {sp.sstr(expr)}: only integers up to {MAX_EXPONENT} are supported")
        return ("pow", conv(base), int(exponent))

    def conv(e, lifted=None):
        count[0] += 1
        if count[0] > 4 * MAX_TOKENS:
            raise FormulaError("the SymPy expression is too large to check")
        if lifted is not None and e == alg.T:
            return lifted
        if isinstance(e, (sp.Symbol, sp.MatrixSymbol)):
            entry = namespace_.names.get(e.name)
            if entry is None:
                raise FormulaError(f"unknown name {e.name!r} in the expression; known names: {namespace_.known()}")
            if alg.shape_of(e) != entry.shape and entry.kind != "count":
                raise FormulaError(f"{e.name!r} has shape {alg.shape_of(e) or 'scalar'} in the expression "
                                   f"but {entry.shape or 'scalar'} in the network")
            return name_node(e.name)
        if isinstance(e, sp.Rational):
            return number(e)
        if isinstance(e, sp.Float):
            return ("num", Fraction(float(e)).limit_denominator(10**12))
        if isinstance(e, (sp.Add, sp.MatAdd)):
            return fold("add", None, e.args)
        if isinstance(e, sp.MatMul):
            return fold("mul", "matmul", e.args)
        if isinstance(e, sp.HadamardProduct):
            return fold("mul", "hadamard", e.args)
        if isinstance(e, sp.Mul):
            return fold("mul", "star", e.args)
        if isinstance(e, (sp.Pow, sp.HadamardPower)):
            return power(e.args[0], e.args[1])
        if isinstance(e, sp.Transpose):
            return ("T", conv(e.arg))
        if isinstance(e, sp.OneMatrix):
            return ("ones", (int(e.shape[0]), int(e.shape[1])))
        if isinstance(e, ops.ScalarFunctionBase):
            return call(e.rule.name, 0, conv(e.args[0], lifted))
        if isinstance(e, sp.Heaviside):
            return call("step", 0, conv(e.args[0], lifted))
        if isinstance(e, _SYMPY_ELEMENTARY):
            return call(_elementary_name(e), 0, conv(e.args[0], lifted))
        if isinstance(e, ops.Softmax):
            return call("softmax", 0, conv(e.arg))
        from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

        if isinstance(e, ElementwiseApplyFunction):
            return conv_lifted(alg.applied_function(e), conv(e.expr))
        raise FormulaError(f"{type(e).__name__} is not supported in a formula ({sp.sstr(e)})")

    def conv_lifted(body, arg_tree):
        # The body of an entrywise function, in _t; entrywise arithmetic of matrices
        # evaluates the same as scalar arithmetic, so the tree applies it to arg_tree.
        def c(e):
            count[0] += 1
            if e == alg.T:
                return arg_tree
            if isinstance(e, sp.Rational):
                return number(e)
            if isinstance(e, sp.Add):
                nodes = [c(a) for a in e.args]
                node = nodes[0]
                for n in nodes[1:]:
                    node = ("add", node, n)
                return node
            if isinstance(e, sp.Mul):
                nodes = [c(a) for a in e.args]
                node = nodes[0]
                for n in nodes[1:]:
                    node = ("mul", "star", node, n)
                return node
            if isinstance(e, sp.Pow) and e.exp.is_Integer and abs(int(e.exp)) <= MAX_EXPONENT:
                return ("pow", c(e.base), int(e.exp))
            if isinstance(e, ops.ScalarFunctionBase):
                return call(e.rule.name, 0, c(e.args[0]))
            if isinstance(e, sp.Heaviside):
                return call("step", 0, c(e.args[0]))
            if isinstance(e, _SYMPY_ELEMENTARY):
                return call(_elementary_name(e), 0, c(e.args[0]))
            raise FormulaError(f"{sp.sstr(e)} is not supported inside an entrywise function in a formula")

        return c(body)

    return conv(expr)


__all__ = [
    "Evaluator", "Formula", "FormulaShapeError", "Name", "Namespace", "NotSymbolic", "fprime", "from_sympy",
    "namespace", "parse", "product_rule", "subtrees", "text", "to_sympy", "tokenize",
]
