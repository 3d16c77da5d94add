"""The op registry: the one place to add an operation.

Ops are grouped by family, one module each, and every module puts side by side
what an op computes, its local derivative (its vector-Jacobian product), its
LaTeX and its NumPy spelling:

* ``activations`` - scalar functions applied entrywise (sigmoid, relu, ...),
  built on ``scalar.ScalarFunction``; custom ones from :func:`activation`;
* ``softmax`` - the column-wise vector op;
* ``losses`` - per-example losses, an entrywise term and a reduction;
* ``structural`` - SymPy's own classes (MatMul, MatAdd, HadamardProduct,
  Transpose, ...) and the generic rule for scalar SymPy algebra.

Each family exports ``RULES`` ({class: vjp rule}); this module joins them into
``VJP_RULES`` and answers the questions ``derive``, ``network`` and the
printers ask (``vjp``, ``rule_for``, ``is_leaf``, ...).  ``derive`` only calls
:func:`vjp`; it never names an op.
"""

from __future__ import annotations

from typing import Callable

import sympy as sp
from sympy import MatrixExpr, OneMatrix
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from .. import algebra as alg
from ..algebra import T
from ..errors import UnsupportedOperationError
from . import attention as _attention
from . import convolution as _convolution
from . import dropout as _dropout
from . import losses as _losses
from . import markers as _markers
from . import normalization as _normalization
from . import reductions as _reductions
from . import softmax as _softmax
from . import structural as _structural
from .activations import (
    BUILTIN_FUNCTIONS,
    LEAKY_SLOPE,
    Phi,
    gelu,
    identity,
    leaky_relu,
    phi,
    relu,
    sigmoid,
    silu,
    softplus,
    step,
    swish,
    tanh,
)
from .base import FUNCTIONS, IDENTIFIER, LOSSES, NUMPY_HELPERS, OP_NAMES, OUT, P, Q, U, register
from .base import undefined_message as _undefined_message
from .markers import CLOSED_FORMS, Constant, Hint, Init, Named, constant, is_constant
from .markers import name as name_value
from .normalization import ClosedForm, batch_norm, layer_norm, standardize
from .reductions import broadcast, center, divide, mean, ones, sqrt, var
from .reductions import sum as sum_along
from .attention import Masked, attention, causal_mask, masked
from .dropout import dropout
from .convolution import (
    Conv,
    ConvInputGrad,
    ConvKernelGrad,
    Flatten,
    Pool,
    PoolGrad,
    Unflatten,
    avg_pool2d,
    conv1d,
    conv2d,
    flatten,
    image,
    image_dims,
    kernel,
    max_pool2d,
)
from .losses import Assumption, Loss, LossExpr, binary_cross_entropy, cross_entropy, mse, register_loss
from .scalar import ERF_SOURCE, ScalarFunction, ScalarFunctionBase, activation, activations, function_rule
from .softmax import LOGSUMEXP_NUMPY, SOFTMAX_NUMPY, Softmax, softmax, softmax_explicit
from .structural import UNSUPPORTED

VJP_RULES: dict[type, Callable] = {}
for _family in (_structural, _softmax, _losses, _markers, _reductions, _normalization, _attention, _convolution, _dropout):
    VJP_RULES.update(_family.RULES)

LEAF_CLASSES = (sp.Symbol, sp.MatrixSymbol, sp.Number, sp.NumberSymbol, OneMatrix, sp.ZeroMatrix, sp.Identity)


def rule_for(node) -> Callable:
    name = type(node).__name__
    if name in UNSUPPORTED:
        raise UnsupportedOperationError(f"cannot differentiate {UNSUPPORTED[name]} in {sp.sstr(node)}")
    for cls in type(node).__mro__:
        if cls in VJP_RULES:
            return VJP_RULES[cls]
    if isinstance(node, MatrixExpr) and not isinstance(node, sp.MatrixBase):
        raise UnsupportedOperationError(f"cannot differentiate the matrix operation {name} in {sp.sstr(node)}")
    if isinstance(node, sp.MatrixBase):
        return lambda n, g: []  # an explicit constant matrix
    if isinstance(node, sp.Expr):
        if any(isinstance(a, MatrixExpr) for a in node.args):
            raise UnsupportedOperationError(
                f"{name} of a matrix in {sp.sstr(node)}: scalar functions apply to scalars; "
                "for entrywise application write X.applyfunc(f)"
            )
        return _structural._vjp_scalar
    raise UnsupportedOperationError(f"cannot differentiate {name} in {sp.sstr(node)}")


def vjp(node, upstream):
    """The shares of ``upstream`` (the adjoint of ``node``) that flow to its children."""
    return rule_for(node)(node, upstream)


def is_leaf(node) -> bool:
    return isinstance(node, LEAF_CLASSES) or not node.args


def is_activation_node(node) -> bool:
    """Applications of registered activations start a layer (get z / a names)."""
    if isinstance(node, Softmax):
        return True
    if isinstance(node, ElementwiseApplyFunction):
        body = alg.applied_function(node)
        rule = function_rule(body.func)
        return rule is not None and rule.activation and body.args == (T,)
    if isinstance(node, ScalarFunctionBase):
        return node.rule.activation
    return False


def activation_name(node) -> str:
    if isinstance(node, Softmax):
        return "softmax"
    if isinstance(node, ElementwiseApplyFunction):
        return alg.applied_function(node).func.rule.name
    return node.rule.name


def activation_argument(node):
    if isinstance(node, Softmax):
        return node.arg
    if isinstance(node, ElementwiseApplyFunction):
        return node.expr
    return node.args[0]


def activation_rule(name: str):
    return softmax if name == "softmax" else FUNCTIONS[name]


def is_loss_node(node) -> bool:
    return isinstance(node, LossExpr)


__all__ = [
    "FUNCTIONS", "LOSSES", "OP_NAMES", "BUILTIN_FUNCTIONS", "VJP_RULES", "UNSUPPORTED", "LEAF_CLASSES",
    "IDENTIFIER", "T", "U", "P", "Q", "OUT", "ERF_SOURCE", "SOFTMAX_NUMPY", "LOGSUMEXP_NUMPY", "LEAKY_SLOPE",
    "ScalarFunction", "ScalarFunctionBase", "Softmax", "Loss", "LossExpr", "Assumption",
    "register", "register_loss", "activation", "activations", "function_rule",
    "step", "Phi", "phi", "identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "silu", "swish", "gelu",
    "softmax", "softmax_explicit", "mse", "binary_cross_entropy", "cross_entropy",
    "rule_for", "vjp", "is_leaf", "is_activation_node", "activation_name", "activation_argument",
    "activation_rule", "is_loss_node", "_undefined_message",
    "Named", "Hint", "Init", "Constant", "constant", "is_constant", "name_value", "CLOSED_FORMS", "ClosedForm",
    "ones", "sum_along", "mean", "var", "broadcast", "center", "sqrt", "divide",
    "batch_norm", "layer_norm", "standardize", "attention", "masked", "Masked", "causal_mask", "NUMPY_HELPERS",
    "dropout", "image", "kernel", "conv1d", "conv2d", "max_pool2d", "avg_pool2d", "flatten", "image_dims",
    "Conv", "ConvInputGrad", "ConvKernelGrad", "Pool", "PoolGrad", "Flatten", "Unflatten",
]
