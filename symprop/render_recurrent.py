"""Lecture notes of backpropagation through time: RecurrentDerivation -> view model -> .tex / .md.

The notes are built from the time view of the derivation (``recurrent.py``)
into the same view model as every other derivation's notes (``render.py``:
Document, Section, Block, Equation), and laid out by the same templates:

1. the network: the cell at step t, shapes, the loss over time, the unrolled graph;
2. backpropagation through time: each adjoint at step t with its chain rule,
   stated once for every t, in terms of step t + 1 (and, with the loss at
   the last step only, the equations at t = T and for t < T);
3. the gradients of the shared parameters: sums over t, and their batch form;
4. with a worked example: how ||delta_t|| shrinks or grows from t = T back to
   1 with small and large recurrent weights (a table and a plot), the numbers
   of every step, and the update with gradient clipping by global norm.

Everything printed comes from the derivation and ``evaluate``; nothing here
names a network, an activation or an answer.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import sympy as sp

from . import algebra as alg
from . import ops
from .algebra import T as TVAR
from .batch import M, batch_name
from .errors import SympropError
from .graph import Graph, GraphEdge, GraphNode
from .outputs import GENERATED_MARK, header
from .recurrent import clip_scale, split_time, time_name, time_symbol
from .render import (
    Block,
    Document,
    Equation,
    Math,
    Plot,
    Section,
    Series,
    WorkedNumber,
    _equation_chain,
    _Format,
    _join_math,
    _Notes,
    _outer_product_factors,
    _prime,
    _render,
    format_number,
    format_value,
)

DEFAULT_LEARNING_RATE = 0.1
DEFAULT_CLIP_NORM = 1.0
CLIP = r"g_{\max}"  # the clipping threshold
FACTOR = r"\kappa"  # the clipping factor
RECURRENT_NORMS = (0.5, 2.0)  # spectral norms of the recurrent weights compared in the notes
SHOWN_STEPS = 3  # the unrolled figure draws this many steps


class _RecurrentNotes(_Notes):
    """The notes of a recurrent derivation; prose, notes, table cells and the reasons of forms as in ``render._Notes``."""

    def __init__(self, d, fmt: _Format, values=None, learning_rate=None, clip_norm=None, recurrent_norms=RECURRENT_NORMS):
        self.d = d
        self.net = d.network
        self.fmt = fmt
        self.printer = d.latex_printer()
        self.last_mode = self.net.loss_at == "last"
        self.steps = d.steps
        self.by_cell = {s.cell.name: s for s in d.steps if s.cell is not None}
        self.by_name = self.by_cell  # the reasons of forms cite the cell's steps by name ("substitute da1")
        self.scalar = False
        self.dummy = sp.Symbol("z" if "z" not in self.net.time_names.values() else "v")  # of f(z) in the definitions
        self.numbers: list = []
        self.notes_made: set = set()
        self.recurrent_norms = tuple(float(r) for r in recurrent_norms)
        self.clip_norm = DEFAULT_CLIP_NORM if clip_norm is None else float(clip_norm)
        self.values = None
        if values is not None:
            self.learning_rate = DEFAULT_LEARNING_RATE if learning_rate is None else float(learning_rate)
            self.raw_values = values
            self.values = d.evaluate(values, learning_rate=self.learning_rate, clip_norm=self.clip_norm)
        self.recurrent = self._recurrent_params()
        self.signal = self._signal()

    # -- printing ---------------------------------------------------------------
    def tex(self, expr) -> str:
        return self.printer.doprint(expr)

    def at(self, base: str, lab: str = "t") -> str:
        """LaTeX of the time name ``base`` at ``lab``: h_{t-1}."""
        return self.tex(sp.Symbol(time_name(base, lab)))

    def param(self, p) -> str:
        return self.tex(p)

    def _record(self, key, value):
        self.numbers.append(WorkedNumber(key, value, format_value(value)))

    # -- the document -------------------------------------------------------------
    def build(self) -> Document:
        sections = [self.network_section(), self.graph_section(), *self.bptt_sections(), self.gradient_section()]
        batch = self.batch_section()
        if batch is not None:
            sections.append(batch)
        sections.append(self.flow_section())
        sections.append(self.update_section())
        if self.values is not None:
            sections.extend(self.worked_sections())
        sections = [Section(self.fmt.escape(s.title), s.level, tuple(b for b in s.blocks if b is not None)) for s in sections]
        title = self.fmt.escape(f"Backpropagation through time in the {self.net.name}")
        subtitle = self.fmt.prose("Every step of the backward pass, derived by symprop and stated once for every time step ",
                                  Math("t"))
        comment = "%" if self.fmt.name == "tex" else "<!--"
        what = " ".join(str(self.net.name).split()).replace("--", "- -")
        first_line = header(comment, what) + (" -->" if self.fmt.name == "md" else "")
        return Document(first_line, title, subtitle, tuple(sections), tuple(self.numbers),
                        pdf_creator=f"/Creator ({GENERATED_MARK})")

    # -- 1. the network ----------------------------------------------------------------
    def network_section(self) -> Section:
        net = self.net
        states = [Math(self.at(s.name, "t-1")) for s in net.state_symbols]
        zero = ", ".join(f"{self.at(s.name, '0')} = \\mathbf{{0}}" for s in net.state_symbols)
        parts = ["The same cell runs at every step ", Math(r"t = 1, \dots, T"), " (here ", Math(f"T = {net.T}"),
                 "), with the same parameters "]
        parts += _join_math([Math(self.param(p)) for p in net.params])
        parts += [". At step ", Math("t"), " it reads the input "] + _join_math([Math(self.at(s.name)) for s in net.inputs])
        parts += [" and the previous state "] + _join_math(states) + [" (", Math(zero), ")"]
        if net.targets:
            parts += ["; the loss of the step compares its prediction with the target "]
            parts += _join_math([Math(self.at(s.name, "T" if self.last_mode else "t")) for s in net.targets])
        parts.append(".")
        blocks = [self.p(*parts), self.shapes_table(), self.p("One step computes, for every t:")]
        lines = []
        for s in self.steps:
            if s.kind == "forward":
                lines.append(Equation(self.tex(s.symbol), "=", self.tex(s.expr), tag=str(s.number), label=f"({s.number})"))
            elif s.kind == "loss":
                lines.append(Equation(self.tex(s.symbol), "=", self.tex(s.expr)))
                definition = self.loss_definition(s)  # (render._Notes: the loss op written out)
                if definition:
                    lines.append(Equation("", "=", definition, tag=str(s.number), label=f"({s.number})"))
            elif s.kind == "total":
                rhs = r"\sum_{t=1}^{T} L_{t}" if not self.last_mode else "L_{T}"
                lines.append(Equation("L", "=", rhs, tag=str(s.number), label=f"({s.number})"))
        blocks.append(Block("equations", equations=tuple(lines)))
        if self.last_mode:
            blocks.append(self.note("The loss is that of the last step only: the outputs of the other steps are not used."))
        definitions = self.activation_definitions()
        if definitions:
            blocks.append(self.p("with the activation function" + ("s" if len(definitions) > 1 else "")))
            blocks.append(Block("equations", equations=tuple(definitions)))
        return Section("The network", 1, tuple(blocks))

    def shapes_table(self) -> Block:
        net, d = self.net, self.d
        rows = []

        def row(tex, shape, what):
            rows.append((self.cell(tex), self.cell(_shape_tex(shape)), self.fmt.escape(what)))

        for s in net.inputs:
            row(self.at(s.name), s.shape, "input at step t")
        for s in net.targets:
            row(self.at(s.name, "T" if self.last_mode else "t"), s.shape, "target" + (" of the last step" if self.last_mode else " at step t"))
        for s in net.state_symbols:
            row(self.at(s.name, "t-1"), s.shape, "state before step t (the cell's input)")
        for p in net.params:
            row(self.param(p), p.shape, "parameter, shared by all steps")
        for s in self.steps:
            if s.kind == "forward":
                what = {"pre-activation": "pre-activation", "activation": "activation", "prediction": "prediction"}.get(
                    s.role, "value")
                if s.cell.symbol in {n.symbol for n in d.state_nodes.values()}:
                    what = "state after step t"
                row(self.tex(s.symbol), s.cell.shape, f"{what} at step t" if "state" not in what else what)
        header_ = (self.fmt.escape("symbol"), self.fmt.escape("shape"), self.fmt.escape("what it is"))
        return Block("table", header=header_, rows=tuple(rows))

    # -- the unrolled graph ------------------------------------------------------------
    def graph_section(self) -> Section:
        return Section("The network unrolled through time", 1, (
            self.p("The same cell at consecutive steps: each state is computed from the previous one, "
                   "so the loss reaches back through every earlier step."),
            Block("graph", graph=self.unrolled_graph()),
        ))

    def unrolled_graph(self) -> Graph:
        net, d = self.net, self.d
        T = net.T
        shown = list(range(1, min(T, SHOWN_STEPS) + 1))
        cut = T > SHOWN_STEPS
        if cut:
            shown = shown[:-1] + [T]
        uses = {prev: d.ancestors(node.symbol) for prev, node in d.state_nodes.items()}
        loss_uses = d.ancestors(d.step_loss())
        states = list(net.state_symbols)
        rows = {"loss": 0, **{s.name: 1 + i for i, s in enumerate(states)}, "input": 1 + len(states)}
        nodes, edges = [], []

        def node(name, label, text, kind, col, row):
            nodes.append(GraphNode("n_" + name, label, text, kind, col, row))
            return "n_" + name

        for s in states:
            node(f"{s.name}_0", self.at(s.name, "0"), f"{s.name}[0]", "target", 0, rows[s.name])
        col = 0
        previous = {s.name: f"n_{s.name}_0" for s in states}
        for i, t in enumerate(shown):
            col += 1
            if cut and t == T:
                dots = node("dots", r"\cdots", "...", "ellipsis", col, rows[states[0].name])
                for s in states:
                    edges.append(GraphEdge(previous[s.name], dots))
                    previous[s.name] = dots
                col += 1
            lab = str(t)
            inputs = [node(f"{s.name}_{t}", self.at(s.name, lab), f"{s.name}[{t}]", "input", col, rows["input"] + j)
                      for j, s in enumerate(net.inputs)]
            current = {}
            for s in states:
                current[s.name] = node(f"{s.name}_s{t}", self.at(s.name, lab), f"{s.name}[{t}]", "intermediate", col, rows[s.name])
            for s in states:
                for other in states:
                    if other in uses[s]:
                        edges.append(GraphEdge(previous[other.name], current[s.name]))
                for x, sym in zip(inputs, net.inputs):
                    if sym in uses[s]:
                        edges.append(GraphEdge(x, current[s.name]))
            if not self.last_mode or t == T:
                loss = node(f"L_{t}", f"L_{{{t}}}", f"L[{t}]", "loss", col, rows["loss"])
                for s in states:
                    if d.state_nodes[s].symbol in loss_uses:
                        edges.append(GraphEdge(current[s.name], loss))
            previous = current
        return Graph(tuple(nodes), tuple(edges), False, 2.2 if col <= 7 else round(16.0 / col, 2), 1.4)

    # -- 2. backpropagation through time ----------------------------------------------
    def bptt_sections(self) -> list:
        d = self.d
        t, t1 = Math("t"), Math("t + 1")
        intro = [
            "The loss depends on a state at step ", t, " in two ways: through the output of step ", t, ", and through "
            "step ", t1, ", which reads it as its previous state. So the backward pass runs from ", Math("t = T"),
            " down to ", Math("t = 1"), ", and each equation below gives the adjoints of step ", t, " from those of step ",
            t1, ". It is stated once and holds for every ", t, "; the terms of step ", Math("T + 1"),
            " are zero (there is no later step)",
        ]
        if self.last_mode:
            intro += [", and with the loss at the last step only, so are the loss's terms at every ", Math("t < T")]
        intro.append(". Write ")
        intro += [Math(r"\delta = \partial L / \partial z"), " for the error signal at a pre-activation."]
        sections = [Section("Backpropagation through time", 1, (self.p(*intro),))]
        recurrent = d.recurrent_adjoints()
        output_steps = [s for s in self.steps if s.kind == "adjoint" and s.cell.name not in recurrent]
        state_steps = [s for s in self.steps if s.kind == "adjoint" and s.cell.name in recurrent]
        if output_steps:
            blocks = []
            for s in output_steps:
                blocks.extend(self.backward_step(s))
            sections.append(Section("The output of step t", 2, tuple(blocks)))
        blocks = []
        for s in state_steps:
            blocks.extend(self.backward_step(s))
        sections.append(Section("Back through the state", 2, tuple(blocks)))
        if self.last_mode:
            sections.append(self.last_step_section(state_steps + output_steps))
        return sections

    def backward_step(self, s) -> list:
        d = self.d
        cell_step = s.cell
        blocks = []
        act_node = self._activation_node(cell_step)
        if act_node is not None:
            blocks.extend(self.delta_intro(s, act_node))
        else:
            consumers, later = self.consumers(cell_step)
            if not consumers and not later:
                blocks.append(self.p("The loss of step ", Math("t"), " is a function of ",
                                     Math(self.tex(d.at(d.cell_symbol(cell_step.of)))), ":"))
            else:
                what = Math(self.tex(d.at(d.cell_symbol(cell_step.of))))
                parts = [what, " is used by "] + _join_math([Math(c) for c in consumers])
                if later:
                    parts += [" at step ", Math("t"), " and, as the previous state, by "] + _join_math([Math(c) for c in later])
                    parts += [" at step ", Math("t + 1"), ": the gradients along all paths add (those of step ",
                              Math("t + 1"), " are zero at ", Math("t = T"), ")"]
                parts.append(":")
                blocks.append(self.p(*parts))
        blocks.append(self.equations(s))
        return blocks

    def consumers(self, cell_step):
        """LaTeX of the consumers at step t, and of those at step t + 1 (when the value is a state)."""
        d = self.d
        loss = self.net.cell.loss_node.name
        here, later = [], []
        for c in cell_step.contributions:
            if c.consumer == loss:
                continue
            here.append(self.tex(d.at(d.cell_symbol(c.consumer))))
        prev = d.new_state_of.get(cell_step.of)
        if prev is not None:
            users = [n for n in self.net.cell.nodes if prev in n.definition.free_symbols]
            later = [self.tex(d.at(n.symbol, "t+1")) for n in users]
        return here, later

    def _activation_node(self, cell_step):
        if cell_step.role != "pre-activation" or len(cell_step.contributions) != 1:
            return None
        node = next((n for n in self.net.cell.nodes if n.name == cell_step.contributions[0].consumer), None)
        if node is None or not node.activation or node.layer != cell_step.layer or node.activation == "identity":
            return None
        return node

    def delta_intro(self, s, act_node) -> list:
        d = self.d
        rule = ops.activation_rule(act_node.activation)
        a, z = self.tex(d.at(act_node.symbol)), self.tex(d.at(d.cell_symbol(s.cell.of)))
        if not isinstance(rule, ops.ScalarFunction):
            jacobian = rule.latex_jacobian.format(s=a, s_T=self.tex(sp.Transpose(d.at(act_node.symbol))))
            return [self.p("The error signal at ", Math(z), ". Softmax couples the entries of ", Math(z), ": its Jacobian ",
                           Math(rf"J = {jacobian}"), " is symmetric, so the chain rule multiplies by it:")]
        blocks = [self.p("The error signal at ", Math(z), ". Since ", Math(rf"{a} = {rule.latex_call(z)}"),
                         " entry by entry, the chain rule multiplies entry by entry (", Math(r"\odot"),
                         ") by the derivative of the activation:")]
        lines = []
        v = sp.Symbol("v")
        if rule.latex:
            general = rule.derivative.xreplace({TVAR: v, ops.U: rule.function(v)})
            lines.append(Equation(_prime(rule, "v"), "=", self.tex(general)))
            if s.cell.local_derivative is not None:
                lines.append(Equation(_prime(rule, z), "=", self.tex(d.at(s.cell.local_derivative))))
        if lines:
            blocks.append(Block("equations", equations=tuple(lines)))
        return blocks

    def equations(self, s) -> Block:
        lhs = self.tex(s.symbol)
        lines = []
        for i, form in enumerate(s.forms or (None,)):
            expr = s.expr if form is None else form.expr
            reason = "chain rule" if form is None else form.reason
            lines.append(Equation(lhs if not lines else "", "=", self.tex(expr), note=self.reason(reason)))
        last = lines[-1]
        lines[-1] = Equation(last.lhs, last.rel, last.rhs, last.note, str(s.number), f"({s.number})")
        return Block("equations", equations=tuple(lines))

    def last_step_section(self, steps) -> Section:
        d = self.d
        order = [s for s in self.steps if s.kind == "adjoint" and s in steps]
        at_last = [Equation(self.tex(d.at(s.cell.symbol, "T")), "=", self.tex(s.last)) for s in order if s.last is not None]
        before = [Equation(self.tex(s.symbol), "=", self.tex(s.before_last)) for s in order if s.before_last is not None]
        blocks = [self.p("With the loss at step ", Math("T"), " only, the equations above specialise (zeros propagated). At ",
                         Math("t = T"), " nothing comes back from a later step:"), Block("equations", equations=tuple(at_last))]
        blocks.append(self.p("For ", Math("t < T"), " the loss has no term of its own; only what comes back from step ",
                             Math("t + 1"), " remains:"))
        blocks.append(Block("equations", equations=tuple(before)))
        return Section("The loss at the last step only", 2, tuple(blocks))

    # -- 3. the gradients of the parameters ----------------------------------------------
    def gradient_section(self) -> Section:
        blocks = [self.p("Every parameter is shared by all steps, so its gradient is the sum over the steps of the "
                         "gradient of each step:")]
        lines = []
        for s in self.steps:
            if s.kind != "gradient":
                continue
            lhs = self.tex(s.cell.symbol)
            if self.last_mode and s.before_last is None and s.last is not None:
                rhs = self.tex(s.last)
            else:
                rhs = rf"\sum_{{t=1}}^{{T}} {_grouped(self.tex(s.expr), s.expr)}"
            lines.append(Equation(lhs, "=", rhs, tag=str(s.number), label=f"({s.number})"))
        blocks.append(Block("equations", equations=tuple(lines)))
        if self.last_mode and any(s.kind == "gradient" and s.before_last is None for s in self.steps):
            blocks.append(self.note("Note: the output layer is used at every step, but only the output of step T enters "
                                    "the loss, so its gradient has one term."))
        outer = [s for s in self.steps if s.kind == "gradient" and _outer_product_factors(s.expr)]
        if outer:
            s = outer[0]
            column, row = _outer_product_factors(s.expr)
            blocks.append(self.note("Note: each term is an outer product, the column ", Math(self.tex(column)),
                                    " times the row ", Math(self.tex(row)), ", with the shape of the parameter."))
        return Section("The gradients of the shared parameters", 1, tuple(blocks))

    def batch_section(self) -> Optional[Section]:
        d = self.d
        lines = []
        for s in self.steps:
            if s.kind != "gradient" or s.cell.batched is None:
                continue
            c, rest = alg.coefficient_split(s.cell.batched) if alg.is_matrix(s.cell.batched) else (None, None)
            if c != 1 / M or rest is None:
                continue
            inner = d.batch_at(rest)
            if inner is None:
                continue
            lhs = self.tex(s.cell.batched_symbol) if s.cell.batched_symbol is not None else self.tex(s.cell.symbol)
            if self.last_mode and s.before_last is None:
                rhs = rf"\frac{{1}}{{m}} {self.tex(d.batch_at(rest, 'T'))}"
            else:
                rhs = rf"\frac{{1}}{{m}} \sum_{{t=1}}^{{T}} {_grouped(self.tex(inner), inner)}"
            lines.append(Equation(lhs, "=", rhs))
        if not lines:
            return None
        stacked = [Math(rf"{self.at(batch_name(s.name))} \in \mathbb{{R}}^{{{int(s.shape[0])} \times m}}") for s in self.net.inputs]
        blocks = [
            self.p("For a mini-batch of ", Math("m"), " sequences, stack the examples of each step as columns: ",
                   *_join_math(stacked), " (and likewise every quantity of step t). The loss is the mean over the batch, "
                   "so each gradient is the mean over the examples of the sum over the steps, and the sum over the "
                   "examples becomes a matrix product:"),
            Block("equations", equations=tuple(lines)),
            self.note("Note: the recursion is the same for the stacked matrices, column by column."),
        ]
        return Section("A mini-batch", 1, tuple(blocks))

    # -- 4. vanishing and exploding gradients ------------------------------------------------
    def _recurrent_params(self) -> list:
        """The parameters that multiply the previous state: they appear in what a step sends back."""
        found = set()
        for step in self.d.carry_steps.values():
            found |= set(step.expr.free_symbols) & set(self.net.params)
        return [p for p in self.net.params if p in found and isinstance(p, sp.MatrixSymbol) and p.shape[0] == p.shape[1]]

    def _signal(self):
        """The adjoint whose size the notes follow: the state's delta, or the state's adjoint."""
        d = self.d
        prev, node = next(iter(d.state_nodes.items()))
        if node.activation:
            pre = next((n for n in self.net.cell.nodes if n.symbol == ops.activation_argument(node.definition)), None)
            if pre is not None:
                step = next((s for s in self.steps if s.kind == "adjoint" and s.cell.of == pre.name), None)
                if step is not None:
                    return step
        return next(s for s in self.steps if s.kind == "adjoint" and s.cell.of == node.name)

    def signal_key(self, t) -> str:
        base = self.signal.name
        return f"{base}[{t}]" if base.startswith("delta") else f"dL/d{base[1:]}[{t}]"

    def flow_section(self) -> Section:
        signal = self.signal
        sig = Math(self.tex(signal.symbol))
        weights = _join_math([Math(self.param(p)) for p in self.recurrent]) or [Math("W")]
        blocks = [self.p(
            "Read equation (", str(signal.number), ") from ", Math("t = T"), " back to ", Math("t = 1"), ": each step back "
            "multiplies what comes from step ", Math("t + 1"), " by the transposed recurrent weights ", *weights,
            " and, entry by entry, by derivatives of the activations. Over ", Math("T - t"), " steps these factors "
            "compound, so ", sig, " shrinks or grows geometrically with the size of the recurrent weights: the vanishing "
            "and the exploding gradient. Early steps then get almost no gradient, or a huge one.")]
        if self.values is None or not self.recurrent:
            blocks.append(self.p("A worked example (values=...) measures it, step by step."))
            return Section("Vanishing and exploding gradients", 1, tuple(blocks))
        T = self.net.T
        runs = [("as given", None)] + [(f"rho = {format_number(r)}", r) for r in self.recurrent_norms]
        norms = []
        for _, rho in runs:
            values = self.d.evaluate(self._rescaled(rho)) if rho is not None else self.values
            norms.append([float(np.linalg.norm(np.asarray(values[self.signal_key(t)], dtype=float))) for t in range(1, T + 1)])
        given_rho = max(float(np.linalg.norm(np.asarray(self._given(p), dtype=float), 2)) for p in self.recurrent)
        labels = [rf"\rho = {format_number(given_rho)}\text{{ (given)}}"] + [rf"\rho = {format_number(r)}" for r in self.recurrent_norms]
        for (what, rho), series in zip(runs, norms):
            for t, v in enumerate(series, start=1):
                self._record(f"norm:{self.signal_key(t)}@{what}", v)
        rows = []
        for t in range(T, 0, -1):
            rows.append((self.cell(str(t)), *[self.cell(format_number(n[t - 1])) for n in norms]))
        head = (self.fmt.escape("t"), *[self.cell(rf"\lVert {self.tex(signal.symbol)} \rVert,\ {lab}") for lab in labels])
        spectral = _join_math([Math(rf"\lVert {self.param(p)} \rVert_2") for p in self.recurrent])
        blocks.append(self.p(
            "The worked example below, with the recurrent weights as given and rescaled to spectral norm ",
            Math(r"\rho"), " (", *spectral, "; ", Math(r"\lVert W \rVert_2"), " is the largest factor by which ",
            Math("W"), " stretches a vector), gives these sizes (Euclidean norms) of ", sig, ":"))
        blocks.append(Block("table", header=head, rows=tuple(rows)))
        ratios = []
        for lab, n in zip(labels, norms):
            ratio = n[0] / n[-1] if n[-1] else math.inf
            ratios.append(Math(rf"{format_number(ratio)}\ ({lab})"))
        blocks.append(self.p("From ", Math("t = T"), " back to ", Math("t = 1"), " the size changes by a factor of ",
                             *_join_math(ratios), "."))
        blocks.append(Block("plot", graph=self.plot(norms, labels, [w for w, _ in runs])))
        blocks.append(self.p(
            "Clipping the gradient by its global norm (the update rule below) keeps an exploding gradient from throwing "
            "the parameters far; a vanishing one needs another cell (gates that pass the state on, as in the LSTM and GRU)."))
        return Section("Vanishing and exploding gradients", 1, tuple(blocks))

    def _given(self, p):
        from .numeric import _lookup

        return _lookup(self.raw_values, p)

    def _rescaled(self, rho) -> dict:
        values = {}
        for sym in self.net.declared:
            from .numeric import _lookup

            value = _lookup(self.raw_values, sym)
            if sym in self.recurrent:
                matrix = np.asarray(value, dtype=float).reshape(tuple(int(k) for k in sym.shape))
                value = matrix * (rho / np.linalg.norm(matrix, 2))
            values[sym.name] = value
        return values

    def plot(self, norms, labels, texts) -> Plot:
        T = self.net.T
        width, height = 11.0, 6.0
        logs = [[math.log10(v) if v > 0 else None for v in series] for series in norms]
        finite = [v for series in logs for v in series if v is not None]
        low, high = math.floor(min(finite)), math.ceil(max(finite))
        if high == low:
            high = low + 1
        step = max(1, math.ceil((high - low) / 8))

        def x(t):
            return round(width * (t - 1) / max(T - 1, 1), 3)

        def y(v):
            return round(height * (v - low) / (high - low), 3)

        colors = ("black", "blue", "red", "green!50!black")
        series = []
        for i, (label, text, values) in enumerate(zip(labels, texts, logs)):
            points = tuple((x(t), y(v)) for t, v in enumerate(values, start=1) if v is not None)
            series.append(Series(label, text, colors[i % len(colors)], points,
                                 tuple(round(v, 3) if v is not None else 0.0 for v in values)))
        x_every = 1 if T <= 15 else math.ceil(T / 10)
        x_ticks = tuple((x(t), str(t)) for t in range(1, T + 1) if (t - 1) % x_every == 0)
        y_ticks = tuple((y(k), rf"10^{{{k}}}") for k in range(low, high + 1, step))
        return Plot(width, height, x_ticks, y_ticks, "t", rf"\lVert {self.tex(self.signal.symbol)} \rVert",
                    tuple(series), tuple(str(t) for t in range(1, T + 1)), f"log10 ||{self.d.text(self.signal.symbol)}||")

    # -- 5. the update -----------------------------------------------------------------
    def update_section(self) -> Section:
        grads = [rf"\frac{{\partial L}}{{\partial {self.param(p)}}}" for p in self.net.params]
        norm = r"\sqrt{" + " + ".join(rf"\left\lVert {g} \right\rVert^{{2}}" for g in grads) + "}"
        lines = [
            Equation(r"\lVert g \rVert", "=", norm),
            Equation(FACTOR, "=", rf"\min\left(1, \frac{{{CLIP}}}{{\lVert g \rVert}}\right)"),
        ]
        for s in self.steps:
            if s.kind == "update":
                grad = rf"\frac{{\partial L}}{{\partial {self.param(s.symbol)}}}"
                lines.append(Equation(self.param(s.symbol), r"\leftarrow", rf"{self.param(s.symbol)} - \eta \, {FACTOR} \, {grad}",
                                      tag=str(s.number), label=f"({s.number})"))
        intro = self.p(
            "Gradient descent with clipping by global norm: all the gradients together form one vector ", Math("g"),
            "; if its length exceeds a threshold ", Math(CLIP), " (", Math(rf"{CLIP} = {format_number(self.clip_norm)}"),
            " here), every gradient is scaled by the same factor ", Math(FACTOR), " so that the length becomes ", Math(CLIP),
            ". The direction is kept; only the step is shortened. Then every parameter moves against its gradient with "
            "learning rate ", Math(r"\eta"), ":")
        return Section("The update rule, with gradient clipping", 1, (
            intro, Block("equations", equations=tuple(lines)),
            self.note("Note: ", Math(r"\lVert \cdot \rVert"), " of a matrix is the Frobenius norm, the square root of "
                      "the sum of its squared entries."),
        ))

    # -- 6. the worked example --------------------------------------------------------
    def worked_sections(self) -> list:
        net = self.net
        T = net.T
        given = []
        for p in net.params:
            given.append(Equation(self.param(p), "=", format_value(self._given(p))))
        given.append(Equation(r"\eta", "=", format_number(self.learning_rate)))
        given.append(Equation(CLIP, "=", format_number(self.clip_norm)))
        sequences = []
        for s in net.inputs + net.targets:
            value = np.asarray(self._given(s), dtype=float)
            if self.last_mode and s in net.targets:
                given.append(Equation(self.at(s.name, "T"), "=", format_value(value.reshape(-1, 1))))
            else:
                sequences.append(s)
        sections = [Section("A worked example", 1, (
            self.p("Take these values of the parameters (and the learning rate and the clipping threshold):"),
            Block("equations", equations=tuple(given)),
            self.p("and these sequences, one row per step:"),
            self.sequence_table(sequences),
        ))]
        forward = [s for s in self.steps if s.kind == "forward"]
        table = self.step_table(forward, range(1, T + 1), losses=True)
        self._record("L", self.values["L"])
        sections.append(Section("Forward pass", 2, (
            self.p("Every step, from ", Math("t = 1"), " to ", Math("T"), ":"),
            table,
            self.p("The loss: ", Math(rf"L = {format_number(self.values['L'])}"), "."),
        )))
        backward = [s for s in self.steps if s.kind == "adjoint" and not s.inlined]
        blocks = [self.p("Every step, from ", Math("t = T"), " back to ", Math("1"),
                         " (the adjoints substituted into others are not listed):"),
                  self.step_table(backward, range(T, 0, -1))]
        lines = []
        for s in self.steps:
            if s.kind == "gradient":
                value = self.values[s.key]
                self._record(s.key, value)
                lines.extend(_equation_chain(self.tex(s.cell.symbol), "=", [format_value(value)]))
        blocks += [self.p("The gradients, summed over the steps:"), Block("equations", equations=tuple(lines))]
        sections.append(Section("Backward pass", 2, tuple(blocks)))
        grads = [np.asarray(self.values[f"dL/d{p.name}"], dtype=float) for p in net.params]
        norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads)))
        scale = clip_scale(grads, self.clip_norm)
        self._record("clip:norm", norm)
        self._record("clip:scale", scale)
        factor = rf"\min\left(1, \frac{{{format_number(self.clip_norm)}}}{{{format_number(norm)}}}\right) = {format_number(scale)}"
        lines = [Equation(r"\lVert g \rVert", "=", format_number(norm)), Equation(FACTOR, "=", factor)]
        for p in net.params:
            value = self.values[p.name + "_new"]
            self._record(p.name + "_new", value)
            lines.extend(_equation_chain(self.param(p), r"\leftarrow", [format_value(value)]))
        clipped = "the gradient is clipped" if scale < 1 else "no clipping is needed"
        sections.append(Section("Update", 2, (
            self.p(f"The global norm of the gradient and the clipping factor ({clipped}), then one step with ",
                   Math(rf"\eta = {format_number(self.learning_rate)}"), ":"),
            Block("equations", equations=tuple(lines)),
        )))
        return sections

    def sequence_table(self, sequences) -> Block:
        T = self.net.T
        arrays = {s.name: np.asarray(self._given(s), dtype=float).reshape(T, -1) for s in sequences}
        rows = []
        for t in range(1, T + 1):
            rows.append((self.cell(str(t)), *[self.cell(format_value(arrays[s.name][t - 1].reshape(-1, 1)))
                                                  for s in sequences]))
        head = (self.fmt.escape("t"), *[self.cell(self.at(s.name)) for s in sequences])
        return Block("table", header=head, rows=tuple(rows))

    def step_table(self, steps, times, losses=False) -> Block:
        rows = []
        shown = list(steps)
        for t in times:
            cells = [self.cell(str(t))]
            for s in shown:
                key = _key(s, t)
                value = self.values.get(key) if key is not None else None
                if value is None:
                    cells.append("")
                    continue
                self._record(key, value)
                cells.append(self.cell(format_value(value)))
            if losses:
                key = f"L[{t}]"
                if key in self.values:
                    self._record(key, self.values[key])
                    cells.append(self.cell(format_number(self.values[key])))
                else:
                    cells.append("")
            rows.append(tuple(cells))
        head = [self.fmt.escape("t")] + [self.cell(self.tex(s.symbol)) for s in shown]
        if losses:
            head.append(self.cell("L_{t}"))
        return Block("table", header=tuple(head), rows=tuple(rows))


def _key(step, t):
    base, _ = split_time(step.symbol.name)
    if step.kind == "forward":
        return f"{base}[{t}]"
    if base.startswith("delta"):
        return f"{base}[{t}]"
    return f"dL/d{base[1:]}[{t}]"


def _shape_tex(shape) -> str:
    rows, cols = (int(shape[0]), int(shape[1])) if shape else (1, 1)
    return rf"\mathbb{{R}}^{{{rows}}}" if cols == 1 else rf"\mathbb{{R}}^{{{rows} \times {cols}}}"


def _grouped(tex, expr) -> str:
    return rf"\left({tex}\right)" if isinstance(expr, (sp.MatAdd, sp.Add)) else tex


# ==========================================================================
# Public API
# ==========================================================================


def document(d, fmt="tex", values=None, learning_rate=None, clip_norm=None, recurrent_norms=RECURRENT_NORMS) -> Document:
    return _RecurrentNotes(d, _Format(fmt), values, learning_rate, clip_norm, recurrent_norms).build()


def _options(options):
    options = dict(options)
    optimizer = options.pop("optimizer", "sgd")
    if optimizer != "sgd":
        raise SympropError(
            f"the notes of a recurrent network write gradient descent with clipping; optimizer={optimizer!r} is not available for them"
        )
    unknown = sorted(set(options) - {"clip_norm", "recurrent_norms"})
    if unknown:
        raise SympropError(f"unknown rendering option(s): {', '.join(unknown)}")
    return options


def latex(d, standalone: bool = False, values=None, learning_rate=None, **options) -> str:
    """The notes as LaTeX: a whole document (``standalone``) or a fragment to \\input.

    ``clip_norm`` (default 1) is the threshold of the clipping in the update rule;
    ``recurrent_norms`` the spectral norms of the recurrent weights the notes compare.
    """
    doc = document(d, "tex", values, learning_rate, **_options(options))
    return _render("derivation.tex.j2", doc=doc, standalone=standalone)


def markdown(d, values=None, learning_rate=None, **options) -> str:
    return _render("derivation.md.j2", doc=document(d, "md", values, learning_rate, **_options(options)))


__all__ = ["Plot", "Series", "document", "latex", "markdown", "time_symbol"]
