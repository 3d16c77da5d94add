"""Convolution and pooling: images as channels x positions, kernels as out x (in kh kw).

An image with C channels of H x W pixels is the C x (H W) matrix whose row c
is channel c read row by row (a ``TensorSymbol`` remembers (C, H, W)); a bank
of O kernels of C channels and kh x kw taps is the O x (C kh kw) matrix of
PyTorch's ``weight.reshape(O, -1)``.  Every matrix rule of symprop then
applies unchanged - a bias per output channel is b 1^T, broadcast over the
positions; an activation acts entrywise - and only the ops below know the
geometry.  Sequences for 1-D convolution are C x L matrices (H = 1).

The ops and their local derivatives, as the textbooks write them (Z = K * X,
cross-correlation as in PyTorch, stride s, zero padding p):

    conv      Z = K (star) X                        Z_o = sum_c K_oc (star) X_c
    d/dX      rot180(K) (*)_full delta              the full convolution of delta with the flipped kernels
    d/dK      X (star) delta                        the correlation of the input with delta
    maxpool   P = maxpool_k(A)                      the largest entry of each k x k window
    d/dA      route_max(delta; A)                   each delta entry goes to its window's arg-max
    avgpool   P = avgpool_k(A)                      the mean of each window
    d/dA      1/k^2 up_k(delta)                     each delta entry is spread over its window
    flatten   vec(P)                                the C H W entries as one column (row by row)
    d/dP      vec^{-1}(delta)

The NumPy spellings are vectorised (``sliding_window_view`` and ``tensordot``;
loops run over the k x k taps of a window at most, never over pixels), work on
one example or on a stack with leading batch axes, and are shared by
``evaluate``, the notes' worked examples and the generated modules.
"""

from __future__ import annotations

import sympy as sp
from sympy import MatrixExpr
from sympy.core.symbol import Str

from ..algebra import TensorSymbol
from ..errors import DeclarationError, InvalidNameError, ShapeError
from .base import IDENTIFIER, NUMPY_HELPERS, OP_NAMES, as_expr
from .markers import Named

# ==========================================================================
# Declaring images and kernels
# ==========================================================================


def _positive(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ShapeError(f"{what} must be a positive integer, got {value!r}")
    return value


def image(name: str, channels: int, height: int, width: int) -> TensorSymbol:
    """An input image of ``channels`` x ``height`` x ``width``, declared as the channels x (height width) matrix.

    Args:
        name: its name.
        channels: C.
        height: H.
        width: W.

    Examples:
        >>> import symprop
        >>> symprop.image("X", 1, 6, 6).shape
        (1, 36)
    """
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise InvalidNameError(f"image name {name!r}: letters, digits and '_', starting with a letter")
    dims = (_positive(channels, "channels"), _positive(height, "height"), _positive(width, "width"))
    return TensorSymbol(name, dims)


def kernel(name: str, out_channels: int, in_channels: int, size) -> TensorSymbol:
    """A bank of kernels: PyTorch's (out, in, kh, kw) weight reshaped to out x (in kh kw).

    Args:
        name: its name.
        out_channels: how many kernels (output channels).
        in_channels: the channels each kernel reads.
        size: k (k x k), (kh, kw), or (k,) for ``conv1d``.

    Examples:
        >>> import symprop
        >>> symprop.kernel("K", 2, 1, 3).shape
        (2, 9)
    """
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise InvalidNameError(f"kernel name {name!r}: letters, digits and '_', starting with a letter")
    taps = (size, size) if isinstance(size, int) and not isinstance(size, bool) else tuple(size)
    if len(taps) not in (1, 2):
        raise ShapeError(f"kernel {name!r}: size is k, (kh, kw) or (k,), got {size!r}")
    taps = tuple(_positive(t, "the kernel size") for t in taps)
    return TensorSymbol(name, (_positive(out_channels, "out_channels"), _positive(in_channels, "in_channels")) + taps)


def _own_image_dims(x):
    """(found, dims): the geometry ``x`` carries itself, if it is an image's leaf or op."""
    dims = getattr(x, "dims", None)
    if dims is not None:
        return True, (tuple(dims) if len(dims) == 3 else None)
    if isinstance(x, (Conv, Pool)):
        return True, x.out_dims
    return False, None


def _image_dims_children(x) -> list:
    if isinstance(x, Named):
        return [x.expr]
    if isinstance(x, MatrixExpr) and x.args:  # entrywise ops and sums of one image keep its geometry
        return [a for a in x.args if isinstance(a, MatrixExpr) and a.shape == x.shape]
    return []


def image_dims(x, memo=None) -> tuple | None:
    """(C, H, W) of a value that is an image (a TensorSymbol, a conv or pool, an activation of one...).

    The first leaf with a geometry, depth first along the arguments of the same
    shape, gives it.  Walked iteratively, each subexpression once (a residual
    network's expression is a DAG); ``memo``, a dict the caller keeps for one
    network, holds the answers across calls: an L-layer network of square
    layers has every layer's argument the shape of the next, and a walk per
    named node was O(L^2).  The memo is never global: a lookup of an equal
    expression from another network would compare two deep expressions
    structurally.
    """
    memo = {} if memo is None else memo  # node -> (found, dims) of its subtree
    stack, started = [(x, False)], set()
    while stack:
        node, expanded = stack.pop()
        if node in memo or (node in started and not expanded):
            continue
        found = _own_image_dims(node)
        if found[0]:
            memo[node] = found
            continue
        children = _image_dims_children(node)
        if not expanded:
            started.add(node)
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(children) if c not in memo)
            continue
        memo[node] = next((memo[c] for c in children if memo.get(c, (False,))[0]), (False, None))
    return memo[x][1]


def _input_dims(x, who) -> tuple:
    found = image_dims(x)
    if found is not None:
        return found
    if isinstance(x, MatrixExpr):  # a plain C x L matrix: a sequence for 1-D convolution
        return (int(x.shape[0]), 1, int(x.shape[1]))
    raise ShapeError(f"{who} needs an image (symprop.image) or a C x L matrix, got {sp.sstr(x)}")


def _geometry_tuple(values) -> sp.Tuple:
    return sp.Tuple(*[sp.Integer(v) for v in values])


# ==========================================================================
# The op nodes
# ==========================================================================


class _GeometryOp(MatrixExpr):
    """An op whose last argument is its geometry, a Tuple of integers."""

    @property
    def geometry(self) -> tuple:
        return tuple(int(v) for v in self.args[-1])

    def doit(self, **hints):
        return self

    def _numpy_call(self, printer, name, *args):
        printer.helpers_used.add(name)
        parts = [printer._print(a) for a in args] + [repr(self.geometry)]
        return f"{name}({', '.join(parts)})"


class Conv(_GeometryOp):
    """K (star) X: geometry (C, H, W, O, kh, kw, stride, padding along H, padding along W)."""

    # (symbol, what it is, its definition by an index sum): the notes' notation box lists it
    NOTATION = (
        r"K \star X",
        "cross-correlation (as PyTorch's convolution), stride s: each output channel o sums over the input "
        "channels c and the kernel taps p, q",
        r"(K \star X)_{o,ij} = \sum_{c} \sum_{p,q} K_{o,c,p,q} \, X_{c,\, s i + p,\, s j + q}",
    )

    def __new__(cls, kernels, x, geometry):
        return MatrixExpr.__new__(cls, kernels, x, geometry if isinstance(geometry, sp.Tuple) else _geometry_tuple(geometry))

    @property
    def kernels(self):
        return self.args[0]

    @property
    def input(self):
        return self.args[1]

    @property
    def out_dims(self) -> tuple:
        c, h, w, o, kh, kw, s, ph, pw = self.geometry
        return (o, (h + 2 * ph - kh) // s + 1, (w + 2 * pw - kw) // s + 1)

    @property
    def shape(self):
        o, ho, wo = self.out_dims
        return (sp.Integer(o), sp.Integer(ho * wo))

    def _latex(self, printer):
        return rf"{printer._print(self.kernels)} \star {_latex_operand(printer, self.input)}"

    def _sympystr(self, printer):
        return f"{printer._print(self.kernels)} ⋆ {_text_operand(printer, self.input)}"

    def _numpycode(self, printer):
        return self._numpy_call(printer, "conv2d", self.input, self.kernels)


class ConvInputGrad(_GeometryOp):
    """rot180(K) (*)_full G: the adjoint of a convolution's input."""

    NOTATION = (
        r"\operatorname{rot}_{180}(K) \ast_{\mathrm{full}} \delta",
        "the full convolution of the error signal with the kernels turned by 180 degrees, summed over the "
        "output channels: each input pixel collects the error of every output it fed",
        r"\left(\operatorname{rot}_{180}(K) \ast_{\mathrm{full}} \delta\right)_{c,ij} = "
        r"\sum_{o} \sum_{p,q} K_{o,c,p,q} \, \delta_{o,\, (i - p)/s,\, (j - q)/s}",
    )

    def __new__(cls, g, kernels, geometry):
        return MatrixExpr.__new__(cls, g, kernels, geometry)

    @property
    def shape(self):
        c, h, w, *_ = self.geometry
        return (sp.Integer(c), sp.Integer(h * w))

    def _latex(self, printer):
        kernels, g = printer._print(self.args[1]), _latex_operand(printer, self.args[0])
        return rf"\operatorname{{rot}}_{{180}}\left({kernels}\right) \ast_{{\mathrm{{full}}}} {g}"

    def _sympystr(self, printer):
        return f"rot180({printer._print(self.args[1])}) ∗full {_text_operand(printer, self.args[0])}"

    def _numpycode(self, printer):
        return self._numpy_call(printer, "conv2d_input_grad", self.args[0], self.args[1])


class ConvKernelGrad(_GeometryOp):
    """X (star) G: the adjoint of the kernels (summed over every example given)."""

    def __new__(cls, x, g, geometry):
        return MatrixExpr.__new__(cls, x, g, geometry)

    @property
    def shape(self):
        c, h, w, o, kh, kw, *_ = self.geometry
        return (sp.Integer(o), sp.Integer(c * kh * kw))

    sums_over_examples = True  # its NumPy helper sums over leading batch axes itself
    NOTATION = (
        r"X \star \delta",
        "the correlation of the input with the error signal: the gradient of each kernel tap",
        r"(X \star \delta)_{o,c,p,q} = \sum_{i,j} X_{c,\, s i + p,\, s j + q} \, \delta_{o,ij}",
    )

    def _latex(self, printer):
        return rf"{_latex_operand(printer, self.args[0])} \star {_latex_operand(printer, self.args[1])}"

    def _sympystr(self, printer):
        return f"{_text_operand(printer, self.args[0])} ⋆ {_text_operand(printer, self.args[1])}"

    def _numpycode(self, printer):
        return self._numpy_call(printer, "conv2d_kernel_grad", self.args[0], self.args[1])


class Pool(_GeometryOp):
    """maxpool_k / avgpool_k: geometry (C, H, W, kh, kw, stride); kind is "max" or "avg"."""

    NOTATION = (
        r"\operatorname{maxpool}_k, \operatorname{avgpool}_k",
        "the largest entry (the mean) of each k by k window of every channel",
        "",
    )

    def __new__(cls, x, kind, geometry):
        return MatrixExpr.__new__(cls, x, kind if isinstance(kind, Str) else Str(kind), geometry)

    @property
    def input(self):
        return self.args[0]

    @property
    def kind(self) -> str:
        return self.args[1].name

    @property
    def out_dims(self) -> tuple:
        c, h, w, kh, kw, s = self.geometry
        return (c, (h - kh) // s + 1, (w - kw) // s + 1)

    @property
    def shape(self):
        c, ho, wo = self.out_dims
        return (sp.Integer(c), sp.Integer(ho * wo))

    def _latex(self, printer):
        return rf"\operatorname{{{self.kind}pool}}_{{{self.geometry[4]}}}\left({printer._print(self.input)}\right)"

    def _sympystr(self, printer):
        return f"{self.kind}pool{self.geometry[4]}({printer._print(self.input)})"

    def _numpycode(self, printer):
        return self._numpy_call(printer, f"{self.kind}_pool2d", self.input)


class PoolGrad(_GeometryOp):
    """route_max(G; A) or 1/k^2 up_k(G): the adjoint of a pool's input."""

    NOTATION = (
        r"\operatorname{route}_{\max}(\delta; A), \operatorname{up}_k(\delta)",
        "each entry of the error signal sent to the position of its window's largest entry of A (0 elsewhere); "
        "each entry repeated over its k by k window",
        "",
    )

    def __new__(cls, g, x, kind, geometry):
        return MatrixExpr.__new__(cls, g, x, kind if isinstance(kind, Str) else Str(kind), geometry)

    @property
    def kind(self) -> str:
        return self.args[2].name

    @property
    def shape(self):
        c, h, w, *_ = self.geometry
        return (sp.Integer(c), sp.Integer(h * w))

    def _latex(self, printer):
        g = printer._print(self.args[0])
        taps = self.geometry[3] * self.geometry[4]
        k = self.geometry[4]
        if self.kind == "max":
            return rf"\operatorname{{route}}_{{\max}}\left({g}; {printer._print(self.args[1])}\right)"
        return rf"\frac{{1}}{{{taps}}} \operatorname{{up}}_{{{k}}}\left({g}\right)"

    def _sympystr(self, printer):
        g = printer._print(self.args[0])
        if self.kind == "max":
            return f"route_max({g}; {printer._print(self.args[1])})"
        return f"1/{self.geometry[3] * self.geometry[4]}·up{self.geometry[4]}({g})"

    def _numpycode(self, printer):
        if self.kind == "max":
            return self._numpy_call(printer, "max_pool2d_grad", self.args[0], self.args[1])
        return self._numpy_call(printer, "avg_pool2d_grad", self.args[0])


class Flatten(MatrixExpr):
    """vec(X): the entries of a C x (H W) image as one column, channel by channel, row by row."""

    NOTATION = (
        r"\operatorname{vec}(X), \operatorname{vec}^{-1}",
        "the entries of an image as one column, channel by channel and row by row, and its inverse",
        "",
    )

    def __new__(cls, x):
        return MatrixExpr.__new__(cls, x)

    @property
    def shape(self):
        rows, cols = self.args[0].shape
        return (rows * cols, sp.Integer(1))

    def doit(self, **hints):
        return self

    def _latex(self, printer):
        return rf"\operatorname{{vec}}\left({printer._print(self.args[0])}\right)"

    def _sympystr(self, printer):
        return f"vec({printer._print(self.args[0])})"

    def _numpycode(self, printer):
        printer.helpers_used.add("flatten")
        return f"flatten({printer._print(self.args[0])})"


class Unflatten(MatrixExpr):
    """vec^{-1}(g): a column back into the rows x cols matrix it was flattened from."""

    def __new__(cls, g, rows, cols):
        return MatrixExpr.__new__(cls, g, sp.Integer(rows), sp.Integer(cols))

    @property
    def shape(self):
        return (self.args[1], self.args[2])

    def doit(self, **hints):
        return self

    def _latex(self, printer):
        return rf"\operatorname{{vec}}^{{-1}}\left({printer._print(self.args[0])}\right)"

    def _sympystr(self, printer):
        return f"vec⁻¹({printer._print(self.args[0])})"

    def _numpycode(self, printer):
        printer.helpers_used.add("unflatten")
        return f"unflatten({printer._print(self.args[0])}, ({int(self.args[1])}, {int(self.args[2])}))"


def _latex_operand(printer, x) -> str:
    tex = printer._print(x)
    return rf"\left({tex}\right)" if isinstance(x, (sp.MatAdd, sp.MatMul, sp.HadamardProduct)) else tex


def _text_operand(printer, x) -> str:
    text = printer._print(x)
    return f"({text})" if isinstance(x, (sp.MatAdd, sp.MatMul, sp.HadamardProduct)) else text


# ==========================================================================
# Builders (what users call) and local derivatives
# ==========================================================================


def _padding(padding, k, stride, who) -> int:
    if padding == "valid":
        return 0
    if padding == "same":
        if stride != 1 or k % 2 == 0:
            raise ShapeError(f"{who}: padding='same' needs stride 1 and an odd kernel size (got {k}, stride {stride})")
        return (k - 1) // 2
    if isinstance(padding, int) and not isinstance(padding, bool) and padding >= 0:
        return padding
    raise DeclarationError(f"{who}: padding is 'valid', 'same' or a number of zeros, got {padding!r}")


def conv(x, kernels, bias=None, stride: int = 1, padding="valid", who: str = "conv2d"):
    """K (star) X (+ b per output channel), cross-correlation as in PyTorch."""
    x = as_expr(x, who)
    c, h, w = _input_dims(x, who)
    kdims = getattr(kernels, "dims", None)
    if kdims is None or len(kdims) not in (3, 4):
        raise ShapeError(f"{who}: the kernels must be declared with symprop.kernel(name, out, in, size), got {sp.sstr(kernels)}")
    o, kc = kdims[:2]
    one_d = len(kdims) == 3
    kh, kw = (1, kdims[2]) if one_d else kdims[2:]
    if kc != c:
        raise ShapeError(f"{who}: the kernels {kernels.name!r} take {kc} input channels but the input has {c}")
    stride = _positive(stride, f"{who}: stride")
    if one_d and h != 1:
        raise ShapeError(f"{who}: 1-D kernels need a C x L sequence, got an image of {c}x{h}x{w}")
    # a 1-D convolution pads and strides along the sequence only
    ph, pw = (0, _padding(padding, kw, stride, who)) if one_d else (_padding(padding, kh, stride, who), _padding(padding, kw, stride, who))
    sh = 1 if one_d else stride
    for size, k, what, pad, step in ((h, kh, "height", ph, sh), (w, kw, "width", pw, stride)):
        if k > size + 2 * pad:
            raise ShapeError(f"{who}: the kernel ({kh}x{kw}) is larger than the padded input's {what} ({size} + 2x{pad})")
        if (size + 2 * pad - k) % step:
            raise ShapeError(
                f"{who}: stride {step} does not fit the {what}: {size} + 2x{pad} - {k} is not a multiple of {step}; "
                "change the padding or the stride"
            )
    node = Conv(kernels, x, (c, h, w, o, kh, kw, stride, ph, pw))
    if bias is not None:
        if not isinstance(bias, sp.MatrixSymbol) or bias.shape != (o, 1):
            raise ShapeError(f"{who}: the bias must be a {o}x1 parameter (one per output channel), got {sp.sstr(bias)}")
        from .. import algebra as alg
        from .reductions import broadcast

        node = alg.add(node, broadcast(bias, node.shape[1], 1))
    return node


def conv2d(x, kernels, bias=None, stride: int = 1, padding="valid"):
    """2-D convolution (cross-correlation, as PyTorch's) of an image with a bank of kernels, plus a bias per kernel.

    The backward pass comes out as dL/dK = X ⋆ δ, dL/dX = rot180(K) ∗full δ, dL/db = δ 1.

    Args:
        x: an image (``image``) or a layer's C x HW output.
        kernels: a bank of kernels (``kernel``).
        bias: an out x 1 parameter, or None.
        stride: the step between windows.
        padding: "valid", "same" or a number of zeros on each side.

    Examples:
        >>> import sympy as sp, symprop
        >>> X, K = symprop.image("X", 1, 6, 6), symprop.kernel("K", 2, 1, 3)
        >>> out = symprop.conv2d(X, K, sp.MatrixSymbol("b", 2, 1))
        >>> symprop.text(out), out.shape
        ('K ⋆ X + b 𝟏', (2, 16))
    """
    return conv(x, kernels, bias, stride, padding, "conv2d")


def conv1d(x, kernels, bias=None, stride: int = 1, padding="valid"):
    """1-D convolution of a C x L sequence with kernels declared as ``kernel(name, out, in, (k,))``.

    Args:
        x: the C x L sequence.
        kernels: the bank of kernels.
        bias: an out x 1 parameter, or None.
        stride: the step between windows.
        padding: "valid", "same" or a number of zeros on each side.

    Examples:
        >>> import sympy as sp, symprop
        >>> out = symprop.conv1d(sp.MatrixSymbol("X", 2, 10), symprop.kernel("K", 4, 2, (3,)))
        >>> out.shape
        (4, 8)
    """
    kdims = getattr(kernels, "dims", None)
    if kdims is not None and len(kdims) != 3:
        raise ShapeError(f"conv1d: declare 1-D kernels with size=(k,), got kernels of shape {kdims}")
    if getattr(x, "dims", None) is not None:
        raise ShapeError("conv1d takes a C x L matrix (a sequence); for an image use conv2d")
    return conv(x, kernels, bias, stride, padding, "conv1d")


def _pool(x, size, stride, kind):
    who = f"{kind}_pool2d"
    x = as_expr(x, who)
    c, h, w = _input_dims(x, who)
    k = _positive(size, f"{who}: size")
    s = k if stride is None else _positive(stride, f"{who}: stride")
    kh = 1 if h == 1 else k  # a sequence (H = 1) pools along its length
    for length, what, taps in ((h, "height", kh), (w, "width", k)):
        if taps > length:
            raise ShapeError(f"{who}: the window ({k}) is larger than the input's {what} ({length})")
        if (length - taps) % s:
            raise ShapeError(f"{who}: windows of {taps} with stride {s} do not tile the {what} {length}")
    window = f"{k}x{k}" if kh > 1 else f"{k}"
    return Named(Pool(x, kind, (c, h, w, kh, k, s)), "P", description=f"{kind}-pooled, windows of {window}")


def max_pool2d(x, size: int = 2, stride=None):
    """The largest entry of each size x size window, channel by channel; backward routes δ to each window's arg-max.

    Args:
        x: a C x HW image-shaped expression.
        size: the window's side.
        stride: the step between windows (default: ``size``).

    Examples:
        >>> import symprop
        >>> X = symprop.conv2d(symprop.image("X", 1, 6, 6), symprop.kernel("K", 2, 1, 3))
        >>> symprop.max_pool2d(X).shape
        (2, 4)
    """
    return _pool(x, size, stride, "max")


def avg_pool2d(x, size: int = 2, stride=None):
    """The mean of each size x size window, channel by channel; backward spreads δ over the window.

    Args:
        x: a C x HW image-shaped expression.
        size: the window's side.
        stride: the step between windows (default: ``size``).

    Examples:
        >>> import symprop
        >>> symprop.avg_pool2d(symprop.image("X", 3, 4, 4)).shape
        (3, 4)
    """
    return _pool(x, size, stride, "avg")


def flatten(x):
    """vec(X): an image's entries as one column (channel by channel, row by row), for a dense layer.

    Args:
        x: a C x HW image-shaped expression.

    Examples:
        >>> import symprop
        >>> symprop.flatten(symprop.image("X", 3, 4, 4)).shape
        (48, 1)
    """
    x = as_expr(x, "flatten")
    if not isinstance(x, MatrixExpr):
        raise ShapeError(f"flatten needs a matrix, got {sp.sstr(x)}")
    return Named(Flatten(x), "f", description="flattened to one column")


def _vjp_conv(node, g):
    return [
        (node.input, ConvInputGrad(g, node.kernels, node.args[-1])),
        (node.kernels, ConvKernelGrad(node.input, g, node.args[-1])),
    ]


def _vjp_pool(node, g):
    return [(node.input, PoolGrad(g, node.input, node.kind, node.args[-1]))]


def _vjp_flatten(node, g):
    rows, cols = node.args[0].shape
    return [(node.args[0], Unflatten(g, rows, cols))]


OP_NAMES.update({"conv1d", "conv2d", "max_pool2d", "avg_pool2d", "flatten"})

RULES = {Conv: _vjp_conv, Pool: _vjp_pool, Flatten: _vjp_flatten}


# ==========================================================================
# NumPy (one example (C, H*W) or a stack (..., C, H*W))
# ==========================================================================

NUMPY_HELPERS.update({
    "image_windows": ('''
def image_windows(x, kh, kw, s):
    """The kh x kw windows of x (..., C, H, W) at stride s: (..., C, Ho, Wo, kh, kw), a view."""
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(-2, -1))
    return windows[..., ::s, ::s, :, :]
''', ()),
    "flatten": ('''
def flatten(x):
    """vec(x): each example's C x (H*W) entries as one column, channel by channel."""
    return x.reshape(x.shape[:-2] + (-1, 1))
''', ()),
    "unflatten": ('''
def unflatten(g, shape):
    """vec^-1(g): each example's column back into the matrix it was flattened from."""
    return g.reshape(g.shape[:-2] + shape)
''', ()),
    "conv2d": ('''
def conv2d(x, k, geometry):
    """Cross-correlation of images x (..., C, H*W) with kernels k (O, C*kh*kw): (..., O, Ho*Wo)."""
    c, h, w, o, kh, kw, s, ph, pw = geometry
    x = x.reshape(x.shape[:-2] + (c, h, w))
    if ph or pw:
        x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(ph, ph), (pw, pw)])
    windows = image_windows(x, kh, kw, s)
    # sum over channels and taps: one product of the windows and the kernels
    z = np.tensordot(windows, k.reshape(o, c, kh, kw), axes=([-5, -2, -1], [1, 2, 3]))
    z = np.moveaxis(z, -1, -3)
    return z.reshape(z.shape[:-2] + (-1,))
''', ("image_windows",)),
    "conv2d_input_grad": ('''
def conv2d_input_grad(g, k, geometry):
    """rot180(K) full-convolved with g (..., O, Ho*Wo): the adjoint of the input, (..., C, H*W)."""
    c, h, w, o, kh, kw, s, ph, pw = geometry
    ho, wo = (h + 2 * ph - kh) // s + 1, (w + 2 * pw - kw) // s + 1
    g = g.reshape(g.shape[:-2] + (o, ho, wo))
    if s > 1:  # stride s: the adjoint sits at every s-th position
        size = ((ho - 1) * s + 1, (wo - 1) * s + 1)
        spread = np.zeros(g.shape[:-2] + size, dtype=g.dtype)
        spread[..., ::s, ::s] = g
        g = spread
    g = np.pad(g, [(0, 0)] * (g.ndim - 2) + [(kh - 1, kh - 1), (kw - 1, kw - 1)])
    windows = image_windows(g, kh, kw, 1)
    flipped = k.reshape(o, c, kh, kw)[:, :, ::-1, ::-1]
    dx = np.tensordot(windows, flipped, axes=([-5, -2, -1], [0, 2, 3]))
    dx = np.moveaxis(dx, -1, -3)[..., ph : ph + h, pw : pw + w]
    return np.ascontiguousarray(dx).reshape(dx.shape[:-2] + (h * w,))
''', ("image_windows",)),
    "conv2d_kernel_grad": ('''
def conv2d_kernel_grad(x, g, geometry):
    """The input correlated with g: the adjoint of the kernels, (O, C*kh*kw), summed over all examples."""
    c, h, w, o, kh, kw, s, ph, pw = geometry
    ho, wo = (h + 2 * ph - kh) // s + 1, (w + 2 * pw - kw) // s + 1
    x = x.reshape(x.shape[:-2] + (c, h, w))
    if ph or pw:
        x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(ph, ph), (pw, pw)])
    windows = image_windows(x, kh, kw, s)
    g = g.reshape(g.shape[:-2] + (o, ho, wo))
    lead = list(range(g.ndim - 3))
    n = len(lead)
    dk = np.tensordot(g, windows, axes=(lead + [n + 1, n + 2], lead + [n + 1, n + 2]))
    return dk.reshape(o, -1)
''', ("image_windows",)),
    "max_pool2d": ('''
def max_pool2d(x, geometry):
    """The largest entry of each kh x kw window (stride s) of x (..., C, H*W)."""
    c, h, w, kh, kw, s = geometry
    x = x.reshape(x.shape[:-2] + (c, h, w))
    windows = image_windows(x, kh, kw, s)
    out = windows.max(axis=(-2, -1))
    return out.reshape(out.shape[:-2] + (-1,))
''', ("image_windows",)),
    "max_pool2d_grad": ('''
def max_pool2d_grad(g, x, geometry):
    """g routed to the arg-max of each window (the first, as PyTorch), summed where windows overlap."""
    c, h, w, kh, kw, s = geometry
    ho, wo = (h - kh) // s + 1, (w - kw) // s + 1
    x = x.reshape(x.shape[:-2] + (c, h, w))
    windows = image_windows(x, kh, kw, s)
    best = windows.reshape(windows.shape[:-2] + (kh * kw,)).argmax(axis=-1)
    g = g.reshape(g.shape[:-2] + (c, ho, wo))
    dx = np.zeros(x.shape, dtype=g.dtype)
    rows, cols = s * (ho - 1) + 1, s * (wo - 1) + 1
    for tap in range(kh * kw):  # each position of a window, for all windows at once
        i, j = divmod(tap, kw)
        dx[..., i : i + rows : s, j : j + cols : s] += np.where(best == tap, g, 0.0)
    return dx.reshape(dx.shape[:-3] + (c, h * w))
''', ("image_windows",)),
    "avg_pool2d": ('''
def avg_pool2d(x, geometry):
    """The mean of each kh x kw window (stride s) of x (..., C, H*W)."""
    c, h, w, kh, kw, s = geometry
    x = x.reshape(x.shape[:-2] + (c, h, w))
    windows = image_windows(x, kh, kw, s)
    out = windows.mean(axis=(-2, -1))
    return out.reshape(out.shape[:-2] + (-1,))
''', ("image_windows",)),
    "avg_pool2d_grad": ('''
def avg_pool2d_grad(g, geometry):
    """g spread evenly over each window: 1/k^2 of each entry to each of its k*k positions."""
    c, h, w, kh, kw, s = geometry
    ho, wo = (h - kh) // s + 1, (w - kw) // s + 1
    g = g.reshape(g.shape[:-2] + (c, ho, wo)) / (kh * kw)
    dx = np.zeros(g.shape[:-2] + (h, w), dtype=g.dtype)
    rows, cols = s * (ho - 1) + 1, s * (wo - 1) + 1
    for i in range(kh):
        for j in range(kw):
            dx[..., i : i + rows : s, j : j + cols : s] += g
    return dx.reshape(dx.shape[:-3] + (c, h * w))
''', ()),
})

__all__ = [
    "image", "kernel", "conv1d", "conv2d", "max_pool2d", "avg_pool2d", "flatten", "image_dims",
    "Conv", "ConvInputGrad", "ConvKernelGrad", "Pool", "PoolGrad", "Flatten", "Unflatten",
]
