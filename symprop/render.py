"""Lecture notes of a derivation: Derivation -> view model -> .tex / .md (+ PDF).

Everything printed comes from the Derivation: its steps, their chains of forms
with reasons, contributions (the chain rule, consumer by consumer), local
derivatives, batch forms and, for a worked example, ``Derivation.evaluate``.
This module turns them into a *view model* - dataclasses of already printed
LaTeX and already formatted numbers - and the Jinja2 templates in
``templates/`` only lay it out.  Nothing here knows a network or an answer by
name; the op registry supplies each activation's and loss's own notation.

Output is deterministic: no dates, no set or dict-order dependence, numbers
formatted by one function.
"""

from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import sympy as sp

from . import algebra as alg
from . import ops
from .algebra import T
from .batch import EXAMPLE_SUFFIX, INDEX, M, batch_name, indexed
from .errors import EvaluationError, SympropError
from .outputs import GENERATED_MARK, header, write_all
from .pdf import compile_pdf, pdf_bytes, pdflatex_path  # noqa: F401  (compile_pdf, pdflatex_path: re-exported)
from .printing import LatexPrinter, NumPyPrinter, helper_namespace, latex_name
from .printing import latex as latex_expr
from .printing import text as plain_text
from .templating import environment, template_dir

SIGNIFICANT = 4  # significant figures of the worked example's numbers
MAX_MATRIX_SIDE = 8  # larger values are summarised by shape and norm, not printed in full
DEFAULT_LEARNING_RATE = 0.1
OPTIMIZERS = ("sgd", "momentum", "adam")
MOMENTUM = 0.9
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8

# ==========================================================================
# Escaping
# ==========================================================================

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}
_MARKDOWN_SPECIAL = set("\\`*_[]$|~")
_MARKDOWN_LINE_START = re.compile(r"^(#|[-+>]|\d+[.)])")


def _dim(d) -> str:
    """A dimension as the notes write it: 4, or m for the size of a batch."""
    return str(int(d)) if d.is_Integer else latex_expr(d)


def _one_line(text) -> str:
    return re.sub(r"\s+", " ", str(text))


def escape_latex(text: str) -> str:
    """Free text (a network's name) made safe for LaTeX's text mode."""
    text = _one_line(text)  # no newlines: they could end a comment or a paragraph
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def escape_markdown(text: str) -> str:
    """Free text made inert in Markdown (no emphasis, links, math, tables or HTML)."""
    text = _one_line(text)
    out = []
    for ch in text:
        if ch in _MARKDOWN_SPECIAL:
            out.append("\\" + ch)
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == "&":
            out.append("&amp;")
        else:
            out.append(ch)
    escaped = "".join(out)
    if _MARKDOWN_LINE_START.match(escaped):  # a heading, list or quote marker if it starts a line
        escaped = "\\" + escaped
    return escaped


@dataclass(frozen=True)
class Math:
    """A piece of inline mathematics in prose (already LaTeX)."""

    tex: str


@dataclass(frozen=True)
class _Format:
    """What differs between the .tex and the .md: how prose text is escaped."""

    name: str  # "tex" | "md"

    def escape(self, text: str) -> str:
        return escape_latex(text) if self.name == "tex" else escape_markdown(text)

    def prose(self, *parts) -> str:
        """Text and inline math, e.g. prose("the gradient of ", Math("W"), ".")."""
        out = []
        for part in parts:
            if isinstance(part, Math):
                out.append(f"${part.tex}$")
            else:
                out.append(self.escape(part))
        return "".join(out)


# ==========================================================================
# Numbers
# ==========================================================================


def format_number(value: float) -> str:
    """A number as the notes print it: 4 significant figures, integers as integers.

    8.0 -> "8", 0.731058 -> "0.7311", -0.0562813 -> "-0.05628", 1.2e-7 -> "1.2 \\times 10^{-7}".
    """
    value = float(np.asarray(value, dtype=float).reshape(-1)[0])  # a 1x1 array is a number too
    if not math.isfinite(value):
        return r"\infty" if value > 0 else (r"-\infty" if value < 0 else r"\mathrm{NaN}")
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    rounded = float(f"{value:.{SIGNIFICANT}g}")
    if rounded.is_integer() and abs(rounded) < 10**SIGNIFICANT:
        return str(int(rounded))
    text = f"{value:.{SIGNIFICANT}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text


def format_number_text(value: float) -> str:
    """format_number for plain text (Mermaid labels)."""
    return format_number(value).replace(r" \times 10^{", "e").replace("}", "").replace("\\", "")


def format_value(value) -> str:
    """LaTeX of a scalar or an array: a number, a bmatrix, or a summary of a big matrix."""
    a = np.asarray(value, dtype=float)
    if a.size == 1:
        return format_number(a.reshape(-1)[0])
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    rows, cols = a.shape
    if cols == 1 and rows <= MAX_MATRIX_SIDE:  # a column, written as a transposed row to save space
        return rf"\begin{{bmatrix}} {' & '.join(format_number(v) for v in a[:, 0])} \end{{bmatrix}}^{{\top}}"
    if rows > MAX_MATRIX_SIDE or cols > MAX_MATRIX_SIDE:
        return rf"\text{{({rows} \(\times\) {cols}, norm {format_number(np.linalg.norm(a))})}}"
    body = r" \\ ".join(" & ".join(format_number(v) for v in row) for row in a)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def _substitution(value: float) -> str:
    """A number put in place of a symbol inside an expression: negatives bracketed."""
    tex = format_number(value)
    return rf"\left({tex}\right)" if tex.startswith("-") else tex


# ==========================================================================
# The view model
# ==========================================================================


@dataclass(frozen=True)
class Equation:
    """One line of an aligned block: ``lhs rel rhs`` with an optional note and number."""

    lhs: str
    rel: str
    rhs: str
    note: str = ""  # math-mode annotation, e.g. \text{chain rule}
    tag: str = ""  # the step's number, on the line that states its final form
    label: str = ""  # "(7)": the tag as printed where \tag is not available


@dataclass(frozen=True)
class Block:
    """A piece of a section: prose, an equation block, a table, a note, the figure."""

    kind: str  # "text" | "equations" | "note" | "table" | "graph"
    text: str = ""
    equations: tuple = ()
    header: tuple = ()
    rows: tuple = ()
    graph: object = None
    inline_notes: bool = False  # equations: each note right after its line, not in a column


@dataclass(frozen=True)
class Section:
    title: str
    level: int  # 1: section, 2: subsection
    blocks: tuple


@dataclass(frozen=True)
class WorkedNumber:
    """A number the worked example prints, with the engine value it came from."""

    key: str  # Derivation.evaluate key, or "local:<consumer>/<of>" for a local derivative
    value: object  # float or array
    tex: str


@dataclass(frozen=True)
class Document:
    header: str  # the first line: the generated-by comment
    title: str
    subtitle: str
    sections: tuple
    numbers: tuple = ()  # WorkedNumber, for the tests
    pdf_creator: str = ""


# ==========================================================================
# Building the view model
# ==========================================================================


class _Notes:
    """Builds the Document of one derivation for one output format."""

    def __init__(self, derivation, fmt: _Format, values=None, learning_rate=None, optimizer: str = "sgd"):
        if optimizer not in OPTIMIZERS:
            raise SympropError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        self.optimizer = optimizer
        self.d = derivation
        self.net = derivation.network
        self.fmt = fmt
        self.scalar = bool(self.net.is_scalar)
        self.steps = derivation.steps
        self.by_symbol = {s.symbol: s for s in self.steps if s.kind != "update"}
        self.by_name = {s.name: s for s in self.steps}
        self.nodes = {n.name: n for n in self.net.nodes}
        self.declared = {s.name: s for s in self.net.declared}
        self.param_set = frozenset(self.net.params)
        self.derivative_names = frozenset(
            s.name for s in self.steps if s.kind in ("adjoint", "gradient") and not s.name.startswith("delta")
        ) | frozenset(
            s.batched_symbol.name
            for s in self.steps
            if s.kind in ("adjoint", "gradient") and isinstance(s.batched_symbol, sp.MatrixSymbol)
            and not s.batched_symbol.name.startswith("Delta")
        )
        self.printer_settings = dict(
            bracket_layers=not self.scalar,
            params=tuple(p.name for p in self.net.params),
            derivative_names=self.derivative_names | {n + EXAMPLE_SUFFIX for n in self.derivative_names},
        )
        self.printer = LatexPrinter(self.printer_settings)
        # the variable of f(z) and f'(z) in general, unless the network has a node named z
        self.dummy = sp.Symbol("t" if "z" in self.nodes or "z" in self.declared else "z")
        self.numbers: list = []
        self.notes_made: set = set()
        self.values = None
        self.learning_rate = None
        if values is not None:
            self.learning_rate = DEFAULT_LEARNING_RATE if learning_rate is None else float(learning_rate)
            self.values = derivation.evaluate(values, learning_rate=self.learning_rate)
            self.given = _given_values(derivation, values)
            self.numeric_namespace = self._namespace()

    # -- printing helpers ------------------------------------------------------
    def tex(self, expr) -> str:
        return self.printer.doprint(expr)

    def name(self, name: str) -> str:
        return latex_name(name, not self.scalar, self.derivative_names)

    def partial(self, top: str, bottom: str) -> str:
        """\\frac{\\partial a}{\\partial z} for the names ``top`` and ``bottom``."""
        return rf"\frac{{\partial {self.name(top)}}}{{\partial {self.name(bottom)}}}"

    def adjoint_of(self, name: str) -> str:
        """dL/d(name), whatever the adjoint is called (delta1 for z1)."""
        return rf"\frac{{\partial L}}{{\partial {self.name(name)}}}"

    def shape_tex(self, shape) -> str:
        if not shape:
            return r"\mathbb{R}"
        rows, cols = (_dim(shape[0]), _dim(shape[1]))
        if cols == "1":
            return rf"\mathbb{{R}}^{{{rows}}}"
        return rf"\mathbb{{R}}^{{{rows} \times {cols}}}"

    def shape_words(self, shape) -> str:
        return f"{_dim(shape[0])} x {_dim(shape[1])}" if shape else "scalar"

    def shape_math(self, shape) -> str:
        return rf"{_dim(shape[0])} \times {_dim(shape[1])}" if shape else "1"

    def bracketed(self, expr) -> str:
        tex = self.tex(expr)
        return rf"\left({tex}\right)" if isinstance(expr, sp.Add) else tex

    def cell(self, tex: str) -> str:
        return self.fmt.prose(Math(tex))

    def p(self, *parts) -> Block:
        return Block("text", text=self.fmt.prose(*parts))

    def note(self, *parts) -> Optional[Block]:
        """A one-line note; None if the same note was already made (W^T appears in several steps)."""
        text = self.fmt.prose(*parts)
        if text in self.notes_made:
            return None
        self.notes_made.add(text)
        return Block("note", text=text)

    def reason(self, text: str) -> str:
        """A form's reason as a math-mode annotation; substitutions cite the equation."""
        if text.startswith("substitute "):
            names = [n.strip() for n in text[len("substitute "):].split(",")]
            cited = [self.by_name[n] for n in names if n in self.by_name]
            if len(cited) == len(names):
                refs = r" \text{ and } ".join(rf"{self.tex(s.symbol)} \text{{ from ({s.number})}}" for s in cited)
                return rf"\text{{substituting }} {refs}"
        for a in self.d.assumptions:
            if a.text == text:
                return rf"\text{{since }} {self.tex(a.lhs)} = {self.tex(a.rhs)}"
        if self.scalar and text == "cancel entrywise":
            text = "cancel"  # there are no entries in a scalar network
        return rf"\text{{{escape_latex(text)}}}"

    # -- the document ------------------------------------------------------------
    def build(self) -> Document:
        sections = [self.network_section(), self.graph_section(), *self.backward_sections()]
        if self.scalar:
            chains = self.chain_section()
            if chains is not None:
                sections.append(chains)
        batch = self.batch_section()
        if batch is not None:
            sections.append(batch)
        sections.append(self.update_section())
        if self.values is not None:
            sections.extend(self.worked_sections())
        sections = [
            Section(self.fmt.escape(sec.title), sec.level, tuple(b for b in sec.blocks if b is not None)) for sec in sections
        ]
        title = self.fmt.escape(f"Backpropagation in the {self.net.name}")
        subtitle = self.fmt.prose("Every step of the backward pass, derived by symprop")
        comment = "%" if self.fmt.name == "tex" else "<!--"
        what = " ".join(str(self.net.name).split()).replace("--", "- -")
        first_line = header(comment, what) + (" -->" if self.fmt.name == "md" else "")
        return Document(
            first_line, title, subtitle, tuple(sections), tuple(self.numbers), pdf_creator=f"/Creator ({GENERATED_MARK})"
        )

    # -- 1. the network ----------------------------------------------------------
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
        blocks.append(self.p("The forward pass computes, in order:"))
        blocks.append(Block("equations", equations=tuple(self.forward_equations())))
        definitions = self.activation_definitions()
        if definitions:
            blocks.append(self.p("with the activation function" + ("s" if len(definitions) > 1 else "")))
            blocks.append(Block("equations", equations=tuple(definitions)))
        reduction = self.loss_reduction_note()
        if reduction is not None:
            blocks.append(reduction)
        return Section("The network", 1, tuple(blocks))

    def shapes_table(self) -> Block:
        rows = []
        for sym in self.net.inputs:
            what = "input (a batch, one example per column)" if self.net.batch is not None else "input (one example)"
            rows.append((self.cell(self.name(sym.name)), self.cell(self.shape_tex(sym.shape)), self.fmt.escape(what)))
        for sym in self.net.targets:
            rows.append((self.cell(self.name(sym.name)), self.cell(self.shape_tex(sym.shape)), self.fmt.escape("target")))
        users_of = {}  # one pass over the nodes, not one per parameter (quadratic in depth)
        for n in self.net.nodes:
            for free in n.definition.free_symbols:
                users_of.setdefault(free, []).append(n)
        for sym in self.net.params:
            users = users_of.get(sym, [])
            where = ", ".join(sorted({f"layer {n.layer}" for n in users if n.layer is not None}))
            what = "parameter" + (f" of {where}" if where else "")
            rows.append((self.cell(self.name(sym.name)), self.cell(self.shape_tex(sym.shape)), self.fmt.escape(what)))
        for n in self.net.nodes:
            what = {
                "pre-activation": f"pre-activation of layer {n.layer}",
                "activation": f"activation of layer {n.layer}",
                "prediction": "prediction",
                "loss": "loss of one example" if self.net.batch is None else "loss, the mean over the batch",
            }.get(n.role, n.description or n.role)
            rows.append((self.cell(self.name(n.name)), self.cell(self.shape_tex(n.shape)), self.fmt.escape(what)))
        header_ = (self.fmt.escape("symbol"), self.fmt.escape("shape"), self.fmt.escape("what it is"))
        return Block("table", header=header_, rows=tuple(rows))

    def forward_equations(self) -> list:
        lines = []
        for s in self.steps:
            if s.kind not in ("forward", "loss"):
                continue
            definition = self.loss_definition(s) if s.kind == "loss" else None
            if definition is None:
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

    # -- 2. the computation graph ------------------------------------------------
    def graph_section(self) -> Section:
        from .graph import computation_graph

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
                "each edge, in red, the gradient of the loss that flows back along it."
            ))
        else:
            blocks.append(self.p(
                "The computation graph: values flow forward along the arrows, gradients flow back against them."
            ))
        blocks.append(Block("graph", graph=graph))
        return Section("The computation graph", 1, tuple(blocks))

    # -- 3. the backward pass ----------------------------------------------------
    def backward_sections(self) -> list:
        intro = [
            self.p(
                "The backward pass applies the chain rule from the loss back to the inputs. ",
                *(
                    ["Write ", Math(r"\delta = \partial L / \partial z"), " for the error signal at a pre-activation. "]
                    if any(s.name.startswith("delta") for s in self.steps) else []
                ),
                "Each gradient below has the shape of the quantity it differentiates.",
            )
        ]
        sections = [Section("The backward pass", 1, tuple(intro))]
        groups = self._backward_groups()
        output = {n.layer for n in self.net.nodes if n.role == "prediction" and n.layer is not None}
        layers = {n.layer for n in self.net.nodes if n.layer is not None}
        for key, steps in groups:
            if key == "input":
                title = "The gradient with respect to the input"
            elif key is None:
                title = "The loss and the prediction"
            elif key in output:
                title = f"The output layer (layer {key})" if len(layers) > 1 else "The output layer"
            else:
                title = f"Layer {key}"
            blocks = []
            for s in steps:
                blocks.extend(self.backward_step(s))
            sections.append(Section(title, 2, tuple(blocks)))
        return sections

    def _backward_groups(self) -> list:
        groups = []
        for s in self.steps:
            if s.kind not in ("adjoint", "gradient"):
                continue
            if s.kind == "gradient" and s.role == "input":
                key = "input"
            elif s.kind == "adjoint":
                key = s.layer
            else:
                key = groups[-1][0] if groups else None
            if not groups or groups[-1][0] != key:
                groups.append((key, []))
            groups[-1][1].append(s)
        return groups

    def backward_step(self, s) -> list:
        blocks = []
        node = self.nodes.get(s.of)
        if s.kind == "adjoint" and s.role == "pre-activation":
            blocks.extend(self.delta_intro(s))
        elif s.kind == "adjoint":
            consumers = [Math(self.name(c.consumer)) for c in s.contributions]
            if len(consumers) == 1 and s.contributions[0].consumer == self.net.loss_node.name:
                blocks.append(self.p("The loss is a function of ", Math(self.name(s.of)), ":"))
            else:
                blocks.append(self.p(Math(self.name(s.of)), " is used by ", *_join_math(consumers), ":"))
        elif s.role == "input":
            blocks.append(self.p(
                "The gradient with respect to the input ", Math(self.name(s.of)),
                " is not needed to train this network; it is what an earlier layer would receive from this one.",
            ))
        else:
            blocks.append(self.p("The gradient of the parameter ", Math(self.name(s.of)), ":"))
        blocks.append(self.equations(self.step_equations(s)))
        blocks.extend(self.step_notes(s, node))
        return blocks

    def by_name_node(self, name):
        return next(n for n in self.net.nodes if n.name == name)

    def delta_intro(self, s) -> list:
        """The error signal of a layer and the derivative of its activation, written out."""
        blocks = []
        act_node = self._activation_node(s)
        if act_node is None:
            return [self.p("The error signal at ", Math(self.name(s.of)), ":")]
        rule = ops.activation_rule(act_node.activation)
        a, z = self.name(act_node.name), self.name(s.of)
        if isinstance(rule, ops.ScalarFunction):
            if self.scalar:
                blocks.append(self.p(
                    "The error signal at ", Math(z), ". Since ", Math(rf"{a} = {rule.latex_call(z)}"),
                    ", the chain rule multiplies by the derivative of the activation:",
                ))
            else:
                blocks.append(self.p(
                    "The error signal at ", Math(z), ". Since ", Math(rf"{a} = {rule.latex_call(z)}"),
                    " entry by entry, the chain rule multiplies entry by entry (the Hadamard product ",
                    Math(r"\odot"), ") by the derivative of the activation:",
                ))
            blocks.append(Block("equations", equations=tuple(self.activation_derivative(rule, s, act_node))))
        elif act_node.shape[1] != 1 or getattr(self.by_name_node(act_node.name).definition, "axis", 0):
            # softmax of a matrix: every column (or row) on its own
            along = "row" if self.by_name_node(act_node.name).definition.axis else "column"
            jacobian = rule.latex_jacobian.format(s="p")
            blocks.append(self.p(
                "The error signal at ", Math(z), ". Softmax normalises each ", along, " of ", Math(z),
                " on its own, so each ", along, " of ", Math(self.tex(s.symbol)), " is the symmetric Jacobian of that ",
                along, ", ", Math(rf"J = {jacobian}"), " with ", Math("p"), " the ", along, " of ", Math(a),
                ", times the same ", along, " of ", Math(self.adjoint_of(act_node.name)), "; for all of them at once:",
            ))
        else:  # softmax: the entries are coupled, the Jacobian is a full matrix
            jacobian = rule.latex_jacobian.format(s=a)
            blocks.append(self.p(
                "The error signal at ", Math(z), ". Softmax couples the entries of ", Math(z),
                ": its Jacobian ", Math(rf"J = {self.partial(act_node.name, s.of)} = {jacobian}"),
                " is symmetric, so ", Math(rf"{self.tex(s.symbol)} = J^{{\top}} {self.adjoint_of(act_node.name)}"), ".",
            ))
        return blocks

    def activation_derivative(self, rule, s, act_node) -> list:
        z = self.dummy
        lines = []
        if rule.latex:
            general = rule.derivative.xreplace({T: z, ops.U: rule.function(z)})
            lines.append(Equation(_prime(rule, self.dummy.name), "=", self.tex(general)))
        if s.local_derivative is not None:
            local = self.tex(s.local_derivative)
            if self.scalar:
                at = rf"{_prime(rule, self.name(s.of))} = " if rule.latex else ""
                lines.append(Equation(self.partial(act_node.name, s.of), "=", at + local))
            elif rule.latex:
                lines.append(Equation(_prime(rule, self.name(s.of)), "=", local))
            else:
                lines.append(Equation(self.partial(act_node.name, s.of), "=", local))
        return lines

    def _activation_node(self, s):
        if len(s.contributions) != 1:
            return None
        consumer = self.nodes.get(s.contributions[0].consumer)
        if consumer is None or not consumer.activation or consumer.layer != s.layer:
            return None
        return consumer

    def step_equations(self, s) -> list:
        """lhs = generic chain rule = form 1 = form 2 = ... (reason for each), numbered."""
        lhs = self.tex(s.symbol)
        lines = []
        generic = self.generic_chain(s)
        if generic is not None:
            lines.append(Equation(lhs, "=", generic[0], note=generic[1]))
        forms = [(f.expr, f.reason) for f in s.forms] or [(s.expr, "chain rule")]
        for i, (expr, reason) in enumerate(forms):
            if i == 0 and generic is not None:
                reason = generic[2]
            lines.append(Equation(lhs if not lines else "", "=", self.tex(expr), note=self.reason(reason)))
        last = lines[-1]
        lines[-1] = Equation(last.lhs, last.rel, last.rhs, last.note, str(s.number), f"({s.number})")
        return lines

    def equations(self, lines) -> Block:
        """An aligned block; reasons in a column of their own unless a line is too long for that.

        The column of reasons is as wide as the widest reason on every line, so
        a long form would run into the margin: then each reason follows its
        own line, or goes below it.
        """
        def width(e):
            return _visible_width(e.lhs + e.rhs + e.note) + NOTE_GAP

        if all(width(e) <= MAX_LINE_WIDTH for e in lines):
            return Block("equations", equations=tuple(lines))
        out = []
        for e in lines:
            if e.note and width(e) > MAX_LINE_WIDTH:
                out.append(Equation(e.lhs, e.rel, e.rhs))
                out.append(Equation("", "", "", note=e.note, tag=e.tag, label=e.label))
            else:
                out.append(e)
        return Block("equations", equations=tuple(out), inline_notes=True)

    def generic_chain(self, s):
        """(the chain rule in partial-derivative notation, its note, the note of the first form) or None."""
        if s.kind == "adjoint" and s.role == "pre-activation":
            act_node = self._activation_node(s)
            if act_node is not None:
                rule = ops.activation_rule(act_node.activation)
                # delta = dL/dz = ...; a value named d<z> is itself dL/dz: written once
                dz = self.adjoint_of(s.of) + " = " if self.adjoint_of(s.of) != self.tex(s.symbol) else ""
                if self.scalar:
                    chain = rf"{self.tex(s.contributions[0].upstream)} \cdot {self.partial(act_node.name, s.of)}"
                    return rf"{dz}{chain}", r"\text{chain rule}", "local derivative written out"
                if isinstance(rule, ops.ScalarFunction):
                    f_prime = _prime(rule, self.name(s.of)) if rule.latex else "1"
                    chain = rf"{self.tex(s.contributions[0].upstream)} \odot {f_prime}"
                    return rf"{dz}{chain}", r"\text{chain rule}", "derivative written out"
                chain = rf"J^{{\top}} {self.tex(s.contributions[0].upstream)}"
                return rf"{dz}{chain}", r"\text{chain rule}", "product with the Jacobian"
        if self.scalar and s.contributions and not (
            len(s.contributions) == 1 and s.contributions[0].consumer == self.net.loss_node.name
        ):
            terms = []
            for c in s.contributions:
                local = self.partial(c.consumer, s.of)
                terms.append(local if c.upstream == 1 else rf"{self.tex(c.upstream)} \cdot {local}")
            return " + ".join(terms), r"\text{chain rule}", "local derivatives written out"
        return None

    def step_notes(self, s, node) -> list:
        notes = []
        if len(s.contributions) > 1:
            consumers = [Math(self.name(c.consumer)) for c in s.contributions]
            notes.append(self.note(
                "Note: ", Math(self.name(s.of)), " is used by ", *_join_math(consumers),
                "; the gradients along both paths add." if len(consumers) == 2 else "; the gradients along all paths add.",
            ))
        if self.scalar:
            return notes
        for arg in _transposed_parameters(s.expr, self.param_set):
            rows, cols = (_dim(d) for d in arg.shape)
            notes.append(self.note(
                "Note: ", Math(self.name(arg.name)), f" maps a vector of size {cols} to one of size {rows}, so its transpose ",
                Math(self.tex(sp.Transpose(arg))), f" sends a gradient of size {rows} back to size {cols}.",
            ))
        if s.kind == "gradient" and s.role == "parameter" and isinstance(s.symbol, sp.MatrixSymbol):
            shape = tuple(s.symbol.shape)
            outer = _outer_product_factors(s.expr)
            if outer is not None and shape[1] != 1:
                column, row = outer
                notes.append(self.note(
                    "Note: ", Math(self.tex(s.symbol)), " has the shape of ", Math(self.name(s.of)),
                    ", ", Math(self.shape_math(shape)), ": the column ", Math(self.tex(column)),
                    " times the row ", Math(self.tex(row)), " (an outer product).",
                ))
            elif shape[1] != 1:
                notes.append(self.note(
                    "Note: ", Math(self.tex(s.symbol)), " has the shape of ", Math(self.name(s.of)),
                    ", ", Math(self.shape_math(shape)), ".",
                ))
            elif node is None and s.expr in self.by_symbol and self.by_symbol[s.expr].name.startswith("delta"):
                notes.append(self.note(
                    "Note: ", Math(self.name(s.of)), " is added to ", Math(self.name(self.by_symbol[s.expr].of)),
                    ", so its gradient is the error signal itself.",
                ))
        for form in s.forms:
            for a in self.d.assumptions:
                if form.reason == a.text:
                    notes.append(self.note(
                        "Assumption used: ", a.text, ", that is ", Math(rf"{self.tex(a.lhs)} = {self.tex(a.rhs)}"), "."
                    ))
        return notes

    # -- 4. the chain rule, path by path (scalar networks) ------------------------
    def chain_section(self) -> Optional[Section]:
        lines = []
        gradients = {s.of: s for s in self.steps if s.kind == "gradient"}
        order = [sym.name for sym in self.net.params + self.net.inputs if sym.name in gradients]
        for s in (gradients[name] for name in order):
            paths = self.paths(s)
            if paths is None:
                continue
            symbolic_terms, local_terms, number_terms = [], [], []
            for path in paths:
                symbolic_terms.append(r" \cdot ".join(self.partial(top, bottom) for top, bottom, _ in path))
                local_terms.append(r" \cdot ".join(self.bracketed(local) for _, _, local in path))
                if self.values is not None:
                    factors = [self.evaluate_expr(local) for _, _, local in path]
                    for (top, bottom, _), v in zip(path, factors):
                        self._record(f"local:{top}/{bottom}", v)
                    number_terms.append(r" \cdot ".join(_substitution(v) for v in factors))
            lhs = self.tex(s.symbol)
            lines.append(Equation(lhs, "=", " + ".join(symbolic_terms)))
            line = " + ".join(local_terms)
            if self.values is not None:
                value = self.values[s.key]
                self._record(s.key, value)
                lines.append(Equation("", "=", line))
                lines.append(Equation("", "=", rf"{' + '.join(number_terms)} = {format_number(value)}"))
            else:
                lines.append(Equation("", "=", line))
        if not lines:
            return None
        blocks = [
            self.p(
                "For a scalar network the chain rule can be written path by path, as a product of local derivatives "
                "from the loss down to each parameter",
                " (with the numbers of the worked example below):" if self.values is not None else ":",
            ),
            Block("equations", equations=tuple(lines)),
        ]
        return Section("The chain rule, path by path", 1, tuple(blocks))

    def paths(self, s, limit: int = 4):
        """Every path from the loss to ``s.of`` as [(consumer, value, local), ...], loss first; None if too many."""
        result = []

        def walk(step, suffix):
            for c in step.contributions:
                if c.local is None:
                    raise _TooMany
                edge = (c.consumer, step.of, c.local)
                if c.upstream == 1:
                    result.append([edge] + suffix)
                else:
                    upstream = self.by_symbol.get(c.upstream)
                    if upstream is None:
                        raise _TooMany
                    walk(upstream, [edge] + suffix)
                if len(result) > limit:
                    raise _TooMany

        try:
            walk(s, [])
        except _TooMany:
            return None
        return result

    # -- 5. the batch form -------------------------------------------------------
    def batch_section(self) -> Optional[Section]:
        per_example = set(self.net.inputs) | set(self.net.targets)
        per_example |= {s.symbol for s in self.steps if s.kind in ("forward", "loss", "adjoint")}
        lines = []
        mean = rf"\frac{{1}}{{{self.tex(M)}}} \sum_{{{self.tex(INDEX)}=1}}^{{{self.tex(M)}}}"
        ones = False
        outer = False
        for s in self.steps:
            if s.batched is None or s.kind == "update":
                continue
            lhs = self.tex(s.batched_symbol)
            rhs = self.tex(s.batched)
            if s.kind == "gradient" and s.role == "parameter" and not self.scalar:
                per = self.tex(indexed(s.expr, per_example))
                if isinstance(s.expr, sp.MatAdd):
                    per = rf"\left({per}\right)"
                lines.append(Equation(lhs, "=", rf"{mean} {per}"))
                lines.append(Equation("", "=", rhs))
                outer = outer or _outer_product_factors(s.expr) is not None
            else:
                lines.append(Equation(lhs, "=", rhs))
            ones = ones or bool(s.batched.atoms(sp.OneMatrix)) if isinstance(s.batched, sp.Basic) else ones
        if not lines:
            return None
        blocks = []
        if self.scalar:
            blocks.append(self.p(
                "For a mini-batch of ", Math("m"), " examples, example ", Math("i"),
                " gets the superscript ", Math("(i)"), ". The loss is the mean over the batch, "
                "so each parameter gradient is the mean of the per-example gradients:",
            ))
        else:
            stacked = [self._batch_matrix(sym) for sym in self.net.inputs + self.net.targets]
            blocks.append(self.p(
                "For a mini-batch of ", Math("m"), " examples, stack them as columns: ", *_join_math(stacked),
                " (and likewise every per-example quantity) have one column per example, example ", Math("i"),
                " in column ", Math("i"), ". The loss is the mean over the batch, so each parameter gradient is the "
                "mean of the per-example gradients, and the sum over the examples becomes a matrix product:",
            ))
        blocks.append(Block("equations", equations=tuple(lines)))
        if ones:
            blocks.append(self.note(
                "Note: ", Math(r"\mathbf{1}_{m}"), " is a column of ", Math("m"), " ones: ",
                Math(r"b \mathbf{1}_{m}^{\top}"), " copies a bias into every column, and ",
                Math(r"\Delta \mathbf{1}_{m}"), " sums the columns of ", Math(r"\Delta"), " over the batch.",
            ))
        if outer:
            blocks.append(self.note(
                "Note: one matrix product of an ", Math(r"n \times m"), " and an ", Math(r"m \times k"),
                " matrix adds up the ", Math("m"), " outer products of the single examples.",
            ))
        return Section("A mini-batch", 1, tuple(blocks))

    def _batch_matrix(self, sym) -> Math:
        """X in R^{3 x m}: the batch matrix that stacks the examples of ``sym``."""
        wanted = {batch_name(sym.name), batch_name(sym.name) + "_B"}
        for s in self.steps:
            if isinstance(s.batched, sp.Basic):
                for atom in sorted(s.batched.atoms(sp.MatrixSymbol), key=lambda a: a.name):
                    if atom.name in wanted and atom.shape == (sym.shape[0], M):
                        return Math(rf"{self.tex(atom)} \in \mathbb{{R}}^{{{int(sym.shape[0])} \times m}}")
        return Math(self.tex(sym))

    # -- 6. the update -------------------------------------------------------------
    def update_section(self) -> Section:
        lines = []
        for s in self.steps:
            if s.kind == "update":
                lines.extend(self.update_rule(s))
        if self.optimizer == "sgd":
            intro = self.p(
                "Gradient descent (SGD) with learning rate ", Math(r"\eta"),
                " moves every parameter a small step against its gradient",
                " (for a mini-batch, the batch gradients above):",
            )
        elif self.optimizer == "momentum":
            intro = self.p(
                "SGD with momentum keeps a velocity ", Math(r"v"), " per parameter, zero at the start, "
                "that accumulates past gradients (momentum ", Math(rf"\mu = {format_number(MOMENTUM)}"),
                ", learning rate ", Math(r"\eta"), "):",
            )
        else:
            intro = self.p(
                "Adam keeps running means of each gradient and of its square, ", Math("m"), " and ", Math("v"),
                ", zero at the start, and divides one by the square root of the other, entry by entry (",
                Math(rf"\beta_1 = {format_number(ADAM_BETA1)}"), ", ", Math(rf"\beta_2 = {format_number(ADAM_BETA2)}"),
                ", ", Math(rf"\epsilon = {format_number(ADAM_EPSILON)}"), "; at step ", Math("t"),
                ", counted from 1, the bias-corrected means are ", Math(r"\hat{m} = m / (1 - \beta_1^{t})"), " and ",
                Math(r"\hat{v} = v / (1 - \beta_2^{t})"), "):",
            )
        return Section("The update rule", 1, (intro, Block("equations", equations=tuple(lines))))

    def update_rule(self, s) -> list:
        """The optimizer's equations for one parameter; the last one is the numbered update."""
        theta = self.tex(s.symbol)
        grad = self.tex(self.by_name["d" + s.of].symbol)
        tag = dict(tag=str(s.number), label=f"({s.number})")
        if self.optimizer == "sgd":
            return [Equation(theta, r"\leftarrow", self.tex(s.expr), **tag)]
        if self.optimizer == "momentum":
            v = rf"v_{{{theta}}}"
            return [
                Equation(v, r"\leftarrow", rf"\mu {v} + {grad}"),
                Equation(theta, r"\leftarrow", rf"{theta} - \eta {v}", **tag),
            ]
        m, v = rf"m_{{{theta}}}", rf"v_{{{theta}}}"
        square = rf"{grad} \odot {grad}" if isinstance(s.symbol, sp.MatrixSymbol) else rf"\left({grad}\right)^{{2}}"
        m_hat, v_hat = rf"\hat{{m}}_{{{theta}}}", rf"\hat{{v}}_{{{theta}}}"
        if isinstance(s.symbol, sp.MatrixSymbol):
            update = rf"{theta} - \eta \, {m_hat} \oslash \left(\sqrt{{{v_hat}}} + \epsilon\right)"
        else:
            update = rf"{theta} - \eta \frac{{{m_hat}}}{{\sqrt{{{v_hat}}} + \epsilon}}"
        return [
            Equation(m, r"\leftarrow", rf"\beta_1 {m} + \left(1 - \beta_1\right) {grad}"),
            Equation(v, r"\leftarrow", rf"\beta_2 {v} + \left(1 - \beta_2\right) {square}"),
            Equation(theta, r"\leftarrow", update, **tag),
        ]

    # -- 7. the worked example -----------------------------------------------------
    def worked_sections(self) -> list:
        sections = []
        given = []
        for sym in self.net.inputs + self.net.params + self.net.targets:
            given.append((self.name(sym.name), format_value(self.given[sym.name])))
        given.append((r"\eta", format_number(self.learning_rate)))
        if self.scalar:
            values = [Math(f"{name} = {value}") for name, value in given]
            blocks = [self.p("Take ", *_join_math(values), " (the learning rate ", Math(r"\eta"), ").")]
        else:
            blocks = [
                self.p("Take these values for one example and the parameters:"),
                Block("equations", equations=tuple(Equation(name, "=", value) for name, value in given)),
            ]
        sections.append(Section("A worked example", 1, tuple(blocks)))

        forward = []
        for s in self.steps:
            if s.kind in ("forward", "loss"):
                forward.extend(self.worked_line(s))
        sections.append(Section("Forward pass", 2, (Block("equations", equations=tuple(forward)),)))

        backward = []
        for s in self.steps:
            if s.kind in ("adjoint", "gradient"):
                backward.extend(self.worked_backward(s))
        blocks = []
        if self.scalar:
            blocks.append(self.p("Every local derivative, then each gradient from the one above it:"))
        blocks.append(Block("equations", equations=tuple(backward)))
        if not self.scalar:
            blocks.append(self.gradient_size_table())
        sections.append(Section("Backward pass", 2, tuple(blocks)))

        updates = []
        for s in self.steps:
            if s.kind == "update":
                updates.extend(self.worked_update(s))
        what = {"sgd": "gradient descent", "momentum": "SGD with momentum, from a zero velocity",
                "adam": "Adam, from zero means"}[self.optimizer]
        sections.append(Section("Update", 2, (
            self.p(f"The first step of {what}, with ", Math(rf"\eta = {format_number(self.learning_rate)}"), ":"),
            self.equations(updates),
        )))
        return sections

    def worked_update(self, s) -> list:
        if self.optimizer == "sgd":
            return self.worked_line(s, rel=r"\leftarrow")
        theta = np.asarray(self.given[s.of], dtype=float)
        gradient = np.asarray(self.values[f"dL/d{s.of}"], dtype=float).reshape(theta.shape)
        if self.optimizer == "momentum":
            # v = mu * 0 + g: the first step is plain gradient descent
            new = theta - self.learning_rate * gradient
            steps = [(rf"v_{{{self.tex(s.symbol)}}}", gradient)]
        else:
            # m-hat = g and v-hat = g * g at t = 1: each entry moves by about eta against its sign
            m, v = (1 - ADAM_BETA1) * gradient, (1 - ADAM_BETA2) * gradient * gradient
            new = theta - self.learning_rate * (m / (1 - ADAM_BETA1)) / (np.sqrt(v / (1 - ADAM_BETA2)) + ADAM_EPSILON)
            steps = [(rf"m_{{{self.tex(s.symbol)}}}", m), (rf"v_{{{self.tex(s.symbol)}}}", v)]
        lines = []
        for name, value in steps:
            self._record(f"{self.optimizer}:{name}", value)
            lines.append(Equation(name, "=", format_value(value)))
        self._record(f"{self.optimizer}:{s.name}", new)
        lines.append(Equation(self.tex(s.symbol), r"\leftarrow", format_value(new)))
        return lines

    def worked_line(self, s, rel="=") -> list:
        """lhs = expression = expression with the numbers = value (scalars); lhs = expression = value (arrays)."""
        value = self.values[s.key]
        self._record(s.key, value)
        lhs = self.tex(s.symbol)
        if not self.scalar:
            return _equation_chain(lhs, rel, [self.tex(s.expr), format_value(value)])
        expr = s.expr
        if s.kind == "loss" and ops.is_loss_node(expr):
            expr = expr.rule.explicit(expr.prediction, expr.target) * expr.rule.factor(expr.prediction)
        return _equation_chain(lhs, rel, self.worked_chain(expr, value))

    def worked_backward(self, s) -> list:
        value = self.values[s.key]
        self._record(s.key, value)
        lhs = self.tex(s.symbol)
        if not self.scalar:
            return _equation_chain(lhs, "=", [self.tex(s.expr), format_value(value)])
        lines = []
        terms_symbolic, terms_numbers = [], []
        for c in s.contributions:
            local_value = self.evaluate_expr(c.local)
            self._record(f"local:{c.consumer}/{s.of}", local_value)
            partial = self.partial(c.consumer, s.of)
            if c.upstream == 1 and len(s.contributions) == 1:
                continue  # the loss itself: the line below differentiates it directly
            lines.extend(_equation_chain(partial, "=", self.worked_chain(c.local, local_value)))
            if c.upstream == 1:  # the loss uses the value directly, besides through other nodes
                terms_symbolic.append(partial)
                terms_numbers.append(_substitution(local_value))
                continue
            upstream_value = self.evaluate_expr(c.upstream)
            terms_symbolic.append(rf"{self.tex(c.upstream)} \cdot {partial}")
            terms_numbers.append(rf"{_substitution(upstream_value)} \cdot {_substitution(local_value)}")
        if terms_symbolic:
            lines.extend(_equation_chain(lhs, "=", [" + ".join(terms_symbolic), " + ".join(terms_numbers), format_number(value)]))
        else:  # the gradient of the loss itself
            lines.extend(_equation_chain(lhs, "=", self.worked_chain(s.expr, value)))
        if len(s.forms) > 1 and terms_symbolic:
            # the closed form gives the same number: a check students can do by hand
            lines.extend(_equation_chain(lhs, "=", self.worked_chain(s.expr, value), note=rf"\text{{by ({s.number})}}"))
        return lines

    def worked_chain(self, expr, value) -> list:
        """[expression, expression with the numbers, value], without repeating itself."""
        parts = [self.tex(expr), self.with_numbers(expr), format_number(value)]
        out = []
        for part in parts:
            if not out or out[-1] != part:
                out.append(part)
        return out

    def gradient_size_table(self) -> Block:
        rows = []
        for s in self.steps:
            if s.kind == "gradient" and s.role == "parameter":
                norm = float(np.linalg.norm(np.asarray(self.values[s.key], dtype=float)))
                self._record(f"norm:{s.key}", norm)
                rows.append((self.cell(self.tex(s.symbol)), self.cell(format_number(norm))))
        return Block(
            "table",
            text=self.fmt.prose("The size of each gradient (its Frobenius norm) shows which layers learn fastest:"),
            header=(self.fmt.escape("gradient"), self.fmt.escape("norm")),
            rows=tuple(rows),
        )

    # -- numbers -------------------------------------------------------------------
    def _record(self, key, value):
        self.numbers.append(WorkedNumber(key, value, format_value(value)))

    def _namespace(self) -> dict:
        """Every symbol's value, in its declared shape (evaluate gives 1x1 values as floats)."""
        ns = dict(self.given)
        for s in self.steps:
            if s.key in self.values:
                value = self.values[s.key]
                if isinstance(s.symbol, sp.MatrixSymbol) and all(d.is_Integer for d in s.symbol.shape):
                    value = np.asarray(value, dtype=float).reshape(tuple(int(d) for d in s.symbol.shape))
                elif isinstance(s.symbol, sp.MatrixSymbol):  # n x m over a batch: the shape the values have
                    value = np.asarray(value, dtype=float).reshape(int(s.symbol.shape[0]), -1)
                ns[s.name] = value
        ns["eta"] = self.learning_rate
        return ns

    def evaluate_expr(self, expr):
        """The value of an expression of the derivation's symbols at the worked example."""
        printer = NumPyPrinter()
        code = printer.doprint(expr)
        namespace = helper_namespace(printer.helpers_used)
        namespace.update(self.numeric_namespace)
        with np.errstate(all="ignore"):
            return eval(compile(code, "<symprop render>", "eval"), namespace)  # our own printed code

    def with_numbers(self, expr) -> str:
        """``expr`` printed with the worked example's numbers in place of its symbols."""
        substitutions = {}
        for sym in expr.free_symbols:
            if isinstance(sym, sp.Symbol) and sym.name in self.numeric_namespace:
                value = self.numeric_namespace[sym.name]
                if _is_scalar_value(value):
                    substitutions[sym.name] = _substitution(float(np.asarray(value).reshape(-1)[0]))
        printer = LatexPrinter(dict(self.printer_settings, values=substitutions))
        # a bracketed negative number as a function's argument: sigma((-0.67)) -> sigma(-0.67)
        return _DOUBLE_BRACKETS.sub(r"\\left(\1\\right)", printer.doprint(expr))


class _TooMany(Exception):
    pass


_DOUBLE_BRACKETS = re.compile(r"\\left\(\\left\((-[^()]*?)\\right\)\\right\)")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_MATRIX = re.compile(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}")
MAX_LINE_WIDTH = 78  # characters of printed maths that fit on a line of the page, roughly
NOTE_GAP = 14  # the space align* leaves between an equation and its note, and the number


def _visible_width(tex: str) -> int:
    """A rough width of printed LaTeX maths in characters (over-estimates fractions)."""
    tex = _MATRIX.sub(lambda m: "x" * (4 + max(len(row) for row in m.group(1).split(r"\\"))), tex)
    tex = tex.replace(r"\left", "").replace(r"\right", "").replace(r"\frac", "")
    tex = re.sub(r"\\(mathrm|operatorname|text|mathbf|hat)", "", tex)
    tex = _COMMAND.sub(lambda m: "xxx" if m.group(0)[1:] in _WORD_MACROS else "x", tex)
    # binary operators and relations are set with space around them
    spaced = len(re.findall(r" [-+=] | \\(cdot|odot|oslash) ", tex))
    return len(re.sub(r"[{}^_\s]", "", tex)) + 2 * spaced


_WORD_MACROS = {"log", "exp", "tanh", "max", "min", "sin", "cos", "diag", "tr"}


def _equation_chain(lhs: str, rel: str, parts: list, note: str = "") -> list:
    """lhs = part = part = ..., continued on the next lines when it would not fit."""
    one_line = " = ".join(parts)
    if len(parts) == 1 or _visible_width(lhs + one_line) <= MAX_LINE_WIDTH:
        return [Equation(lhs, rel, one_line, note=note)]
    rest = " = ".join(parts[1:])
    if _visible_width(rest) <= MAX_LINE_WIDTH:
        return [Equation(lhs, rel, parts[0]), Equation("", "=", rest, note=note)]
    lines = [Equation(lhs, rel, parts[0])]
    lines += [Equation("", "=", part) for part in parts[1:-1]]
    return lines + [Equation("", "=", parts[-1], note=note)]


# ==========================================================================
# Small helpers
# ==========================================================================


def _join_math(items: list) -> list:
    """[a, b, c] -> [a, ", ", b, " and ", c] for prose()."""
    out = []
    for i, item in enumerate(items):
        if i:
            out.append(" and " if i == len(items) - 1 else ", ")
        out.append(item)
    return out


def _prime(rule, argument: str) -> str:
    """f'(z) in the rule's own notation: \\sigma'(z), \\operatorname{ReLU}'(z)."""
    return rf"{rule.latex}'\left({argument}\right)"


def _is_scalar_value(value) -> bool:
    return np.asarray(value).size == 1


def _symbol_like(declared: dict, nodes: dict, name: str):
    if name in declared:
        return declared[name]
    return nodes[name].symbol


def _transposed_parameters(expr, params) -> list:
    """The parameter matrices that appear transposed in ``expr`` (sorted by name)."""
    found = {t.arg for t in expr.atoms(sp.Transpose) if t.arg in params and isinstance(t.arg, sp.MatrixSymbol)}
    found = {a for a in found if a.shape[0] != 1 or a.shape[1] != 1}
    return sorted(found, key=lambda a: a.name)


def _outer_product_factors(expr):
    """(column, row) if ``expr`` is a column times a row, else None."""
    if isinstance(expr, sp.MatMul) and len(expr.args) == 2:
        column, row = expr.args
        if isinstance(column, sp.MatrixExpr) and isinstance(row, sp.MatrixExpr) and column.shape[1] == 1 and row.shape[0] == 1:
            return column, row
    return None


def _given_values(derivation, values: dict) -> dict:
    """The declared values as floats or arrays of their declared shapes (validated by numeric)."""
    from .numeric import _as_array, _lookup

    out = {}
    for sym in derivation.network.declared:
        try:
            out[sym.name] = _as_array(sym.name, _lookup(values, sym), sym)
        except KeyError:
            raise EvaluationError(f"no value given for {sym.name}") from None
    return out


# ==========================================================================
# Templates
# ==========================================================================


def _environment():
    return environment(latex=True)


def _render(template: str, **context) -> str:
    return _environment().get_template(template).render(**context)


# ==========================================================================
# Public API
# ==========================================================================


def document(derivation, fmt: str = "tex", values=None, learning_rate=None, optimizer: str = "sgd") -> Document:
    """The view model of the notes (what the templates receive)."""
    return _Notes(derivation, _Format(fmt), values, learning_rate, optimizer).build()


def latex(derivation, standalone: bool = False, values=None, learning_rate=None, jupyter: bool = False,
          optimizer: str = "sgd", **options) -> str:
    """The derivation as LaTeX: a whole document (``standalone``) or a fragment to \\input.

    ``optimizer``: "sgd" (default), "momentum" or "adam" - the update rule the notes write out.
    """
    _no_options(options)
    doc = document(derivation, "tex", values, learning_rate, optimizer)
    if jupyter:
        return _render("derivation_jupyter.tex.j2", doc=doc, steps=_jupyter_equations(derivation))
    return _render("derivation.tex.j2", doc=doc, standalone=standalone)


def markdown(derivation, values=None, learning_rate=None, optimizer: str = "sgd", **options) -> str:
    """The derivation as Markdown with $...$ maths and a Mermaid computation graph."""
    _no_options(options)
    return _render("derivation.md.j2", doc=document(derivation, "md", values, learning_rate, optimizer))


def _no_options(options):
    if options:
        raise SympropError(f"unknown rendering option(s): {', '.join(sorted(options))}")


def _jupyter_equations(derivation) -> list:
    """Every numbered equation in its final form (the notebook's compact view)."""
    notes = _Notes(derivation, _Format("tex"))
    lines = []
    for s in derivation.steps:
        rel = r"\leftarrow" if s.kind == "update" else "="
        lines.append(Equation(notes.tex(s.symbol), rel, notes.tex(s.expr), tag=str(s.number), label=f"({s.number})"))
    return lines


# ==========================================================================
# Writing the notes of a network (examples/, symprop demo)
# ==========================================================================


def write_notes(derivation, directory, stem: str, values=None, learning_rate=None, pdf=None, force: bool = False,
                extra_files=()) -> list:
    """Write ``stem.tex`` and ``stem.md`` (and ``stem.pdf``, and ``extra_files``: (path, text)) into ``directory``.

    ``pdf=None`` makes the PDF where pdflatex is installed; every file is
    rendered before any is written, and files symprop did not generate are
    never replaced unless ``force``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise SympropError(f"cannot write notes into {directory}: it is not a directory")
    # the derivation's own views: a recurrent derivation renders its notes differently
    tex = derivation.latex(standalone=True, values=values, learning_rate=learning_rate)
    outputs = [(directory / f"{stem}.tex", tex),
               (directory / f"{stem}.md", derivation.markdown(values=values, learning_rate=learning_rate))]
    if shutil.which("pdflatex") is not None if pdf is None else pdf:
        outputs.append((directory / f"{stem}.pdf", pdf_bytes(tex.encode("utf-8"), str(directory / f"{stem}.pdf"))))
    return write_all(outputs + list(extra_files), force)  # all or nothing


def notes_main(net, script: str, values=None, learning_rate=None, argv=None, stem=None, extra=None, code: bool = False) -> list:
    """The command line of an example script: ``python examples/x.py [--outdir DIR] [--force]``.

    Writes ``<stem>.tex``, ``.md`` and ``.pdf`` (stem: the script's name) into examples/out,
    and ``extra`` files, {file name: function(derivation) -> text}; ``code=True`` adds the
    training module ``<stem>_train.py``.
    """
    import argparse
    import sys

    stem = stem or Path(script).stem
    parser = argparse.ArgumentParser(description=f"Write the lecture notes of {stem} (.tex, .md, and .pdf with pdflatex).")
    parser.add_argument("--outdir", default=str(Path(script).resolve().parent / "out"), help="default: examples/out")
    parser.add_argument("--force", action="store_true", help="replace files that symprop did not generate")
    args = parser.parse_args(argv)
    try:
        outdir = Path(args.outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        derivation = net.derive()
        extra = dict(extra or {})
        if code:
            extra[f"{stem}_train.py"] = lambda d: d.numpy()
        files = [(outdir / name, make(derivation)) for name, make in extra.items()]
        written = write_notes(derivation, outdir, stem, values, learning_rate, force=args.force, extra_files=files)
    except (SympropError, OSError) as exc:  # OSError: the directory cannot be made
        print(f"{stem}: error: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        raise SystemExit(2) from None
    for path in written:
        print(f"wrote {path}")
    if not shutil.which("pdflatex"):
        print("pdflatex not found: no PDF (apt-get install texlive-latex-base texlive-latex-recommended texlive-pictures)")
    return written


__all__ = [
    "Block", "Document", "Equation", "Math", "Section", "WorkedNumber",
    "compile_pdf", "pdf_bytes", "document", "escape_latex", "escape_markdown", "format_number", "format_value",
    "latex", "markdown", "notes_main", "pdflatex_path", "template_dir", "write_notes",
]
