"""Names and constants that layer builders put into a network's expression.

* ``Named(expr, base)`` - a subexpression a builder names the way lecture
  notes do (mu, sigma, Zhat, S, P ...).  ``Network`` gives it that name, with
  the layer number (mu1, Zhat2), instead of a generic h1; otherwise the marker
  is transparent: its local derivative passes the adjoint through.  A marker
  may carry the key of a *closed form* (see ``CLOSED_FORMS``): a region of the
  graph whose input adjoint has a simpler form than the node-by-node chain
  rule gives (batch normalisation's), stated by the op family that built it.
* ``Constant(name, value)`` - a named number (epsilon, d_k): printed as its
  symbol in the notes and as its value in code; never trained, never data.
"""

from __future__ import annotations

from typing import Callable

import sympy as sp
from sympy import MatrixExpr
from sympy.core.symbol import Str

from ..errors import DeclarationError, InvalidNameError
from .base import IDENTIFIER


class Named(MatrixExpr):
    """``expr``, to be named ``base`` (plus the layer number) by the network."""

    def __new__(cls, expr, base, closed_form="", description=""):
        labels = [x if isinstance(x, Str) else Str(x) for x in (base, closed_form, description)]
        return MatrixExpr.__new__(cls, expr, *labels)

    @property
    def expr(self):
        return self.args[0]

    @property
    def base(self) -> str:
        return self.args[1].name

    @property
    def closed_form(self) -> str:
        return self.args[2].name

    @property
    def description(self) -> str:
        """What the value is, for the notes' table of symbols (mean over the batch, ...)."""
        return self.args[3].name

    @property
    def shape(self):
        return self.expr.shape

    def _latex(self, printer):
        return printer._print(self.expr)

    def _sympystr(self, printer):
        return printer._print(self.expr)

    def _numpycode(self, printer):
        return printer._print(self.expr)

    def doit(self, **hints):
        return self


def _vjp_named(node, g):
    return [(node.expr, g)]


class Hint(MatrixExpr):
    """A declared symbol, with something generated code must know about it.

    ``Hint(gamma, "init", "ones")``: batch norm's gamma starts at 1;
    ``Hint(M, "dropout", "0.8")``: M is a dropout mask kept with probability 0.8
    (drawn by ``train``, all kept at inference); ``Hint(M, "attention_mask",
    "causal")``.  ``Network`` records the hint (``network.hints``) and drops the
    marker; its local derivative passes the adjoint through.
    """

    def __new__(cls, symbol, key, value):
        labels = [x if isinstance(x, Str) else Str(str(x)) for x in (key, value)]
        return MatrixExpr.__new__(cls, symbol, *labels)

    @property
    def symbol(self):
        return self.args[0]

    @property
    def key(self) -> str:
        return self.args[1].name

    @property
    def value(self) -> str:
        return self.args[2].name

    @property
    def shape(self):
        return self.symbol.shape

    def _latex(self, printer):
        return printer._print(self.symbol)

    def _sympystr(self, printer):
        return printer._print(self.symbol)

    def doit(self, **hints):
        return self


def _vjp_hint(node, g):
    return [(node.symbol, g)]


def Init(param, how: str) -> Hint:  # noqa: N802 - reads as the marker it makes
    """``param``, to be initialised to "ones" or "zeros" by generated code."""
    return Hint(param, "init", how)


def name(expr, base: str):
    """Give a subexpression of a network a name (with its layer number) in the notes and the code.

    Args:
        expr: the subexpression, as written in the network.
        base: the name, an identifier (``"u"`` makes the value u1 in layer 1).

    Examples:
        >>> import sympy as sp, symprop
        >>> W1, x, b1 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("b1", 4, 1)
        >>> u = symprop.name(W1 * x + b1, "u")
        >>> symprop.text(u)
        'W1 x + b1'
    """
    if not isinstance(base, str) or not IDENTIFIER.match(base) or "__" in base or base[-1].isdigit():
        raise InvalidNameError(
            f"{base!r} is not a valid name for an intermediate: letters, digits and '_', starting with a letter, "
            "not ending in a digit (the layer number is added)"
        )
    if not isinstance(expr, MatrixExpr):
        raise DeclarationError(f"symprop.name({base!r}): only matrix expressions can be named, got {sp.sstr(expr)}")
    return Named(expr, base)


class Constant(sp.Symbol):
    """A named number (epsilon, d_k): ``constant`` makes one; ``.value`` is its number.

    Examples:
        >>> import symprop
        >>> isinstance(symprop.constant("epsilon", 1e-5), symprop.Constant)
        True
    """

    def __new__(cls, name: str, value):
        obj = sp.Symbol.__xnew__(cls, name, positive=True)
        obj._value = sp.Float(value) if isinstance(value, float) else sp.sympify(value)
        return obj

    def _hashable_content(self):
        return super()._hashable_content() + (self._value,)

    def __getnewargs_ex__(self):
        return ((self.name, self._value), {})

    @property
    def value(self):
        return self._value

    def _numpycode(self, printer):
        return repr(float(self._value))

    _pythoncode = _numpycode


def constant(name: str, value) -> Constant:
    """A named positive number: its symbol in the notes and formulas, its value in code.

    Args:
        name: the symbol's name (``"epsilon"`` prints as ε).
        value: the number.

    Examples:
        >>> import symprop
        >>> eps = symprop.constant("epsilon", 1e-5)
        >>> symprop.text(eps), float(eps.value)
        ('ε', 1e-05)
    """
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise InvalidNameError(f"constant name {name!r}: use letters, digits and '_', starting with a letter")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DeclarationError(f"constant {name!r}: the value must be a number, got {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise DeclarationError(f"constant {name!r}: the value must be a positive finite number, got {value!r}")
    return Constant(name, value)


def is_constant(sym) -> bool:
    return isinstance(sym, Constant)


# Closed forms of regions, keyed by the name a Named marker carries:
# key -> function(network, node) -> ClosedForm or None.  Filled by the op
# families that build such regions (normalization.py).
CLOSED_FORMS: dict[str, Callable] = {}

RULES = {Named: _vjp_named, Hint: _vjp_hint}

__all__ = ["Named", "Hint", "Init", "Constant", "constant", "name", "is_constant", "CLOSED_FORMS", "RULES"]
