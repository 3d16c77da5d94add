"""symprop: symbolic backpropagation - derive, render, emit and verify.

Declare a network as SymPy expressions of one example, derive the closed-form
backprop equations of every layer, render them as LaTeX/Markdown lecture
notes, emit a standalone NumPy training module, and check gradients (your own
formulas and code included) against numbers.
"""

from typing import TYPE_CHECKING

# The public names and the modules they live in.  They are imported on first
# use (PEP 562), so `import symprop` and `symprop --help` do not pay for SymPy,
# NumPy and the op registry until a name is used.
_LAZY = {
    "algebra": ["elementwise"],
    "derivation": ["Derivation", "Step"],
    "errors": [
        "DeclarationError", "EvaluationError", "FormulaError", "InvalidNameError", "LatexError", "ModelFileError",
        "OutputError", "ShapeError", "SympropError", "UnsupportedOperationError",
    ],
    "network": ["Network", "mlp"],
    "ops": [
        "Constant", "attention", "batch_norm", "broadcast", "causal_mask", "constant", "divide", "layer_norm", "masked",
        "mean", "ones", "sqrt", "var", "avg_pool2d", "conv1d", "conv2d", "dropout", "flatten", "image", "kernel",
        "max_pool2d", "activation", "binary_cross_entropy", "cross_entropy", "gelu", "identity", "leaky_relu", "mse",
        "relu", "sigmoid", "silu", "softmax", "softplus", "swish", "tanh",
    ],
    "recurrent": ["RecurrentDerivation", "RecurrentNetwork", "gru", "lstm", "rnn"],
}
_RENAMED = {"name": ("ops", "name_value"), "sum": ("ops", "sum_along")}
_WHERE = {name: (module, name) for module, names in _LAZY.items() for name in names} | _RENAMED


def __getattr__(name):
    import importlib

    if name in _WHERE:
        module, attribute = _WHERE[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attribute)
        globals()[name] = value  # looked up once
        return value
    try:  # a submodule used as an attribute (symprop.ops, symprop.verify), as after `import symprop.ops`
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__():
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and IDEs see: the same names, imported eagerly
    from .algebra import elementwise
    from .derivation import Derivation, Step
    from .errors import (
        DeclarationError, EvaluationError, FormulaError, InvalidNameError, LatexError, ModelFileError, OutputError,
        ShapeError, SympropError, UnsupportedOperationError,
    )
    from .network import Network, mlp
    from .ops import Constant, attention, batch_norm, broadcast, causal_mask, constant, divide, layer_norm, masked, mean, ones, sqrt, var
    from .ops import avg_pool2d, conv1d, conv2d, dropout, flatten, image, kernel, max_pool2d
    from .ops import name_value as name
    from .ops import sum_along as sum
    from .ops import (
        activation, binary_cross_entropy, cross_entropy, gelu, identity, leaky_relu, mse, relu, sigmoid, silu, softmax,
        softplus, swish, tanh,
    )
    from .recurrent import RecurrentDerivation, RecurrentNetwork, gru, lstm, rnn

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
    "check_gradient", "gradcheck",
    "SympropError", "DeclarationError", "ShapeError", "InvalidNameError", "UnsupportedOperationError",
    "FormulaError", "ModelFileError", "OutputError", "EvaluationError", "LatexError",
]
