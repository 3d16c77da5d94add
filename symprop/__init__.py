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


def check_gradient(net, param, formula, *, batched=None, seed: int = 0, points=None, layers=None,
                   convention: str = "columns", names=None, hyperparams=None):
    r"""Check a hand-derived formula for dL/d(param) (or for an adjoint such as ``delta1``).

    The formula is compared with the derived gradient at random points (exact
    rationals for scalar networks, float64 otherwise, away from ReLU kinks),
    and symbolically where that is quick.  No code is ever run: a string is
    read by symprop's own parser.

    Args:
        net: the ``Network`` (or its ``Derivation``).
        param: the parameter, input or intermediate: its symbol or name (``W1``, ``"W1"``, ``"delta1"``).
        formula: the formula, a string in the notation of the notes, LaTeX or
            NumPy (``r"\delta^{[1]} x^\top"``, ``"delta1 @ x.T"``; ``dW1 = ...`` too),
            or a SymPy expression in the network's symbols.
        batched: compare with the batch-mean form; None: decided by the
            formula's notation (m, X, Delta1, sums over the examples).
        seed: the seed of the random points.
        points: how many points (default 3 in float64, 2 exact).
        layers: the author's layer numbering: "ng" (the default), "nielsen",
            "ufldl", "goodfellow", or an integer offset.
        convention: "columns" (symprop's) or "rows" (batch-first: examples are
            rows, weights (in, out), every value the transpose of symprop's).
        names: the author's words mapped to the network's names or formulas
            in them (``{"dscores": "Delta2 / m"}``).
        hyperparams: numbers for the network's hyper-parameters (otherwise
            drawn at random: the formula must hold for every value).

    Returns:
        A ``FormulaCheck``: ``.ok``, ``.diagnosis`` (the usual mistake that
        explains a wrong formula), ``.counterexample``; ``print()`` it for the report.

    Examples:
        >>> import symprop
        >>> net = symprop.mlp([3, 4, 2], loss=symprop.cross_entropy)
        >>> symprop.check_gradient(net, "W1", r"\delta^{[1]} x^{\top}").ok
        True
        >>> wrong = symprop.check_gradient(net, "W1", "delta1 @ x")
        >>> wrong.ok, wrong.diagnosis.key
        (False, 'transpose')
    """
    from .verify import check_gradient as _check

    return _check(net, param, formula, batched=batched, seed=seed, points=points, layers=layers, convention=convention,
                  names=names, hyperparams=hyperparams)


def gradcheck(backward, params, data=None, *, loss=None, net=None, mode: str = "fast", seed: int = 0, directions: int = 2,
              max_entries: int = 8, rtol=None, step=None, layout=None, names=None, hyperparams=None, reduction: str = "mean"):
    """Check hand-written backward code against numbers.

    Give the reference as ``loss=`` (central differences of your loss) or
    ``net=`` (the network's derived gradients).  The fast mode costs
    1 + 2 * ``directions`` loss evaluations when the gradients are right
    (random directions moving every parameter at once); failing parameters
    are then found and checked entry by entry.

    Args:
        backward: your code, ``backward(params, **data) -> {name: gradient}``.
        params: {name: NumPy array}, the point to check at.
        data: {name: array} passed to ``backward`` and ``loss`` as keywords;
            batch-first ((m, n), sequences (m, d, T), images (m, C, H, W)).
        loss: your loss, ``loss(params, **data) -> float``.
        net: the ``Network`` whose derived gradients are the reference.
        mode: "fast" (directional tests first) or "full" (every entry).
        seed: the seed of the random directions.
        directions: joint random directions in the fast mode.
        max_entries: entries checked one by one in a failing parameter.
        rtol: the relative tolerance (default 1e-5 in float64, 1e-3 in float32).
        step: the finite-difference step, times each parameter's rms (default eps^(1/3)).
        layout: with ``net=``: "in_out" (or {"W1": "in_out"}) for weights stored (in, out).
        names: with ``net=``: your names mapped to the network's ({"X": "x"}).
        hyperparams: with ``net=``: numbers of the network's hyper-parameters.
        reduction: "mean" or "sum": how your loss reduces over the batch.

    Returns:
        A ``GradcheckReport``: ``report.ok``, ``report["W1"].ok``,
        ``report["W1"].pattern`` (a sign, a factor, a transpose, ...); it prints as a table.

    Examples:
        >>> import numpy as np, symprop
        >>> def loss(params, x, y):
        ...     return float(np.mean((params["w"] * x - y) ** 2))
        >>> def backward(params, x, y):
        ...     return {"w": np.mean(2 * (params["w"] * x - y) * x)}
        >>> data = {"x": np.array([1.0, 2.0]), "y": np.array([0.5, 3.0])}
        >>> report = symprop.gradcheck(backward, {"w": np.array(1.5)}, data, loss=loss)
        >>> report.ok, report["w"].ok
        (True, True)
    """
    from .verify import gradcheck as _gradcheck

    return _gradcheck(backward, params, data, loss=loss, net=net, mode=mode, seed=seed, directions=directions,
                      max_entries=max_entries, rtol=rtol, step=step, layout=layout, names=names, hyperparams=hyperparams,
                      reduction=reduction)


def preamble() -> str:
    r"""The lines a LaTeX document's preamble needs to ``\input`` the notes' fragment (``d.latex()``).

    The same lines open the standalone notes; ``symprop preamble`` prints them.

    Examples:
        >>> import symprop
        >>> print(symprop.preamble())  # doctest: +ELLIPSIS
        \usepackage{amsmath,amssymb}
        ...
        \usetikzlibrary{arrows.meta}
        ...
    """
    from .render import preamble as _preamble

    return _preamble()


def text(expr) -> str:
    """A SymPy expression as one line of text in the notation of the notes.

    Examples:
        >>> import symprop
        >>> d = symprop.mlp([3, 4, 2], loss=symprop.cross_entropy).derive()
        >>> symprop.text(d.delta(1))
        '(W2ᵀ δ2) ⊙ 1[z1 > 0]'
    """
    from .printing import text as _text

    return _text(expr)


def latex(expr, **settings) -> str:
    r"""A SymPy expression as LaTeX in the notation of the notes (W^{[2]}, \odot, \mathbb{1}[...]).

    Args:
        expr: the expression.
        **settings: SymPy ``LatexPrinter`` settings, and ``bracket_layers``
            (True: W^{[1]}; False: W_{1}).

    Examples:
        >>> import symprop
        >>> d = symprop.mlp([3, 4, 2], loss=symprop.cross_entropy).derive()
        >>> symprop.latex(d.gradient("W1"))
        '\\delta^{[1]} x^{\\top}'
    """
    from .printing import latex as _latex

    return _latex(expr, **settings)


__all__ = [
    "Derivation", "Step", "Network", "mlp", "activation", "elementwise",
    "RecurrentNetwork", "RecurrentDerivation", "rnn", "gru", "lstm",
    "identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "silu", "swish", "gelu", "softmax",
    "mse", "binary_cross_entropy", "cross_entropy",
    "ones", "sum", "mean", "var", "broadcast", "sqrt", "divide", "constant", "Constant", "name",
    "batch_norm", "layer_norm", "attention", "masked", "causal_mask",
    "image", "kernel", "conv1d", "conv2d", "max_pool2d", "avg_pool2d", "flatten", "dropout",
    "check_gradient", "gradcheck", "text", "latex", "preamble",
    "SympropError", "DeclarationError", "ShapeError", "InvalidNameError", "UnsupportedOperationError",
    "FormulaError", "ModelFileError", "OutputError", "EvaluationError", "LatexError",
]
