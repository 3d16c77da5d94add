"""PyTorch (and JAX) code from the NumPy code the printers write (the modules of ``export_torch``).

The NumPy printers (``printing_batch``, ``printing_matrix``) decide what each
derived equation computes and in which layout; PyTorch spells the same array
operations with the same operators (``@``, ``*``, ``.T``, indexing) and mostly
the same function names.  ``to_torch`` rewrites a printed statement (or a
helper's source) at the level of the array API, never per op:

* ``np.f(...)`` becomes ``torch.f(...)`` where torch has the same function,
  or its torch spelling (``np.repeat`` -> ``torch.repeat_interleave``,
  ``np.maximum(x, 0)`` -> ``torch.clamp(x, min=0)``);
* keyword arguments ``axis``/``keepdims``/``axes`` become ``dim``/``keepdim``/
  ``dims`` in torch calls and tensor methods (a helper's own ``axis`` stays);
* ``.max(axis=...)`` becomes ``.amax(dim=...)`` (torch's ``max`` with a dim
  returns indices too), ``.astype`` -> ``.to``, ``.copy`` -> ``.clone``;
  ``x[:, ::-1]`` -> ``x.flip((1,))``, ``np.pad`` -> ``torch.nn.functional.pad``
  (its widths from the last axis), ``sliding_window_view`` -> ``unfold``;
* new arrays (``np.ones``, ``np.zeros``, ``np.eye``, ``np.array``) take the
  dtype and device of a reference tensor (``like``), so float32 stays float32
  and a CUDA batch stays on the GPU;
* in-place updates (``a += b``, ``np.exp(e, out=e)``) become assignments: the
  torch functions also run under autograd, which must not see a saved tensor
  modified (the derived passes, which autograd never sees, keep ``a += b``).

For JAX (``translate(code, "jax")``), jax.numpy mirrors NumPy: ``np.`` becomes
``jnp.``, new arrays take ``like``'s dtype, and updates become assignments.

A NumPy call with no torch spelling raises ``UnsupportedOperationError``
naming it; the exporter adds which op or helper needed it.
"""

from __future__ import annotations

import ast

from .errors import UnsupportedOperationError

# NumPy functions torch has under the same name, with the same positional arguments
_SAME = frozenset({
    "exp", "log", "log1p", "expm1", "tanh", "sqrt", "abs", "sign", "sin", "cos", "where", "trace",
    "tensordot", "moveaxis", "swapaxes", "triu", "tril", "broadcast_to", "square", "isfinite", "sum",
    "argmax", "minimum", "maximum", "matmul", "outer", "stack", "concatenate", "reciprocal",
})
_RENAMED = {
    "repeat": "repeat_interleave",
    "greater": "gt",
    "expand_dims": "unsqueeze",
    "take_along_axis": "take_along_dim",
    "asarray": "as_tensor",
    "array": "tensor",
    "concatenate": "cat",
}
_MATH = frozenset({"sqrt", "exp", "log", "log1p", "expm1", "tanh", "sin", "cos"})
_NEW_ARRAYS = frozenset({"ones", "zeros", "eye", "array", "full", "empty"})
_KEYWORDS = {"axis": "dim", "keepdims": "keepdim", "axes": "dims"}
_METHODS = {"astype": "to", "copy": "clone", "max": "amax", "min": "amin"}
_DTYPES = {"bool": "bool", "float": "float64", "float64": "float64", "float32": "float32", "int64": "int64"}


def _is_np(node) -> bool:
    return isinstance(node, ast.Name) and node.id == "np"


def _number(node) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def _constant(node) -> bool:
    """A number, or arithmetic of numbers."""
    return all(isinstance(n, (ast.Constant, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop)) for n in ast.walk(node))


def _torch(attr: str) -> ast.expr:
    node: ast.expr = ast.Name("torch", ast.Load())
    for part in attr.split("."):
        node = ast.Attribute(node, part, ast.Load())
    return node


class _Translator(ast.NodeTransformer):
    def __init__(self, like, in_place=False):
        self.like = like  # the name of a tensor whose dtype and device new arrays take
        self.in_place = in_place  # keep ``a += b`` (code autograd never sees)

    # np.inf, np.float64, np.newaxis ...
    def visit_Attribute(self, node):
        self.generic_visit(node)
        if _is_np(node.value):
            if node.attr in ("inf", "pi", "e", "nan"):
                return _torch(node.attr)
            if node.attr in _DTYPES:
                return _torch(_DTYPES[node.attr])
            if node.attr == "newaxis":
                return ast.Constant(None)
            raise UnsupportedOperationError(f"PyTorch has no spelling of np.{node.attr}")
        return node

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Attribute) and _is_np(func.value):
            node.args = [self.visit(arg) for arg in node.args]
            for kw in node.keywords:
                kw.value = self.visit(kw.value)
            return self._numpy_call(func.attr, node)
        if ast.unparse(func) == "np.lib.stride_tricks.sliding_window_view":
            return self._windows(node)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute) and _is_np(func.value.value):
            raise UnsupportedOperationError(f"PyTorch has no spelling of np.{func.value.attr}.{func.attr}")
        self.generic_visit(node)
        if isinstance(func, ast.Attribute):  # a tensor method
            if func.attr in ("max", "min") and not node.args and not node.keywords:
                return node  # the maximum of all entries: the same in torch
            func.attr = _METHODS.get(func.attr, func.attr)
            self._rename_keywords(node)
        return node

    def _windows(self, node):
        """sliding_window_view(x, (kh, kw), axis=(-2, -1)): x.unfold(-2, kh, 1).unfold(-2, kw, 1), the same view."""
        x, window = (self.visit(a) for a in node.args)
        axes = next((kw.value for kw in node.keywords if kw.arg == "axis"), None)
        try:
            axes = list(ast.literal_eval(axes))
        except ValueError:
            axes = None
        if axes is None or not isinstance(window, ast.Tuple) or len(window.elts) != len(axes) or any(a >= 0 for a in axes):
            raise UnsupportedOperationError("PyTorch has no spelling of sliding_window_view but for negative axes given as numbers")
        out = x
        for done, (axis, size) in enumerate(zip(axes, window.elts)):  # each unfold appends a window axis
            out = ast.Call(ast.Attribute(out, "unfold", ast.Load()), [ast.Constant(axis - done), size, ast.Constant(1)], [])
        return out

    def visit_Subscript(self, node):
        """x[:, ::-1, ::-1]: torch has no negative steps; x.flip((1, 2))."""
        self.generic_visit(node)
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        flips = []
        for i, item in enumerate(items):
            if not isinstance(item, ast.Slice) or item.lower is not None or item.upper is not None:
                return node
            if item.step is not None:
                if ast.unparse(item.step) != "-1":
                    return node
                flips.append(i)
        if not flips:
            return node
        return ast.Call(ast.Attribute(node.value, "flip", ast.Load()), [ast.Tuple([ast.Constant(i) for i in flips], ast.Load())], [])

    @staticmethod
    def _rename_keywords(node):
        for kw in node.keywords:
            kw.arg = _KEYWORDS.get(kw.arg, kw.arg)

    def _like(self, node, dtype_given: bool):
        if self.like is None:
            return
        ref = ast.Name(self.like, ast.Load())
        if not dtype_given:
            node.keywords.append(ast.keyword("dtype", ast.Attribute(ref, "dtype", ast.Load())))
        node.keywords.append(ast.keyword("device", ast.Attribute(ref, "device", ast.Load())))

    def _numpy_call(self, name, node):
        self._rename_keywords(node)
        for kw in node.keywords:  # dtype=bool, dtype=float
            if kw.arg == "dtype" and isinstance(kw.value, ast.Name) and kw.value.id in _DTYPES:
                kw.value = _torch(_DTYPES[kw.value.id])
        if name in _MATH and node.args and all(_constant(a) for a in node.args) and not node.keywords:
            node.func = ast.Attribute(ast.Name("math", ast.Load()), name, ast.Load())  # of a number (1 / sqrt(d_k))
            return node
        if name == "pad" and len(node.args) == 2 and not node.keywords:
            # np.pad's (before, after) per axis from the first; torch's pad pairs from the last axis
            widths = ast.parse(f"[v for pair in reversed({ast.unparse(node.args[1])}) for v in pair]", mode="eval").body
            return ast.Call(_torch("nn.functional.pad"), [node.args[0], widths], [])
        if name == "ascontiguousarray" and len(node.args) == 1:
            return ast.Call(ast.Attribute(node.args[0], "contiguous", ast.Load()), [], [])
        if name == "result_type" and len(node.args) == 1:
            return ast.Attribute(node.args[0], "dtype", ast.Load())
        if name in ("maximum", "minimum") and len(node.args) == 2:
            # torch.maximum takes two tensors; a number bound is a clamp
            a, b = node.args
            bound = "min" if name == "maximum" else "max"
            if _number(b) or _number(a):
                tensor, number = (a, b) if _number(b) else (b, a)
                return ast.Call(_torch("clamp"), [tensor], [ast.keyword(bound, number)])
        if name in _NEW_ARRAYS:
            dtype_given = any(kw.arg == "dtype" for kw in node.keywords)
            self._like(node, dtype_given)
        if name == "put_along_axis":  # np.put_along_axis(a, k, v, axis=d): a statement, rewritten in visit_Expr
            return node
        if name == "sum" and len(node.args) == 1:  # np.sum(x) of a tensor; of a generator, Python's sum
            node.func = _torch("sum")
            return node
        if name in _SAME or name in _RENAMED or name in _NEW_ARRAYS:
            node.func = _torch(_RENAMED.get(name, name))
            return node
        raise UnsupportedOperationError(f"PyTorch has no spelling of np.{name}")

    def visit_Expr(self, node):
        call = node.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and _is_np(call.func.value):
            out = next((kw for kw in call.keywords if kw.arg == "out"), None)
            if call.func.attr == "put_along_axis":  # a.scatter(dim, index, value): a new tensor
                target, index, value = call.args
                dim = next((kw.value for kw in call.keywords if kw.arg == "axis"), ast.Constant(-1))
                target = self.visit(target)
                scatter = ast.Call(ast.Attribute(target, "scatter", ast.Load()), [self.visit(dim), self.visit(index), self.visit(value)], [])
                return ast.Assign([_store(target)], scatter)
            if out is not None:  # np.exp(e, out=e) -> e = torch.exp(e)
                call.keywords.remove(out)
                return ast.Assign([_store(out.value)], self.visit(call))
        self.generic_visit(node)
        return node

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        if self.in_place:
            return node
        load = _load(node.target)
        return ast.Assign([node.target], ast.BinOp(load, node.op, node.value))


def _store(node):
    node = _load(node)
    node.ctx = ast.Store()
    return node


def _load(node):
    copy = ast.parse(ast.unparse(node), mode="eval").body
    return copy


class _JaxTranslator(_Translator):
    """jax.numpy mirrors NumPy: ``np.f`` -> ``jnp.f``; arrays are immutable, so updates become assignments."""

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if _is_np(node.value):
            if node.attr == "newaxis":
                return ast.Constant(None)
            if node.attr in ("random", "lib", "errstate"):
                raise UnsupportedOperationError(f"JAX has no spelling of np.{node.attr}")
            node.value = ast.Name("jnp", ast.Load())
        return node

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Attribute) and _is_np(func.value) and func.attr in _NEW_ARRAYS:
            self.generic_visit(node)
            if self.like is not None and not any(kw.arg == "dtype" for kw in node.keywords):
                node.keywords.append(ast.keyword("dtype", ast.Attribute(ast.Name(self.like, ast.Load()), "dtype", ast.Load())))
            return node
        self.generic_visit(node)
        return node

    def visit_Expr(self, node):
        call = node.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and _is_np(call.func.value):
            out = next((kw for kw in call.keywords if kw.arg == "out"), None)
            if call.func.attr == "put_along_axis":  # a new array: jnp.put_along_axis(..., inplace=False)
                call.keywords.append(ast.keyword("inplace", ast.Constant(False)))
                return ast.Assign([_store(call.args[0])], self.visit(call))
            if out is not None:
                call.keywords.remove(out)
                return ast.Assign([_store(out.value)], self.visit(call))
        self.generic_visit(node)
        return node


def translate(code: str, target: str, like=None, in_place=False) -> str:
    """The ``target`` ("torch" or "jax") spelling of NumPy statements ``code`` (see the module docstring).

    ``like``: the name of an array whose dtype (and device) new arrays take.  ``in_place``: keep the
    NumPy code's ``a += b`` into a fresh array (for code that runs without autograd).
    """
    tree = ast.parse(code)
    tree = (_JaxTranslator if target == "jax" else _Translator)(like, in_place).visit(tree)
    ast.fix_missing_locations(tree)
    return ast.unparse(tree)


def to_torch(code: str, like=None) -> str:
    return translate(code, "torch", like)


def translate_helper(source: str, target: str) -> str:
    """A NumPy helper's source for ``target``: new arrays take the dtype and device of its first argument."""
    tree = ast.parse(source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    like = fn.args.args[0].arg if fn.args.args else None
    return translate(source, target, like)


__all__ = ["to_torch", "translate", "translate_helper"]
