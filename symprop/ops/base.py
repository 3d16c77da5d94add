"""What every op family shares: the canonical variables, the name tables, the checks."""

from __future__ import annotations

import re

import sympy as sp

from ..algebra import T
from ..errors import DeclarationError, InvalidNameError

U = sp.Symbol("_u")  # the output f(t) in activation derivatives
P, Q = sp.Symbol("_p"), sp.Symbol("_q")  # prediction and target entries in losses
OUT = sp.Symbol("_out")  # f(t) inside its own derivative

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

# Registered scalar functions and losses by name (every family fills these).
FUNCTIONS: dict = {}
LOSSES: dict = {}
# Names of the other ops (softmax, the normalisations, ...): no activation may take them.
OP_NAMES: set = set()
# NumPy helpers of the op families: name -> (source, names of the helpers it calls).
# printing.helper_sources emits them into generated code and evaluate()'s namespace.
NUMPY_HELPERS: dict = {}


def name_taken(name: str) -> bool:
    return name in FUNCTIONS or name in LOSSES or name in OP_NAMES


def register(entry):
    if name_taken(entry.name):
        raise InvalidNameError(f"an op named {entry.name!r} is already registered")
    FUNCTIONS[entry.name] = entry
    return entry


def as_expr(x, who):
    if isinstance(x, (int, float)):
        return sp.sympify(x)
    if not isinstance(x, sp.Basic):
        raise DeclarationError(f"{who}: expected a SymPy expression, got {type(x).__name__}")
    return x


def undefined_message(functions) -> str:
    names = sorted({type(f).__name__ if not isinstance(f, type) else f.__name__ for f in functions})
    return (
        f"cannot differentiate the undefined function(s) {', '.join(names)}: SymPy knows nothing about them. "
        f"Register one with symprop.activation({names[0]!r}, sympy.Lambda(z, <its definition in z>))"
    )


__all__ = ["T", "U", "P", "Q", "OUT", "IDENTIFIER", "FUNCTIONS", "LOSSES", "OP_NAMES", "NUMPY_HELPERS", "register", "as_expr",
           "undefined_message", "name_taken"]
