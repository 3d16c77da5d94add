"""The computation graph of a network, laid out for a figure.

Nodes are the declared symbols (inputs, parameters, targets) and the named
intermediates (z, a, yhat, L); an edge goes from every symbol in a node's
definition to the node.  The layout is a deterministic layered one: an
intermediate sits one column right of the latest intermediate it uses, a
declared symbol one column left of its first consumer; in each column the
intermediates come first (row 0 is the main path), then the declared symbols.

Small graphs are drawn node by node; big ones (more than ``MAX_NODES``) as one
box per layer, the middle layers elided, so a 100-layer network still gives a
readable figure.  This module decides *where* things go; the templates only
draw them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

MAX_NODES = 16  # beyond this, the layer-level graph
MAX_LAYER_BOXES = 6  # beyond this many layers, the middle ones are elided
TEXT_WIDTH_CM = 16.0  # the page's text width: the figure is scaled to fit


@dataclass(frozen=True)
class GraphNode:
    id: str  # TikZ / Mermaid identifier
    label: str  # LaTeX (math mode) of the node's name
    text: str  # plain text (Mermaid)
    kind: str  # "input" | "parameter" | "target" | "intermediate" | "loss" | "layer" | "ellipsis" | "op"
    column: int
    row: int
    value: str = ""  # LaTeX of the forward value, when a worked example is given
    value_text: str = ""


@dataclass(frozen=True)
class GraphEdge:
    source: str
    target: str
    gradient: str = ""  # LaTeX of the gradient flowing back along the edge
    gradient_text: str = ""
    bend: str = ""  # TikZ option for edges that jump over other nodes
    value: str = ""  # LaTeX of the value flowing forward along the edge (the operation-level graph)
    value_text: str = ""


@dataclass(frozen=True)
class Graph:
    nodes: tuple
    edges: tuple
    compact: bool  # the layer-level figure of a big network
    x_unit: float  # cm between columns
    y_unit: float  # cm between rows


@dataclass
class _Node:
    name: str
    kind: str
    label: str
    text: str
    sources: list  # names of the nodes it is computed from
    layer: Optional[int] = None
    value: str = ""
    value_text: str = ""


def layout(nodes: list, edges: list, compact: bool) -> Graph:
    """Columns and rows for ``nodes`` (list of _Node, in forward order)."""
    by_name = {n.name: n for n in nodes}
    column = {}
    for n in nodes:  # forward order: sources come first
        if n.sources and n.kind not in ("input", "parameter", "target"):
            inner = [column[s] for s in n.sources if s in column]
            column[n.name] = 1 + max(inner, default=0)
    for n in nodes:
        if n.name not in column:
            consumers = [column[c.name] for c in nodes if n.name in c.sources and c.name in column]
            column[n.name] = max(min(consumers, default=1) - 1, 0)
    rows: dict = {}
    placed = []
    order = sorted(
        nodes, key=lambda n: (column[n.name], n.kind in ("input", "parameter", "target", "ellipsis") and n.kind != "input")
    )
    for n in order:
        col = column[n.name]
        row = rows.get(col, 0)
        rows[col] = row + 1
        text = n.text
        if n.value_text:
            text = f"{n.text} ({n.value_text})" if n.kind in ("layer", "ellipsis") else f"{n.text} = {n.value_text}"
        placed.append(GraphNode(_id(n.name), n.label, text, n.kind, col, row, n.value, n.value_text))
    position = {p.id: (p.column, p.row) for p in placed}
    out_edges = []
    for source, target, gradient, gradient_text, *value in edges:  # value: (LaTeX, text) of the forward value, if drawn
        (c0, r0), (c1, r1) = position[_id(source)], position[_id(target)]
        # An edge along a row that skips columns would cross the nodes between: arc it.
        crossed = any(p.row == r0 and c0 < p.column < c1 for p in placed) if r0 == r1 else False
        bend = "bend left=35" if crossed else ""
        out_edges.append(GraphEdge(_id(source), _id(target), gradient, gradient_text, bend, *value))
    columns = 1 + max(p.column for p in placed)
    x_unit = min(2.6, TEXT_WIDTH_CM / max(columns - 1, 1))
    del by_name
    return Graph(tuple(placed), tuple(out_edges), compact, round(x_unit, 2), 1.5)


def computation_graph(network, label, text, node_values=None, edge_gradients=None) -> Graph:
    """The figure's graph of ``network``.

    ``label(name)`` / ``text(name)`` give a name's LaTeX / plain text;
    ``node_values`` maps names to (LaTeX, text) of forward values and
    ``edge_gradients`` maps (source, consumer) to (LaTeX, text) of the
    gradient sent back along that edge (both only for a worked example).
    """
    node_values = node_values or {}
    edge_gradients = edge_gradients or {}
    declared_kind = {}
    for group, kind in ((network.inputs, "input"), (network.params, "parameter"), (network.targets, "target")):
        for sym in group:
            declared_kind[sym.name] = kind
    nodes = []
    for sym in network.inputs + network.params + network.targets:
        nodes.append(_Node(sym.name, declared_kind[sym.name], label(sym.name), text(sym.name), []))
    known = set(declared_kind)
    rank = {}  # name -> position among the nodes so far: the order of a node's sources
    for n in network.nodes:
        rank.update((m.name, i) for i, m in enumerate(nodes[len(rank):], start=len(rank)))
        sources = sorted((s.name for s in n.definition.free_symbols if s.name in known), key=lambda name: rank.get(name, len(rank)))
        kind = "loss" if n.role == "loss" else "intermediate"
        nodes.append(_Node(n.name, kind, label(n.name), text(n.name), sources, n.layer))
        known.add(n.name)
    for n in nodes:
        n.value, n.value_text = node_values.get(n.name, ("", ""))
    edges = [(s, n.name, *edge_gradients.get((s, n.name), ("", ""))) for n in nodes for s in n.sources]
    if len(nodes) <= MAX_NODES:
        return layout(nodes, edges, compact=False)
    return _compact(network, nodes, label)


def _compact(network, nodes, label) -> Graph:
    """One box per layer (its intermediates and parameters), the middle layers elided."""
    group_of = {}
    groups = []  # (key, kind, members)
    members_of = {}  # key -> members list of its group (dicts throughout: a 1000-layer graph)
    layer_of = {}  # name -> layer number, for the nodes that belong to a layer
    for n in nodes:
        if n.kind == "parameter":
            continue  # drawn inside the box of the layer that uses it
        layer = n.layer
        if layer is None and n.kind == "intermediate":
            # a residual sum h_l = a_l + h_{l-1} joins the box of its latest layer
            layer = max((layer_of[s] for s in n.sources if s in layer_of), default=None)
        if n.kind in ("input", "target", "loss") or layer is None:
            key = n.name
        else:
            key = f"layer{layer}"
            layer_of[n.name] = layer
        if key not in members_of:
            members_of[key] = []
            groups.append((key, n.kind if key == n.name else "layer", members_of[key]))
        members_of[key].append(n)
        group_of[n.name] = key
    first_consumer = {}
    for c in nodes:
        for source in c.sources:
            first_consumer.setdefault(source, c)
    for n in nodes:
        if n.kind == "parameter":
            group_of[n.name] = group_of[first_consumer[n.name].name]
            members_of[group_of[n.name]].append(n)
    layers = [g for g in groups if g[1] == "layer"]
    elided = set()
    if len(layers) > MAX_LAYER_BOXES:
        keep = MAX_LAYER_BOXES // 2
        elided = {g[0] for g in layers[keep:-keep]}
    compact_nodes = []
    dots_added = False
    for key, kind, members in groups:
        if key in elided:
            if not dots_added:
                hidden = len(elided)
                compact_nodes.append(
                    _Node("dots", "ellipsis", r"\cdots", "...", [], value=rf"\text{{{hidden} layers}}", value_text=f"{hidden} layers")
                )
                dots_added = True
            continue
        if kind == "layer":
            values = [m for m in members if m.kind != "parameter"]
            params = [m for m in members if m.kind == "parameter"]
            compact_nodes.append(
                _Node(key, "layer", ", ".join(m.label for m in values), ", ".join(m.text for m in values), [],
                      value=", ".join(m.label for m in params), value_text=", ".join(m.text for m in params))
            )
        else:
            compact_nodes.append(_Node(key, kind, members[0].label, members[0].text, [], value=members[0].value,
                                       value_text=members[0].value_text))
    visible = {n.name for n in compact_nodes}

    def shown(name):
        key = group_of[name]
        return "dots" if key in elided else key

    seen = set()
    edges = []
    for n in nodes:
        for s in n.sources:
            a, b = shown(s), shown(n.name)
            if a != b and (a, b) not in seen and a in visible and b in visible:
                seen.add((a, b))
                edges.append((a, b, "", ""))
    sources_of = {}
    for a, b, *_ in edges:
        sources_of.setdefault(b, []).append(a)
    for n in compact_nodes:
        n.sources = sources_of.get(n.name, [])
    return layout(compact_nodes, edges, compact=True)


def _id(name: str) -> str:
    # Node names are identifiers (or "layer3", "dots"): safe as TikZ and Mermaid ids.
    return "n_" + name


__all__ = ["Graph", "GraphEdge", "GraphNode", "layout", "MAX_NODES", "MAX_LAYER_BOXES"]
