"""The backward pass, layer by layer: each adjoint and gradient from the chain rule to its final form.
"""

from __future__ import annotations

import sympy as sp

from .. import ops
from ..algebra import T
from .context import SectionBuilder, _dim, _join_math, _outer_product_factors, _prime, _transposed_parameters
from .structure import signature
from .view import Equation, Math, Section


class BackwardSection(SectionBuilder):
    """3. The backward pass: one subsection per layer, every step with its reasons and notes."""

    key = "backward"

    def build(self) -> list:
        return self.backward_sections()

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
        shown, repeats = None, []  # the layer written out in full that the layers below repeat
        for key, steps in groups:
            if isinstance(key, int) and key not in output and shown is not None and signature(steps, key, self.net.inputs) == shown[1]:
                repeats.append((key, steps))
                continue
            sections.extend(self.repeated_layers(shown, repeats))
            repeats = []
            if key == "input":
                title = "The gradient with respect to the input"
            elif key is None:
                title = "The loss and the prediction"
            elif key in output:
                title = f"The output layer (layer {key})" if len(layers) > 1 else "The output layer"
            else:
                title = f"Layer {key}"
                shown = (key, signature(steps, key, self.net.inputs))
            blocks = []
            for s in steps:
                blocks.extend(self.backward_step(s))
            sections.append(Section(title, 2, tuple(blocks)))
        sections.extend(self.repeated_layers(shown, repeats))
        return sections

    def repeated_layers(self, shown, repeats) -> list:
        """Layers that repeat the one written out above with l lowered by one: their numbered final equations only.

        A deep network's notes stay short (and their rendering linear): layer 5
        is derived in full, layers 4 ... 1 are "as layer 5 with l - 1".
        """
        if not repeats:
            return []
        if len(repeats) == 1:  # one layer: written out like any other
            key, steps = repeats[0]
            return [Section(f"Layer {key}", 2, tuple(b for s in steps for b in self.backward_step(s)))]
        first, last = repeats[0][0], repeats[-1][0]
        lines = []
        worked = None
        if self.interleaved():
            from .worked import WorkedSection

            worked = WorkedSection(self.notes)
        for _, steps in repeats:
            for s in steps:
                lines.append(Equation(self.tex(s.symbol), "=", self.tex(s.expr), tag=str(s.number), label=f"({s.number})"))
                if worked is not None:
                    lines.extend(Equation("", e.rel, e.rhs, e.note) for e in worked.worked_backward(s))
        intro = self.p(
            f"Layers {first} to {last} repeat layer {shown[0]} step for step, each with its own layer number in place of "
            f"{shown[0]}" + (" (the recurrence BP2-BP4 below)" if self.shows("recurrence") else "")
            + ": only their final equations are listed.",
        )
        title = f"Layers {first} to {last}" if first != last else f"Layer {first}"
        return [Section(title, 2, (intro, self.equations(lines)))]

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
        if self.interleaved():  # the step's numbers at once, as the textbooks' worked examples read
            from .worked import WorkedSection

            blocks.append(self.equations(WorkedSection(self.notes).worked_backward(s)))
        blocks.extend(self.step_notes(s, node))
        return blocks

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
            blocks.append(self.equations(self.activation_derivative(rule, s, act_node)))
            if s.local_derivative in self.abbreviations and not self.scalar:
                blocks.append(self.note(
                    "Note: ", Math(_prime(rule, z)), " is ", Math(rf"{rule.latex}'"), " applied to each entry of ", Math(z),
                    "; it is written so from here on.",
                ))
        elif act_node.shape[1] != 1 or getattr(act_node.definition, "axis", 0):
            # softmax of a matrix: every column (or row) on its own
            along = "row" if act_node.definition.axis else "column"
            jacobian = rule.latex_jacobian.format(s="p", s_T=r"p^{\top}")
            blocks.append(self.p(
                "The error signal at ", Math(z), ". Softmax normalises each ", along, " of ", Math(z),
                " on its own, so each ", along, " of ", Math(self.tex(s.symbol)), " is the symmetric Jacobian of that ",
                along, ", ", Math(rf"J = {jacobian}"), " with ", Math("p"), " the ", along, " of ", Math(a),
                ", times the same ", along, " of ", Math(self.adjoint_of(act_node.name)), "; for all of them at once:",
            ))
        else:  # softmax: the entries are coupled, the Jacobian is a full matrix
            jacobian = rule.latex_jacobian.format(s=a, s_T=self.tex(sp.Transpose(act_node.symbol)))
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
        if s.local_derivative in self.abbreviations:
            # too long to write out again at z^[l]: named f'(z^[l]) from here on
            if self.scalar:
                lines.append(Equation(self.partial(act_node.name, s.of), "=", _prime(rule, self.name(s.of))))
        elif s.local_derivative is not None:
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
        only_the_loss = len(s.contributions) == 1 and s.contributions[0].consumer == self.net.loss_node.name
        forms = [(f.expr, f.reason) for f in s.forms] or [(s.expr, "chain rule")]
        for i, (expr, reason) in enumerate(forms):
            if i == 0 and generic is not None:
                reason = generic[2]
                if generic[0].endswith(" = " + self.tex(expr)) and len(forms) > 1:
                    continue  # the derivative written out is f'(z) itself (a long one, named): nothing new
            elif i == 0 and only_the_loss and reason == "chain rule":
                reason = "derivative of the loss"  # dL/dyhat: the loss differentiated, no chain yet
            lines.append(Equation(lhs if not lines else "", "=", self.tex(expr), note=self.reason(reason)))
        last = lines[-1]
        lines[-1] = Equation(last.lhs, last.rel, last.rhs, last.note, str(s.number), f"({s.number})")
        return lines

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
