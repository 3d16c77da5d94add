"""The network: what one example is, the shapes, the forward pass and the activations.
"""

from __future__ import annotations

from typing import Optional

import sympy as sp

from .. import ops
from .context import SectionBuilder, _join_math
from .view import Block, Equation, Math, Section


class NetworkSection(SectionBuilder):
    """1. The network: inputs, parameters, shapes, the forward pass, the activation functions."""

    key = "network"

    def build(self) -> list:
        return [self.network_section()]

    def network_section(self) -> Section:
        blocks = []
        inputs = [Math(self.name(s.name)) for s in self.net.inputs]
        params = [Math(self.name(s.name)) for s in self.net.params]
        targets = [Math(self.name(s.name)) for s in self.net.targets]
        parts = ["One example is the input "] + _join_math(inputs)
        if targets:
            parts += [" with the target "] + _join_math(targets)
        parts += ["; the parameters to learn are "] + _join_math(params) + ["."]
        if self.scalar:
            parts += [" Every quantity is a scalar."]
        blocks.append(self.p(*parts))
        if not self.scalar:
            blocks.append(self.shapes_table())
        if self.interleaved():
            from .worked import WorkedSection

            blocks.extend(WorkedSection(self.notes).given_blocks())
            blocks.append(self.p("The forward pass computes, in order (with the numbers of the example):"))
        else:
            blocks.append(self.p("The forward pass computes, in order:"))
        blocks.append(self.equations(self.forward_equations()))
        definitions = self.activation_definitions()
        if definitions:
            blocks.append(self.p("with the activation function" + ("s" if len(definitions) > 1 else "")))
            blocks.append(self.equations(definitions))
        reduction = self.loss_reduction_note()
        if reduction is not None:
            blocks.append(reduction)
        return Section("The network", 1, tuple(blocks))

    def shapes_table(self) -> Block:
        rows = []
        for sym in self.net.inputs:
            what = "input (a batch, one example per column)" if self.net.batch is not None else "input (one example)"
            rows.append((self.cell(self.name(sym.name)), self.cell(self.value_shape_tex(sym)), self.fmt.escape(what)))
        for sym in self.net.targets:
            rows.append((self.cell(self.name(sym.name)), self.cell(self.value_shape_tex(sym)), self.fmt.escape("target")))
        layers_using = {}  # parameter -> layers whose nodes use it: one walk per node, not per (parameter, node)
        for n in self.net.nodes:
            if n.layer is not None:
                for s in n.definition.free_symbols:
                    layers_using.setdefault(s, set()).add(n.layer)
        for sym in self.net.params:
            where = ", ".join(sorted(f"layer {layer}" for layer in layers_using.get(sym, ())))
            what = ("kernels" if getattr(sym, "dims", None) else "parameter") + (f" of {where}" if where else "")
            rows.append((self.cell(self.name(sym.name)), self.cell(self.value_shape_tex(sym)), self.fmt.escape(what)))
        for n in self.net.nodes:
            what = {
                "pre-activation": f"pre-activation of layer {n.layer}",
                "activation": f"activation of layer {n.layer}",
                "prediction": "prediction",
                "loss": "loss of one example" if self.net.batch is None else "loss, the mean over the batch",
            }.get(n.role, n.description or n.role)
            rows.append((self.cell(self.name(n.name)), self.cell(self.value_shape_tex(n.symbol)), self.fmt.escape(what)))
        header_ = (self.fmt.escape("symbol"), self.fmt.escape("shape"), self.fmt.escape("what it is"))
        return Block("table", header=header_, rows=tuple(rows))

    def forward_equations(self) -> list:
        lines = []
        worked = None
        if self.interleaved():
            from .worked import WorkedSection

            worked = WorkedSection(self.notes)
        for s in self.steps:
            if s.kind not in ("forward", "loss"):
                continue
            definition = self.loss_definition(s) if s.kind == "loss" else None
            if worked is not None and definition is None:
                lines.extend(worked.numbered_line(s))
            elif worked is not None:
                lines.append(Equation(self.tex(s.symbol), "=", self.tex(s.expr)))
                lines.append(Equation("", "=", definition, tag=str(s.number), label=f"({s.number})"))
                lines.extend(worked.worked_line(s))
            elif definition is None:
                lines.append(Equation(self.tex(s.symbol), "=", self.tex(s.expr), tag=str(s.number), label=f"({s.number})"))
            else:
                lines.append(Equation(self.tex(s.symbol), "=", self.tex(s.expr)))
                lines.append(Equation("", "=", definition, tag=str(s.number), label=f"({s.number})"))
        return lines

    def loss_definition(self, step) -> Optional[str]:
        """The loss op written out: -\\sum_k y_k \\log \\hat{y}_k, or the scalar formula."""
        expr = step.expr
        if not ops.is_loss_node(expr):
            return None
        rule = expr.rule
        prediction, target = expr.prediction, expr.target
        n = rule.outputs(prediction)
        if n == 1 and all(isinstance(e, sp.MatrixSymbol) for e in (prediction, target)):
            # one output: the scalar formula reads better than a sum over k = 1..1
            prediction, target = sp.Symbol(prediction.name), sp.Symbol(target.name)
        if not isinstance(prediction, sp.MatrixExpr):
            return self.tex(rule.explicit(prediction, target) * rule.factor(prediction))
        return rule.latex_definition.format(p=self._indexable(prediction), t=self._indexable(target), n=n)

    def _indexable(self, expr) -> str:
        """``expr`` ready for a subscript k: y_k, {y_{true}}_k, (W x)_k."""
        tex = self.tex(expr)
        if not isinstance(expr, sp.MatrixSymbol):
            return rf"\left({tex}\right)"
        return f"{{{tex}}}" if "_" in tex else tex  # braces: no double subscript

    def loss_reduction_note(self) -> Optional[Block]:
        loss = self.net.loss_node.definition
        if not ops.is_loss_node(loss) or not isinstance(loss.prediction, sp.MatrixExpr):
            return None
        rule = loss.rule
        n = rule.outputs(loss.prediction)
        if rule.reduction == "mean" and n > 1:
            return self.note(
                f"Note: {rule.name} is the mean over the {n} outputs of one example (as in PyTorch), so its "
                "gradient carries a factor ", Math(rf"\frac{{1}}{{{n}}}"), "."
            )
        return None

    def activation_definitions(self) -> list:
        z = self.dummy
        seen = []
        for n in self.net.nodes:
            if n.activation and n.activation not in seen:
                seen.append(n.activation)
        lines = []
        for name in seen:
            rule = ops.activation_rule(name)
            if isinstance(rule, ops.ScalarFunction):
                if rule.latex == "":  # identity
                    continue
                definition = rule.definition(z)
                if isinstance(definition, sp.Function) and definition.args == (z,):
                    definition = definition.rewrite(sp.exp)  # tanh(z) in exponentials, not "tanh(z)"
                lines.append(Equation(rule.latex_call(self.dummy.name), "=", self.tex(definition)))
            else:
                lhs, rhs = rule.latex_definition.format(z=self.dummy.name).split(" = ", 1)
                lines.append(Equation(lhs, "=", rhs))
        return lines
