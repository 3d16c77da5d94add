"""Derivation -> a standalone NumPy training module (NumPy its only import).

``numpy_module(derivation)`` builds a view model in Python - the lines of
``forward``, ``loss`` and ``gradients`` with the equation each computes - and
renders ``templates/module.py.j2``, which holds the layout and the fixed parts
(optimizers, ``train``, the demo).

What the generated code does, and why:

* batch-first arrays (see ``printing_batch``); parameters keep their shapes;
* the loss is the batch mean.  The derivation's seed is dL/dL = 1 per
  example, so every adjoint of the batch loss carries a factor 1/m: it is
  applied once, to the terms of the backward pass that contain no adjoint
  (where the seed enters), and parameter gradients are then plain sums over
  the batch.  A gradient term with no per-example value (a weight-decay term)
  is the same for all m examples: m times itself times 1/m, so it stays;
* a loss whose prediction is a softmax or sigmoid output is computed from the
  pre-activation (log-sum-exp, softplus), never as log(yhat);
* only what is needed is computed: each function keeps the forward lines its
  result depends on, the backward pass skips input gradients and adjoints
  substituted into their consumer, and 1[z > 0] of a ReLU is read off its
  output (a > 0);
* pre-activations and deltas are accumulated in place into the fresh result
  of their matrix product (``z1 = x @ W1.T`` then ``z1 += b1.T``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, MatrixExpr
from sympy.core.parameters import distribute

from . import algebra as alg
from . import ops
from .errors import UnsupportedOperationError
from .outputs import header
from .printing import helper_sources, text
from .printing_batch import INV_M, BatchPrinter, _Vector, names_used
from .templating import environment

LINE_LENGTH = 88  # ruff format's default: the generated file passes `ruff format --check`


# ==========================================================================
# The view model
# ==========================================================================


@dataclass
class Line:
    """One equation: its comment lines and the code lines that compute it."""

    name: str  # the variable it defines
    comments: list
    code: list
    reads: set = field(default_factory=set)


@dataclass
class Function:
    name: str
    args: list
    doc: list
    check: list
    unpack: list
    body: list  # strings, already indented one level
    result: str


class _Emitter:
    def __init__(self, derivation):
        self.d = derivation
        self.net = derivation.network
        self.steps = derivation.steps
        self.scalar = self.net.is_scalar
        self.forward_steps = [s for s in self.steps if s.kind in ("forward", "loss")]
        self.node_symbols = {s.name: s.symbol for s in self.forward_steps}
        self.adjoints = {s.symbol for s in self.steps if s.kind == "adjoint"}
        self.per_example = self._per_example()
        indicators = {}
        for s in self.forward_steps:
            if s.activation and s.activation != "softmax" and ops.FUNCTIONS[s.activation].sign_preserving:
                indicators[ops.activation_argument(s.expr)] = s.symbol
        producers = {s.symbol: s.expr for s in self.forward_steps}
        # dropout masks: arguments of gradients() that train() draws; forward() and loss() keep every unit
        self.masks = {s: float(h["dropout"]) for s, h in getattr(self.net, "hints", {}).items() if "dropout" in h}
        self.data = [s for s in (*self.net.inputs, *self.net.targets) if s not in self.masks]
        dtype_of = self.data[0].name if self.data else None
        self.printer = BatchPrinter(self.per_example, self.scalar, indicators, producers, dtype_of)

    def _per_example(self) -> set:
        pe = set(self.net.inputs) | set(self.net.targets)
        for s in self.forward_steps:
            if s.expr.free_symbols & pe:
                pe.add(s.symbol)
        for s in self.steps:
            if s.kind == "adjoint" and self.node_symbols.get(s.of) in pe:
                pe.add(s.symbol)
        return pe

    # ------------------------------------------------------------------
    # equations -> lines
    # ------------------------------------------------------------------
    def equation(self, step, note: str = "") -> str:
        lhs = text(step.symbol)
        return f"({step.number}) {lhs} = {text(step.expr)}{note}"

    def forward_line(self, step) -> Line:
        p = self.printer
        name = step.name
        if step.kind == "loss":
            code = p.mean(step.expr)
            note = ", the mean over the batch"
            fused = self._fused_notes(step.expr)
            comments = [self.equation(step, note)] + fused
            return self._line(name, comments, [f"{name} = {code}"])
        comments = [self.equation(step)]
        if not p.is_pe(step.expr):
            return self._line(name, comments, [f"{name} = {p.const(step.expr)}"])
        return self._line(name, comments, self._accumulate(name, step.expr))

    def _fused_notes(self, expr) -> list:
        notes = []
        for loss in sorted(expr.atoms(ops.LossExpr), key=sp.default_sort_key):
            found = self.printer.fused_activation(loss)
            if found:
                act, z = found
                how = "log-sum-exp" if act == "softmax" else "softplus"
                notes.append(
                    f"    {loss.rule.name} of {act}({text(z)}) from {text(z)} by {how}: "
                    f"no log of {text(loss.prediction)}, no overflow"
                )
        return notes

    def _accumulate(self, name, expr) -> list:
        """``name = first`` then ``name += term`` when ``first`` is a fresh product.

        In place into the result of the matrix product: one array instead of
        one per operation (z1 = x @ W1.T; z1 += b1.T).
        """
        p = self.printer
        if isinstance(expr, MatAdd):
            terms = p.terms(expr)
            first = self._fresh_product(terms[0][1]) if terms[0][0] == "+" else None
            if first is not None:
                lines = [f"{name} = {first}"]
                for sign, term in terms[1:]:
                    lines.append(f"{name} {sign}= {self._into(term)}")
                return lines
        if isinstance(expr, HadamardProduct) and p.is_pe(expr):
            for i, factor in enumerate(expr.args):
                first = self._fresh_product(factor)
                if first is not None:
                    rest = sorted(expr.args[:i] + expr.args[i + 1 :], key=p._is_indicator)
                    return [f"{name} = {first}"] + [f"{name} *= {self._into(f)}" for f in rest]
        return [f"{name} = {p.example(expr)}"]

    def _into(self, e) -> str:
        """An operand broadcast into an (m, n) array in place (``name += e``)."""
        p = self.printer
        with p._in("pe", allow_narrow=True):
            if p._is_indicator(e):
                return p._indicator(e)[1:-1]  # name *= a1 > 0
            return p._operand(e)

    def _fresh_product(self, term):
        """Code of a per-example vector times constants (a new (m, n) array), else None."""
        p = self.printer
        if not isinstance(term, MatMul) or not p.is_pe(term):
            return None
        with p._in("pe"):
            coefficient, scalars, items = p._chain(term)
        if coefficient or scalars or len(items) != 1 or not isinstance(items[0], _Vector) or not items[0].chain:
            return None
        return items[0].code

    def backward_line(self, step) -> Line:
        p = self.printer
        name = step.name
        target_pe = p.is_pe(step.symbol)
        expr, seeded = self._scale_seed(step.expr, target_pe)
        note = ""
        if seeded:
            note = ", times 1/m" if target_pe else ""
        if step.kind == "gradient" or not target_pe:
            summed = any(p.is_pe(t) for _, t in p.terms(expr))
            if summed:
                note += ", summed over the batch"
            code = p.total(expr, alg.shape_of(step.symbol))
            return self._line(name, [self.equation(step, note)], [f"{name} = {code}"])
        return self._line(name, [self.equation(step, note)], self._accumulate(name, expr))

    def _scale_seed(self, expr, target_pe):
        """Multiply the parts of ``expr`` that contain no adjoint by 1/m (see module doc)."""
        seeded = []

        def has_adjoint(e):
            return bool(e.free_symbols & self.adjoints)

        def scale(e):
            if not has_adjoint(e):
                seeded.append(e)
                return alg.scale(INV_M, e) if alg.is_matrix(e) else INV_M * e
            if isinstance(e, (MatAdd, sp.Add)):
                return alg.add(*[scale(a) for a in e.args]) if alg.is_matrix(e) else sp.Add(*[scale(a) for a in e.args])
            if isinstance(e, (MatMul, sp.Mul, HadamardProduct)):
                args = list(e.args)
                varying = [i for i, a in enumerate(args) if has_adjoint(a)]
                if len(varying) != 1:
                    raise UnsupportedOperationError(
                        f"the backward expression {sp.sstr(e)} is not linear in the adjoints"
                    )
                args[varying[0]] = scale(args[varying[0]])
                if isinstance(e, MatMul):
                    return alg.matmul(*args)
                if isinstance(e, HadamardProduct):
                    return alg.hadamard(*args)
                return sp.Mul(*args)
            if isinstance(e, sp.Transpose):
                return alg.transpose(scale(e.arg))
            if isinstance(e, sp.Trace):
                return sp.Trace(scale(e.arg))
            if e in self.adjoints:
                return e
            raise UnsupportedOperationError(f"the backward expression {sp.sstr(e)} is not linear in the adjoints")

        p = self.printer
        args = expr.args if isinstance(expr, (MatAdd, sp.Add)) else (expr,)
        add = alg.add if alg.is_matrix(expr) else sp.Add
        with distribute(False):
            kept, seed, linear = [], [], []
            for term in args:
                if has_adjoint(term):
                    linear.append(scale(term))
                elif not target_pe and not p.is_pe(term):
                    kept.append(term)  # the same for all m examples: m * (1/m) * term
                else:
                    seed.append(term)
            if seed and target_pe:
                linear.insert(0, scale(add(*seed)))  # one product with 1/m for the whole seed term
            elif seed:  # summed over the batch term by term: 1/m in each
                linear[:0] = [scale(t) for t in seed]
            result = add(*linear, *kept)
        return result, bool(seeded)

    def _line(self, name, comments, code) -> Line:
        # ruff format would split a statement longer than the line; leave ours whole
        code = [c + "  # fmt: skip" if len(c) + 4 > LINE_LENGTH else c for c in code]
        reads = set()
        for c in code:
            reads |= names_used(c)
        if self.printer._not_supported:
            what = ", ".join(sorted(sp.sstr(e) for e in self.printer._not_supported))
            raise UnsupportedOperationError(f"NumPy has no spelling of {what}")
        return Line(name, comments, code, reads)

    # ------------------------------------------------------------------
    # functions
    # ------------------------------------------------------------------
    def _live(self, lines, wanted) -> list:
        """The lines ``wanted`` depends on, in order (dead code dropped)."""
        needed = set(wanted)
        kept = []
        for line in reversed(lines):
            if line.name in needed:
                kept.append(line)
                needed |= line.reads
        return list(reversed(kept))

    def predictions(self) -> list:
        preds = [s for s in self.forward_steps if s.role == "prediction"]
        if not preds:
            preds = [s for s in self.forward_steps if s.kind == "forward"][-1:]
        return preds

    def build(self) -> dict:
        forward_lines = [self.forward_line(s) for s in self.forward_steps]
        backward_steps = [s for s in self.steps if s.kind in ("adjoint", "gradient") and s.needed and not s.inlined]
        backward_steps = [s for s in backward_steps if s.kind == "adjoint" or s.role == "parameter"]
        backward_lines = [self.backward_line(s) for s in backward_steps]
        grads = [(p.name, "d" + p.name) for p in self.net.params]
        preds = [s.name for s in self.predictions()]

        inputs = [s.name for s in self.net.inputs if s not in self.masks]
        data = inputs + [s.name for s in self.net.targets]
        functions = []

        fwd = self._live(forward_lines, preds)
        doc = (
            self._forward_doc(preds)
            if preds
            else "This network names no prediction (no activation or loss op): returns None."
        )
        functions.append(self._function("forward", inputs, [doc], fwd, ", ".join(preds), uses_m=False))
        loss_lines = self._live(forward_lines, ["L"])
        functions.append(
            self._function("loss", data, ["The loss L of a batch: the mean over its examples."], loss_lines, "L")
        )
        grad_lines = self._live(
            self._gradient_forward_lines(forward_lines) + backward_lines, ["L"] + [g for _, g in grads]
        )
        n_forward = sum(1 for line in grad_lines if line not in backward_lines)
        # liveness: forward arrays the backward pass never reads are freed before it allocates
        backward_reads = set().union(*(line.reads for line in grad_lines[n_forward:]))
        dead = [line.name for line in grad_lines[:n_forward] if line.name not in backward_reads | {"L"}]
        if dead and n_forward < len(grad_lines):
            grad_lines.insert(n_forward, Line("", ["not read by the backward pass: free the memory now"], _del(dead)))
            n_forward += 1
        grad_fn = self._function(
            "gradients",
            data + [f"{m.name}=None" for m in self.masks],
            [
                "The loss L of a batch and dL/dp for every parameter p, by the derived backward pass.",
                "",
                "Returns (L, grads); grads[name] has the shape of params[name].",
            ],
            grad_lines,
            "L, grads",
            sections=[(0, "forward pass, keeping what the backward pass needs"), (n_forward, self._backward_heading())],
            tail=self._dict_lines("grads = ", [(f'"{n}"', g) for n, g in grads], indent=4),
        )
        functions.append(grad_fn)

        helper_names = set(self.printer.helpers_used)
        return {
            "functions": functions,
            "helpers": [self._helper(h) for h in helper_sources(helper_names).split("\n\n\n")] if helper_names else [],
        }

    def _helper(self, source: str) -> str:
        """A helper's source; a custom activation's re-printed in this module's style."""
        name = source.split("(", 1)[0].removeprefix("def ").strip()
        rule = ops.FUNCTIONS.get(name)
        if rule is None or not rule.description.startswith("custom:"):
            return source
        printer = BatchPrinter(set(), self.scalar)
        body = printer.const(rule.definition_expr.xreplace({ops.T: sp.Symbol("x")}))
        return f"def {name}(x):\n    return {body}\n"

    def _gradient_forward_lines(self, forward_lines) -> list:
        """The forward pass of ``gradients``: where it computes both softmax(z) (for
        the backward pass) and the cross-entropy fused with it, the log-sum-exp of
        z is computed once for both (softmax(z) = exp(z - lse))."""
        shared = {}
        loss_step = self.forward_steps[-1]
        for loss in sorted(loss_step.expr.atoms(ops.LossExpr), key=sp.default_sort_key):
            found = self.printer.fused_activation(loss)
            if found and found[0] == "softmax" and isinstance(found[1], sp.MatrixSymbol):
                name = f"lse_{found[1].name}"
                if name not in {s.name for s in self.net.declared}:
                    shared[found[1]] = name
        if not shared:
            return forward_lines
        self.printer.shared_lse = shared
        try:
            lines = []
            for step in self.forward_steps:
                if step.activation == "softmax" and ops.activation_argument(step.expr) in shared:
                    z = ops.activation_argument(step.expr)
                    code = f"{shared[z]} = logsumexp({z.name})"
                    self.printer.helpers_used.add("logsumexp")
                    comment = f"log-sum-exp of {text(z)} over the outputs, for both ({step.number}) and the loss"
                    lines.append(self._line(shared[z], [comment], [code]))
                lines.append(self.forward_line(step))
            return lines
        finally:
            self.printer.shared_lse = {}

    def _backward_heading(self) -> str:
        return "backward pass: the adjoint of the batch-mean loss carries 1/m from the seed on"

    def _forward_doc(self, preds) -> str:
        ins = ", ".join(f"{s.name} {self._batch_shape(s)}" for s in self.net.inputs)
        outs = ", ".join(f"{n} {self._batch_shape(self.node_symbols[n])}" for n in preds)
        return f"The prediction of a batch (forward pass only): {ins} -> {outs}."

    def _batch_shape(self, sym) -> str:
        feature = self.feature_shape(sym)
        return "(m,)" if feature == () else f"(m, {feature[0]})"

    def feature_shape(self, sym) -> tuple:
        if isinstance(sym, MatrixExpr):
            return (int(sym.shape[0]),)
        return () if self.scalar else (1,)

    def _function(self, name, args, doc, lines, result, uses_m=True, sections=(), tail=()) -> Function:
        body = []
        reads = set()
        for line in lines:
            reads |= line.reads
        marks = dict(sections)
        for i, line in enumerate(lines):
            if i in marks and len(sections) > 1:
                body.append(f"# {marks[i]}")
            body.extend(f"# {c}" for c in line.comments)
            body.extend(line.code)
        for mask, keep in reversed(list(self.masks.items())):
            if mask.name not in reads:
                continue
            if f"{mask.name}=None" in args:  # training: the mask given, or no dropout
                body[:0] = [f"if {mask.name} is None:  # no mask given: keep every unit", f"    {mask.name} = {keep!r}"]
            else:  # inference: every unit kept, M / p = 1
                body.insert(0, f"{mask.name} = {keep!r}  # dropout is off outside training: every unit kept")
        if uses_m and "inv_m" in reads:
            first = args[0] if args else None
            m_line = f"inv_m = 1.0 / len({first})" if first else "inv_m = 1.0"
            body.insert(0, m_line)
        body.extend(tail)
        params = [p.name for p in self.net.params if p.name in reads]
        unpack = [f'{p} = params["{p}"]' for p in params]
        if len(doc) == 1:
            doc = [f'"""{doc[0]}"""']
        else:
            doc = [f'"""{doc[0]}', *doc[1:], '"""']
        return Function(name, args, doc, self._check(args), unpack, body, result)

    def _check(self, args) -> list:
        args = [a for a in args if "=" not in a]  # optional masks are not checked
        if not args:
            return []
        syms = {s.name: s for s in self.data}
        first = args[0]
        conds = []
        for a in args:
            feature = self.feature_shape(syms[a])
            if a == first:
                conds.append(f"{a}.ndim != 1" if feature == () else f"{a}.shape[1:] != ({feature[0]},)")
            elif feature == ():
                conds.append(f"{a}.shape != {first}.shape")
            else:
                conds.append(f"{a}.shape != (len({first}), {feature[0]})")
        conds.append(f"not len({first})")
        call = ", ".join(f"{a}={a}" for a in args)
        cond = " or ".join(conds)
        line = f"if {cond}:"
        if len(line) + 4 > LINE_LENGTH:
            return [
                "if (",
                *[f"    {c}" + (" or" if i < len(conds) - 1 else "") for i, c in enumerate(conds)],
                "):",
                f"    _shape_error({call})",
            ]
        return [line, f"    _shape_error({call})"]

    @staticmethod
    def _dict_lines(prefix, items, indent=0) -> list:
        one = prefix + "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
        if indent + len(one) <= LINE_LENGTH:
            return [one]
        return [prefix + "{", *[f"    {k}: {v}," for k, v in items], "}"]

    # ------------------------------------------------------------------
    # the rest of the module
    # ------------------------------------------------------------------
    def init_lines(self) -> list:
        bias = self._biases()
        feeding = self._activation_fed()
        lines = []
        hints = {s: h.get("init") for s, h in getattr(self.net, "hints", {}).items()}
        for p in self.net.params:
            shape = alg.shape_of(p)
            if hints.get(p) in ("ones", "zeros"):
                how = hints[p]
                lines.append(f"# {p.name}: {how}, as the layer that declares it starts")
                lines.append(f'params["{p.name}"] = np.{how}({shape})')
                continue
            if p in bias:
                value = f"np.zeros({shape})" if shape else "0.0"
                lines.append(f"# {p.name}: a bias, zero")
                lines.append(f'params["{p.name}"] = {value}')
                continue
            fan_out, fan_in = (shape[0], shape[1]) if shape else (1, 1)
            act = feeding.get(p)
            rule = ops.activation_rule(act) if act else None
            he = rule is not None and rule.init == "he"
            draw = f"rng.standard_normal({shape})" if shape else "rng.standard_normal()"
            if he:
                lines.append(f"# {p.name} feeds {act}: He, std sqrt(2 / fan_in)")
                lines.append(f'params["{p.name}"] = {draw} * np.sqrt(2.0 / {fan_in})')
            else:
                why = f"feeds {act}" if act else "feeds no activation"
                lines.append(f"# {p.name} {why}: Xavier, std sqrt(2 / (fan_in + fan_out))")
                lines.append(f'params["{p.name}"] = {draw} * np.sqrt(2.0 / {fan_in + fan_out})')
        return lines

    def _biases(self) -> set:
        """Parameters that only ever appear as a term of a sum (initialised to zero)."""
        parents: dict = {}
        for s in self.forward_steps:
            for node in sp.preorder_traversal(s.expr):
                for a in node.args:
                    # b 1^T (a bias broadcast over the columns) counts as b itself
                    if isinstance(a, MatMul) and all(isinstance(f, sp.OneMatrix) for f in a.args[1:]) and a.args[0] in self.net.params:
                        a = a.args[0]
                    elif isinstance(node, MatMul) and all(isinstance(f, sp.OneMatrix) for f in node.args[1:]):
                        continue
                    if a in self.net.params:
                        parents.setdefault(a, set()).add(isinstance(node, (MatAdd, sp.Add)))
        return {p for p, kinds in parents.items() if kinds == {True}}

    def _activation_fed(self) -> dict:
        """For each parameter, the activation of the first layer whose pre-activation uses it."""
        out = {}
        by_symbol = {s.symbol: s for s in self.forward_steps}
        for s in self.forward_steps:
            if not s.activation:
                continue
            arg = ops.activation_argument(s.expr)
            definition = by_symbol[arg].expr if arg in by_symbol else arg
            for p in self.net.params:
                if p not in out and p in definition.free_symbols:
                    out[p] = s.activation
        return out

    def demo(self) -> dict:
        preds = [s.name for s in self.predictions()]
        pred_syms = {n: self.node_symbols[n] for n in preds}
        teacher_of = {}
        loss_expr = self.net.loss_node.definition
        for loss in sorted(loss_expr.atoms(ops.LossExpr), key=sp.default_sort_key):
            for n, sym in pred_syms.items():
                if loss.prediction == sym and loss.target in self.net.targets:
                    teacher_of.setdefault(loss.target, n)
        for t in self.net.targets:
            if t not in teacher_of:
                same = [n for n, sym in pred_syms.items() if alg.shape_of(sym) == alg.shape_of(t)]
                if same:
                    teacher_of[t] = same[0]
        lines = ["rng = np.random.default_rng(0)", "teacher = init_params(seed=1)"]
        hints = getattr(self.net, "hints", {})
        data_inputs = [s for s in self.net.inputs if s not in self.masks]
        for s in data_inputs:
            if "attention_mask" in hints.get(s, {}):  # a decoder's mask: key i seen by query j when i <= j
                t = int(s.shape[0])
                lines.append(f"{s.name} = np.broadcast_to(np.triu(np.ones(({t}, {t}))), {self._demo_shape(s)}).copy()")
            else:
                lines.append(f"{s.name} = rng.standard_normal({self._demo_shape(s)})")
        inputs = ", ".join(s.name for s in data_inputs)
        if any(t in teacher_of for t in self.net.targets):
            call = f"forward(teacher{', ' if inputs else ''}{inputs})"
            if len(preds) == 1 and list(teacher_of.values()) == preds:
                (target,) = teacher_of
                lines.append(f"{target.name} = {call}")
            else:
                lines.append(f"{', '.join(f'teacher_{n}' for n in preds)} = {call}")
        loss_of = {
            loss.target: loss.rule.name
            for loss in sorted(loss_expr.atoms(ops.LossExpr), key=sp.default_sort_key)
            if loss.target in self.net.targets
        }
        for t in self.net.targets:
            if t in teacher_of and f"{t.name} = forward(" in lines[-1]:
                pass
            elif t in teacher_of:
                lines.append(f"{t.name} = teacher_{teacher_of[t]}")
            else:
                lines.append(f"{t.name} = rng.standard_normal({self._demo_shape(t)})")
                continue
            # Classification losses get hard labels (the teacher's classes), so
            # the loss can fall towards 0 rather than to the entropy of soft targets.
            width = self.feature_shape(t)
            if loss_of.get(t) == "cross_entropy" and width and width[0] > 1:
                lines.append(f"{t.name} = np.eye({width[0]})[{t.name}.argmax(axis=1)]  # one-hot labels")
            elif loss_of.get(t) == "binary_cross_entropy":
                lines.append(f"{t.name} = ({t.name} > 0.5) * 1.0  # 0/1 labels")
        names = [s.name for s in self.data]
        lines += self._dict_lines("data = ", [(f'"{n}"', f"{n}[:{DEMO_TRAIN}]") for n in names])
        lines += self._dict_lines("validation = ", [(f'"{n}"', f"{n}[{DEMO_TRAIN}:]") for n in names])
        return {"lines": lines}

    def _demo_shape(self, sym) -> str:
        feature = self.feature_shape(sym)
        return f"({DEMO_EXAMPLES},)" if feature == () else f"({DEMO_EXAMPLES}, {feature[0]})"

    def view(self) -> dict:
        built = self.build()
        net = self.net

        def shapes(syms):
            return [(s.name, repr(tuple(int(d) for d in alg.shape_of(s)))) for s in syms]

        def features(syms):
            return [(s.name, repr(self.feature_shape(s))) for s in syms]

        equations_forward = [self.equation(s) for s in self.forward_steps]
        equations_backward = [
            self.equation(s)
            for s in self.steps
            if s.kind in ("adjoint", "gradient")
            and s.needed
            and not s.inlined
            and (s.kind == "adjoint" or s.role == "parameter")
        ]
        return {
            "header": header("#", f"the network {net.name!r}"),
            "name": net.name,
            "scalar": self.scalar,
            "layout": "columns",
            "equations_forward": equations_forward,
            "equations_backward": equations_backward,
            "assumptions": [a.text for a in self.d.assumptions],
            "params_dict": self._dict_lines("PARAMS = ", [(f'"{n}"', s) for n, s in shapes(net.params)]),
            "inputs_dict": self._dict_lines("INPUTS = ", [(f'"{n}"', s) for n, s in features([i for i in net.inputs if i not in self.masks])]),
            "targets_dict": self._dict_lines("TARGETS = ", [(f'"{n}"', s) for n, s in features(net.targets)]),
            "masks": bool(self.masks),
            "masks_dict": self._dict_lines(
                "MASKS = ", [(f'"{m.name}"', f"({self.feature_shape(m)!r}, {keep!r})") for m, keep in self.masks.items()]
            ),
            "init": self.init_lines(),
            "demo": self.demo(),
            **built,
        }


def _del(names) -> list:
    """``del a, b, ...`` statements that fit in the line length."""
    lines, current = [], []
    for name in names:
        if current and len("    del " + ", ".join([*current, name])) > LINE_LENGTH:
            lines.append("del " + ", ".join(current))
            current = []
        current.append(name)
    return [*lines, "del " + ", ".join(current)]


DEMO_EXAMPLES = 640
DEMO_TRAIN = 512


def view_model(derivation) -> dict:
    from .emit_matrix import MatrixEmitter, is_matrix_layout  # late: it builds on _Emitter

    if is_matrix_layout(derivation):
        return MatrixEmitter(derivation).view()
    return _Emitter(derivation).view()


def numpy_module(derivation, **options) -> str:
    """The source of a standalone NumPy training module for ``derivation``."""
    if options:
        raise TypeError(f"numpy_module got unexpected options {sorted(options)}")
    if derivation.network.hyperparams:  # generated code holds numbers: the declared defaults
        derivation = derivation.network.bind({}).derive()
    model = view_model(derivation)
    return environment(latex=False).get_template("module.py.j2").render(**model)


__all__ = ["numpy_module", "view_model"]
