"""The computation graph operation by operation (small scalar networks), and its table of local derivatives.

Every named value's definition is cut into its operations - +, -, x, a power,
the activation, the loss - each a node of its own.  With a worked example,
each edge carries the forward value (above) and the gradient of the loss that
flows back along it (below): the gradient at the operation times its local
derivative with respect to that input.  The caption names the gate patterns
that appear: add copies the gradient, multiply swaps its inputs, ReLU (a max)
routes it, and a value used twice (a fork) adds the gradients it receives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import sympy as sp

from .. import ops
from ..graph import _Node, layout
from .context import SectionBuilder, _substitution
from .view import Block, Section, format_number, format_number_text

MAX_NODES = 20  # a bigger graph is the layer-level figure's job
_U = sp.Dummy("u")  # the input an operation is differentiated with respect to


@dataclass
class Op:
    id: str
    expr: sp.Basic  # what it computes, in the network's symbols
    kind: str  # add | sub | mul | scale | pow | function | loss
    label: str  # LaTeX in the node
    text: str  # plain text (Mermaid)
    inputs: list = field(default_factory=list)  # (source id, source expr)
    node: Optional[object] = None  # the named value it computes (z, a, L), if any


def operations(net) -> Optional[list]:
    """The operations of a scalar network in forward order; None if one is not of a kind drawn here."""
    out, counter = [], [0]
    leaves = {s: s.name for s in net.declared}

    def visit(expr, node=None):
        if expr in leaves:
            return leaves[expr]
        if isinstance(expr, sp.Add):
            terms = list(expr.args)
            negative = [t for t in terms if t.could_extract_minus_sign()]
            if len(terms) == 2 and len(negative) == 1:
                positive = next(t for t in terms if t is not negative[0])
                kind, label, text, args = "sub", "-", "-", [positive, -negative[0]]
            else:
                kind, label, text, args = "add", "+", "+", terms
        elif isinstance(expr, sp.Mul):
            c, rest = expr.as_coeff_Mul()
            if c != 1:
                number = format_number(float(c))
                kind, label, text, args = "scale", rf"\times {number}", f"x {number}", [rest]
            else:
                kind, label, text, args = "mul", r"\times", "x", list(expr.args)
        elif isinstance(expr, sp.Pow) and expr.exp.is_Integer:
            kind, label, text, args = "pow", rf"(\cdot)^{{{int(expr.exp)}}}", f"^{int(expr.exp)}", [expr.base]
        elif isinstance(expr, ops.ScalarFunctionBase):
            kind, label, text, args = "function", expr.rule.latex or expr.rule.name, expr.rule.name, list(expr.args)
        elif ops.is_loss_node(expr):
            kind, label, text, args = "loss", expr.rule.latex, expr.rule.name, [expr.prediction, expr.target]
        else:
            raise _NotDrawn
        counter[0] += 1
        op = Op(node.name if node is not None else f"op{counter[0]}", expr, kind, label, text, node=node)
        op.inputs = [(visit(a), a) for a in args]
        out.append(op)
        return op.id

    try:
        for n in net.nodes:
            leaves[n.symbol] = visit(n.definition, n)
    except _NotDrawn:
        return None
    return out


class _NotDrawn(Exception):
    pass


def explicit(expr):
    """A loss op written out (differentiable by SymPy); anything else as it is."""
    if ops.is_loss_node(expr):
        return expr.rule.explicit(expr.prediction, expr.target) * expr.rule.factor(expr.prediction)
    return expr


def local_derivative(op, argument):
    """d op / d argument, for one input of the operation, in the network's symbols: a (1 - a), not sigma(z) (1 - sigma(z))."""
    body = explicit(op.expr)
    local = sp.diff(body.xreplace({argument: _U}), _U).xreplace({_U: argument})
    return local.xreplace({op.expr: op.node.symbol}) if op.node is not None else local


class OpGraphSection(SectionBuilder):
    """The operation-level graph with values above and gradients below each edge; the local-derivative table."""

    key = "opgraph"

    def build(self) -> list:
        if not self.scalar:
            return []
        found = operations(self.net)
        if found is None or len(found) + len(self.net.declared) > MAX_NODES:
            return []
        gradient = self.op_gradients(found) if self.values is not None else {}
        nodes = [_Node(s.name, k, self.name(s.name), s.name, []) for group, k in (
            (self.net.inputs, "input"), (self.net.params, "parameter"), (self.net.targets, "target")) for s in group]
        edges = []
        rows = []
        for op in found:
            kind = "loss" if op.kind == "loss" else "op"
            name = self.name(op.node.name) if op.node is not None else ""
            nodes.append(_Node(op.id, kind, op.label, op.text, [i for i, _ in op.inputs],
                               value=name, value_text=op.node.name if op.node is not None else ""))
            for source, argument in op.inputs:
                value = self.evaluate_expr(argument) if self.values is not None else None
                local = local_derivative(op, argument)
                flow = None
                if op.id in gradient and argument not in self.net.targets:  # a target gets no gradient
                    local_value = self.evaluate_expr(local)
                    flow = gradient[op.id] * local_value
                    self._record(f"opgraph:{source}->{op.id}", flow)
                    rows.append(self.table_row(op, source, argument, value, local, local_value, gradient[op.id], flow))
                edges.append((source, op.id, format_number(flow) if flow is not None else "",
                              format_number_text(flow) if flow is not None else "",
                              format_number(value) if value is not None else "", format_number_text(value) if value is not None else ""))
        graph = layout(nodes, edges, compact=False)
        blocks = [self.p(*self.caption(found))]
        blocks.append(Block("graph", graph=graph))
        if rows:
            blocks.append(Block(
                "table", text=self.fmt.prose("Each operation's local derivative, and the gradient it passes back (downstream "
                                             "= upstream times local):"),
                header=tuple(self.fmt.escape(h) for h in ("node", "input", "value", "local derivative", "upstream times local")),
                rows=tuple(rows),
            ))
        return [Section("The computation graph, operation by operation", 1, tuple(blocks))]

    def op_gradients(self, found) -> dict:
        """dL/d(output) of every operation: the adjoint of a named value, or the chain down inside a definition."""
        adjoints = {s.of: self.values[s.key] for s in self.steps if s.kind == "adjoint"}
        out = {}
        for op in reversed(found):  # the loss first; an op's inputs come after it
            if op.node is not None:
                out[op.id] = 1.0 if op.node.role == "loss" else float(adjoints[op.node.name])
            for source, argument in op.inputs:
                if source.startswith("op"):
                    out[source] = out[op.id] * float(self.evaluate_expr(local_derivative(op, argument)))
        return out

    def table_row(self, op, source, argument, value, local, local_value, upstream, flow):
        symbolic = self.tex(local)
        number = format_number(local_value)
        local_text = symbolic if symbolic == number else rf"{symbolic} = {number}"
        node = rf"{op.label}" + (rf" \to {self.name(op.node.name)}" if op.node is not None else "")
        given = self.name(source) if not source.startswith("op") else self.tex(argument)
        return (self.cell(node), self.cell(given), self.cell(format_number(value)), self.cell(local_text),
                self.cell(_substitution(upstream) + r" \cdot " + _substitution(local_value) + " = " + format_number(flow)))

    def caption(self, found) -> list:
        parts = ["Each operation is a node of its own" + (
            "; above each edge the value that flows forward, below it (in red) the gradient of the loss that flows back."
            if self.values is not None and self.fmt.name == "tex" else
            "; each edge is labelled with the gradient of the loss that flows back along it." if self.values is not None else
            "."), " The gate patterns here: "]
        patterns = []
        kinds = {op.kind for op in found}
        if kinds & {"add", "sub"}:
            patterns.append("an add node copies the gradient to each of its inputs (local derivative 1, or -1 for the "
                            "subtracted one)")
        if "mul" in kinds:
            patterns.append("a multiply node swaps its inputs: the gradient sent to one is scaled by the value of the other")
        if any(op.kind == "function" and op.expr.rule.name == "relu" for op in found):
            patterns.append("ReLU, a max with 0, routes the gradient: it passes where its input is positive and stops elsewhere")
        uses = {}
        for op in found:
            for source, _ in op.inputs:
                uses[source] = uses.get(source, 0) + 1
        if any(count > 1 for count in uses.values()):
            patterns.append("a value used twice (a fork) receives the sum of the gradients of its uses")
        if not patterns:
            return parts[:1]
        return parts + ["; ".join(patterns) + "."]
