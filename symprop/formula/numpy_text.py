"""The NumPy front end of the parser: what people write in backward code.

``np.dot(W2.T, dZ2)``, ``np.matmul``, ``a.dot(b)``, ``np.multiply(a, b)``,
``np.outer(a, b)``, ``np.sum(dZ1, axis=1, keepdims=True)`` (and ``np.mean``,
``a.sum(axis=0)``), ``np.transpose(a)``, ``np.power(a, 2)``,
``np.square(a)``, ``np.exp``/``np.log``/``np.tanh``/``np.sqrt``,
``np.maximum(0, z)``, ``(z > 0).astype(float)``.  Each becomes the formula
tree's own node; nothing is evaluated.
"""

from __future__ import annotations

from fractions import Fraction

from ..errors import FormulaError
from .tree import call

_BINARY = {"dot": "matmul", "matmul": "matmul", "multiply": "star"}
_UNARY_FUNCTIONS = {"exp": "exp", "log": "log", "sqrt": "sqrt", "tanh": "tanh", "sin": "sin", "cos": "cos"}
_IGNORED_METHODS = ("astype", "copy")


class NumpyCalls:
    """Parser methods for np.<function>(...) and array methods (mixed into the parser)."""

    def parse_numpy(self, tok):
        self.expect_op(".")
        name_tok = self.next()
        name = name_tok.text
        if name in ("sum", "mean"):
            args, options = self.call_arguments(name, (1, 2), ("axis", "keepdims"))
            return self.reduce_node(name, args[0], _positional_axis(args[1:], options), name_tok)
        if name == "ones":
            self.skip_call()  # np.ones((m, 1)): its length comes from the product it is in
            return ("ones", None)
        if name in _BINARY:
            (a, b), _ = self.call_arguments(name, 2)
            return ("mul", _BINARY[name], a, b)
        if name == "outer":
            (a, b), _ = self.call_arguments(name, 2)
            return ("outer", a, b)
        if name == "transpose":
            (a,), _ = self.call_arguments(name, 1)
            return ("T", a)
        if name in ("power", "square"):
            args, _ = self.call_arguments(name, 2 if name == "power" else 1)
            exponent = 2 if name == "square" else args[1]
            if name == "power":
                if exponent[0] != "num" or exponent[1].denominator != 1:
                    raise FormulaError("np.power(a, n) needs a small integer n")
                exponent = int(exponent[1])
            return ("pow", args[0], exponent)
        if name == "maximum":
            (a, b), _ = self.call_arguments(name, 2)
            zero = ("num", Fraction(0))
            if zero not in (a, b):
                raise FormulaError("np.maximum(a, b) is supported only as np.maximum(0, z) (ReLU)")
            return call("relu", 0, b if a == zero else a)
        if name in _UNARY_FUNCTIONS:
            (a,), _ = self.call_arguments(name, 1)
            word = _UNARY_FUNCTIONS[name]
            return call(self.function_name(word), 0, a)
        if name in ("int64", "float64", "float32", "int32"):
            (a,), _ = self.call_arguments(name, 1)
            return a  # np.int64(z > 0): the indicator itself
        raise FormulaError(f"np.{name} is not supported in formulas (np.dot, np.sum, np.multiply, np.outer, np.exp, ...)")

    def parse_method(self, node):
        """a.dot(b), a.sum(axis=0), a.mean(...), a.astype(float), a.T (handled by the caller)."""
        self.expect_op(".")
        name_tok = self.next()
        name = name_tok.text
        if name == "dot":
            (b,), _ = self.call_arguments(name, 1)
            return ("mul", "matmul", node, b)
        if name in ("sum", "mean"):
            args, options = self.call_arguments(name, (0, 1), ("axis", "keepdims"))
            return self.reduce_node(name, node, _positional_axis(args, options), name_tok)
        if name in _IGNORED_METHODS:
            self.skip_call()
            return node
        if name == "transpose":
            self.call_arguments(name, 0)
            return ("T", node)
        raise FormulaError(f".{name}(...) is not supported in formulas (.dot, .sum, .mean, .T, .astype)")

    def reduce_node(self, how, arg, options, tok):
        axis = options.get("axis")
        if axis is not None:
            if axis[0] == "neg" and axis[1][0] == "num":
                axis = -int(axis[1][1])
            elif axis[0] == "num" and axis[1].denominator == 1:
                axis = int(axis[1])
            else:
                raise FormulaError(f"np.{how}(..., axis=...) at position {tok.pos}: the axis must be 0, 1 or -1")
            if axis not in (0, 1, -1):
                raise FormulaError(f"np.{how}(..., axis={axis}): arrays in formulas have two axes, 0 and 1")
            axis = 1 if axis == -1 else axis
        keepdims = options.get("keepdims")
        keep = keepdims is not None and keepdims[0] == "name" and keepdims[1] == "True"
        return ("reduce", how, axis, keep, arg)

    def call_arguments(self, name, count, keywords=()):
        """(positional argument trees, {keyword: tree}) of a call: exactly ``count`` positional ones."""
        self.expect_op("(")
        self.enter()
        args, options = [], {}
        while not self.is_op(")"):
            if self.peek().kind == "ident" and self.is_op("=", 1):
                key = self.next().text
                self.next()
                if key not in keywords:
                    raise FormulaError(f"np.{name}(..., {key}=...) is not supported" if key else f"bad argument to {name}")
                value = self.next()
                if value.kind == "ident" and value.text in ("True", "False"):
                    options[key] = ("name", value.text)
                elif value.kind == "op" and value.text == "-" and self.peek().kind == "num":
                    options[key] = ("neg", ("num", Fraction(self.next().text)))
                elif value.kind == "num":
                    options[key] = ("num", Fraction(value.text))
                else:
                    raise self.error(f"expected a number or True/False for {key}", value)
            else:
                if options:
                    raise self.error("a positional argument after a keyword argument")
                args.append(self.parse_sum())
            if not self.is_op(","):
                break
            self.next()
        self.expect_op(")")
        self.leave()
        counts = count if isinstance(count, tuple) else (count,)
        if len(args) not in counts:
            expected = " or ".join(str(c) for c in counts)
            raise FormulaError(f"{name}(...) takes {expected} argument{'s' if counts != (1,) else ''} here, got {len(args)}")
        return args, options

    def skip_call(self):
        """.astype(float), .copy(): a call whose arguments do not change the value."""
        self.expect_op("(")
        depth = 1
        while depth:
            tok = self.next()
            if tok.kind == "end":
                raise self.error("unclosed call", tok)
            if tok.kind == "op" and tok.text == "(":
                depth += 1
            elif tok.kind == "op" and tok.text == ")":
                depth -= 1


def _positional_axis(args, options) -> dict:
    """a.sum(0), np.sum(a, 1): the axis given by position."""
    if args:
        if "axis" in options:
            raise FormulaError("the axis is given twice")
        options = dict(options, axis=args[0])
    return options


__all__ = ["NumpyCalls"]
