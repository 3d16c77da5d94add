"""The formula tree (nested tuples): walking it, rewriting it and printing it as plain text."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from ..errors import FormulaError

if TYPE_CHECKING:
    from .names import Namespace


class FormulaShapeError(FormulaError):
    """The formula parses but its shapes do not fit together (a verdict, not a crash)."""


# ==========================================================================
# The tree
# ==========================================================================
#
#   ("num", Fraction)          ("name", canonical, as shown)   ("ones", shape or None)
#   ("neg", a)  ("T", a)  ("sum", a)  ("mean", a)  ("pow", a, n)
#   ("add", a, b)  ("sub", a, b)  ("div", a, b)  ("mul", kind, a, b)
#   ("call", function, order, a)   order 1 = the derivative; "step" is 1[a > 0]
#   ("reduce", sum|mean, axis 0|1|None, keepdims, a)   NumPy's np.sum(a, axis=1, keepdims=True)
#   ("outer", a, b)                                      NumPy's np.outer (of the flattened vectors)
#   ("entry", name node, indices)   a component: delta_j, w_{jk} (indices: letters, rows first)
#   ("isum", index, a)              a sum over a component index: sum_k w_{kj} delta_k
#   ("op", name, parameter, a[, b])  a layer op of layers.py: ("op", "corr", None, K, X) is K ⋆ X,
#                                   ("op", "up", 2, g) is up_2(g)
#
# kind of "mul": matmul (@), hadamard (⊙), star (NumPy *), juxt (juxtaposition / \cdot)

_CHILD_SLOTS = {"neg": (1,), "T": (1,), "sum": (1,), "mean": (1,), "pow": (1,), "add": (1, 2), "sub": (1, 2),
                "div": (1, 2), "mul": (2, 3), "call": (3,), "reduce": (4,), "outer": (1, 2), "entry": (1,),
                "isum": (2,)}


def children(node) -> list:
    if node[0] == "op":
        return [(i, node[i]) for i in range(3, len(node))]
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
_INFIX_OPS = ("corr", "full")  # K ⋆ X, rot180(K) ∗full δ: products
_MUL_TEXT = {"matmul": " @ ", "hadamard": " ⊙ ", "star": " * ", "juxt": " "}


def text(node) -> str:
    """The tree as one line of plain text, with the parentheses that show how it was read."""

    def wrap(child, minimum):
        s = text(child)
        return f"({s})" if _precedence(child) < minimum else s

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
        n = node[2]
        exponent = f"({n})" if isinstance(n, Fraction) and n.denominator != 1 else str(n)
        return f"{wrap(node[1], 5)}^{exponent}"
    if op == "T":
        return wrap(node[1], 5) + "ᵀ"
    if op in ("sum", "mean"):
        return f"{op}({text(node[1])})"
    if op == "reduce":
        _, how, axis, keepdims, arg = node
        options = ("" if axis is None else f", axis={axis}") + (", keepdims=True" if keepdims else "")
        return f"np.{how}({text(arg)}{options})"
    if op == "outer":
        return f"np.outer({text(node[1])}, {text(node[2])})"
    if op == "entry":
        return f"{text(node[1])}[{','.join(node[2])}]"
    if op == "isum":
        return f"sum_{node[1]}({text(node[2])})"
    if op == "op":
        from .layers import op_text

        return op_text(node, lambda i: wrap(node[i], 3) if node[1] in _INFIX_OPS else text(node[i]))
    if op == "call":
        _, name, order, arg = node
        if name == "step" and order == 0:
            return f"1[{text(arg)} > 0]"
        return f"{name}{chr(39) * order}({text(arg)})"
    raise FormulaError(f"unknown formula node {op!r}")


def _precedence(node) -> int:
    if node[0] == "op" and node[1] in _INFIX_OPS:
        return _PRECEDENCE["mul"]
    return _PRECEDENCE.get(node[0], 9)


def name_node(name: str, batch: bool = False):
    """("name", canonical, as shown): batch notation shows X, Delta1 for x, delta1."""
    if batch and name != "m":
        from ..batch import batch_name

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
