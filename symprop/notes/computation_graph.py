"""The computation graph figure (TikZ in the .tex, Mermaid in the .md).
"""

from __future__ import annotations

from .. import algebra as alg
from ..printing import text as plain_text
from .context import SectionBuilder, _is_scalar_value, _symbol_like
from .view import Block, Section, format_number, format_number_text


class GraphSection(SectionBuilder):
    """2. The computation graph, with the worked example's values and gradients when they fit."""

    key = "graph"

    def build(self) -> list:
        return [self.graph_section()]

    def graph_section(self) -> Section:
        from ..graph import computation_graph

        node_values, edge_gradients = {}, {}
        if self.values is not None:
            for s in self.steps:
                if s.kind in ("forward", "loss") and _is_scalar_value(self.values[s.key]):
                    node_values[s.name] = (format_number(self.values[s.key]), format_number_text(self.values[s.key]))
            for name, value in self.given.items():
                if _is_scalar_value(value):
                    node_values[name] = (format_number(value), format_number_text(value))
            for s in self.steps:
                if s.kind not in ("adjoint", "gradient"):
                    continue
                for c in s.contributions:
                    # numbers fit on an edge only when they are scalars
                    if c.consumer in self.nodes and alg.shape_of(c.expr) in ((), (1, 1)):
                        share = self.evaluate_expr(c.expr)
                        edge_gradients[(s.of, c.consumer)] = (format_number(share), format_number_text(share))
        graph = computation_graph(
            self.net, self.name, lambda name: plain_text(_symbol_like(self.declared, self.nodes, name)),
            node_values, edge_gradients,
        )
        blocks = []
        if graph.compact:
            blocks.append(self.p(
                "The computation graph, one box per layer (its values and, below, its parameters); "
                "the forward pass runs left to right, the backward pass right to left."
            ))
        elif self.values is not None and edge_gradients:
            blocks.append(self.p(
                "The computation graph of the worked example: each node shows its forward value; "
                "the label of each edge" + (", in red," if self.fmt.name == "tex" else "")
                + " is the gradient of the loss that flows back along it."
            ))
        else:
            blocks.append(self.p(
                "The computation graph: values flow forward along the arrows, gradients flow back against them."
            ))
        blocks.append(Block("graph", graph=graph))
        return Section("The computation graph", 1, tuple(blocks))
