"""The result of ``derive``: frozen steps that render, emit and verify all read.

A ``Step`` defines one symbol by one equation: a forward value (z1 = W1 x + b1),
the loss, an adjoint (delta1 = ...), a parameter gradient (dW1 = delta1 x^T) or
an update (W1 <- W1 - eta dW1).  Adjoint and gradient steps keep the chain of
forms from the chain rule to their final expression, with the reason for each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import sympy as sp

from . import algebra as alg
from .errors import EvaluationError, SympropError
from .rewrite import Form

ETA = sp.Symbol("eta")  # the learning rate in update steps


@dataclass(frozen=True)
class Contribution:
    """One consumer's share of an adjoint: the chain rule through one definition."""

    consumer: str  # name of the node whose definition uses the value
    upstream: sp.Basic  # the consumer's adjoint symbol (1 for the loss)
    expr: sp.Basic  # the share
    local: Optional[sp.Basic] = None  # scalar networks: d consumer / d value


@dataclass(frozen=True)
class Step:
    number: int
    kind: str  # "forward" | "loss" | "adjoint" | "gradient" | "update"
    name: str  # identifier: z1, a1, L, delta1, da1, dW1, W1_new
    symbol: sp.Basic
    expr: sp.Basic  # the final right-hand side, in named symbols
    of: Optional[str] = None  # adjoint/gradient/update: the name differentiated or updated
    role: str = ""  # forward: node role; adjoint: role of `of`; gradient: "parameter" | "input"
    layer: Optional[int] = None
    activation: Optional[str] = None
    forms: tuple = ()  # Form chain, chain rule first; forms[-1].expr == expr
    contributions: tuple = ()
    local_derivative: Optional[sp.Basic] = None  # adjoints of pre-activations: f'(z) in named symbols
    inlined: bool = False  # substituted into its only consumer: not a line of its own in code
    needed: bool = True  # needed for the parameter gradients (False: input gradients)
    batched: Optional[sp.Basic] = None  # the batch form (columns are examples, loss a batch mean)
    batched_symbol: Optional[sp.Basic] = None  # its left-hand side: Z1, Delta1, dW1, z^(i)

    @property
    def shape(self) -> tuple:
        return alg.shape_of(self.symbol)

    @property
    def key(self) -> str:
        """The name of this value in ``Derivation.evaluate``."""
        if self.kind in ("adjoint", "gradient"):
            return f"dL/d{self.of}" if not self.name.startswith("delta") else self.name
        return self.name


@dataclass(frozen=True)
class Derivation:
    network: object
    steps: tuple
    assumptions: tuple = ()  # Assumption objects the rewrites used
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    # ------------------------------------------------------------------
    # lookup
    # ------------------------------------------------------------------
    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name or s.key == name:
                return s
        raise KeyError(f"no step named {name!r}; steps: {', '.join(s.name for s in self.steps)}")

    @property
    def forward_steps(self):
        return [s for s in self.steps if s.kind in ("forward", "loss")]

    @property
    def backward_steps(self):
        return [s for s in self.steps if s.kind in ("adjoint", "gradient")]

    def _name_of(self, target) -> str:
        if isinstance(target, (sp.Symbol, sp.MatrixSymbol)):
            return target.name
        if isinstance(target, str):
            return target
        raise SympropError(f"expected a symbol or a name, got {target!r}")

    def gradient(self, param, batched: bool = False):
        """dL/d(param) in named intermediates; ``batched=True``: the batch-mean form."""
        name = self._name_of(param)
        for s in self.steps:
            if s.kind == "gradient" and s.of == name:
                return s.batched if batched else s.expr
        raise KeyError(f"{name!r} is not a parameter or input of this network")

    def adjoint(self, target, batched: bool = False):
        """dL/d(target) for a named intermediate (z1, a1, yhat, ...)."""
        name = self._name_of(target)
        for s in self.steps:
            if s.kind == "adjoint" and s.of == name:
                return s.batched if batched else s.expr
        return self.gradient(name, batched)

    def delta(self, layer=None, batched: bool = False):
        """delta^[l] = dL/dz^[l]: by layer number, name ("z1") or symbol.

        With no argument: the deltas of all layers, {layer: expression}.
        """
        deltas = {s.layer: s for s in self.steps if s.kind == "adjoint" and s.role == "pre-activation"}
        if layer is None:
            return {k: (v.batched if batched else v.expr) for k, v in sorted(deltas.items())}
        if isinstance(layer, int):
            if layer not in deltas:
                raise KeyError(f"no layer {layer}; layers with a delta: {sorted(deltas)}")
            s = deltas[layer]
            return s.batched if batched else s.expr
        return self.adjoint(layer, batched)

    # ------------------------------------------------------------------
    # numbers
    # ------------------------------------------------------------------
    def evaluate(self, values: dict, learning_rate=None) -> dict:
        """Numbers of every intermediate, adjoint and gradient at ``values``.

        ``values`` maps each parameter, input and target (symbol or name) to a
        number or an array of its declared shape.  With ``learning_rate``,
        the updated parameters are included (``"W1_new"``).  Keys follow
        ``Step.key``: "z1", "a1", "L", "delta1", "dL/da1", "dL/dW1", ...
        1x1 results are plain floats.
        """
        from .numeric import evaluate

        return evaluate(self, values, learning_rate)

    # ------------------------------------------------------------------
    # views
    # ------------------------------------------------------------------
    def latex(self, standalone: bool = False, values=None, learning_rate=None, **options) -> str:
        from .render import latex

        return latex(self, standalone=standalone, values=values, learning_rate=learning_rate, **options)

    def markdown(self, values=None, learning_rate=None, **options) -> str:
        from .render import markdown

        return markdown(self, values=values, learning_rate=learning_rate, **options)

    def numpy(self, **options) -> str:
        from .emit import numpy_module

        return numpy_module(self, **options)

    def torch(self, **options) -> str:
        """The source of a standalone PyTorch module: an nn.Module whose backward is this derivation's."""
        from .export_torch import torch_module

        return torch_module(self, **options)

    def jax(self, **options) -> str:
        """The source of a standalone JAX module: pure functions on a jax.custom_vjp with this derivation's backward."""
        from .export_jax import jax_module

        return jax_module(self, **options)

    def _repr_latex_(self):
        from .render import latex

        return latex(self, standalone=False, jupyter=True)

    def _repr_markdown_(self):
        return self.markdown()

    def __str__(self):
        from .printing import text

        lines = []
        for s in self.steps:
            lhs = text(s.symbol)
            if s.kind == "update":
                lines.append(f"({s.number}) {text(s.symbol)} ← {text(s.expr)}")
            else:
                lines.append(f"({s.number}) {lhs} = {text(s.expr)}")
        return "\n".join(lines)


__all__ = ["Contribution", "Derivation", "ETA", "Form", "Step", "EvaluationError"]
