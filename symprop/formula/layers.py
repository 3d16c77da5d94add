r"""The layer ops a formula may use, evaluated with symprop's own NumPy helpers.

The notes write convolution and pooling with operators (``ops/convolution.py``):

    K ⋆ X              the convolution (cross-correlation) of X with the kernels K
    X ⋆ δ              the correlation of the input with an output's adjoint: dL/dK
    rot180(K) ∗full δ  the full convolution of δ with the flipped kernels: dL/dX
    route_max(δ; A)    max pooling's adjoint: each entry to its window's arg-max
    up_k(δ)            each entry of δ copied over its k x k window (1/k^2 up_k(δ): average pooling's adjoint)
    maxpool_k(A), avgpool_k(A), vec(P), vec⁻¹(δ), mask(S, M), softmax_rows(Z)

A formula names no stride, padding or window: which of the network's
convolutions or pools an operator belongs to is read from the shapes of its
operands (K ⋆ X: kernels and input of a convolution; X ⋆ δ: its input and
output), and the network's geometry is used.  The numbers come from the
helpers the generated modules use (``ops.NUMPY_HELPERS``); only rot180 - an
index flip of the taps - is done here, so that a formula that forgets the
flip (K ∗full δ) has a value, and a diagnosis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from .tree import FormulaShapeError

# ("op", name, parameter, operand...) nodes: the name, how many operands, how the text shows it
LAYER_OPS = {
    "corr": 2,  # a ⋆ b
    "full": 2,  # a ∗full b
    "rot180": 1,
    "route_max": 2,  # route_max(g; a)
    "up": 1,  # up_k(g), parameter k
    "maxpool": 1,  # maxpool_k(a)
    "avgpool": 1,
    "vec": 1,
    "unvec": 1,  # vec⁻¹(g)
    "mask": 2,  # mask(s, m)
    "softmax_rows": 1,
}
HELPERS = ("conv2d", "conv2d_input_grad", "conv2d_kernel_grad", "max_pool2d", "max_pool2d_grad", "avg_pool2d",
           "avg_pool2d_grad", "flatten", "unflatten", "softmax")


@dataclass(frozen=True)
class ConvInfo:
    kernels: str  # the kernels' name (K1)
    kernel_shape: tuple  # (O, C kh kw)
    input_shape: tuple  # (C, H W)
    output_shape: tuple  # (O, Ho Wo)
    geometry: tuple  # (C, H, W, O, kh, kw, stride, padding along H, padding along W)


@dataclass(frozen=True)
class PoolInfo:
    kind: str  # max | avg
    input: str  # the pooled value's name (A1)
    input_shape: tuple
    output_shape: tuple
    geometry: tuple  # (C, H, W, kh, kw, stride)

    @property
    def window(self) -> int:
        return self.geometry[4]


def _shape(e) -> tuple:
    return tuple(int(d) for d in e.shape)


@dataclass(frozen=True)
class LayerOps:
    """The network's convolutions, pools and flattenings, found by the shapes of their operands."""

    convs: tuple = ()
    pools: tuple = ()
    flattens: tuple = ()  # (rows, cols) of every flattened matrix

    @classmethod
    def of(cls, network) -> "LayerOps":
        from .. import ops

        convs, pools, flattens = [], [], []
        for node in network.nodes:
            for e in sp.preorder_traversal(node.definition):
                if isinstance(e, ops.Conv):
                    convs.append(ConvInfo(e.kernels.name, _shape(e.kernels), _shape(e.input), _shape(e), e.geometry))
                elif isinstance(e, ops.Pool):
                    pools.append(PoolInfo(e.kind, getattr(e.input, "name", ""), _shape(e.input), _shape(e), e.geometry))
                elif isinstance(e, ops.Flatten):
                    flattens.append(_shape(e.args[0]))
        return cls(tuple(convs), tuple(pools), tuple(flattens))

    def __bool__(self):
        return bool(self.convs or self.pools or self.flattens)


def _helpers() -> dict:
    from ..printing import helper_namespace

    return helper_namespace(HELPERS)


def _matrix(value, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise FormulaShapeError(f"{what} needs a matrix, got a number")
    return value


def _shape_words(shape) -> str:
    return f"{shape[0]}×{shape[1]}"


def apply(ops_: LayerOps, name: str, parameter, args: list, text_of) -> np.ndarray:
    """The value of a layer op at matrix operands; ``text_of(i)`` is operand i as written (for messages)."""
    ops_ = ops_ or LayerOps()
    helpers = _helpers()
    if name == "softmax_rows":
        return helpers["softmax"](_matrix(args[0], "softmax_rows"), axis=1)
    if name == "mask":
        s, m = (_matrix(a, "mask") for a in args)
        if s.shape != m.shape:
            raise FormulaShapeError(f"mask({text_of(0)}, {text_of(1)}): the mask is {_shape_words(m.shape)}, "
                                    f"the scores {_shape_words(s.shape)}")
        return np.where(m > 0, s, -np.inf)
    if name == "vec":
        return helpers["flatten"](_matrix(args[0], "vec"))
    if name == "unvec":
        g = _matrix(args[0], "vec⁻¹")
        shape = next((s for s in ops_.flattens if s[0] * s[1] == g.size), None)
        if shape is None or 1 not in g.shape:
            raise FormulaShapeError(f"vec⁻¹({text_of(0)}): the network flattens no matrix of {g.size} entries")
        return helpers["unflatten"](g.reshape(-1, 1), shape)
    if name == "rot180":
        k = _matrix(args[0], "rot180")
        conv = next((c for c in ops_.convs if c.kernel_shape == k.shape), None)
        if conv is None:
            raise FormulaShapeError(f"rot180({text_of(0)}): {_shape_words(k.shape)} is not the shape of a bank of "
                                    "kernels of the network")
        o, c, kh, kw = conv.geometry[3], conv.geometry[0], conv.geometry[4], conv.geometry[5]
        return k.reshape(o, c, kh, kw)[:, :, ::-1, ::-1].reshape(k.shape)  # the taps turned by 180 degrees
    if name in ("corr", "full"):
        return _convolution(ops_, helpers, name, *(_matrix(a, "⋆" if name == "corr" else "∗full") for a in args),
                            text_of)
    return _pooling(ops_, helpers, name, parameter, args, text_of)


def _convolution(ops_, helpers, name, a, b, text_of):
    if name == "corr":
        for conv in ops_.convs:  # K ⋆ X: the convolution itself
            if a.shape == conv.kernel_shape and b.shape == conv.input_shape:
                return helpers["conv2d"](b, a, conv.geometry)
        for conv in ops_.convs:  # X ⋆ δ: the kernels' adjoint
            if a.shape == conv.input_shape and b.shape == conv.output_shape:
                return helpers["conv2d_kernel_grad"](a, b, conv.geometry)
        raise FormulaShapeError(
            f"{text_of(0)} ⋆ {text_of(1)}: no convolution of the network correlates a {_shape_words(a.shape)} matrix "
            f"with a {_shape_words(b.shape)} one (K ⋆ X takes the kernels and the input, X ⋆ δ the input and the "
            "output's adjoint)")
    for conv in ops_.convs:  # W ∗full δ: the full convolution, rot180(K) ∗full δ the input's adjoint
        if a.shape == conv.kernel_shape and b.shape == conv.output_shape:
            o, c, kh, kw = conv.geometry[3], conv.geometry[0], conv.geometry[4], conv.geometry[5]
            # the helper flips the kernels it is given: hand it a's taps turned back
            unflipped = a.reshape(o, c, kh, kw)[:, :, ::-1, ::-1].reshape(a.shape)
            return helpers["conv2d_input_grad"](b, unflipped, conv.geometry)
    raise FormulaShapeError(
        f"{text_of(0)} ∗full {text_of(1)}: no convolution of the network has kernels of {_shape_words(a.shape)} "
        f"and outputs of {_shape_words(b.shape)} (rot180(K) ∗full δ takes the kernels and the output's adjoint)")


def _pooling(ops_, helpers, name, k, args, text_of):
    values = [_matrix(a, name) for a in args]
    if name == "route_max":
        g, a = values
        pool = next((p for p in ops_.pools if p.input_shape == a.shape and p.output_shape == g.shape), None)
        if pool is None:
            raise FormulaShapeError(f"route_max({text_of(0)}; {text_of(1)}): no pooling of the network takes a "
                                    f"{_shape_words(a.shape)} input to a {_shape_words(g.shape)} output")
        return helpers["max_pool2d_grad"](g, a, pool.geometry)
    x = values[0]
    if name == "up":
        pool = next((p for p in ops_.pools if p.output_shape == x.shape and p.window == k), None)
        if pool is None:
            raise FormulaShapeError(f"up{k}({text_of(0)}): no pooling of the network with windows of {k} has a "
                                    f"{_shape_words(x.shape)} output")
        return helpers["avg_pool2d_grad"](x, pool.geometry) * (pool.geometry[3] * pool.geometry[4])
    pool = next((p for p in ops_.pools if p.input_shape == x.shape and p.window == k), None)
    if pool is None:
        raise FormulaShapeError(f"{name}{k}({text_of(0)}): no pooling of the network with windows of {k} takes a "
                                f"{_shape_words(x.shape)} input")
    return helpers["max_pool2d" if name == "maxpool" else "avg_pool2d"](x, pool.geometry)


def op_text(node, text_of) -> str:
    """("op", name, parameter, operands...) as plain text."""
    _, name, k = node[:3]
    if name == "corr":
        return f"{text_of(3)} ⋆ {text_of(4)}"
    if name == "full":
        return f"{text_of(3)} ∗full {text_of(4)}"
    if name == "route_max":
        return f"route_max({text_of(3)}; {text_of(4)})"
    if name == "mask":
        return f"mask({text_of(3)}, {text_of(4)})"
    if name == "unvec":
        return f"vec⁻¹({text_of(3)})"
    word = f"{name}{k}" if k is not None else name
    return f"{word}({text_of(3)})"


__all__ = ["ConvInfo", "HELPERS", "LAYER_OPS", "LayerOps", "PoolInfo", "apply", "op_text"]
