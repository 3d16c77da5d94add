"""The general recurrence (Nielsen's BP1-BP4), boxed once, and which numbered equations are instances of it."""

from __future__ import annotations

from ..algebra import shape_of as alg_shape
from .context import SectionBuilder, _join_math
from .. import ops
from .structure import Sampler, activation_rule, dense_layers, entrywise, product, transpose
from .view import Block, Equation, Math, Section


class RecurrenceSection(SectionBuilder):
    """The four equations every dense layer follows, the steps that are instances of each, and why (index by index)."""

    key = "recurrence"

    def build(self) -> list:
        layers = dense_layers(self.notes)
        if not layers:
            return []
        instances = self.instances(layers)
        blocks = [
            self.p(
                "Every dense layer above (", Math(rf"{self.layered('z', 'l')} = {self.layered('w' if self.scalar else 'W', 'l')} "
                                                   rf"{self.layered('a', 'l-1')} + {self.layered('b', 'l')}"),
                ", then ", Math(rf"{self.layered('a', 'l')} = f\left({self.layered('z', 'l')}\right)"),
                ") follows the same four equations, from the last layer ", Math("L"), " down, with ",
                Math(rf"{self.layered('a', '0')} = {self.name(self.net.inputs[0].name)}") if self.net.inputs else "",
                ":" if self.scalar else [" and ", Math("f'"), " applied entry by entry:"],
            ),
            Block("box", text=self.fmt.escape("The backpropagation equations"), blocks=(self.equations(self.general()),)),
        ]
        blocks.append(self.p(*self.instance_sentence(instances)))
        if not self.scalar:
            blocks.append(self.why_transpose())
        return [Section("The pattern: four equations", 1, tuple(blocks))]

    # -- the equations -------------------------------------------------------------
    def general(self) -> list:
        d, dn = self.layered(r"\delta", "l"), self.layered(r"\delta", "l+1")
        fz = rf"f'\left({self.layered('z', 'l')}\right)"
        fL = rf"f'\left({self.layered('z', 'L')}\right)"
        a_prev = self.layered("a", "l-1")
        if self.scalar:
            return [
                # the chain rule of one neuron, the quick reference of the single-neuron notes
                Equation(r"\frac{\partial L}{\partial w}", "=",
                         r"\frac{\partial L}{\partial a} \cdot \frac{\partial a}{\partial z} \cdot \frac{\partial z}{\partial w}"),
                Equation(self.layered(r"\delta", "L"), "=", rf"\frac{{\partial L}}{{\partial {self.layered('a', 'L')}}} \, {fL}",
                         tag="BP1", label="(BP1)"),
                Equation(d, "=", rf"{dn} \, {self.layered('w', 'l+1')} \, {fz}", tag="BP2", label="(BP2)"),
                Equation(rf"\frac{{\partial L}}{{\partial {self.layered('b', 'l')}}}", "=", d, tag="BP3", label="(BP3)"),
                Equation(rf"\frac{{\partial L}}{{\partial {self.layered('w', 'l')}}}", "=", rf"{d} \, {a_prev}", tag="BP4",
                         label="(BP4)"),
            ]
        return [
            Equation(self.layered(r"\delta", "L"), "=", rf"\nabla_{{{self.layered('a', 'L')}}} L \odot {fL}", tag="BP1",
                     label="(BP1)"),
            Equation(d, "=", rf"\left(\left({self.layered('W', 'l+1')}\right)^{{\top}} {dn}\right) \odot {fz}", tag="BP2",
                     label="(BP2)"),
            Equation(rf"\frac{{\partial L}}{{\partial {self.layered('b', 'l')}}}", "=", d, tag="BP3", label="(BP3)"),
            Equation(rf"\frac{{\partial L}}{{\partial {self.layered('W', 'l')}}}", "=", rf"{d} \left({a_prev}\right)^{{\top}}",
                     tag="BP4", label="(BP4)"),
        ]

    # -- which steps are instances -----------------------------------------------
    def instances(self, layers) -> dict:
        """{"BP1": [step, ...], ..., "product": [...], "other": [...]}: every adjoint and gradient step, classified."""
        sampler = Sampler(self.notes)
        by_of = {s.of: s for s in self.steps if s.kind in ("adjoint", "gradient")}
        found = {key: [] for key in ("BP1", "BP2", "BP3", "BP4", "product", "other")}
        last = max(n.layer for n in self.net.nodes if n.layer is not None)  # the output layer, dense or not
        claimed = set()
        for layer_number, dense in sorted(layers.items(), reverse=True):
            delta = dense.delta
            above = layers.get(layer_number + 1)
            if layer_number == last:
                adjoint = by_of.get(dense.a.name)
                is_softmax = not isinstance(activation_rule(dense.a), ops.ScalarFunction)  # BP1 with the Jacobian: J^T grad L
                if is_softmax or (adjoint is not None and sampler.equal(delta.expr, entrywise(adjoint.expr, delta.local_derivative))):
                    found["BP1"].append(delta)
                    claimed.add(delta.name)
            elif above is not None and above.input == dense.a.symbol and delta.local_derivative is not None:
                upstream = product(transpose(above.weight), above.delta.symbol)
                if sampler.equal(delta.expr, entrywise(upstream, delta.local_derivative)):
                    found["BP2"].append(delta)
                    claimed.add(delta.name)
                adjoint = by_of.get(dense.a.name)
                if adjoint is not None and sampler.equal(adjoint.expr, upstream):
                    found["product"].append(adjoint)
                    claimed.add(adjoint.name)
            gradient = by_of.get(dense.weight.name)
            if gradient is not None and sampler.equal(gradient.expr, product(delta.symbol, transpose(dense.input))):
                found["BP4"].append(gradient)
                claimed.add(gradient.name)
            bias = by_of.get(dense.bias.name) if dense.bias is not None else None
            if bias is not None and sampler.equal(bias.expr, delta.symbol):
                found["BP3"].append(bias)
                claimed.add(bias.name)
        found["other"] = [s for s in self.steps if s.kind in ("adjoint", "gradient") and s.name not in claimed]
        for key in found:
            found[key].sort(key=lambda s: s.number)
        return found

    def instance_sentence(self, found) -> list:
        def refs(steps):
            numbers = [s.number for s in steps]
            steps_between = {b - a for a, b in zip(numbers, numbers[1:])}
            if len(numbers) > 4 and len(steps_between) == 1:  # a deep network: (19), (23), ..., (35)
                return [Math(rf"({numbers[0]}), ({numbers[1]}), \ldots, ({numbers[-1]})")]
            return _join_math([Math(f"({n})") for n in numbers])

        def verb(steps, one, many):
            return one if len(steps) == 1 else many

        parts = ["In this network "]
        clauses = []
        for key in ("BP1", "BP2", "BP3", "BP4"):
            if found[key]:
                clauses.append([f"{key} is "] + refs(found[key]))
        if found["BP1"] and self.cancels(found["BP1"][0]):
            clauses[0] += [" (where it is ", Math(rf"{self.tex(self.prediction())} - {self.tex(self.net.targets[0])}"),
                           ": the output activation and the loss cancel)"]
        if not clauses:
            parts = ["No numbered equation of this network is an instance of them"]
        for i, clause in enumerate(clauses):
            parts += ([", " if i < len(clauses) - 1 else " and "] if i else []) + clause
        if found["product"]:
            delta_above = self.layered(r"\delta", "l+1")
            the_product = (rf"{delta_above} {self.layered('w', 'l+1')}" if self.scalar
                           else rf"\left({self.layered('W', 'l+1')}\right)^{{\top}} {delta_above}")
            parts += ["; "] + refs(found["product"]) + [verb(found["product"], " computes", " compute"), " the product ",
                                                        Math(the_product), " of BP2 on its own"]
        other = found["other"]
        if other:
            loss = [s for s in other if s.kind == "adjoint" and [c.consumer for c in s.contributions] == [self.net.loss_node.name]]
            inputs = [s for s in other if s.kind == "gradient" and s.role == "input"]
            rest = [s for s in other if s not in loss and s not in inputs]
            if loss:
                parts += ["; "] + refs(loss) + [" differentiates the loss itself"]
            if inputs:
                parts += ["; "] + refs(inputs) + [" is the gradient the input receives (BP2's product one layer further down)"]
            if rest:
                parts += ["; "] + refs(rest) + [verb(rest, " falls", " fall"), " outside the pattern (a layer that is not a dense layer followed by "
                                                 "an activation, or a value that feeds several layers: the gradients add)"]
        return parts + ["."]

    def prediction(self):
        return next((n.symbol for n in self.net.nodes if n.role == "prediction"), None)

    def cancels(self, delta) -> bool:
        """True if the output delta is yhat - y (softmax or sigmoid with its cross-entropy)."""
        prediction = self.prediction()
        if prediction is None or len(self.net.targets) != 1 or alg_shape(prediction) != alg_shape(self.net.targets[0]):
            return False
        difference = self.prediction() - self.net.targets[0]
        return Sampler(self.notes).equal(delta.expr, difference)

    def why_transpose(self) -> Block:
        """The index-level reason for the outer product (BP4) and the transpose (BP2)."""
        return self.p(
            "Why the outer product and the transpose: entry by entry, ",
            Math(r"z_j = \sum_k W_{jk} a_k + b_j"), ". The weight ", Math("W_{jk}"), " appears only in ", Math("z_j"),
            ", times ", Math("a_k"), ", so ", Math(r"\frac{\partial L}{\partial W_{jk}} = \delta_j a_k"),
            ": entry ", Math("(j, k)"), " of the outer product ", Math(r"\delta a^{\top}"), " (BP4). The input ",
            Math("a_k"), " appears in every ", Math("z_j"), ", times ", Math("W_{jk}"), ", so ",
            Math(r"\frac{\partial L}{\partial a_k} = \sum_j W_{jk} \delta_j"), ": entry ", Math("k"), " of ",
            Math(r"W^{\top} \delta"), ". The transpose sends each error back along the weights it came through (BP2).",
        )

