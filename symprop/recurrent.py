"""Recurrence through time: one cell, shared parameters, unrolled over T steps.

A recurrent network is declared as its *cell*: the computation of one step t
as SymPy expressions of the previous state h (read as h_{t-1}), the step's
inputs x_t and targets y_t, and the shared parameters.  ``states`` says
which expression is the next state (h_t), ``loss`` is the step's loss L_t;
the network's loss is L = sum_t L_t (``loss_at="every"``) or L = L_T
(``loss_at="last"``), with h_0 = 0.

Nothing is unrolled symbolically.  The cell is an ordinary per-example
``Network``, derived once by the existing engine, with two extra terms in its
loss that make its derivation the backward pass of *every* step:

* ``s L_t``: the loss of the step weighted by a scalar s (1 where the loss
  has a term at t, 0 elsewhere; the generated code puts 1/m there, the seed
  of the batch mean);
* ``tr(g^T h_t)`` per state: g stands for dL/dh_t as the *later* steps see
  it.  Those steps depend on h_t only through step t + 1, so for the gradient
  they are exactly this linear term; its adjoint is g.

The cell's derivation then gives the adjoints of step t in terms of g, and
its gradient with respect to the previous state h is what step t sends back
to h_{t-1}.  So g at step t is that gradient evaluated at step t + 1: with
it substituted, the cell's equations are the BPTT recursion, stated once for
every t (delta_t = (V^T do_t + W^T delta_{t+1}) * f'(z_t) for a tanh RNN), and
each parameter gradient is the sum over t of the cell's gradient.  Derive
time does not depend on T; only numbers (``evaluate``, notes, code) loop
over t.

Names are indexed by time: a symbol of the time view is named
``<base>__<label>`` (``h__tm1`` is h_{t-1}, ``delta__tp1`` is delta_{t+1},
``h__T`` is h_T); user names may not contain ``__``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np
import sympy as sp
from sympy import MatrixExpr, MatrixSymbol
from sympy.core.parameters import distribute

from . import algebra as alg
from . import ops
from . import rewrite
from .batch import M as BATCH
from .batch import batch_name
from .derivation import ETA
from .errors import DeclarationError, EvaluationError, InvalidNameError, ShapeError, UnsupportedOperationError
from .names import GENERATED_RECURRENT
from .network import DEFAULT_OUTPUT, Network, _canonical, _check_name, _postorder
from .printing import LatexPrinter, NumPyPrinter, TextPrinter, _latex_base, _text_name, helper_namespace

LOSS_AT = ("every", "last")
# Names the generated code of a recurrent network gives to things of its own.
CODE_NAMES = GENERATED_RECURRENT  # the names its module defines (the one table: names.py)
SEP = "__"  # <base>__<time label>: user names may not contain it


# ==========================================================================
# Time-indexed names
# ==========================================================================


def label(offset: int, last: bool = False) -> str:
    """The time index of a step ``offset`` away from t (or from T): t, t-1, t+1, T-1."""
    base = "T" if last else "t"
    return base if offset == 0 else f"{base}{offset:+d}"


def _encode(lab: str) -> str:
    return lab.replace("-", "m").replace("+", "p")


def _decode(code: str) -> str:
    return re.sub(r"(?<=[tT])m", "-", re.sub(r"(?<=[tT])p", "+", code))


def time_name(base: str, lab: str) -> str:
    return f"{base}{SEP}{_encode(lab)}"


def split_time(name: str):
    """(base, label) of a time-indexed name; (name, None) otherwise."""
    if SEP not in name:
        return name, None
    base, code = name.split(SEP, 1)
    return base, _decode(code)


def time_symbol(base: str, lab: str, like):
    return alg.matrix_symbol_like(time_name(base, lab), like)


def time_latex(name: str, derivative_names=frozenset()) -> Optional[str]:
    """LaTeX of a time-indexed name: h_{t-1}, \\delta_{r,t}, \\partial L / \\partial h_t; None if not one."""
    return _spell(name, derivative_names, latex=True)


def time_text(name: str, derivative_names=frozenset()) -> Optional[str]:
    """Plain text of a time-indexed name: h[t-1], δ_r[t], ∂L/∂h[t]; None if not one."""
    return _spell(name, derivative_names, latex=False)


def _spell(name, derivative_names, latex):
    base, lab = split_time(name)
    if lab is None:
        return None
    if base in derivative_names:
        inner = _spell(time_name(base[1:], lab), (), latex)
        return rf"\frac{{\partial L}}{{\partial {inner}}}" if latex else f"∂L/∂{inner}"
    if not latex:
        return f"{_text_name(base)}[{lab}]"
    head, *subs = base.split("_")
    parts = [s if len(s) == 1 or s.isdigit() else rf"\mathrm{{{s}}}" for s in subs if s]
    return _latex_base(head) + "_{" + ",".join(parts + [lab]) + "}"


class TimeLatexPrinter(LatexPrinter):
    """The notes' LaTeX printer, with time-indexed names (h_{t-1}, \\delta_{t+1})."""

    def _name(self, name):
        tex = time_latex(name, self._derivative_names or frozenset())
        return super()._name(name) if tex is None else tex


class TimeTextPrinter(TextPrinter):
    def __init__(self, derivative_names=frozenset(), settings=None):
        super().__init__(settings)
        self.derivative_names = frozenset(derivative_names)

    def _print_MatrixSymbol(self, expr):
        return time_text(expr.name, self.derivative_names) or super()._print_MatrixSymbol(expr)

    def _print_Symbol(self, expr):
        return time_text(expr.name, self.derivative_names) or super()._print_Symbol(expr)


# ==========================================================================
# The declaration
# ==========================================================================


class RecurrentNetwork:
    """A recurrent cell unrolled over T steps with shared parameters (backpropagation through time).

    The cell is derived once by the ordinary engine; its equations become the
    recursion, stated once for every t; nothing is unrolled in T.

    Args:
        loss: the loss L_t of one step, a scalar SymPy expression of the previous
            states, the step's inputs and targets and the parameters.
        states: {previous state symbol: next state expression}, e.g.
            ``{h: symprop.tanh(W * h + U * x + b)}`` (h is h_{t-1} in the cell; h_0 = 0).
        params: the trainable symbols.
        inputs: the inputs of one step (column vectors).
        targets: the targets of one step.
        T: the number of steps.
        loss_at: "every" (L = sum_t L_t) or "last" (L = L_T; the targets are those of step T).
        names: optional {expression: name} for the cell's intermediates, so that
            the equations read r_t, u_t, n_t rather than numbered layers.
        name: free text, the title of the notes.

    Examples:
        >>> import sympy as sp, symprop
        >>> x, y, h = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1), sp.MatrixSymbol("h", 4, 1)
        >>> W, U, b = sp.MatrixSymbol("W", 4, 4), sp.MatrixSymbol("U", 4, 3), sp.MatrixSymbol("b", 4, 1)
        >>> V, c = sp.MatrixSymbol("V", 2, 4), sp.MatrixSymbol("c", 2, 1)
        >>> h_next = symprop.tanh(W * h + U * x + b)
        >>> net = symprop.RecurrentNetwork(symprop.mse(V * h_next + c, y), {h: h_next}, [W, U, b, V, c], [x], [y], T=10)
        >>> print(net.derive())  # doctest: +ELLIPSIS
        (1) z[t] = U x[t] + W h[t-1] + b
        ...
        (12) ∂L/∂W = Σ_t δ[t] h[t-1]ᵀ
        ...
    """

    def __init__(self, loss, states, params, inputs=(), targets=(), T: int = 1, loss_at: str = "every",
                 names=None, name: str = "recurrent network"):
        self.name = name
        self.T = _check_steps(T)
        if loss_at not in LOSS_AT:
            raise DeclarationError(f"loss_at must be 'every' (L = sum over t of L_t) or 'last' (L = L_T), got {loss_at!r}")
        self.loss_at = loss_at
        self.params = tuple(params)
        self.inputs = tuple(inputs)
        self.targets = tuple(targets)
        self.states = _check_states(states, self.params + self.inputs + self.targets)
        for sym in self.params + self.inputs + self.targets + self.state_symbols:
            if getattr(sym, "name", None) in CODE_NAMES:
                raise InvalidNameError(f"{sym.name!r} is {CODE_NAMES[sym.name]} in the generated code; rename it")
        self.loss = loss
        self.cell, self.carries, self.weight = self._build_cell(loss, names)
        self.time_names = self._time_names(names or {})

    @property
    def declared(self) -> tuple:
        """The declared symbols: parameters, then inputs, then targets."""
        return self.params + self.inputs + self.targets

    @property
    def nodes(self) -> list:
        """The cell's named values (one step)."""
        return self.cell.nodes

    @property
    def state_symbols(self) -> tuple:
        """The previous-state symbols of the cell (h; h and c for an LSTM)."""
        return tuple(prev for prev, _ in self.states)

    def derive(self) -> "RecurrentDerivation":
        """Derive the BPTT equations: the cell once, the recursion stated for every t.

        Examples:
            >>> import symprop
            >>> d = symprop.rnn(3, 4, 2, T=20).derive()
            >>> d.step("dW")
            (14) ∂L/∂W = Σ_t δ[t] h[t-1]ᵀ
        """
        return RecurrentDerivation(self)

    def __repr__(self):
        return (
            f"RecurrentNetwork({self.name!r}, T={self.T}, loss_at={self.loss_at!r}, "
            f"states={[s.name for s in self.state_symbols]}, params={[p.name for p in self.params]}, "
            f"inputs={[s.name for s in self.inputs]}, targets={[s.name for s in self.targets]})"
        )

    # ------------------------------------------------------------------
    def _build_cell(self, loss, names):
        if not isinstance(loss, sp.Basic) or isinstance(loss, MatrixExpr) and loss.shape != (1, 1):
            Network._check_loss(None, loss)  # the usual one-line message
        if isinstance(loss, MatrixExpr):
            raise ShapeError("the step's loss must be a scalar expression (a loss op such as symprop.mse), not a 1x1 matrix")
        taken = {s.name for s in self.declared} | {s.name for s in self.state_symbols}
        carries = {}
        for prev, _ in self.states:
            carries[prev] = MatrixSymbol(_fresh(f"carry_{prev.name}", taken), *prev.shape)
        weight = sp.Symbol(_fresh("loss_weight", taken))
        wrapped = set()
        while True:
            full = weight * loss
            for prev, new in self.states:
                new = _as_written(new, [loss] + [n for _, n in self.states])
                if prev in wrapped:
                    # read by nothing but later steps: the identity names it (a node of its own)
                    new = ops.identity(new)
                full = full + sp.Trace(alg.matmul(alg.transpose(carries[prev]), new))
            cell = Network(
                full,
                params=self.params,
                inputs=self.inputs + self.state_symbols,
                targets=self.targets + tuple(carries.values()) + (weight,),
                name=self.name,
            )
            missing = {prev for prev, node in _state_nodes(cell, carries).items() if node is None}
            if not missing - wrapped:
                return cell, carries, weight
            wrapped |= missing

    def state_nodes(self) -> dict:
        """{previous state symbol: the cell node that is the next state}."""
        return _state_nodes(self.cell, self.carries)

    def _time_names(self, names: dict) -> dict:
        """{cell name: base name of the time view} for the inputs, targets, states and nodes.

        The next state takes its state's name (h_t beside h_{t-1}); the
        argument of its activation is z (z_h with several states), the
        argument of the prediction's activation o; ``names`` name the rest.
        """
        cell = self.cell
        states = {node.name: prev.name for prev, node in self.state_nodes().items()}
        explicit = {}
        if names:
            full = _full_expressions(cell)
            lookup = {e: n for n, e in full.items()}
            for expr, new in names.items():
                if not isinstance(new, str):
                    raise InvalidNameError(f"names maps expressions to names (strings), got {new!r}")
                _check_name(sp.Symbol(new), "name")
                node = lookup.get(_canonical(expr)) if isinstance(expr, sp.Basic) else None
                if node is None:
                    raise DeclarationError(
                        f"cannot name {sp.sstr(expr)} {new!r}: it is not one of the cell's named values "
                        "(activations, their arguments, the prediction, values used twice)"
                    )
                if new in explicit.values():
                    raise InvalidNameError(f"the name {new!r} is given to two values of the cell")
                explicit[node] = new
        wanted = dict(explicit)
        for n in cell.nodes:
            if n.name in states and n.activation:
                pre = _argument_node(cell, n)
                if pre is not None:
                    wanted.setdefault(pre.name, "z" if len(states) == 1 else f"z_{states[n.name]}")
            elif n.role == "prediction" and n.activation:
                pre = _argument_node(cell, n)
                if pre is not None:
                    wanted.setdefault(pre.name, "o")
        out = {s.name: s.name for s in self.inputs + self.targets + self.state_symbols}
        used = set(out.values()) | {p.name for p in self.params}
        shared = 0
        for n in cell.nodes:
            if n.role == "hidden" and n.name not in wanted:
                shared += 1
                wanted[n.name] = f"v{shared}"  # a value used twice (h1 in a Network; h is a state here)
        for n in cell.nodes:
            if n.name in states:
                base = states[n.name]
            else:
                base = wanted.get(n.name, n.name)
                if base in used:
                    if n.name in explicit:
                        raise InvalidNameError(f"the name {base!r} is already the name of something else in the network")
                    base = _fresh(n.name, used)
            used.add(base)
            out[n.name] = base
        return out


def _argument_node(cell, node):
    """The node that is the argument of an activation node, if it is one."""
    arg = ops.activation_argument(node.definition)
    return next((n for n in cell.nodes if n.symbol == arg), None)


def _state_nodes(cell, carries) -> dict:
    """{previous state: the node of the cell that is its next state (None if it has no node)}.

    The next states are the second factors of the carry terms tr(g^T h_t) of the loss.
    """
    found = {}
    for term in sp.Add.make_args(cell.loss_node.definition):
        if not isinstance(term, sp.Trace):
            continue
        product = term.arg
        prev = next((p for p, g in carries.items() if g in product.free_symbols), None)
        if prev is not None:
            found[prev] = next((n for n in cell.nodes if n.symbol == product.args[-1]), None)
    return found


def _fresh(name: str, taken: set) -> str:
    candidate, k = name, 1
    while candidate in taken:
        k += 1
        candidate = f"{name}{k}"
    taken.add(candidate)
    return candidate


def _check_steps(T) -> int:
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)):
        raise DeclarationError(f"T (the number of steps) must be a positive integer, got {T!r}")
    if T < 1:
        raise DeclarationError(f"T (the number of steps) must be at least 1, got {T}")
    return int(T)


def _check_states(states, declared) -> tuple:
    pairs = list(states.items()) if isinstance(states, dict) else list(states)
    if not pairs:
        raise DeclarationError("a recurrent network needs a state: states={h: <the next state, an expression of h>}")
    out = []
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise DeclarationError(f"states maps each previous state to its next state, got {pair!r}")
        prev, new = pair
        if not isinstance(prev, MatrixSymbol) or prev.shape[1] != 1:
            raise ShapeError(f"a state must be a column vector MatrixSymbol (n, 1), got {sp.sstr(prev)}")
        _check_name(prev, "state")
        if prev in declared:
            raise DeclarationError(f"the state {prev.name!r} is also declared as a parameter, input or target")
        if not isinstance(new, MatrixExpr):
            raise ShapeError(f"the next state of {prev.name!r} must be a matrix expression of shape {prev.shape}, got {sp.sstr(new)}")
        if tuple(new.shape) != tuple(prev.shape):
            raise ShapeError(
                f"the next state of {prev.name!r} has shape {tuple(new.shape)} but {prev.name!r} has shape {tuple(prev.shape)}: "
                "a state must keep its shape from step to step"
            )
        out.append((prev, new))
    previous = {p for p, _ in out}
    if len(previous) != len(out):
        raise DeclarationError("a state is given twice in states")
    for prev, _ in out:
        if not any(prev in new.free_symbols for _, new in out):
            raise DeclarationError(
                f"the state {prev.name!r} does not feed back: no next state depends on {prev.name!r} (the previous state), "
                "so nothing recurs; write the next state as an expression of it"
            )
    return tuple(out)


def _as_written(expr, contexts):
    """``expr`` as it occurs in ``contexts`` (SymPy may have reordered a sum or a Hadamard
    product inside ``V * h``), so that the cell sees one value, not two."""
    key = _order_free(expr, {})
    memo = {}
    for context in contexts:
        for e in _postorder(context):
            if e is not expr and isinstance(e, MatrixExpr) and e.shape == expr.shape and _order_free(e, memo) == key:
                return e
    return expr


def _order_free(e, memo):
    """A key of ``e`` that ignores the order of the terms of sums and the factors of Hadamard products."""
    if e in memo:
        return memo[e]
    if ops.is_leaf(e) or isinstance(e, sp.Lambda):
        key = e
    else:
        keys = [_order_free(a, memo) for a in e.args]
        if isinstance(e, (sp.MatAdd, sp.HadamardProduct, sp.Add, sp.Mul)):
            keys = sorted(keys, key=str)
        key = (type(e).__name__, tuple(keys))
    memo[e] = key
    return key


def _full_expressions(cell) -> dict:
    """{node name: the node's expression in declared symbols} (definitions expanded)."""
    full = {}
    expanded = {}
    for n in cell.nodes:
        e = n.definition.xreplace(expanded) if expanded else n.definition
        full[n.name] = e
        expanded[n.symbol] = e
    return {name: e for name, e in full.items()}


# ==========================================================================
# Builders
# ==========================================================================


def _output_layer(loss, output, what):
    loss = ops.mse if loss is None else loss
    if not isinstance(loss, ops.Loss):
        raise DeclarationError(f"{what} loss must be a symprop loss (mse, binary_cross_entropy, cross_entropy), got {loss!r}")
    if output is None:
        output = ops.softmax if DEFAULT_OUTPUT[loss.name] == "softmax" else ops.FUNCTIONS[DEFAULT_OUTPUT[loss.name]]
    if not (isinstance(output, ops.ScalarFunction) and output.activation) and output is not ops.softmax:
        raise DeclarationError(f"{what} output must be a symprop activation, got {output!r}")
    return loss, output


def _sizes(what, **sizes):
    for key, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ShapeError(f"{what}: {key} must be a positive integer, got {value!r}")


def rnn(input_size: int, hidden_size: int, output_size: int, T: int, activation=None, output=None, loss=None,
        loss_at: str = "every", bias: bool = True, name: str = "recurrent network") -> RecurrentNetwork:
    """The Elman RNN: h_t = f(W h_{t-1} + U x_t + b), yhat_t = g(V h_t + c), h_0 = 0.

    Args:
        input_size: n_x, the size of x_t.
        hidden_size: n_h, the size of h_t.
        output_size: the size of yhat_t.
        T: the number of steps.
        activation: f (default ``tanh``).
        output: g (default as ``mlp`` chooses it for the loss).
        loss: the loss of each step (default ``mse``).
        loss_at: "every" step or only the "last".
        bias: give the cell and the output layer biases.
        name: the network's name.

    Examples:
        >>> import symprop
        >>> symprop.rnn(3, 4, 2, T=20, loss=symprop.cross_entropy)
        RecurrentNetwork('recurrent network', T=20, loss_at='every', states=['h'], params=['W', 'U', 'b', 'V', 'c'], inputs=['x'], targets=['y'])
    """
    _sizes("rnn", input_size=input_size, hidden_size=hidden_size, output_size=output_size)
    activation = ops.tanh if activation is None else activation
    if not (isinstance(activation, ops.ScalarFunction) and activation.activation):
        raise DeclarationError(f"rnn activation must be a symprop activation (tanh, relu, ...), got {activation!r}")
    loss, output = _output_layer(loss, output, "rnn")
    x, y, h = MatrixSymbol("x", input_size, 1), MatrixSymbol("y", output_size, 1), MatrixSymbol("h", hidden_size, 1)
    W, U = MatrixSymbol("W", hidden_size, hidden_size), MatrixSymbol("U", hidden_size, input_size)
    V = MatrixSymbol("V", output_size, hidden_size)
    b, c = MatrixSymbol("b", hidden_size, 1), MatrixSymbol("c", output_size, 1)
    z = W * h + U * x + (b if bias else sp.ZeroMatrix(hidden_size, 1))
    h_next = activation(z)
    o = V * h_next + (c if bias else sp.ZeroMatrix(output_size, 1))
    params = [W, U, b, V, c] if bias else [W, U, V]
    return RecurrentNetwork(loss(output(o), y), {h: h_next}, params, [x], [y], T=T, loss_at=loss_at, name=name)


def gru(input_size: int, hidden_size: int, output_size: int, T: int, output=None, loss=None, loss_at: str = "every",
        name: str = "GRU network") -> RecurrentNetwork:
    """A GRU cell (as ``torch.nn.GRUCell``) and an output layer yhat_t = g(V h_t + c).

    r_t = sigma(U_r x_t + W_r h_{t-1} + b_r), u_t = sigma(U_u x_t + W_u h_{t-1} + b_u),
    n_t = tanh(U_n x_t + b_n + r_t * (W_n h_{t-1} + b_hn)), h_t = (1 - u_t) * n_t + u_t * h_{t-1}.

    Args:
        input_size: n_x.
        hidden_size: n_h.
        output_size: the size of yhat_t.
        T: the number of steps.
        output: g (default as ``mlp`` chooses it for the loss).
        loss: the loss of each step (default ``mse``).
        loss_at: "every" step or only the "last".
        name: the network's name.

    Examples:
        >>> import symprop
        >>> net = symprop.gru(3, 4, 2, T=20, loss_at="last")
        >>> [s.name for s in net.state_symbols], len(net.params)
        (['h'], 12)
    """
    _sizes("gru", input_size=input_size, hidden_size=hidden_size, output_size=output_size)
    loss, output = _output_layer(loss, output, "gru")
    nx, nh = input_size, hidden_size
    x, y, h = MatrixSymbol("x", nx, 1), MatrixSymbol("y", output_size, 1), MatrixSymbol("h", nh, 1)
    p = {}

    def param(pname, rows, cols):
        p[pname] = MatrixSymbol(pname, rows, cols)
        return p[pname]

    r = ops.sigmoid(param("U_r", nh, nx) * x + param("W_r", nh, nh) * h + param("b_r", nh, 1))
    u = ops.sigmoid(param("U_u", nh, nx) * x + param("W_u", nh, nh) * h + param("b_u", nh, 1))
    n = ops.tanh(param("U_n", nh, nx) * x + param("b_n", nh, 1) + sp.HadamardProduct(r, param("W_n", nh, nh) * h + param("b_hn", nh, 1)))
    h_next = sp.HadamardProduct(sp.OneMatrix(nh, 1) - u, n) + sp.HadamardProduct(u, h)
    o = param("V", output_size, nh) * h_next + param("c", output_size, 1)
    names = {r: "r", u: "u", n: "n", r.expr: "z_r", u.expr: "z_u", n.expr: "z_n"}
    if output is not ops.identity:
        names[o] = "o"
    return RecurrentNetwork(loss(output(o), y), {h: h_next}, list(p.values()), [x], [y], T=T, loss_at=loss_at,
                            names=names, name=name)


def lstm(input_size: int, hidden_size: int, output_size: int, T: int, output=None, loss=None, loss_at: str = "every",
         name: str = "LSTM network") -> RecurrentNetwork:
    """An LSTM cell (as ``torch.nn.LSTM``, one layer) and an output layer yhat_t = g(V h_t + c_y).

    i_t, f_t, o_t = sigma(U_k x_t + W_k h_{t-1} + b_k) for k = i, f, o;  g_t = tanh(U_g x_t + W_g h_{t-1} + b_g),
    c_t = f_t * c_{t-1} + i_t * g_t,  h_t = o_t * tanh(c_t);  two states, h_0 = c_0 = 0.

    Args:
        input_size: n_x.
        hidden_size: n_h.
        output_size: the size of yhat_t.
        T: the number of steps.
        output: g (default as ``mlp`` chooses it for the loss).
        loss: the loss of each step (default ``mse``).
        loss_at: "every" step or only the "last".
        name: the network's name.

    Examples:
        >>> import symprop
        >>> [s.name for s in symprop.lstm(3, 4, 2, T=20).state_symbols]
        ['h', 'c']
    """
    _sizes("lstm", input_size=input_size, hidden_size=hidden_size, output_size=output_size)
    loss, output = _output_layer(loss, output, "lstm")
    nx, nh = input_size, hidden_size
    x, y = MatrixSymbol("x", nx, 1), MatrixSymbol("y", output_size, 1)
    h, c = MatrixSymbol("h", nh, 1), MatrixSymbol("c", nh, 1)
    p = {}
    names = {}

    def gate(k, f):
        for pname, rows, cols in ((f"U_{k}", nh, nx), (f"W_{k}", nh, nh), (f"b_{k}", nh, 1)):
            p[pname] = MatrixSymbol(pname, rows, cols)
        pre = p[f"U_{k}"] * x + p[f"W_{k}"] * h + p[f"b_{k}"]
        out = f(pre)
        names.update({pre: f"z_{k}", out: k})
        return out

    i, f, g, o = gate("i", ops.sigmoid), gate("f", ops.sigmoid), gate("g", ops.tanh), gate("o", ops.sigmoid)
    c_next = sp.HadamardProduct(f, c) + sp.HadamardProduct(i, g)
    squashed = ops.tanh(c_next)
    h_next = sp.HadamardProduct(o, squashed)
    names[squashed] = "a_c"
    V, c_y = MatrixSymbol("V", output_size, nh), MatrixSymbol("c_y", output_size, 1)
    p.update(V=V, c_y=c_y)
    scores = V * h_next + c_y
    if output is not ops.identity:
        names[scores] = "s"
    return RecurrentNetwork(loss(output(scores), y), {h: h_next, c: c_next}, list(p.values()), [x], [y], T=T,
                            loss_at=loss_at, names=names, name=name)


# ==========================================================================
# The derivation through time
# ==========================================================================


@dataclass(frozen=True)
class TimeStep:
    """One equation of the time view, stated once for every t."""

    number: int
    kind: str  # "forward" | "loss" | "total" | "adjoint" | "gradient" | "update"
    name: str  # base name of the time view: z, h, L, delta, dh, dW, W_new
    symbol: sp.Basic  # the left-hand side at time t (a parameter's gradient: dW)
    expr: Optional[sp.Basic]  # the right-hand side at time t (gradient: the term summed over t)
    cell: Optional[object] = None  # the cell's Step it comes from
    of: Optional[str] = None  # adjoint/gradient/update: the base name differentiated or updated
    role: str = ""
    forms: tuple = ()  # Form chain at time t, chain rule first
    summed: bool = False  # gradient: L's gradient is the sum over t of expr
    inlined: bool = False  # adjoint substituted into its only consumer in the final equations
    last: Optional[sp.Basic] = None  # loss_at="last": the equation at t = T (None: zero)
    before_last: Optional[sp.Basic] = None  # loss_at="last": the equation for t < T (None: zero)
    _text: str = field(default="", compare=False)  # the printed equation, set by its RecurrentDerivation

    def __str__(self):
        return self._text or f"({self.number}) {self.name}"

    __repr__ = __str__  # a step is its equation

    @property
    def key(self) -> str:
        if self.kind == "gradient":
            return f"dL/d{self.of}"
        if self.kind == "update":
            return self.name
        return self.name if self.kind != "adjoint" or self.name.startswith("delta") else f"dL/d{self.of}"


class RecurrentDerivation:
    """The BPTT equations of a recurrent network, as ``RecurrentNetwork.derive()`` returns them.

    It prints as its numbered equations (each stated once for every t), shows
    the notes in a notebook, and has the methods of ``Derivation``: ``evaluate``,
    ``latex``, ``markdown``, ``numpy``.

    Examples:
        >>> import symprop
        >>> d = symprop.rnn(3, 4, 2, T=5, loss=symprop.cross_entropy).derive()
        >>> print(d)  # doctest: +ELLIPSIS
        (1) z[t] = U x[t] + W h[t-1] + b
        ...
        (10) δ[t] = (Vᵀ ∂L/∂o[t] + Wᵀ δ[t+1]) ⊙ (𝟏 - h[t] ⊙ h[t])
        ...
    """

    def __init__(self, network: RecurrentNetwork):
        self.network = network
        self._cache = {}
        with distribute(False):
            self.cell = network.cell.derive()
            self._build()

    # ------------------------------------------------------------------
    def _build(self):
        net, cell = self.network, self.cell
        self.state_nodes = net.state_nodes()
        names = net.time_names
        self.by_cell_name = {s.name: s for s in cell.steps}
        prev_states = set(net.state_symbols)
        # adjoint names in the time view: delta for z-nodes, d<name> otherwise
        adjoint_base = {}
        for s in cell.steps:
            if s.kind == "adjoint":
                base = names[s.of]
                adjoint_base[s.name] = ("delta" + base[1:]) if base == "z" or base.startswith("z_") else "d" + base
        self.adjoint_base = adjoint_base
        derivatives = [b for b in adjoint_base.values() if not b.startswith("delta")]
        self.derivative_names = frozenset(derivatives) | frozenset("d" + batch_name(b[1:]) for b in derivatives) | frozenset(
            "d" + p.name for p in net.params
        )
        node_names = {n.name for n in net.cell.nodes}
        self.new_state_of = {node.name: prev for prev, node in self.state_nodes.items()}
        self.carry_steps = {}  # previous state -> the cell's gradient step for it
        for s in cell.steps:
            if s.kind == "gradient" and s.role == "input":
                prev = next((p for p in prev_states if p.name == s.of), None)
                if prev is not None:
                    self.carry_steps[prev] = s
        for prev in net.state_symbols:
            step = self.carry_steps.get(prev)
            if step is None:
                raise DeclarationError(f"the loss does not depend on the state {prev.name!r}")
            if step.expr.free_symbols & set(net.carries.values()):
                raise UnsupportedOperationError(
                    f"the gradient that step t sends back to {prev.name}_(t-1) depends on what later steps send to "
                    f"{prev.name}_t directly; give the next state a name of its own (an activation)"
                )

        def base_of(sym):
            n = sym.name
            if n in adjoint_base:
                return adjoint_base[n]
            if n in node_names or n in names:
                return names[n]
            return None

        self._base_of = base_of
        self._node_names = node_names

        steps = []
        number = 0
        for s in cell.steps:
            if s.kind == "forward":
                number += 1
                steps.append(TimeStep(number, "forward", base_of(s.symbol), self.at(s.symbol), self.at(s.expr), cell=s,
                                      role=s.role))
        loss_step = next(s for s in cell.steps if s.kind == "loss")
        number += 1
        steps.append(TimeStep(number, "loss", "L", self.at(loss_step.symbol), self.at(self.step_loss()), cell=loss_step,
                              role="loss"))
        number += 1
        steps.append(TimeStep(number, "total", "L", sp.Symbol("L"), None, role="loss"))
        last_case = self.specialized("last") if net.loss_at == "last" else None
        before_case = self.specialized("before_last") if net.loss_at == "last" else None
        for s in cell.steps:
            if s.kind == "adjoint":
                number += 1
                forms = tuple(rewrite.Form(self.at(f.expr), f.reason) for f in s.forms)
                steps.append(TimeStep(
                    number, "adjoint", adjoint_base[s.name], self.at(s.symbol), self.at(s.expr), cell=s,
                    of=base_of(self.cell_symbol(s.of)), role=s.role, forms=forms, inlined=s.inlined,
                    last=self._at_case(last_case, s, "T"), before_last=self._at_case(before_case, s, "t"),
                ))
        for s in cell.steps:
            if s.kind == "gradient" and s.role == "parameter":
                number += 1
                forms = tuple(rewrite.Form(self.at(f.expr), f.reason) for f in s.forms)
                steps.append(TimeStep(
                    number, "gradient", "d" + s.of, s.symbol, self.at(s.expr), cell=s, of=s.of, role="parameter",
                    forms=forms, summed=True,
                    last=self._at_case(last_case, s, "T"), before_last=self._at_case(before_case, s, "t"),
                ))
        for p in net.params:
            number += 1
            grad = alg.matrix_symbol_like("d" + p.name, p)
            steps.append(TimeStep(number, "update", p.name + "_new", p, alg.add(p, alg.neg(alg.scale(ETA, grad))),
                                  of=p.name, role="parameter"))
        self.steps = tuple(steps)
        for step in self.steps:  # a step prints as its equation, which needs this derivation's printer
            object.__setattr__(step, "_text", "\n".join(self._lines(step)))

    @property
    def cell_full(self) -> dict:
        """{cell node name: its expression in declared symbols}."""
        if "full" not in self._cache:
            self._cache["full"] = _full_expressions(self.network.cell)
        return self._cache["full"]

    def ancestors(self, expr) -> set:
        """The cell symbols (nodes and declared) that ``expr`` depends on, through the definitions."""
        definitions = {n.symbol: n.definition for n in self.network.cell.nodes}
        found, stack = set(), list(expr.free_symbols)
        while stack:
            sym = stack.pop()
            if sym in found:
                continue
            found.add(sym)
            if sym in definitions:
                stack.extend(definitions[sym].free_symbols)
        return found

    def recurrent_adjoints(self) -> set:
        """Names of the cell's adjoints that depend on what later steps send back (they run back through time)."""
        varying = set(self.network.carries.values())
        names = set()
        for s in self.cell.steps:
            if s.kind == "adjoint" and s.expr.free_symbols & varying:
                varying.add(s.symbol)
                names.add(s.name)
        return names

    def batch_at(self, expr, lab: str = "t"):
        """A batch form of the cell (columns are examples: X, H, Delta1) at time ``lab``: X_t, H_{t-1}, Delta_t."""
        net = self.network
        cell = net.cell
        taken = {s.name for s in cell.declared} | {s.name for s in self.cell.steps}
        per_example = list(cell.inputs) + list(cell.targets) + [s.symbol for s in self.cell.steps
                                                                if s.kind in ("forward", "loss", "adjoint")]
        previous = _shift(lab, -1)
        subs = {}
        for sym in per_example:
            if not isinstance(sym, MatrixSymbol):
                continue  # the loss's weight and the scalar loss
            name = batch_name(sym.name)
            name = name + "_B" if name in taken else name
            if sym in net.state_symbols:
                base, at = sym.name, previous
            else:
                base = self._base_of(sym)
                at = lab
            if base is None:
                continue
            subs[MatrixSymbol(name, sym.shape[0], BATCH)] = MatrixSymbol(time_name(batch_name(base), at), sym.shape[0], BATCH)
        if expr.free_symbols - set(subs) - set(net.params) - {BATCH}:
            return None
        return expr.xreplace(subs)

    @property
    def assumptions(self) -> tuple:
        """The assumptions of the cell's rewrites, at time t (the targets of step t sum to 1)."""
        return tuple(replace(a, lhs=self.at(a.lhs)) for a in self.cell.assumptions)

    def cell_symbol(self, name: str):
        for s in self.network.cell.declared:
            if s.name == name:
                return s
        return next(n.symbol for n in self.network.cell.nodes if n.name == name)

    # ------------------------------------------------------------------
    # cell expressions -> time expressions
    # ------------------------------------------------------------------
    def mapping(self, lab: str = "t") -> dict:
        """Cell symbol -> its time symbol at ``lab`` (previous states at the step before)."""
        cache = self.__dict__.setdefault("_mappings", {})
        if lab in cache:
            return cache[lab]
        net = self.network
        previous = _shift(lab, -1)
        out = {}
        for sym in net.inputs + net.targets:
            out[sym] = time_symbol(sym.name, lab, sym)
        for prev in net.state_symbols:
            out[prev] = time_symbol(prev.name, previous, prev)
        for n in net.cell.nodes:
            out[n.symbol] = time_symbol(self.network.time_names[n.name], lab, n.symbol)
        for s in self.cell.steps:
            if s.kind == "adjoint":
                out[s.symbol] = time_symbol(self.adjoint_base[s.name], lab, s.symbol)
        cache[lab] = out
        return out

    def at(self, expr, lab: str = "t", weight=sp.S.One, carried: bool = True):
        """A cell expression at time ``lab``: the carries replaced by what step lab+1 sends back."""
        net = self.network
        subs = dict(self.mapping(lab))
        subs[net.weight] = weight
        for prev, g in net.carries.items():
            if g in expr.free_symbols:
                subs[g] = self.at(self.carry_steps[prev].expr, _shift(lab, 1)) if carried else alg.zero_like(g)
        out = rewrite.substitute(expr, subs)
        return _future_last(out)

    def _at_case(self, case, step, lab):
        if case is None or case[step.name] is None:
            return None
        return self.at(case[step.name], lab)

    def specialized(self, case: str) -> dict:
        """The cell's backward equations in a special case, zeros propagated (None: the value is zero).

        "last": at t = T, where no later step sends anything back (the carries
        are zero); "before_last": for t < T when the loss is at the last step
        only (its weight is zero); "general": as derived.  Expressions stay in
        cell symbols, with the carries and the weight as symbols where they remain.
        """
        cache = self.__dict__.setdefault("_specialized", {})
        if case in cache:
            return cache[case]
        net = self.network
        zeros = {}
        if case == "last":
            zeros = {g: alg.zero_like(g) for g in net.carries.values()}
        elif case == "before_last":
            zeros = {net.weight: sp.S.Zero}
        out = {}
        with distribute(False):
            for s in self.cell.steps:
                if s.kind not in ("adjoint", "gradient"):
                    continue
                expr = s.expr
                if expr.free_symbols & set(zeros):
                    expr = rewrite.substitute(expr, zeros)
                if alg.is_zero(expr):
                    zeros[s.symbol] = alg.zero_like(s.symbol)
                    out[s.name] = None
                else:
                    out[s.name] = expr
        cache[case] = out
        return out

    def step_loss(self):
        """L_t of the cell: its loss without the carry terms and the weight."""
        definition = self.network.cell.loss_node.definition
        carries = set(self.network.carries.values())
        terms = [t for t in sp.Add.make_args(definition) if not (t.free_symbols & carries)]
        return sp.Add(*terms).xreplace({self.network.weight: sp.S.One})

    # ------------------------------------------------------------------
    # lookup
    # ------------------------------------------------------------------
    def step(self, name: str) -> TimeStep:
        """The equation that defines ``name`` (a time name: ``"h"``, ``"delta"``, ``"dW"``; or its key ``"dL/dW"``)."""
        for s in self.steps:
            if s.name == name or s.key == name:
                return s
        raise KeyError(f"no step named {name!r}; steps: {', '.join(s.name for s in self.steps)}")

    def gradient(self, param):
        """The summand of dL/d(param) = sum_t (...) at time t (see ``TimeStep.summed``)."""
        name = param.name if isinstance(param, (sp.Symbol, MatrixSymbol)) else param
        for s in self.steps:
            if s.kind == "gradient" and s.of == name:
                return s.expr
        raise KeyError(f"{name!r} is not a parameter of this network")

    def delta(self, name=None):
        """The adjoint equations at time t: {name: expression}, or one by its time name (delta, dh, ...)."""
        adjoints = {s.name: s.expr for s in self.steps if s.kind == "adjoint"}
        if name is None:
            return adjoints
        if name not in adjoints:
            raise KeyError(f"no adjoint {name!r}; adjoints: {', '.join(adjoints)}")
        return adjoints[name]

    def text_printer(self) -> TimeTextPrinter:
        return TimeTextPrinter(self.derivative_names)

    def text(self, expr) -> str:
        return " ".join(self.text_printer().doprint(expr).split("\n"))

    def latex_printer(self, **settings) -> TimeLatexPrinter:
        return TimeLatexPrinter(dict(
            bracket_layers=True, params=tuple(p.name for p in self.network.params),
            derivative_names=self.derivative_names, **settings,
        ))

    def _lines(self, s) -> list:
        """The equation of one step (loss_at="last": with its two cases)."""
        net = self.network
        if s.kind == "total":
            rhs = "Σ_t L[t]" if net.loss_at == "every" else "L[T]"
            lines = [f"({s.number}) L = {rhs}"]
        elif s.kind == "update":
            lines = [f"({s.number}) {self.text(s.symbol)} ← {self.text(s.expr)}"]
        elif s.kind == "gradient" and net.loss_at == "last" and s.before_last is None:
            lines = [f"({s.number}) ∂L/∂{s.of} = {self.text(s.last)}"]
        elif s.kind == "gradient":
            lines = [f"({s.number}) ∂L/∂{s.of} = Σ_t {self.text(s.expr)}"]
        else:
            lines = [f"({s.number}) {self.text(s.symbol)} = {self.text(s.expr)}"]
        if s.kind == "adjoint" and net.loss_at == "last":
            at_last = self.text(s.last) if s.last is not None else "0"
            before = self.text(s.before_last) if s.before_last is not None else "0"
            lines.append(f"     at t = T: {self.text(self.at(s.cell.symbol, 'T'))} = {at_last};  for t < T: {before}")
        return lines

    def __str__(self):
        return "\n".join(str(s) for s in self.steps)

    __repr__ = __str__  # in a REPL the derivation shows its numbered equations

    # ------------------------------------------------------------------
    # numbers
    # ------------------------------------------------------------------
    def evaluate(self, values: dict, learning_rate=None, clip_norm=None) -> dict:
        """Numbers of every step t: "h[0]", "z[1]", ..., "delta[3]", "dL/dh[2]", "L[t]", "L", "dL/dW".

        ``values``: each parameter in its declared shape; each input a
        sequence of T columns (an array (T, n) or (T, n, 1)); each target the
        same, or for ``loss_at="last"`` the target of step T alone.  With
        ``learning_rate``, the updated parameters ("W_new"), after clipping
        the gradients to global norm ``clip_norm`` if given.
        """
        from .numeric import _as_array, _lookup

        net = self.network
        if not isinstance(values, dict):
            raise EvaluationError(f"values must be a dict of symbol (or name) -> value, got {type(values).__name__}")
        known = {s.name for s in net.declared}
        unknown = sorted({str(k if isinstance(k, str) else getattr(k, "name", k)) for k in values} - known)
        if unknown:
            raise EvaluationError(f"values given for unknown names {unknown}; the network declares {sorted(known)}")
        env = {}
        for sym in net.params:
            try:
                env[sym.name] = _as_array(sym.name, _lookup(values, sym), sym)
            except KeyError:
                raise EvaluationError(f"no value given for {sym.name}") from None
        sequences = {}
        for sym in net.inputs + net.targets:
            try:
                raw = _lookup(values, sym)
            except KeyError:
                raise EvaluationError(f"no value given for {sym.name}") from None
            single = net.loss_at == "last" and sym in net.targets
            sequences[sym.name] = _sequence(sym, raw, net.T, single)
        return self._run(env, sequences, learning_rate, clip_norm)

    def _compiled(self):
        if "compiled" not in self._cache:
            self._cache["compiled"] = _compile_cell(self)
        return self._cache["compiled"]

    def _run(self, params: dict, sequences: dict, learning_rate=None, clip_norm=None) -> dict:
        net = self.network
        T = net.T
        forward, backward = self._compiled()
        names = net.time_names
        out = {}
        states = {prev.name: np.zeros(tuple(int(d) for d in prev.shape)) for prev in net.state_symbols}
        for prev in net.state_symbols:
            out[f"{prev.name}[0]"] = states[prev.name]
        steps = []
        total = 0.0
        no_carry = {g.name: np.zeros(tuple(int(d) for d in g.shape)) for g in net.carries.values()}
        with np.errstate(all="ignore"):
            for t in range(1, T + 1):
                env = dict(params)
                for name, seq in sequences.items():
                    env[name] = seq[t - 1]
                env.update(states)
                # L of the cell is weight * L_t + tr(g^T h_t): L_t with weight 1 and no carry
                values = forward(**env, **no_carry, **{net.weight.name: 1.0})
                weight = 1.0 if net.loss_at == "every" or t == T else 0.0
                steps.append((env, values, weight))
                for node in net.cell.nodes:
                    if node.role == "loss":
                        continue
                    out[f"{names[node.name]}[{t}]"] = values[node.name]
                if weight:
                    out[f"L[{t}]"] = float(np.asarray(values["L"]).reshape(-1)[0])
                    total += out[f"L[{t}]"]
                for prev, node in self.state_nodes.items():
                    states[prev.name] = values[node.name]
            out["L"] = total
            grads = {p.name: np.zeros(np.shape(params[p.name])) for p in net.params}
            carries = {g.name: np.zeros(tuple(int(d) for d in g.shape)) for g in net.carries.values()}
            for t in range(T, 0, -1):
                env, values, weight = steps[t - 1]
                result = backward(**env, **values, **carries, **{net.weight.name: weight})
                for s in self.cell.steps:
                    if s.kind == "adjoint":
                        base = self.adjoint_base[s.name]
                        key = f"{base}[{t}]" if base.startswith("delta") else f"dL/d{base[1:]}[{t}]"
                        out[key] = result[s.name]
                for p in net.params:
                    grads[p.name] = grads[p.name] + result["d" + p.name]
                for prev, g in net.carries.items():
                    carries[g.name] = result[self.carry_steps[prev].name]
        for p in net.params:
            out[f"dL/d{p.name}"] = grads[p.name] if isinstance(p, MatrixSymbol) else float(grads[p.name])
        if learning_rate is not None:
            eta = float(learning_rate)
            scale = clip_scale([grads[p.name] for p in net.params], clip_norm)
            for p in net.params:
                out[p.name + "_new"] = params[p.name] - eta * scale * grads[p.name]
        return out

    def loss_and_gradients(self, params: dict, data: dict) -> tuple:
        """The batch-mean loss and its gradients for batch-first sequences (m, T, n) (targets (m, n) for "last")."""
        net = self.network
        values = _declared_params(net, params)
        _same_names("data must give the network's inputs and targets", {s.name for s in net.inputs + net.targets}, data)
        arrays = {}
        m = None
        for sym in net.inputs + net.targets:
            single = net.loss_at == "last" and sym in net.targets
            arr = np.asarray(data[sym.name], dtype=np.float64)
            n = int(sym.shape[0])
            want = (n,) if single else (net.T, n)
            if arr.ndim != 1 + len(want) or arr.shape[1:] != want:
                raise EvaluationError(f"data {sym.name!r} has shape {arr.shape}; expected batch-first (m, {', '.join(map(str, want))})")
            if m is not None and arr.shape[0] != m:
                raise EvaluationError(f"data {sym.name!r} has {arr.shape[0]} examples but another input has {m}")
            m = arr.shape[0]
            arrays[sym.name] = arr
        if not m:
            raise EvaluationError("data has no examples")
        total = 0.0
        grads = {p.name: 0.0 for p in net.params}
        single = {s.name: net.loss_at == "last" and s in net.targets for s in net.inputs + net.targets}
        for i in range(m):
            seqs = {name: _sequence(self._declared(name), arr[i], net.T, single[name]) for name, arr in arrays.items()}
            out = self._run(values, seqs)
            total += out["L"]
            for p in net.params:
                grads[p.name] = grads[p.name] + np.asarray(out[f"dL/d{p.name}"], dtype=np.float64)
        return total / m, {name: np.asarray(g / m).reshape(np.shape(params[name])) for name, g in grads.items()}

    def _declared(self, name):
        return next(s for s in self.network.declared if s.name == name)

    # ------------------------------------------------------------------
    # views
    # ------------------------------------------------------------------
    def latex(self, standalone: bool = False, values=None, learning_rate=None, *, optimizer: str = "sgd",
              clip_norm=None, recurrent_norms=None, **unknown) -> str:
        r"""The notes as LaTeX: the unrolled graph, the recursion, the sums over t, a mini-batch, the update.

        Args:
            standalone: a whole document; otherwise a fragment to ``\input``.
            values: numbers for a worked example (each input a (T, n) array), with the
                norms of delta_t from t = T back to 1 (the vanishing and exploding gradient).
            learning_rate: the step size of the worked example's update (default 0.1).
            optimizer: only "sgd" (gradient descent with clipping) is written for recurrent networks.
            clip_norm: the threshold of the clipping by global norm (default 1).
            recurrent_norms: the spectral norms the recurrent weights are rescaled to
                in the comparison of the worked example.
            **unknown: none; a misspelt option is a ``SympropError`` naming it.

        Examples:
            >>> import symprop
            >>> tex = symprop.rnn(2, 3, 2, T=4).derive().latex(standalone=True)
            >>> r"\sum_{t" in tex
            True
        """
        from .render_recurrent import latex

        return latex(self, standalone=standalone, values=values, learning_rate=learning_rate,
                     **_recurrent_options(optimizer, clip_norm, recurrent_norms, unknown))

    def markdown(self, values=None, learning_rate=None, *, optimizer: str = "sgd", clip_norm=None, recurrent_norms=None,
                 **unknown) -> str:
        """The notes as Markdown (options as in ``latex``).

        Examples:
            >>> import symprop
            >>> md = symprop.rnn(2, 3, 2, T=4).derive().markdown()
            >>> md.startswith("<!-- Generated by symprop")
            True
        """
        from .render_recurrent import markdown

        return markdown(self, values=values, learning_rate=learning_rate, **_recurrent_options(optimizer, clip_norm, recurrent_norms, unknown))

    def numpy(self) -> str:
        """The source of a standalone training module: batch-first sequences (m, T, n), one loop over t each way.

        Examples:
            >>> import symprop
            >>> source = symprop.rnn(2, 3, 2, T=4).derive().numpy()
            >>> "def gradients(" in source and "import torch" not in source
            True
        """
        from .emit_recurrent import numpy_module

        return numpy_module(self)

    def torch(self) -> str:
        raise UnsupportedOperationError(
            f"the PyTorch export does not cover recurrent networks yet ('{self.network.name}'): "
            "emit its NumPy module (symprop emit, the default --target numpy)"
        )

    def jax(self) -> str:
        raise UnsupportedOperationError(
            f"the JAX export does not cover recurrent networks yet ('{self.network.name}'): "
            "emit its NumPy module (symprop emit, the default --target numpy)"
        )

    def _repr_latex_(self):
        return self.latex()

    def _repr_markdown_(self):
        return self.markdown()


def _recurrent_options(optimizer, clip_norm, recurrent_norms, unknown) -> dict:
    """The notes' options of a recurrent network as keywords (None: the renderer's default; an unknown one is refused there)."""
    options = {"optimizer": optimizer, "clip_norm": clip_norm, "recurrent_norms": recurrent_norms}
    return {k: v for k, v in options.items() if v is not None} | unknown


def clip_scale(grads, clip_norm) -> float:
    """The factor of clipping by global norm: min(1, c / ||g||), ||g||^2 the sum of all squared entries."""
    if clip_norm is None:
        return 1.0
    norm = float(np.sqrt(sum(float(np.sum(np.square(g))) for g in grads)))
    return min(1.0, float(clip_norm) / (norm + 1e-6))


def _shift(lab: str, offset: int) -> str:
    """t -> t+1, t-1 -> t, T -> T-1 (labels of the form base[+-k])."""
    match = re.fullmatch(r"([tT])([+-]\d+)?", lab)
    if match is None:
        k = int(lab)
        return str(k + offset)
    base, rest = match.groups()
    return label(int(rest or 0) + offset, last=base == "T")


def _future_last(expr):
    """Sums written with their later-step terms last: V^T do_t + W^T delta_{t+1}."""
    def later(term):
        return any(split_time(s.name)[1] in ("t+1", "T+1") for s in term.free_symbols if hasattr(s, "name"))

    def visit(e):
        if ops.is_leaf(e) or isinstance(e, sp.Lambda):
            return e
        if isinstance(e, alg.EntrywiseApply):
            return alg.elementwise(e.function, visit(e.expr))
        args = [visit(a) for a in e.args]
        if isinstance(e, sp.MatAdd):
            ordered = [a for a in args if not later(a)] + [a for a in args if later(a)]
            return sp.MatAdd(*ordered)
        return e if all(n is o for n, o in zip(args, e.args)) else e.func(*args)

    return visit(expr)


def _sequence(sym, raw, T, single):
    """A sequence value as a list of T columns (a single target repeated: the loss reads it at T only)."""
    arr = np.asarray(raw, dtype=float) if not isinstance(raw, sp.MatrixBase) else np.array(raw.tolist(), dtype=float)
    n = int(sym.shape[0])
    if single:
        if arr.size != n:
            raise EvaluationError(f"{sym.name!r} is the target of the last step, shape ({n}, 1); the value given has shape {arr.shape}")
        column = arr.reshape(n, 1)
        if not np.all(np.isfinite(column)):
            raise EvaluationError(f"the value of {sym.name!r} is not finite")
        return [column] * T
    if arr.size != T * n or (arr.ndim >= 2 and arr.shape[0] != T):
        raise EvaluationError(
            f"{sym.name!r} is a sequence of {T} columns of size {n}: give an array of shape ({T}, {n}); got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise EvaluationError(f"the value of {sym.name!r} is not finite")
    return [row.reshape(n, 1) for row in arr.reshape(T, n)]


def _declared_params(net, params: dict) -> dict:
    _same_names("params do not match the network's parameters", {p.name for p in net.params}, params)
    out = {}
    for p in net.params:
        shape = tuple(int(k) for k in p.shape) if isinstance(p, MatrixSymbol) else ()
        value = np.asarray(params[p.name], dtype=np.float64)
        if value.size != (int(np.prod(shape)) if shape else 1):
            raise EvaluationError(f"parameter {p.name!r} has shape {value.shape} but the network declares {shape or 'a scalar'}")
        out[p.name] = value.reshape(shape) if shape else float(value.reshape(-1)[0])
    return out


def _same_names(what: str, names: set, given: dict):
    missing, extra = sorted(names - set(given)), sorted(set(given) - names)
    if missing or extra:
        raise EvaluationError(
            f"{what} {sorted(names)}" + (f": missing {missing}" if missing else "") + (f": unknown {extra}" if extra else "")
        )


def _compile_cell(d: RecurrentDerivation):
    """Two functions of one step, printed from the cell's equations: forward(declared) and backward(all)."""
    printer = NumPyPrinter()
    cell = d.network.cell
    declared = [s.name for s in cell.declared]
    node_names = [n.name for n in cell.nodes]

    def function(name, args, kinds):
        lines = [f"def {name}({', '.join(args)}):", "    out = {}"]
        for s in d.cell.steps:
            if s.kind in kinds:
                lines += [f"    {s.name} = {printer.doprint(s.expr)}", f"    out[{s.name!r}] = {s.name}"]
        return lines + ["    return out"]

    source = function("_forward", declared, ("forward", "loss")) + function("_backward", declared + node_names, ("adjoint", "gradient"))
    namespace = helper_namespace(printer.helpers_used)
    exec(compile("\n".join(source) + "\n", "<symprop recurrent>", "exec"), namespace)  # our own printed code
    return namespace["_forward"], namespace["_backward"]


__all__ = [
    "LOSS_AT", "RecurrentDerivation", "RecurrentNetwork", "TimeStep", "clip_scale", "gru", "lstm", "rnn",
    "split_time", "time_latex", "time_name", "time_text",
]
