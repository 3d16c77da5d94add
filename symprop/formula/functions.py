"""Functions a formula may call: the registry's activations, their derivatives and the elementary functions."""

from __future__ import annotations

import re

import numpy as np
import sympy as sp

from .. import ops


# Elementary functions a formula may call: name -> (NumPy, SymPy).  The one
# place to add one: the parser, the evaluators and the SymPy conversions read it.
ELEMENTARY_FUNCTIONS = {
    "exp": (np.exp, sp.exp), "log": (np.log, sp.log), "sqrt": (np.sqrt, sp.sqrt),
    "sin": (np.sin, sp.sin), "cos": (np.cos, sp.cos), "tan": (np.tan, sp.tan),
    "sinh": (np.sinh, sp.sinh), "cosh": (np.cosh, sp.cosh), "arctan": (np.arctan, sp.atan),
    "erf": (lambda x: _numpy_erf()(x), sp.erf),  # NumPy has no erf: symprop's own
}
_ELEMENTARY = {name: name for name in ELEMENTARY_FUNCTIONS} | {"ln": "log", "atan": "arctan"}
_SYMPY_ELEMENTARY = tuple(f for _, f in ELEMENTARY_FUNCTIONS.values() if isinstance(f, type))  # classes, for from_sympy


# ==========================================================================
# Functions a formula may call
# ==========================================================================


def _latex_word(latex: str) -> str:
    match = re.fullmatch(r"\\(?:operatorname|mathrm|text)\{([A-Za-z]+)\}|\\([A-Za-z]+)", latex or "")
    return (match.group(1) or match.group(2)) if match else ""


def function_words() -> dict:
    """word -> registry name, for every registered scalar function (lower-case, and each name as registered)."""
    table = {}
    for name, rule in ops.FUNCTIONS.items():
        for word in (name, _latex_word(rule.latex), *getattr(rule, "aliases", ())):
            if word:
                table.setdefault(word.lower(), name)
    for name in ops.FUNCTIONS:  # the exact spelling first: phi (the normal density) and Phi (its CDF) differ
        table[name] = name
    table["softmax"] = "softmax"
    for word, name in _ELEMENTARY.items():
        table[word] = name
    return table


def _rule(name):
    return ops.FUNCTIONS.get(name)


def _numpy_erf():
    """symprop's NumPy erf (the one emitted into generated modules)."""
    from ..printing import helper_namespace

    return helper_namespace(["erf"])["erf"]
