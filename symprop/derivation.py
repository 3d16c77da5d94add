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
    """One numbered equation of a derivation: a forward value, the loss, an adjoint, a gradient or an update.

    A step prints as its equation, in the notation of the notes, and shows it
    typeset in a notebook.

    Attributes:
        number: its equation number, from 1.
        kind: "forward", "loss", "adjoint", "gradient" or "update".
        name: the identifier it defines (``z1``, ``a1``, ``L``, ``delta1``, ``dW1``, ``W1_new``).
        symbol: the left-hand side, a SymPy symbol.
        expr: the right-hand side, a SymPy expression in named symbols.
        of: for adjoints, gradients and updates: the name differentiated or updated.
        forms: the chain of forms from the chain rule to ``expr``, each with its reason.
        batched: the batch form of ``expr`` (columns are examples, the loss a batch mean).

    Examples:
        >>> import symprop
        >>> d = symprop.mlp([3, 4, 2], hidden=symprop.relu, loss=symprop.cross_entropy).derive()
        >>> d.step("delta1")
        (11) δ1 = (W2ᵀ δ2) ⊙ 1[z1 > 0]
        >>> d.step("delta1").kind, d.step("delta1").of
        ('adjoint', 'z1')
    """

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
    def equation(self) -> str:
        """The equation in terminal text: ``δ1 = (W2ᵀ δ2) ⊙ 1[z1 > 0]`` (an update: ``W1 ← W1 - η·∂L/∂W1``)."""
        from .printing import text

        return f"{text(self.symbol)} {'←' if self.kind == 'update' else '='} {text(self.expr)}"

    def __str__(self):
        return f"({self.number}) {self.equation}"

    __repr__ = __str__  # a step is its equation, as a SymPy expression's repr is its formula

    def _repr_latex_(self):
        from .printing import latex

        arrow = r"\leftarrow" if self.kind == "update" else "="
        return rf"$\displaystyle {latex(self.symbol)} {arrow} {latex(self.expr)} \qquad ({self.number})$"

    @property
    def key(self) -> str:
        """The name of this value in ``Derivation.evaluate``."""
        if self.kind in ("adjoint", "gradient"):
            return f"dL/d{self.of}" if not self.name.startswith("delta") else self.name
        return self.name


@dataclass(frozen=True)
class Derivation:
    """The backprop equations of a network, as ``Network.derive()`` returns them.

    Prints as its numbered equations; in a notebook it shows the notes.  Its
    methods look equations up (``gradient``, ``delta``, ``adjoint``, ``step``),
    compute numbers (``evaluate``) and write the notes (``latex``, ``markdown``)
    and the training code (``numpy``).

    Attributes:
        network: the ``Network`` derived.
        steps: the ``Step`` objects, forward pass first, in the order of their numbers.
        assumptions: what the simplifications assumed (softmax + cross-entropy:
            each example's targets sum to 1).

    Examples:
        >>> import symprop
        >>> d = symprop.mlp([3, 4, 2], hidden=symprop.relu, loss=symprop.cross_entropy).derive()
        >>> print(d)  # doctest: +ELLIPSIS
        (1) z1 = W1 x + b1
        (2) a1 = relu(z1)
        ...
        (11) δ1 = (W2ᵀ δ2) ⊙ 1[z1 > 0]
        (12) ∂L/∂W1 = δ1 xᵀ
        ...
    """

    network: object
    steps: tuple
    assumptions: tuple = ()  # Assumption objects the rewrites used
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    # ------------------------------------------------------------------
    # lookup
    # ------------------------------------------------------------------
    def step(self, name: str) -> Step:
        """The step that defines ``name``.

        Args:
            name: the name a step defines (``"z1"``, ``"delta1"``, ``"dW1"``) or its
                key in ``evaluate`` (``"dL/dW1"``).

        Raises:
            KeyError: no step defines it (the message lists the steps).

        Examples:
            >>> import symprop
            >>> symprop.mlp([3, 4, 2], loss=symprop.cross_entropy).derive().step("dL/dW2")
            (8) ∂L/∂W2 = δ2 a1ᵀ
        """
        for s in self.steps:
            if s.name == name or s.key == name:
                return s
        raise KeyError(f"no step named {name!r}; steps: {', '.join(s.name for s in self.steps)}")

    @property
    def forward_steps(self):
        """The steps of the forward pass, the loss last."""
        return [s for s in self.steps if s.kind in ("forward", "loss")]

    @property
    def backward_steps(self):
        """The adjoint and gradient steps, in the order of the backward pass."""
        return [s for s in self.steps if s.kind in ("adjoint", "gradient")]

    def _name_of(self, target) -> str:
        if isinstance(target, (sp.Symbol, sp.MatrixSymbol)):
            return target.name
        if isinstance(target, str):
            return target
        raise SympropError(f"expected a symbol or a name, got {target!r}")

    def gradient(self, param, batched: bool = False):
        """dL/d(param), in the network's named intermediates.

        Args:
            param: a parameter or input: its SymPy symbol or its name.
            batched: the batch form instead (columns are examples, the loss the
                batch mean: 1/m and sums over the batch shown).

        Returns:
            A SymPy expression (print it as the notes do with ``symprop.text``).

        Raises:
            KeyError: ``param`` is neither a parameter nor an input.

        Examples:
            >>> import symprop
            >>> d = symprop.mlp([3, 4, 2], loss=symprop.cross_entropy).derive()
            >>> symprop.text(d.gradient("W1"))
            'δ1 xᵀ'
            >>> symprop.text(d.gradient("W1", batched=True))
            '1/m·Δ1 Xᵀ'
        """
        name = self._name_of(param)
        for s in self.steps:
            if s.kind == "gradient" and s.of == name:
                return s.batched if batched else s.expr
        raise KeyError(f"{name!r} is not a parameter or input of this network")

    def adjoint(self, target, batched: bool = False):
        """dL/d(target) for a named intermediate (``z1``, ``a1``, ``yhat``), a parameter or an input.

        Args:
            target: the intermediate's symbol or name.
            batched: the batch form instead.

        Returns:
            A SymPy expression.

        Examples:
            >>> import symprop
            >>> d = symprop.mlp([3, 4, 2], loss=symprop.cross_entropy).derive()
            >>> symprop.text(d.adjoint("a1"))
            'W2ᵀ δ2'
        """
        name = self._name_of(target)
        for s in self.steps:
            if s.kind == "adjoint" and s.of == name:
                return s.batched if batched else s.expr
        return self.gradient(name, batched)

    def delta(self, layer=None, batched: bool = False):
        """The error signal delta^[l] = dL/dz^[l] of a layer.

        Args:
            layer: the layer number (1 is the first layer), or the name (``"z1"``)
                or symbol of a pre-activation; None: every layer's.
            batched: the batch form instead (Delta^[l], one column per example).

        Returns:
            A SymPy expression; with ``layer=None`` a dict {layer number: expression}.

        Raises:
            KeyError: the network has no such layer.

        Examples:
            >>> import symprop
            >>> d = symprop.mlp([3, 4, 2], loss=symprop.cross_entropy).derive()
            >>> d.delta(1)
            HadamardProduct(W2.T*delta2, 1[z1 > 0])
            >>> symprop.text(d.delta(1))
            '(W2ᵀ δ2) ⊙ 1[z1 > 0]'
            >>> sorted(d.delta())
            [1, 2]
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

        Args:
            values: each parameter, input and target (symbol or name) mapped to a
                number or an array of its declared shape (images as (C, H, W)).
            learning_rate: also compute the updated parameters (``"W1_new"``).

        Returns:
            A dict keyed as ``Step.key``: ``"z1"``, ``"a1"``, ``"L"``, ``"delta1"``,
            ``"dL/da1"``, ``"dL/dW1"``, ...; 1x1 results are plain floats, the
            others NumPy arrays.

        Examples:
            >>> import sympy as sp, symprop
            >>> w, b, x, y = sp.symbols("w b x y")
            >>> net = symprop.Network((symprop.relu(w * x + b) - y) ** 2, params=[w, b], inputs=[x], targets=[y])
            >>> numbers = net.derive().evaluate({w: 3, b: 1, x: 2, y: 5})
            >>> numbers["z"], numbers["L"], numbers["dL/dw"]
            (7.0, 4.0, 8.0)
        """
        from .numeric import evaluate

        return evaluate(self, values, learning_rate)

    # ------------------------------------------------------------------
    # views
    # ------------------------------------------------------------------
    def latex(self, standalone: bool = False, values=None, learning_rate=None, *, sections=None, omit=(),
              optimizer: str = "sgd", learning_rate_symbol: str = "eta", layer_style=None, interleaved: bool = False,
              compare=None, **unknown) -> str:
        r"""The lecture notes as LaTeX.

        Args:
            standalone: a whole document (``\documentclass`` to ``\end{document}``);
                otherwise a fragment to ``\input`` into a course's own document, which
                needs the preamble ``symprop preamble`` prints.
            values: numbers of the parameters, inputs and targets (as ``evaluate``
                takes them) for a worked example; None: no worked example.
            learning_rate: the step size of the worked example's update (default 0.1).
            sections: the sections to write, by name (``symprop.notes.SECTION_NAMES``);
                None: every section that applies.
            omit: sections to leave out.
            optimizer: the update rule written out: "sgd", "momentum" or "adam".
            learning_rate_symbol: "eta" or "alpha".
            layer_style: ``"[l]"`` (``W^{[1]}``), ``"(l)"`` (``W^{(1)}``) or ``"_l"`` (``W_{1}``);
                None: ``"[l]"`` for matrix networks, ``"_l"`` for scalar ones.
            interleaved: each step of the backward pass followed at once by its numbers.
            compare: another network (or its derivation), declared with the same
                names, set beside this one in the section on vanishing gradients.
            **unknown: none; a misspelt option is a ``SympropError`` naming the options.

        Returns:
            The LaTeX source; every run gives the same bytes.

        Examples:
            >>> import symprop
            >>> tex = symprop.mlp([3, 4, 2], loss=symprop.cross_entropy).derive().latex(standalone=True)
            >>> tex.startswith("% Generated by symprop")
            True
            >>> r"\documentclass" in tex and r"\delta^{[1]}" in tex
            True
        """
        from .render import latex

        return latex(self, standalone=standalone, values=values, learning_rate=learning_rate, **_note_options(
            sections, omit, optimizer, learning_rate_symbol, layer_style, interleaved, compare, unknown))

    def markdown(self, values=None, learning_rate=None, *, sections=None, omit=(), optimizer: str = "sgd",
                 learning_rate_symbol: str = "eta", layer_style=None, interleaved: bool = False, compare=None,
                 **unknown) -> str:
        r"""The lecture notes as Markdown: maths in ``$...$`` (KaTeX's dialect), the graph in Mermaid.

        Args:
            values: numbers for a worked example (see ``latex``).
            learning_rate: the step size of the worked example's update (default 0.1).
            sections: the sections to write (None: all that apply), as in ``latex``.
            omit: sections to leave out.
            optimizer: "sgd", "momentum" or "adam".
            learning_rate_symbol: "eta" or "alpha".
            layer_style: ``"[l]"``, ``"(l)"`` or ``"_l"``, as in ``latex``.
            interleaved: each backward step followed at once by its numbers.
            compare: another network set beside this one on vanishing gradients.
            **unknown: none; a misspelt option is a ``SympropError`` naming the options.

        Returns:
            The Markdown source.

        Examples:
            >>> import symprop
            >>> md = symprop.mlp([3, 4, 2], loss=symprop.cross_entropy).derive().markdown(sections=["backward"])
            >>> r"\delta^{[1]}" in md
            True
        """
        from .render import markdown

        return markdown(self, values=values, learning_rate=learning_rate, **_note_options(
            sections, omit, optimizer, learning_rate_symbol, layer_style, interleaved, compare, unknown))

    def numpy(self) -> str:
        """The source of a standalone training module, NumPy its only import.

        The module defines ``PARAMS`` (name -> shape), ``init_params(seed=0)``,
        ``forward(params, **inputs)``, ``loss(params, **data)``,
        ``gradients(params, **data) -> (loss, grads)``, the optimizers and
        ``train(...)``; arrays are batch-first, the loss is the batch mean.

        Examples:
            >>> import numpy as np, symprop
            >>> source = symprop.mlp([3, 4, 2], loss=symprop.cross_entropy).derive().numpy()
            >>> module = {}
            >>> exec(compile(source, "train.py", "exec"), module)
            >>> params = module["init_params"](seed=0)
            >>> sorted(module["PARAMS"].items())
            [('W1', (4, 3)), ('W2', (2, 4)), ('b1', (4, 1)), ('b2', (2, 1))]
            >>> loss, grads = module["gradients"](params, x=np.ones((5, 3)), y=np.eye(2)[[0, 1, 0, 1, 0]])
            >>> grads["W1"].shape
            (4, 3)
        """
        from .emit import numpy_module

        return numpy_module(self)

    def torch(self) -> str:
        """The source of a standalone PyTorch module (torch and the standard library its only imports).

        ``Model(seed, dtype)`` is an ``nn.Module`` holding the parameters;
        ``model(**inputs)`` predicts and ``model.loss(**data).backward()`` runs
        this derivation's backward pass (``DerivedLoss``, a
        ``torch.autograd.Function``); ``forward``, ``loss`` and ``gradients``
        are functions of a dict of parameters, as in the NumPy module.

        Examples:
            >>> import symprop, torch
            >>> source = symprop.mlp([3, 4, 2], loss=symprop.cross_entropy).derive().torch()
            >>> module = {}
            >>> exec(compile(source, "model.py", "exec"), module)
            >>> model = module["Model"](seed=0)  # the dtype: torch's default
            >>> model.loss(torch.ones(5, 3), torch.eye(2)[[0, 1, 0, 1, 0]]).backward()
            >>> model.params["W1"].grad.shape
            torch.Size([4, 3])
        """
        from .export_torch import torch_module

        return torch_module(self)

    def jax(self) -> str:
        """The source of a standalone JAX module (jax and the standard library its only imports).

        Pure functions of a dict of parameters: ``init_params``, ``forward``,
        ``loss`` and ``gradients``, and ``derived_loss``, the loss as a
        ``jax.custom_vjp`` whose backward is this derivation's backward pass
        (``jax.grad(derived_loss)``, jit-able).

        Examples:
            >>> import symprop
            >>> source = symprop.mlp([3, 4, 2], loss=symprop.cross_entropy).derive().jax()
            >>> "@jax.custom_vjp" in source and "import numpy" not in source
            True
        """
        from .export_jax import jax_module

        return jax_module(self)

    # Jupyter: JupyterLab, the classic Notebook and VS Code all prefer text/markdown to text/latex,
    # so each shows the Markdown notes (KaTeX/MathJax maths); text/latex serves nbconvert's LaTeX/PDF
    # export.  No _repr_html_: it would win everywhere and VS Code does not typeset maths in HTML.
    def _repr_latex_(self):
        from .render import latex

        return latex(self, standalone=False, jupyter=True)

    def _repr_markdown_(self):
        return self.markdown()

    def __str__(self):
        return "\n".join(str(s) for s in self.steps)

    __repr__ = __str__  # in a REPL a derivation shows its numbered equations


def _note_options(sections, omit, optimizer, learning_rate_symbol, layer_style, interleaved, compare, unknown) -> dict:
    """The notes' options (``symprop.notes.options.NoteOptions``) as keywords; an unknown one is refused there by name."""
    return dict(sections=sections, omit=omit, optimizer=optimizer, learning_rate_symbol=learning_rate_symbol,
                layer_style=layer_style, interleaved=interleaved, compare=compare, **unknown)


__all__ = ["Contribution", "Derivation", "ETA", "Form", "Step", "EvaluationError"]
