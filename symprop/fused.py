"""Where the numbers are computed from a pre-activation instead of the prediction.

A loss of a softmax or sigmoid output is computed from the pre-activation z
(log-sum-exp, softplus, log1m_softmax): log(yhat) is never taken, so
saturated outputs give finite, accurate losses (``fused_loss``).  The
spellings live with each loss (``Loss.fused``).

One backward step has a closed form that the derived one cannot match in
floating point: the error signal of a softmax whose only consumer is a binary
cross-entropy.  The derived delta divides by 1 - yhat, which rounds to 0 once
the softmax saturates; ``Loss.fused_backward`` spells the same gradient from z
(``fused_deltas`` says which steps it replaces).  The equations shown are the
derived ones; only the arithmetic differs.  The generated module and
``evaluate`` both use this module, so they agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from . import ops


def fused_loss(loss, producers: dict):
    """(activation name, pre-activation) when ``loss`` (a LossExpr) is computed from z, else None.

    ``producers`` maps each named intermediate's symbol to its definition.
    """
    definition = producers.get(loss.prediction)
    if definition is None or not ops.is_activation_node(definition):
        return None
    name = ops.activation_name(definition)
    if name not in loss.rule.fused:
        return None
    return name, ops.activation_argument(definition)


@dataclass(frozen=True)
class FusedDelta:
    template: str  # Loss.fused_backward spelling, in {z}, {y}, {axis}
    loss: sp.Basic  # the LossExpr
    z: sp.Basic  # the pre-activation
    factor: sp.Basic  # the loss's reduction over the outputs (1/n for a mean)


def fused_deltas(derivation) -> dict:
    """{adjoint step name: FusedDelta} for the error signals with a stable closed form.

    Only where the loss term is the prediction's sole use: delta's only
    consumer is the activation, the activation's only consumer is the loss,
    and the loss is that term plus terms without the prediction.
    """
    steps = derivation.steps
    loss_step = next(s for s in steps if s.kind == "loss")
    forward = {s.name: s for s in steps if s.kind in ("forward", "loss")}
    adjoint_of = {s.of: s for s in steps if s.kind == "adjoint"}
    terms = sp.Add.make_args(loss_step.expr)
    out = {}
    for step in steps:
        if step.kind != "adjoint" or step.role != "pre-activation":
            continue
        consumers = [c.consumer for c in step.contributions]
        if len(consumers) != 1 or consumers[0] not in forward:
            continue
        act = forward[consumers[0]]
        if not act.activation or act.activation not in _backward_activations():
            continue
        pred_adjoint = adjoint_of.get(act.name)
        if pred_adjoint is None or [c.consumer for c in pred_adjoint.contributions] != [loss_step.name]:
            continue
        for term in terms:
            if (isinstance(term, ops.LossExpr) and term.prediction == act.symbol
                    and act.activation in term.rule.fused_backward
                    and not any(act.symbol in t.free_symbols for t in terms if t is not term)):
                z = ops.activation_argument(act.expr)
                pre = forward.get(step.of)
                if pre is None or pre.symbol != z:
                    continue
                out[step.name] = FusedDelta(term.rule.fused_backward[act.activation], term, z, term.rule.factor(term.prediction))
    return out


def _backward_activations() -> set:
    return {name for loss in ops.LOSSES.values() for name in loss.fused_backward}


__all__ = ["FusedDelta", "fused_deltas", "fused_loss"]
