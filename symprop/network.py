"""Declaring a network: SymPy expressions -> a graph of named intermediates.

The user writes one scalar loss as a SymPy expression of one example (column
vectors, or plain Symbols for scalar networks).  ``Network`` validates it and
cuts it into the intermediates the textbooks name:

* every application of a registered activation starts a layer l: its argument
  is the pre-activation ``z^[l]`` and its result the activation ``a^[l]``;
* the first argument of a loss op is the prediction ``yhat``;
* the whole loss is ``L``.

Each named intermediate gets a *definition*: its expression with every named
subexpression replaced by its symbol (z1 = W1 x + b1, a1 = relu(z1), ...).
``derive`` differentiates definitions one at a time, which keeps the work and
the size of every equation linear in the depth of the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import sympy as sp
from sympy import MatAdd, MatMul, MatrixExpr, MatrixSymbol
from sympy.core.function import AppliedUndef
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from . import algebra as alg
from . import ops
from .errors import DeclarationError, InvalidNameError, ShapeError, UnsupportedOperationError
from .names import check_name

_NOT_FINITE = (sp.nan, sp.zoo, sp.oo, sp.S.NegativeInfinity)


@dataclass(frozen=True)
class Node:
    """A named intermediate of the forward pass."""

    name: str  # identifier used in code and evaluate(): z1, a1, yhat, L
    symbol: sp.Basic  # MatrixSymbol(name, n, 1) or Symbol(name)
    definition: sp.Basic  # in declared symbols and earlier nodes' symbols
    role: str  # "pre-activation" | "activation" | "prediction" | "loss"
    layer: Optional[int] = None
    activation: Optional[str] = None  # registry name of the activation that produced it
    base: str = ""  # the name without its layer number (z, a, mu, Zhat, ...)
    closed_form: str = ""  # key of a closed form of the region this node ends (ops.CLOSED_FORMS)
    description: str = ""  # what a layer builder says the value is (the mean over the batch, ...)

    @property
    def shape(self) -> tuple:
        return alg.shape_of(self.symbol)


def _check_name(sym, what: str) -> str:
    return check_name(sym.name, what)


def _check_shape(sym, what: str, batch=None):
    if isinstance(sym, MatrixSymbol):
        rows, cols = sym.shape
        if batch is not None and cols == batch and what in ("input", "target"):
            cols = sp.S.One  # the batch dimension: checked where batch= is
        if not (rows.is_Integer and cols.is_Integer) or rows < 1 or cols < 1:
            hint = ""
            if any(d.free_symbols for d in sym.shape):
                hint = " (a symbolic dimension is allowed only for the batch: Network(..., batch=m))"
            raise ShapeError(f"{what} {sym.name!r} must have positive integer dimensions, got {sym.shape}{hint}")


def _check_batch(batch):
    """The batch size of a network declared over a batch: an int or an integer positive Symbol."""
    if isinstance(batch, bool):
        raise DeclarationError(f"batch must be the number of examples (an int or an integer Symbol), got {batch!r}")
    if isinstance(batch, int):
        batch = sp.Integer(batch)
    if isinstance(batch, sp.Integer):
        if batch < 2:
            raise ShapeError(f"batch={batch}: a batch has at least two examples (one example: declare columns, no batch=)")
        return batch
    if isinstance(batch, sp.Symbol):
        if not (batch.is_integer and batch.is_positive):
            raise DeclarationError(
                f"batch symbol {batch.name!r} must be declared integer and positive: "
                f"sympy.Symbol({batch.name!r}, integer=True, positive=True)"
            )
        return batch
    raise DeclarationError(f"batch must be the number of examples (an int or an integer Symbol), got {batch!r}")


class Network:
    """A network declared as a SymPy loss expression of one example (or of one batch).

    Args:
        loss: the loss, a scalar SymPy expression (or a 1x1 matrix expression) of
            the parameters, inputs and targets, built with symprop's ops.
        params: the trainable symbols (``MatrixSymbol``; ``Symbol`` for scalar networks).
        inputs: the data of one example: column vectors, Symbols for scalar
            networks, or matrices for an example that is a matrix (a sequence
            d x T, tokens as columns; an image from ``symprop.image``).
        targets: the targets of one example, as ``inputs``.
        name: free text, the title of the notes (it reaches code only escaped).
        batch: None (one example); or ``m`` (an int or an integer positive
            Symbol): inputs and targets are then the whole batch, n x m with the
            examples as columns, so layers that couple the examples (batch norm)
            can be declared, and the loss ops average over the m columns.
        hyperparams: scalar Symbols that stay symbolic in the derivation (a
            weight decay lambda) and are numbers only when evaluated: a sequence
            of Symbols, or a dict Symbol -> default value.

    Raises:
        DeclarationError: a name, shape or symbol is wrong (one line naming it).

    Examples:
        >>> import sympy as sp, symprop
        >>> x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
        >>> W1, b1 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("b1", 4, 1)
        >>> W2, b2 = sp.MatrixSymbol("W2", 2, 4), sp.MatrixSymbol("b2", 2, 1)
        >>> yhat = symprop.softmax(W2 * symprop.relu(W1 * x + b1) + b2)
        >>> net = symprop.Network(symprop.cross_entropy(yhat, y), params=[W1, b1, W2, b2], inputs=[x], targets=[y])
        >>> net
        Network('network', params=['W1', 'b1', 'W2', 'b2'], inputs=['x'], targets=['y'])
        >>> net.derive().step("delta1")
        (11) δ1 = (W2ᵀ δ2) ⊙ 1[z1 > 0]
    """

    def __init__(
        self,
        loss,
        params: Sequence,
        inputs: Sequence = (),
        targets: Sequence = (),
        name: str = "network",
        batch=None,
        hyperparams=(),
    ):
        self.name = name
        self.params = tuple(params)
        self.inputs = tuple(inputs)
        self.targets = tuple(targets)
        self.hyperparams, self.hyperparam_defaults = _hyperparameters(hyperparams)
        # batch=m: inputs and targets are whole batches, n x m, examples as columns;
        # the loss ops average over the columns, so L is the batch mean.
        self.batch = None if batch is None else _check_batch(batch)
        # symbol -> {key: value} from the layer builders: {"init": "ones"} for batch norm's
        # gamma, {"dropout": "0.8"} for a dropout mask, {"attention_mask": "causal"}
        self.hints: dict = {}
        self.loss = self._check_loss(loss)
        self._check_declarations()
        self.nodes = self._name_intermediates()
        self.is_scalar = not any(isinstance(n.symbol, MatrixExpr) for n in self.nodes) and not any(
            isinstance(s, MatrixExpr) for s in self.declared
        )

    # ------------------------------------------------------------------
    @property
    def declared(self) -> tuple:
        """The declared symbols: parameters, then inputs, then targets."""
        return self.params + self.inputs + self.targets

    @property
    def mask_inputs(self) -> tuple:
        """Inputs that only select entries (dropout and attention masks): no gradient flows to them."""
        return tuple(s for s in self.inputs if {"dropout", "attention_mask"} & set(self.hints.get(s, {})))

    @property
    def loss_node(self) -> Node:
        """The named node of the loss, the last of ``nodes``."""
        return self.nodes[-1]

    def node(self, name: str) -> Node:
        """The named intermediate ``name`` (``"z1"``, ``"a1"``, ``"yhat"``): its symbol, definition and role.

        Examples:
            >>> import symprop
            >>> node = symprop.mlp([3, 4, 2], loss=symprop.cross_entropy).node("z1")
            >>> symprop.text(node.definition), node.role
            ('W1 x + b1', 'pre-activation')
        """
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def derive(self, closed_forms: bool = True):
        """Derive the backprop equations of this network.

        Args:
            closed_forms: rewrite regions such as batch normalisation into their
                textbook closed forms (False: keep them node by node).

        Returns:
            The ``Derivation``.

        Examples:
            >>> import symprop
            >>> print(symprop.mlp([2, 1], hidden=symprop.sigmoid, loss=symprop.binary_cross_entropy).derive())  # doctest: +ELLIPSIS
            (1) z = W1 x + b1
            (2) ŷ = sigmoid(z)
            (3) L = binary_cross_entropy(ŷ, y)
            ...
        """
        from .derive import derive

        return derive(self, closed_forms)

    def bind(self, values: dict) -> "Network":
        """This network with its hyper-parameters replaced by numbers.

        Args:
            values: numbers by name or symbol; a hyper-parameter not given takes its declared default.

        Examples:
            >>> import sympy as sp, symprop
            >>> w, x, y, lam = sp.symbols("w x y lamda")
            >>> net = symprop.Network((w * x - y) ** 2 + lam * w ** 2, params=[w], inputs=[x], targets=[y], hyperparams={lam: 0.5})
            >>> net.bind({}).hyperparams
            ()
        """
        numbers = {}
        for sym in self.hyperparams:
            value = values.get(sym.name, values.get(sym, self.hyperparam_defaults.get(sym.name)))
            if value is None:
                raise DeclarationError(
                    f"the hyper-parameter {sym.name!r} has no value: give one, or declare a default "
                    f"(hyperparams={{{sym.name}: 0.01}})")
            numbers[sym] = sp.Float(float(value)) if not isinstance(value, (int, sp.Rational)) else sp.Rational(value)
        return Network(self.loss.xreplace(numbers), self.params, self.inputs, self.targets, self.name, batch=self.batch)

    def __repr__(self):
        return (
            f"Network({self.name!r}, params={[p.name for p in self.params]}, "
            f"inputs={[s.name for s in self.inputs]}, targets={[s.name for s in self.targets]})"
        )

    # ------------------------------------------------------------------
    def _check_loss(self, loss):
        if isinstance(loss, (int, float)):
            raise DeclarationError("the loss is a constant number; it must depend on the parameters")
        if not isinstance(loss, sp.Basic):
            raise DeclarationError(f"the loss must be a SymPy expression, got {type(loss).__name__}")
        if loss in _NOT_FINITE:  # SymPy makes a whole sum nan (or zoo) when one term is
            raise DeclarationError(f"the loss is {sp.sstr(loss)}: an infinite or undefined constant (a division by zero?)")
        if isinstance(loss, MatrixExpr) and loss.shape != (1, 1):
            raise ShapeError(
                f"the loss must be a scalar, but it is a {loss.shape[0]}x{loss.shape[1]} matrix expression; "
                "reduce it with a loss op (symprop.mse, ...) or a product such as (yhat - y).T * (yhat - y)"
            )
        if isinstance(loss, (sp.MatrixBase, sp.Tuple, sp.core.relational.Relational)):
            raise DeclarationError(f"the loss must be a scalar expression, got {type(loss).__name__}")
        return _expand_entry_sums(loss)

    def _check_declarations(self):
        seen = {}
        groups = ((self.params, "parameter"), (self.inputs, "input"), (self.targets, "target"),
                  (self.hyperparams, "hyper-parameter"))
        for group, what in groups:
            for sym in group:
                if what == "hyper-parameter" and not isinstance(sym, sp.Symbol):
                    raise DeclarationError(f"each hyper-parameter must be a scalar sympy Symbol, got {sp.sstr(sym)}")
                if not isinstance(sym, (sp.Symbol, MatrixSymbol)):
                    raise DeclarationError(
                        f"each {what} must be a sympy Symbol or MatrixSymbol, got {sp.sstr(sym)} ({type(sym).__name__})"
                    )
                name = _check_name(sym, what)
                _check_shape(sym, what, self.batch)
                if name in seen:
                    other_what, other = seen[name]
                    if other == sym:
                        raise DeclarationError(f"{name!r} is declared both as {other_what} and as {what}")
                    raise InvalidNameError(f"two different symbols are named {name!r} ({other_what} and {what})")
                seen[name] = (what, sym)
        if self.batch is not None:
            for sym in self.inputs + self.targets:
                if not isinstance(sym, MatrixSymbol) or sym.shape[1] != self.batch:
                    shape = alg.shape_of(sym) or "a scalar"
                    raise ShapeError(
                        f"{sym.name!r} has shape {shape}, but the network is declared over a batch of {self.batch}: "
                        f"inputs and targets are n x {self.batch} matrices, one example per column"
                    )
            for sym in self.params:
                if any(d == self.batch for d in alg.shape_of(sym)) and self.batch.is_Symbol:
                    raise ShapeError(f"parameter {sym.name!r} has the batch size {self.batch} in its shape {sym.shape}")
        if not self.params:
            raise DeclarationError("no parameters declared: pass params=[...] (the symbols to train)")

        free = self._free_declarable(self.loss) - {self.batch}
        by_name = {}
        for sym in free:
            by_name.setdefault(sym.name, set()).add(sym)
        for name, syms in by_name.items():
            if len(syms) > 1:
                shapes = ", ".join(sorted(str(alg.shape_of(s) or "scalar") for s in syms))
                raise InvalidNameError(f"the loss uses two different symbols named {name!r} (shapes {shapes})")
        declared = set(self.declared) | set(self.hyperparams)
        undeclared = sorted((s for s in free if s not in declared), key=lambda s: s.name)
        if undeclared:
            names = ", ".join(s.name for s in undeclared)
            hint = ""
            for s in undeclared:
                if s.name in seen:
                    hint = f" ({s.name!r} is declared with a different shape or kind: {sp.srepr(seen[s.name][1])})"
            raise DeclarationError(
                f"the loss uses symbols that are not declared as params, inputs or targets: {names}{hint}"
            )
        for group, what in ((self.params, "parameter"), (self.inputs, "input")):
            for sym in group:
                if sym not in free:
                    raise DeclarationError(f"the loss does not depend on the {what} {sym.name!r}")
        self._check_operations()

    def _is_constant(self, e) -> bool:
        """A number such as 1/m: written where it is used, never named."""
        return not isinstance(e, MatrixExpr) and not (self._free_declarable(e) - {self.batch})

    @staticmethod
    def _free_declarable(expr) -> set:
        # Not expr.free_symbols: SymPy recomputes it without a cache, which costs
        # 2^depth on the DAG of a residual network.
        return {
            s
            for s in _postorder(expr)
            if isinstance(s, (sp.Symbol, MatrixSymbol)) and not s.name.startswith("_") and not ops.is_constant(s)
        }

    def _check_derived_names(self, node_names, order):
        """Declared names and the ops' helper names may not collide with the names derive and emit make up."""
        derived = set(node_names)
        for name in node_names:
            derived.add("d" + name)
            if name.startswith("z"):
                derived.add("delta" + name[1:])
        derived |= {"d" + s.name for s in self.declared}
        derived |= {p.name + "_new" for p in self.params}  # the SGD update of evaluate()
        for sym in self.declared:
            if sym.name in derived:
                raise InvalidNameError(
                    f"the declared name {sym.name!r} is also a name symprop derives (z, a, yhat, L, delta, d<name>, "
                    "<param>_new); rename it"
                )
        for name in sorted(_helper_names(order)):  # each op is a NumPy helper of its name in the generated code
            if name in derived:
                raise InvalidNameError(
                    f"the activation {name!r} has the name of a value symprop derives in this network "
                    "(z, a, yhat, L, delta, d<name>); register it under another name"
                )

    def _check_operations(self):
        """Fail at declaration time, naming the node, on anything derive cannot do."""
        for node in _postorder(self.loss):
            if node in _NOT_FINITE or (isinstance(node, ElementwiseApplyFunction) and node.function.has(*_NOT_FINITE)):
                raise DeclarationError(
                    f"the loss contains {sp.sstr(node)}: an infinite or undefined constant (a division by zero?)"
                )
            if isinstance(node, AppliedUndef):
                raise UnsupportedOperationError(ops._undefined_message({node}))
            if isinstance(node, ElementwiseApplyFunction):
                body = alg.applied_function(node)
                undefined = body.atoms(AppliedUndef)
                if undefined:
                    raise UnsupportedOperationError(ops._undefined_message(undefined))
            if isinstance(node, ops.ScalarFunctionBase) and isinstance(node.args[0], MatrixExpr):
                raise ShapeError(f"{node.rule.name} was applied to a matrix outside symprop; call symprop.{node.rule.name}(...)")
            if isinstance(node, (sp.logic.boolalg.Boolean, sp.core.relational.Relational)):
                continue  # conditions inside a Piecewise: the Piecewise itself is reported
            if not ops.is_leaf(node) and not isinstance(node, (sp.Lambda, sp.Tuple)):
                ops.rule_for(node)  # raises UnsupportedOperationError naming the node

    # ------------------------------------------------------------------
    def _name_intermediates(self) -> list:
        loss, self.loss_reading = _quadratic_costs(self.loss, set(self.params), set(self.inputs + self.targets))
        loss = _factor_nested_sums(_canonical(loss))
        markers: dict = {}  # expression -> the Named marker a layer builder put on it
        loss = _strip_markers(loss, markers, self.hints)
        order = _postorder(loss)
        declared = set(self.declared)

        activations = [e for e in order if ops.is_activation_node(e)]
        predictions = []
        for e in order:
            if ops.is_loss_node(e) and e.prediction not in declared and e.prediction not in predictions:
                predictions.append(e.prediction)
        numbered = len(activations) > 1

        def layer_name(base, layer):
            return f"{base}{layer}" if numbered and layer is not None else base

        # the layer of any value: 1 + the activations computed before it
        layer_of, seen = {}, 0
        for e in order:
            if ops.is_activation_node(e):
                seen += 1
                layer_of[e] = seen
            else:
                layer_of[e] = seen + 1

        names: dict = {}  # expression -> (name, role, layer, activation, base, closed form)
        for layer, act in enumerate(activations, start=1):
            arg = ops.activation_argument(act)
            if arg not in declared and arg not in names and not ops.is_activation_node(arg):
                if arg in markers:
                    marker = markers[arg]
                    names[arg] = (layer_name(marker.base, layer), "pre-activation", layer, None, marker.base, marker.closed_form)
                else:
                    base = _case("z", arg)
                    names[arg] = (layer_name(base, layer), "pre-activation", layer, None, base, "")
            marker = markers.get(act)
            base = marker.base if marker is not None else _case("a", act)
            if marker is not None and any(entry[0] == layer_name(base, layer) for entry in names.values()):
                base = _case("a", act)  # a normalisation's name for its input (Z1) that the pre-activation already has
            names[act] = (layer_name(base, layer), "activation", layer, ops.activation_name(act), base, "")
        for i, pred in enumerate(predictions):
            base = _case("yhat", pred)
            label = base if i == 0 else f"{base}{i + 1}"
            old = names.get(pred)
            if old is not None and old[1] == "activation":
                names[pred] = (label, "prediction", old[2], old[3], base, "")
            elif old is None:
                names[pred] = (label, "prediction", None, None, base, "")
        # Values a layer builder named (mu, sigma, Zhat, S, P, ...), unless they already have a name.
        taken = {entry[0] for entry in names.values()} | {s.name for s in declared}
        for e in order:
            marker = markers.get(e)
            if marker is None or e in names or e in declared or ops.is_leaf(e):
                continue
            # a builder's output stays in the layer of the named values it combines (attention's O = V P)
            inner = [names[a][2] for a in _children(e) if a in names and names[a][2] is not None]
            layer = (max(inner) if inner else layer_of[e]) if numbered else None
            name = _unique(marker.base, layer, taken)
            taken.add(name)
            names[e] = (name, "hidden", layer, None, marker.base, marker.closed_form)
        # A value used in two places (a residual sum feeding the next layer and
        # the next sum) gets a name of its own, h1, h2, ...: otherwise each
        # definition would repeat the whole chain below it.
        shared = _shared_subexpressions(order)
        hidden = 0
        for e in order:
            if e in shared and e not in names and e not in declared and not ops.is_leaf(e) and not self._is_constant(e):
                hidden += 1
                base = _case("h", e)
                names[e] = (f"{base}{hidden}", "hidden", None, None, base, "")
        if loss in names:
            raise DeclarationError("the loss is itself an activation; apply a loss op to it")
        names[loss] = ("L", "loss", None, None, "L", "")

        given = [n for n, *_ in names.values()]
        if len(set(given)) != len(given):  # two values under one name would share one entry of every table below
            twice = sorted({n for n in given if given.count(n) > 1})
            raise DeclarationError(f"symprop named two values {', '.join(twice)}: please report this network; "
                                   "giving one of them a name with symprop.name(expr, "u") works around it")
        self._check_derived_names(given, order)

        replacement: dict = {}
        memo: dict = {}
        image_memo: dict = {}  # image_dims of the subexpressions, shared by the named nodes
        nodes = []
        for expr in order:
            if expr not in names:
                continue
            name, role, layer, act, base, closed_form = names[expr]
            definition = _rebuild(expr, replacement, memo)
            symbol = alg.matrix_symbol_like(name, expr, ops.image_dims(expr, image_memo) if alg.is_matrix(expr) else None)
            replacement[expr] = symbol
            description = markers[expr].description if expr in markers else ""
            nodes.append(Node(name, symbol, definition, role, layer, act, base, closed_form, description))
        return nodes


def _helper_names(order) -> set:
    """The names of the scalar functions in the expression (applied directly or entrywise), and of what they call."""
    found = set()
    for e in order:  # every subexpression once; an entrywise body is not in ``order``: walk it
        inner = sp.preorder_traversal(alg.applied_function(e)) if isinstance(e, ElementwiseApplyFunction) else (e,)
        for f in inner:
            if isinstance(f, ops.ScalarFunctionBase):
                found.add(f.rule.name)
                found.update(f.rule.helpers)
    return found


def _hyperparameters(hyperparams) -> tuple:
    """(symbols, {name: default or None}) from a sequence of Symbols or a dict Symbol -> default."""
    if isinstance(hyperparams, dict):
        symbols = tuple(hyperparams)
        defaults = {}
        for sym, value in hyperparams.items():
            if value is not None and not (isinstance(value, (int, float, sp.Number)) and not isinstance(value, bool)
                                          and sp.Float(value).is_finite):
                raise DeclarationError(f"the default of the hyper-parameter {sp.sstr(sym)} must be a finite number, got {value!r}")
            defaults[getattr(sym, "name", str(sym))] = value
        return symbols, defaults
    symbols = tuple(hyperparams)
    return symbols, {getattr(s, "name", str(s)): None for s in symbols}


def _case(base: str, expr) -> str:
    """Lower case for scalars and vectors (z1, a1), upper case for matrices (Z1, A1)."""
    if alg.is_matrix(expr) and 1 not in expr.shape:
        return base[0].upper() + base[1:]
    return base


def _unique(base: str, layer, taken: set) -> str:
    name = f"{base}{layer}" if layer is not None else base
    letter = ord("b")
    while name in taken:  # a second S in the same layer: S_b1, S_c1, ...
        name = f"{base}_{chr(letter)}{layer if layer is not None else ''}"
        letter += 1
    return name


def _strip_markers(expr, markers: dict, hints: dict):
    """``expr`` without its markers: ``markers`` maps each Named (rebuilt) value to its
    marker, ``hints`` each symbol a builder wrapped in a Hint to {key: value}."""
    if not any(isinstance(n, (ops.Named, ops.Hint)) for n in _postorder(expr)):
        return expr

    def finish(node):
        if isinstance(node, ops.Named):
            markers.setdefault(node.expr, node)
            return node.expr
        if isinstance(node, ops.Hint):
            hints.setdefault(node.symbol, {})[node.key] = node.value
            return node.symbol
        return node

    return _rebuild_dag(expr, finish)


def _rebuild_dag(expr, finish=lambda node: node):
    """Rebuild ``expr`` bottom-up, once per distinct subexpression, passing each
    rebuilt node through ``finish``.  Elementwise applications are rebuilt with
    the canonical Lambda variable (user Dummies differ on every call).

    Iterative (children before parents, from ``_postorder``): a 1000-layer
    network is an expression 1000 levels deep, beyond Python's recursion limit.
    """
    memo: dict = {}
    for e in _postorder(expr):
        memo[e] = _rebuilt_node(e, memo.__getitem__, finish)
    return memo[expr]


def _rebuilt_node(e, rebuilt, finish=lambda node: node):
    """``e`` with its children replaced by ``rebuilt(child)`` (``e`` itself when none changed)."""
    if isinstance(e, ElementwiseApplyFunction):
        return alg.elementwise(e.function, rebuilt(e.expr))
    if ops.is_leaf(e) or isinstance(e, sp.Lambda):
        return e
    args = [rebuilt(a) for a in e.args]
    return finish(e if all(n is o for n, o in zip(args, e.args)) else e.func(*args))


def _canonical(expr):
    """Give every elementwise Lambda the canonical variable and doit-stopping class."""
    if not any(
        isinstance(n, ElementwiseApplyFunction)
        and (n.function.variables != (alg.T,) or not isinstance(n, alg.EntrywiseApply))
        for n in _postorder(expr)
    ):
        return expr
    return _rebuild_dag(expr)


def _factor_nested_sums(expr):
    """Write a sum that contains another sum of the expression as that sum plus the rest.

    SymPy flattens ``f(W h + b) + h`` with ``h = a1 + x`` into ``a2 + a1 + x``, so
    a residual chain arrives as sums of 2, 3, ... L terms.  Rewriting each as
    the previous sum plus its new terms (h2 = a2 + h1) restores the shared
    values the user wrote; they are then named (h1, h2, ...) and every equation
    stays one layer long.
    """
    if sum(isinstance(e, sp.MatAdd) for e in _postorder(expr)) < 2:
        return expr
    rewritten_sums = []  # (argument set, rewritten sum), smaller sums first
    containing = {}  # term -> indices of the rewritten sums that have it (only those can be inside a sum)

    def factor(node):
        if not isinstance(node, sp.MatAdd):
            return node
        terms = set(node.args)
        best = None
        # the largest earlier sum inside this one (the earliest of equal size): the previous block's, at once
        candidates = sorted({i for t in terms for i in containing.get(t, ())}, key=lambda i: (-len(rewritten_sums[i][0]), i))
        for inner_terms, inner in (rewritten_sums[i] for i in candidates):
            if len(inner_terms) >= 2 and inner_terms < terms:
                best = (inner_terms, inner)
                break
        if best is not None:
            node = sp.MatAdd(*[a for a in node.args if a not in best[0]], best[1])
        for t in terms:
            containing.setdefault(t, []).append(len(rewritten_sums))
        rewritten_sums.append((terms, node))
        return node

    return _rebuild_dag(expr, factor)


def _children(node) -> list:
    if isinstance(node, ElementwiseApplyFunction):
        return [node.expr]
    if ops.is_leaf(node) or isinstance(node, sp.Lambda):
        return []
    return list(node.args)


def _shared_subexpressions(order) -> set:
    """Subexpressions with two or more distinct parents in the expression DAG."""
    parents: dict = {}
    for node in order:
        for child in set(_children(node)):
            parents.setdefault(child, set()).add(node)
    return {child for child, ps in parents.items() if len(ps) >= 2 and isinstance(child, (MatrixExpr, sp.Expr))}


def _postorder(expr, stop=None) -> list:
    """Unique subexpressions, each after its arguments (iterative: deep nets are deep).

    ``stop(node)``: do not list ``node`` nor look inside it (``expr`` itself is always listed).
    """
    seen = set()
    order = []
    stack = [(expr, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            if node not in seen:
                seen.add(node)
                order.append(node)
            continue
        if node in seen:
            continue
        stack.append((node, True))
        for child in reversed(_children(node)):
            if child not in seen and (stop is None or not stop(child)):
                stack.append((child, False))
    return order


def _rebuild(expr, replacement: dict, memo: dict):
    """``expr`` with its named strict subexpressions replaced by their symbols.

    ``memo`` caches rebuilt subexpressions across calls: a residual network's
    expression is a DAG whose tree unfolding doubles with every layer, and each
    call only visits what earlier calls have not.  Iterative, like _postorder.
    """
    if expr in memo:
        return memo[expr]

    def rebuilt(child):
        return replacement[child] if child in replacement else memo[child]

    for e in _postorder(expr, stop=lambda n: n in replacement or n in memo):
        memo[e] = _rebuilt_node(e, rebuilt)
    return memo[expr]


# ==========================================================================
# Quadratic costs written out: the squared error on yhat, with its factor
# ==========================================================================
#
# Textbooks write C = 1/2 ||a - y||^2.  In SymPy that is c (a - y).T * (a - y),
# whose transpose SymPy pushes into the network (a transposed copy of every
# layer), or c sum_i (a[i, 0] - y[i, 0])**2, which SymPy expands into scalar
# entries of every layer.  Either way the book's intermediates (yhat and the
# deltas) are gone and correct textbook formulas no longer match.  Both are
# read here as (c n) mse(yhat, y) - mse is the mean over the n outputs - so
# the derivation names what the book names; the reading is stated in
# ``Network.loss_reading``.  Nothing else in the loss is touched.


def _expand_entry_sums(loss):
    """sp.Sum over the entries (sum_i (a[i, 0] - y[i, 0])**2) written out, so that its index is no free symbol."""
    if not _dag_atoms(loss, sp.Sum):
        return loss
    return loss.replace(lambda e: isinstance(e, sp.Sum), lambda e: e.doit())


def _quadratic_costs(loss, params: set, data: set) -> tuple:
    """(loss with its quadratic costs read as scaled mse, a sentence saying so or None)."""
    readings = []

    def read(found):
        factor, prediction, target = found
        readings.append((factor, target))
        scaled = ops.mse(prediction, target)
        return scaled if factor == 1 else factor * scaled

    whole = _squared_error(loss, params, data)
    if whole is not None:
        new = read(whole)
    elif isinstance(loss, sp.Add):  # a cost among other terms (a weight decay): c sum_i (...)^2 + ..., or q[0, 0] + ...
        squares = [a for a in loss.args if _squared_entry(a, data) is not None]
        rest = [a for a in loss.args if a not in squares]
        found = _entry_sum(squares, params, data) if squares else None
        terms = [read(found)] if found is not None else squares
        for a in rest:
            one = _squared_error(a, params, data)
            terms.append(a if one is None else read(one))
        new = sp.Add(*terms)
    else:
        new = loss
    if not readings:
        return loss, None
    said = "; ".join(f"{sp.sstr(f)}·mse(yhat, {t.name}), the mean over its n = {t.shape[0]} outputs" for f, t in readings)
    return new, f"the quadratic cost is read as the squared error on the prediction: L = {said}"


def _squared_error(e, params: set, data: set):
    """c (P - Y)ᵀ(P - Y), c sum_i (P_i - Y_i)^2 or its [0, 0] entry -> (c n, P, Y); None otherwise."""
    if isinstance(e, sp.matrices.expressions.matexpr.MatrixElement) and e.parent.shape == (1, 1):
        return _squared_error(e.parent, params, data)
    if isinstance(e, MatMul):
        c, rest = alg.coefficient_split(e)
        factors = list(rest.args) if isinstance(rest, MatMul) else [rest]
        if len(factors) == 2 and factors[1].shape[1] == 1 and not _has_matrix(c):
            inner = _multiple_of(factors[0], factors[1].T)  # SymPy moves c into the transposed factor: (c Pᵀ - c Yᵀ)
            found = _difference(factors[1], data) if inner is not None else None
            if found is not None:
                return (c * inner * found[1].shape[0], *found)
        return None
    if isinstance(e, sp.Mul):
        c = sp.Mul(*[a for a in e.args if not _has_matrix(a)])
        rest = sp.Mul(*[a for a in e.args if _has_matrix(a)])
        found = _squared_error(rest, params, data) if c != 1 else None
        return None if found is None else (c * found[0], found[1], found[2])
    if isinstance(e, sp.Add):
        return _entry_sum(list(e.args), params, data)
    return None


def _multiple_of(a, b):
    """The scalar k with a = k b (sums compared term by term), or None."""
    if a == b:
        return sp.S.One
    terms_a = [alg.coefficient_split(u) for u in (a.args if isinstance(a, MatAdd) else (a,))]
    terms_b = [alg.coefficient_split(u) for u in (b.args if isinstance(b, MatAdd) else (b,))]
    if len(terms_a) != len(terms_b):
        return None
    coefficients_b = dict((rest, c) for c, rest in terms_b)
    ratios = {sp.simplify(c / coefficients_b[rest]) if rest in coefficients_b else None for c, rest in terms_a}
    return ratios.pop() if len(ratios) == 1 and None not in ratios else None


def _has_matrix(e) -> bool:
    return isinstance(e, MatrixExpr) or bool(_dag_atoms(e, MatrixSymbol))


def _dag_atoms(expr, cls) -> set:
    """The subexpressions of ``expr`` of class ``cls``, each visited once (``.has`` and
    ``.atoms`` walk the tree, which doubles with every block of a residual network)."""
    return {n for n in _postorder(expr) if isinstance(n, cls)}


def _difference(b, data: set):
    """P - Y or Y - P, with Y declared data -> (P, Y)."""
    if not (isinstance(b, MatAdd) and len(b.args) == 2):
        return None
    for p_term, y_term in (b.args, b.args[::-1]):
        cy, y = alg.coefficient_split(y_term)
        cp, p = alg.coefficient_split(p_term)
        if y in data and {cy, cp} == {1, -1} and p.shape == y.shape and not all(s in data for s in _dag_atoms(p, MatrixSymbol)):
            return p, y
    return None


def _squared_entry(t, data: set):
    """c (E - Y[i, 0])^2 with Y declared data -> (c, Y[i, 0], E); None otherwise."""
    c = sp.Mul(*[a for a in sp.Mul.make_args(t) if not _has_matrix(a)])
    square = t / c
    if not (isinstance(square, sp.Pow) and square.exp == 2 and isinstance(square.base, sp.Add)):
        return None
    for y_term in square.base.args:
        sign, y = (-1, -y_term) if y_term.could_extract_minus_sign() else (1, y_term)
        if isinstance(y, sp.matrices.expressions.matexpr.MatrixElement) and y.parent in data and y.j == 0:
            return c, y, (square.base - y_term) * (-sign)
    return None


def _entry_sum(terms: list, params: set, data: set):
    """c sum_i (E_i - Y[i, 0])^2 over every entry of Y -> (c n, P, Y) with P[i, 0] = E_i; None otherwise."""
    entries, coefficients, targets = {}, set(), set()
    for t in terms:
        found = _squared_entry(t, data)
        if found is None:
            return None
        c, y, value = found
        coefficients.add(c)
        targets.add(y.parent)
        entries[int(y.i)] = value
    if len(coefficients) != 1 or len(targets) != 1:
        return None
    (coefficient,), (target,) = coefficients, targets
    n = target.shape[0]
    if sorted(entries) != list(range(n)):
        return None
    prediction = _reroll([entries[i] for i in range(n)], params)
    return None if prediction is None else (coefficient * n, prediction, target)


def _reroll(entries: list, params: set):
    """The column expression whose i-th entry SymPy expanded into entries[i] (W h + b, f(.), a symbol), or None."""
    n = len(entries)
    first = entries[0]
    element = sp.matrices.expressions.matexpr.MatrixElement
    if all(isinstance(e, element) for e in entries):
        m = first.parent
        ok = isinstance(m, MatrixSymbol) and m.shape == (n, 1)
        return m if ok and all(e.parent == m and e.i == i and e.j == 0 for i, e in enumerate(entries)) else None
    if all(isinstance(e, ops.ScalarFunctionBase) and e.func == first.func for e in entries):
        inner = _reroll([e.args[0] for e in entries], params)
        return None if inner is None else first.rule(inner)
    rows = []
    for i, e in enumerate(entries):  # W[i, :] h + b[i, 0]
        bias, products = None, {}
        for term in sp.Add.make_args(e):
            if isinstance(term, element) and term.parent in params and term.i == i and term.parent.shape == (n, 1):
                bias = term.parent
                continue
            weight = next((a for a in sp.Mul.make_args(term) if isinstance(a, element) and a.parent in params
                           and a.parent.shape[0] == n and a.i == i), None)
            if weight is None:
                return None
            products[int(weight.j)] = (weight.parent, term / weight)
        rows.append((bias, products))
    weights = {w for _, products in rows for w, _ in products.values()}
    if len(weights) != 1:
        return None
    (weight,) = weights
    k = int(weight.shape[1])
    columns = [rows[0][1].get(j, (None, None))[1] for j in range(k)]
    if any(sorted(products) != list(range(k)) or [v for _, v in (products[j] for j in range(k))] != columns
           for _, products in rows) or len({bias for bias, _ in rows}) != 1:
        return None
    inner = _reroll(columns, params)
    if inner is None:
        return None
    bias = rows[0][0]
    return weight * inner if bias is None else weight * inner + bias


# ==========================================================================
# mlp: the textbook network from layer sizes
# ==========================================================================

DEFAULT_OUTPUT = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid", "mse": "identity"}


def mlp(sizes, hidden=None, output=None, loss=None, bias: bool = True, name: str = "mlp") -> Network:
    """A fully connected network: z^[l] = W^[l] a^[l-1] + b^[l], a^[l] = f(z^[l]).

    Args:
        sizes: the layer widths from input to output, ``[n0, n1, ..., nL]``.
        hidden: the hidden layers' activation (default ``relu``).
        output: the output activation (default: ``softmax`` for cross-entropy,
            ``sigmoid`` for binary cross-entropy, ``identity`` for mse).
        loss: the loss (default ``mse``).
        bias: give every layer a bias b^[l].
        name: the network's name (the title of the notes).

    Examples:
        >>> import symprop
        >>> net = symprop.mlp([784, 128, 10], hidden=symprop.relu, loss=symprop.cross_entropy)
        >>> [p.name for p in net.params], net.params[0].shape
        (['W1', 'b1', 'W2', 'b2'], (128, 784))
    """
    sizes = list(sizes)
    if len(sizes) < 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise ShapeError(f"mlp sizes must be at least two positive integers (input, ..., output), got {sizes}")
    hidden = ops.relu if hidden is None else hidden
    loss = ops.mse if loss is None else loss
    if not isinstance(loss, ops.Loss):
        raise DeclarationError(f"mlp loss must be a symprop loss (mse, binary_cross_entropy, cross_entropy), got {loss!r}")
    if output is None:
        output = ops.softmax if DEFAULT_OUTPUT[loss.name] == "softmax" else ops.FUNCTIONS[DEFAULT_OUTPUT[loss.name]]
    for f, what in ((hidden, "hidden"), (output, "output")):
        if not (isinstance(f, ops.ScalarFunction) and f.activation) and f is not ops.softmax:
            raise DeclarationError(f"mlp {what} activation must be a symprop activation, got {f!r}")
    x = MatrixSymbol("x", sizes[0], 1)
    y = MatrixSymbol("y", sizes[-1], 1)
    a = x
    params = []
    depth = len(sizes) - 1
    for layer in range(1, depth + 1):
        W = MatrixSymbol(f"W{layer}", sizes[layer], sizes[layer - 1])
        z = W * a
        params.append(W)
        if bias:
            b = MatrixSymbol(f"b{layer}", sizes[layer], 1)
            z = z + b
            params.append(b)
        f = output if layer == depth else hidden
        a = f(z)
    return Network(loss(a, y), params=params, inputs=[x], targets=[y], name=name)
