"""The activations symprop ships, and the functions their derivatives use (step, Phi, phi)."""

from __future__ import annotations

import sympy as sp

from ..algebra import T
from .base import FUNCTIONS, U, register
from .scalar import ScalarFunction


step = register(
    ScalarFunction(
        "step",
        sp.Heaviside(T, 0),
        derivative=sp.S.Zero,
        latex_template=r"\mathbb{{1}}\left[{} > 0\right]",
        # the dtype of x (float32 stays float32); works on Python floats too
        numpy="def step(x):\n    return np.greater(x, 0).astype(np.result_type(x))\n",
        text_template="1[{} > 0]",
        activation=False,
        description="indicator 1[t > 0] (the derivative of ReLU)",
    )
)

Phi = register(
    ScalarFunction(
        "Phi",
        (1 + sp.erf(T / sp.sqrt(2))) / 2,
        latex=r"\Phi",
        numpy="def Phi(x):\n    return 0.5 * (1.0 + erf(x * 0.7071067811865476))\n",
        derivative=sp.S.Zero,  # phi(t), set below once phi exists (SymPy is not asked: simplify at import costs 0.3 s)
        helpers=("erf",),
        activation=False,
        description="standard normal CDF",
    )
)
phi = register(
    ScalarFunction(
        "phi",
        sp.exp(-(T**2) / 2) / sp.sqrt(2 * sp.pi),
        latex=r"\phi",
        numpy="def phi(x):\n    return 0.3989422804014327 * np.exp(-0.5 * x * x)\n",
        derivative=sp.S.Zero,  # -t phi(t), set below
        activation=False,
        description="standard normal density",
    )
)
Phi.derivative = phi.function(T)
phi.derivative = -T * phi.function(T)

# --- activations ----------------------------------------------------------

identity = register(
    ScalarFunction(
        "identity",
        T,
        derivative=sp.S.One,
        latex="",
        numpy="def identity(x):\n    return x\n",
        sign_preserving=True,
        description="f(z) = z",
    )
)
sigmoid = register(
    ScalarFunction(
        "sigmoid",
        1 / (1 + sp.exp(-T)),
        derivative=U * (1 - U),
        latex=r"\sigma",
        numpy=(
            "def sigmoid(x):\n"
            "    # e^min(x, 0) / (1 + e^-|x|): both exponents are <= 0, so nothing\n"
            "    # overflows, and no branch (np.where is slow on mixed signs)\n"
            "    return np.exp(np.minimum(x, 0)) / (1.0 + np.exp(-np.abs(x)))\n"
        ),
        description="logistic sigmoid 1/(1+e^{-z})",
    )
)
tanh = register(
    ScalarFunction(
        "tanh",
        sp.tanh(T),
        derivative=1 - U**2,
        latex=r"\tanh",
        numpy="def tanh(x):\n    return np.tanh(x)\n",
        description="hyperbolic tangent",
    )
)
relu = register(
    ScalarFunction(
        "relu",
        sp.Max(0, T),
        derivative=step.function(T),
        latex=r"\operatorname{ReLU}",
        numpy="def relu(x):\n    return np.maximum(x, 0)\n",
        init="he",
        sign_preserving=True,
        description="max(0, z)",
    )
)
LEAKY_SLOPE = sp.Rational(1, 100)
leaky_relu = register(
    ScalarFunction(
        "leaky_relu",
        sp.Max(LEAKY_SLOPE * T, T),
        derivative=LEAKY_SLOPE + (1 - LEAKY_SLOPE) * step.function(T),
        latex=r"\operatorname{LeakyReLU}",
        # max(x, 0.01 x) equals the two-branch definition for a slope below 1
        numpy="def leaky_relu(x):\n    return np.maximum(x, 0.01 * x)\n",
        init="he",
        sign_preserving=True,
        description="max(0.01 z, z)",
    )
)
softplus = register(
    ScalarFunction(
        "softplus",
        sp.log(1 + sp.exp(T)),
        derivative=sigmoid.function(T),
        latex=r"\operatorname{softplus}",
        numpy=(
            "def softplus(x):\n"
            "    # log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}): no overflow\n"
            "    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))\n"
        ),
        helpers=(),
        description="log(1 + e^z)",
    )
)
silu = register(
    ScalarFunction(
        "silu",
        T / (1 + sp.exp(-T)),
        # f = t sigma(t)  =>  f' = sigma + t sigma (1 - sigma) = sigma + f (1 - sigma)
        derivative=sigmoid.function(T) + U * (1 - sigmoid.function(T)),
        latex=r"\operatorname{SiLU}",
        numpy="def silu(x):\n    return x * sigmoid(x)\n",
        helpers=("sigmoid",),
        description="z sigma(z), also called swish",
    )
)
gelu = register(
    ScalarFunction(
        "gelu",
        T * (1 + sp.erf(T / sp.sqrt(2))) / 2,
        derivative=Phi.function(T) + T * phi.function(T),
        latex=r"\operatorname{GELU}",
        numpy="def gelu(x):\n    return x * Phi(x)\n",
        helpers=("Phi",),
        init="he",
        description="z Phi(z), exact (erf) form",
    )
)
swish = silu  # the other common name; the registry key stays "silu"

# The functions symprop ships (custom ones registered later are the user's formulas:
# their numerical stability is theirs).
BUILTIN_FUNCTIONS = frozenset(FUNCTIONS)
silu.aliases = ("swish",)
sigmoid.aliases = ("logistic",)
step.aliases = ("heaviside",)
