"""symprop: symbolic backpropagation - derive, render, emit and verify.

Declare a network as SymPy expressions of one example, derive the closed-form
backprop equations of every layer, render them as LaTeX/Markdown lecture
notes, emit a standalone NumPy training module, and check gradients (your own
formulas and code included) against numbers.
"""

from .algebra import elementwise
from .derivation import Derivation, Step
from .errors import (
    DeclarationError,
    EvaluationError,
    FormulaError,
    InvalidNameError,
    LatexError,
    ModelFileError,
    OutputError,
    ShapeError,
    SympropError,
    UnsupportedOperationError,
)
from .network import Network, mlp
from .ops import Constant, attention, batch_norm, broadcast, causal_mask, constant, divide, layer_norm, masked, mean, ones, sqrt, var
from .ops import avg_pool2d, conv1d, conv2d, dropout, flatten, image, kernel, max_pool2d
from .ops import name_value as name
from .ops import sum_along as sum
from .recurrent import RecurrentDerivation, RecurrentNetwork, gru, lstm, rnn
from .ops import (
    activation,
    binary_cross_entropy,
    cross_entropy,
    gelu,
    identity,
    leaky_relu,
    mse,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
    swish,
    tanh,
)

__version__ = "0.1.0"


def check_gradient(net, param, formula, **options):
    """Check a hand-derived formula for dL/d(param); see ``symprop.verify``."""
    from .verify import check_gradient as _check

    return _check(net, param, formula, **options)


def gradcheck(backward, params, data, **options):
    """Check hand-written backward code against numbers; see ``symprop.verify``."""
    from .verify import gradcheck as _gradcheck

    return _gradcheck(backward, params, data, **options)


__all__ = [
    "Derivation", "Step", "Network", "mlp", "activation", "elementwise",
    "RecurrentNetwork", "RecurrentDerivation", "rnn", "gru", "lstm",
    "identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "silu", "swish", "gelu", "softmax",
    "mse", "binary_cross_entropy", "cross_entropy",
    "ones", "sum", "mean", "var", "broadcast", "sqrt", "divide", "constant", "Constant", "name",
    "batch_norm", "layer_norm", "attention", "masked", "causal_mask",
    "image", "kernel", "conv1d", "conv2d", "max_pool2d", "avg_pool2d", "flatten", "dropout",
    "check_gradient", "gradcheck", "text", "latex",
    "SympropError", "DeclarationError", "ShapeError", "InvalidNameError", "UnsupportedOperationError",
    "FormulaError", "ModelFileError", "OutputError", "EvaluationError", "LatexError",
]
