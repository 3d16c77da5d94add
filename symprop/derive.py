"""Reverse-mode derivation over named intermediates.

The walk visits the network's named intermediates from the loss back to the
inputs.  For each one it sums the shares its consumers sent it (its adjoint),
then differentiates its own definition - one small expression - sending each
symbol in it a share.  The shares come from the op registry
(``ops.vjp``); this module never names an op.

Every adjoint is written in terms of the adjoint symbols of its consumers
(delta2, not the expression of delta2), so each equation has a size bounded by
one layer's definition and the whole derivation is linear in depth.

Afterwards, adjoints with exactly one consumer that are not deltas (dL/da,
dL/dyhat) are substituted into it, and every adjoint is simplified by the
rewrites in ``rewrite.py``; both are recorded as forms of the step.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace

import sympy as sp
from sympy import MatrixExpr, MatrixSymbol
from sympy.core.parameters import distribute

from . import algebra as alg
from . import ops
from . import rewrite
from .batch import batch_forms
from .derivation import ETA, Contribution, Derivation, Step
from .network import Network, _postorder


def adjoint_name(node_name: str, role: str) -> str:
    # delta^[l] = dL/dz^[l] for the textbook's z; every other value v (Z1 of a
    # batch, Ztilde1, mu1, ...) has dL/dv, named d<v>.
    if role == "pre-activation" and re.fullmatch(r"z\d*", node_name):
        return "delta" + node_name[1:]
    return "d" + node_name


def local_vjp(expr, upstream, is_active) -> dict:
    """Shares of ``upstream`` (the adjoint of ``expr``) for each symbol in ``expr``."""
    order = _postorder(expr)
    shares: dict = {expr: [upstream]}
    for node in reversed(order):
        if node not in shares or isinstance(node, (sp.Symbol, MatrixSymbol)):
            continue
        g = alg.add(*shares.pop(node))
        for child, share in ops.vjp(node, g):
            if is_active(child):
                shares.setdefault(child, []).append(share)
    return {
        leaf: rewrite.normalize(alg.add(*parts))
        for leaf, parts in shares.items()
        if isinstance(leaf, (sp.Symbol, MatrixSymbol))
    }


def derive(network: Network, closed_forms: bool = True) -> Derivation:
    """The derivation of ``network``; ``closed_forms=False`` keeps every region node by node."""
    # SymPy distributes a number over a sum (2*(a - y) -> 2*a - 2*y) unless told
    # not to; the textbook keeps the factor outside.
    with distribute(False):
        return _derive(network, closed_forms)


def _derive(network: Network, closed_forms: bool = True) -> Derivation:
    nodes = network.nodes
    # Sets and dicts, never membership in a tuple: each lookup in network.params
    # compared SymPy objects one by one, which made derive O(P^2) (issue 11).
    params, masks = set(network.params), set(network.mask_inputs)
    # masks select entries; like targets they are data with no gradient of their own
    differentiable = [s for s in network.params + network.inputs if s not in masks]
    declared = {s: ("parameter" if s in params else "input") for s in differentiable}
    declared_set = set(declared)

    # Activity: only values that depend on a parameter or input need an adjoint.
    active = set(declared)
    for n in nodes:
        if n.definition.free_symbols & active:
            active.add(n.symbol)

    def is_active(e) -> bool:
        return isinstance(e, sp.Basic) and bool(e.free_symbols & active)

    # Which nodes consume each declared symbol (to emit a gradient once complete).
    pending = defaultdict(set)
    for n in nodes:
        for s in n.definition.free_symbols & declared_set:
            pending[s].add(n.name)

    contributions = defaultdict(list)
    raw = []  # (kind, of_name, role, symbol, expr, contributions, layer, activation, local_derivative)
    seed = sp.S.One

    for node in reversed(nodes):
        if node.role == "loss":
            upstream = alg.scale(seed, sp.OneMatrix(1, 1)) if isinstance(node.symbol, MatrixExpr) else seed
        else:
            if node.symbol not in active or not contributions[node.symbol]:
                continue
            upstream = alg.matrix_symbol_like(adjoint_name(node.name, node.role), node.symbol)
            terms = contributions[node.symbol]
            raw.append(
                dict(
                    kind="adjoint",
                    of=node.name,
                    role=node.role,
                    symbol=upstream,
                    expr=alg.add(*[c.expr for c in terms]),
                    contributions=tuple(terms),
                    layer=node.layer,
                    activation=None,
                )
            )
        shares = local_vjp(node.definition, upstream, is_active)
        own = {node.definition: node.symbol}  # f(z) in a derivative is the node itself
        for leaf in sorted(shares, key=lambda s: s.name):
            share = shares[leaf]
            renamed = share.xreplace(own)
            if renamed != share:
                share = rewrite.normalize(renamed)
            local = None
            if not isinstance(share, MatrixExpr) and not isinstance(upstream, MatrixExpr):
                local = share / upstream  # upstream is a symbol (or 1): the quotient is exact
                if upstream in sp.denom(local).free_symbols:
                    # a share that is a sum, delta2 w2 + delta2: cancel, or the local derivative
                    # would be (delta2 w2 + delta2)/delta2, 0/0 where delta2 = 0 (a dead ReLU)
                    local = sp.cancel(local)
            contributions[leaf].append(Contribution(node.name, upstream, share, local))
        # A declared symbol's gradient is complete once every node using it is done.
        for leaf in sorted(node.definition.free_symbols & declared_set, key=lambda s: s.name):
            pending[leaf].discard(node.name)
            if not pending[leaf] and contributions[leaf]:
                terms = contributions[leaf]
                raw.append(
                    dict(
                        kind="gradient",
                        of=leaf.name,
                        role=declared[leaf],
                        symbol=alg.matrix_symbol_like("d" + leaf.name, leaf),
                        expr=alg.add(*[c.expr for c in terms]),
                        contributions=tuple(terms),
                        layer=None,
                        activation=None,
                    )
                )

    # Record, for the adjoint of each pre-activation, the activation and f'(z).
    activation_of_layer = {}
    for n in nodes:
        if n.activation:
            activation_of_layer.setdefault(n.layer, n)
    for r in raw:
        if r["kind"] == "adjoint" and r["role"] == "pre-activation":
            act_node = activation_of_layer[r["layer"]]
            r["activation"] = act_node.activation
            r["local_derivative"] = _local_derivative(act_node)

    if closed_forms:
        _attach_closed_forms(network, raw)
    return _finish(network, nodes, raw)


def _attach_closed_forms(network, raw):
    """Regions that an op family knows a closed form for (batch norm's backward).

    The node-by-node adjoint of a region's input stays the first form of its
    step; the family's closed form replaces the contributions from inside the
    region as a further form, with the family's reason.  derive only looks the
    form up by the key the region's marker carries.
    """
    adjoint_symbols = {r["of"]: r["symbol"] for r in raw if r["kind"] == "adjoint"}
    by_target = {r["of"]: r for r in raw if r["kind"] in ("adjoint", "gradient")}
    for node in network.nodes:
        if not node.closed_form or node.name not in adjoint_symbols:
            continue
        form = ops.CLOSED_FORMS[node.closed_form](network, node, lambda n: adjoint_symbols[n.name])
        if form is None or form.input.name not in by_target:
            continue
        record = by_target[form.input.name]
        outside = [c.expr for c in record["contributions"] if c.consumer not in form.region]
        record["closed_form"] = (rewrite.normalize(alg.add(form.share, *outside)), form.reason)


def _local_derivative(act_node):
    """f'(z) of an activation node, lifted to its shape and written in its symbols."""
    probe = sp.OneMatrix(*act_node.shape) if isinstance(act_node.symbol, MatrixExpr) else sp.S.One
    ((_, share),) = ops.vjp(act_node.definition, probe)
    return rewrite.substitute(share, {act_node.definition: act_node.symbol})


def _finish(network, nodes, raw) -> Derivation:
    # Count consumers of each adjoint symbol among the backward equations.
    adjoint_symbols = {r["symbol"]: r for r in raw if r["kind"] == "adjoint"}
    adjoint_set = set(adjoint_symbols)
    uses = defaultdict(int)
    for r in raw:
        for s in r["expr"].free_symbols & adjoint_set:
            uses[s] += 1
    # dL/da and dL/dyhat used once are substituted into their consumer (the textbook's delta);
    # values a layer builder named (attention's P) keep their adjoint as a line of its own
    bases = {n.name: n.base for n in nodes}
    inline = {
        s for s, r in adjoint_symbols.items()
        if uses[s] == 1 and r["role"] in ("activation", "prediction") and bases.get(r["of"], "a") in ("a", "A", "yhat", "Yhat")
    }

    assumptions = []
    for node in nodes:
        for e in _postorder(node.definition):
            if ops.is_loss_node(e):
                assumptions.extend(a for a in e.rule.assumptions(e.target) if a not in assumptions)

    final = {}
    used_assumptions = []
    steps = []
    number = 0
    for node in nodes:
        number += 1
        steps.append(
            Step(
                number,
                "loss" if node.role == "loss" else "forward",
                node.name,
                node.symbol,
                node.definition,
                role=node.role,
                layer=node.layer,
                activation=node.activation,
            )
        )
    for r in raw:
        number += 1
        expr = r["expr"]
        forms = [rewrite.Form(expr, "chain rule")]
        subs = {s: final[s] for s in expr.free_symbols & inline if s in final}
        if subs:
            expr = rewrite.substitute(expr, subs)
            names = ", ".join(sorted(s.name for s in subs))
            forms.append(rewrite.Form(expr, f"substitute {names}"))
        expr, simplification, used = rewrite.simplify(expr, assumptions)
        forms.extend(simplification)
        if "closed_form" in r:
            expr, reason = r["closed_form"]
            forms.append(rewrite.Form(expr, reason))
        used_assumptions.extend(u for u in used if u not in used_assumptions)
        final[r["symbol"]] = expr
        steps.append(
            Step(
                number,
                r["kind"],
                r["symbol"].name,
                r["symbol"],
                expr,
                of=r["of"],
                role=r["role"],
                layer=r["layer"],
                activation=r["activation"],
                forms=tuple(forms),
                contributions=r["contributions"],
                local_derivative=r.get("local_derivative"),
                inlined=r["symbol"] in inline,
                needed=r["kind"] != "gradient" or r["role"] == "parameter",
            )
        )
    for p in network.params:
        number += 1
        grad = alg.matrix_symbol_like("d" + p.name, p)
        steps.append(
            Step(number, "update", p.name + "_new", p, alg.add(p, alg.neg(alg.scale(ETA, grad))), of=p.name, role="parameter")
        )
    steps = _mark_needed(steps)
    steps = batch_forms(network, steps)
    return Derivation(network, tuple(steps), tuple(used_assumptions))


def _mark_needed(steps):
    """An adjoint is needed if a parameter gradient depends on it (not only dL/dx)."""
    needed_symbols = set()
    for s in reversed(steps):
        if s.kind == "gradient" and s.role == "parameter":
            needed_symbols |= s.expr.free_symbols
        elif s.kind == "adjoint" and s.symbol in needed_symbols:
            needed_symbols |= s.expr.free_symbols
    out = []
    for s in steps:
        if s.kind == "adjoint":
            s = replace(s, needed=s.symbol in needed_symbols)
        out.append(s)
    return out


__all__ = ["derive", "local_vjp", "ETA"]
