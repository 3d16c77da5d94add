"""RecurrentDerivation -> a standalone NumPy training module (NumPy its only import).

The code runs the cell's equations over time, batch-first at the interface
(sequences (m, T, n), as PyTorch's ``batch_first=True``) and time-major
inside: x[k] is the batch at step t = k + 1, a state h is (T + 1, m, n) with
h[0] = h_0 = 0.  One Python loop runs the recurrence forward and one runs it
back; everything that does not depend on the previous step is computed for
all steps at once, as one product over T * m rows:

* forward: the cell's values split into the recurrence (values on the path
  from h_{t-1} to h_t, in the loop) and the rest (the output, after the loop);
  in the recurrence, the terms that do not depend on the state (U x_t + b)
  are computed for every step before the loop;
* backward: the adjoints that depend on what later steps send back (delta_t)
  run in the reversed loop, the others (the output's) before it, and the
  parts of a loop adjoint that do not depend on later steps (V^T do_t) too;
* each parameter gradient is a sum over t and over the batch: one product
  over all T * m rows (sum_t delta_t h_{t-1}^T -> delta.T @ h[:-1]).

The loss is the mean over the batch of L (a sum over t, or L_T): the weight
of the loss in the cell's equations is 1/m here, the seed of the batch mean.
With the loss at the last step only, the equations specialised to t = T (no
later steps) and to t < T (no loss) come from the derivation (zeros
propagated), not from this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp
from sympy import MatAdd, MatMul, MatrixSymbol
from sympy.core.parameters import distribute
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from . import algebra as alg
from . import ops
from . import rewrite
from .emit import LINE_LENGTH, Function, _Emitter, _del
from .errors import UnsupportedOperationError
from .network import _postorder
from .outputs import header
from .printing import helper_sources
from .printing_batch import INV_M, BatchPrinter, names_used, paren
from .templating import environment

DEMO_EXAMPLES = 640
DEMO_TRAIN = 512


@dataclass
class Block:
    """Lines of code (comments included) that write some names and read others."""

    lines: list
    writes: set
    reads: set = field(default_factory=set)


class TimePrinter(BatchPrinter):
    """The batch printer with each symbol spelled as the current view of its array (x[k], _rows(h[1:]))."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spell: dict = {}

    def _print_MatrixSymbol(self, expr):
        return self.spell.get(expr.name, expr.name)

    def _print_Symbol(self, expr):
        return self.spell.get(expr.name) or super()._print_Symbol(expr)


class _RecurrentEmitter:
    """Plans where each equation runs (before, in or after a loop over t) and prints it there.

    Planning comes first because how an array is spelled depends on where it
    is used: an array read inside a loop is kept per step, (T, m, n), and read
    as ``name[k]``; one only read by whole-sequence code stays (T * m, n).
    """

    def __init__(self, d):
        self.d = d
        self.net = net = d.network
        self.cell = d.cell
        self.last_mode = net.loss_at == "last"
        self.forward_steps = [s for s in d.cell.steps if s.kind == "forward"]
        self.time_steps = {s.cell.name: s for s in d.steps if s.cell is not None}
        self.new_state = {node.symbol: prev for prev, node in d.state_nodes.items()}
        self.carry_name = {g: f"d{prev.name}_next" for prev, g in net.carries.items()}
        self.carries = [(prev, g, d.carry_steps[prev]) for prev, g in net.carries.items()]
        self._classify_forward()
        self._classify_backward()
        per_example = set(net.inputs) | set(net.targets) | set(net.state_symbols) | set(net.carries.values())
        per_example |= {s.symbol for s in d.cell.steps if s.kind in ("forward", "loss", "adjoint")}
        self.per_example = per_example
        indicators = {}
        for s in self.forward_steps:
            if s.activation and s.activation != "softmax" and ops.FUNCTIONS[s.activation].sign_preserving:
                indicators[ops.activation_argument(s.expr)] = s.symbol
        producers = {s.symbol: s.expr for s in self.forward_steps}
        first = net.inputs[0].name if net.inputs else None
        self.printer = TimePrinter(per_example, False, indicators, producers, first)
        self.storage: dict = {}  # cell symbol name -> "3d" (T, m, n) | "flat" (T * m, n) | "plain" (m, n)
        self.array: dict = {}  # cell symbol name -> the array's name in the code
        self.loop_reads: set = set()  # cell symbol names read inside a loop
        self.hoisted: list = []  # (symbol, expression) computed for all steps before the backward loop
        self._name_arrays()

    # ------------------------------------------------------------------
    # what runs where
    # ------------------------------------------------------------------
    def _classify_forward(self):
        states = set(self.net.state_symbols)
        dependent = set(states)
        for s in self.forward_steps:
            if s.expr.free_symbols & dependent:
                dependent.add(s.symbol)
        ancestors = set(self.new_state)
        for s in reversed(self.forward_steps):
            if s.symbol in ancestors:
                ancestors |= s.expr.free_symbols
        self.loop_nodes = [s for s in self.forward_steps if s.symbol in dependent and s.symbol in ancestors]
        self.pre_nodes = [s for s in self.forward_steps if s.symbol in ancestors and s.symbol not in dependent]
        looped = {s.symbol for s in self.loop_nodes + self.pre_nodes}
        self.post_nodes = [s for s in self.forward_steps if s.symbol not in looped]
        self.varying_forward = dependent

    def _classify_backward(self):
        d, net = self.d, self.net
        self.gradients = [s for s in d.cell.steps if s.kind == "gradient" and s.role == "parameter"]
        needed = set()
        for s in self.gradients + [c for _, _, c in self.carries]:
            needed |= s.expr.free_symbols
        adjoints = [s for s in d.cell.steps if s.kind == "adjoint" and not s.inlined]
        for s in reversed(adjoints):
            if s.symbol in needed:
                needed |= s.expr.free_symbols
        self.adjoints = [s for s in adjoints if s.symbol in needed]
        varying = set(net.carries.values())
        for s in self.adjoints:
            if s.expr.free_symbols & varying:
                varying.add(s.symbol)
        self.loop_adjoints = [s for s in self.adjoints if s.symbol in varying]
        self.pre_adjoints = [s for s in self.adjoints if s.symbol not in varying]
        self.varying_backward = varying

    def _name_arrays(self):
        """Arrays are named as the time view names their values (z, h, delta, dh), where that is free."""
        d, net = self.d, self.net
        taken = {s.name for s in net.declared} | set(self.carry_name.values()) | RESERVED
        for s in self.forward_steps + self.adjoints:
            if s.symbol in self.new_state:
                continue
            base = d.adjoint_base.get(s.name) or net.time_names.get(s.name, s.name)
            name = base if base not in taken else s.name
            taken.add(name)
            self.array[s.name] = name

    # ------------------------------------------------------------------
    # spelling
    # ------------------------------------------------------------------
    def spelling(self, view: str) -> dict:
        """{cell symbol name: code} in ``view``: "all" (every step, T * m rows), "loop" (step k + 1),
        "last" (step T) or "head" (steps 1 .. T-1)."""
        out = {}
        for s in self.net.inputs + (() if self.last_mode else self.net.targets):
            out[s.name] = _view(s.name, "3d", view)
        if self.last_mode:
            for s in self.net.targets:
                out[s.name] = s.name
        for new, prev in self.new_state.items():
            h = prev.name
            out[prev.name] = {"all": f"_rows({h}[:-1])", "loop": f"{h}[k]", "last": f"{h}[-2]", "head": f"_rows({h}[:-2])"}[view]
            out[new.name] = {"all": f"_rows({h}[1:])", "loop": f"{h}[k + 1]", "last": f"{h}[-1]", "head": f"_rows({h}[1:-1])"}[view]
        for name, kind in self.storage.items():
            out[name] = _view(self.array.get(name, name), kind, view)
        for g, name in self.carry_name.items():
            out[g.name] = name
        return out

    def code(self, view, method, expr, *args) -> str:
        self.printer.spell = self.spelling(view)
        return getattr(self.printer, method)(expr, *args)

    def weighted(self, expr, weight=INV_M):
        """The cell's weight of the loss: 1/m here (the seed of the batch mean), 0 where the loss has no term."""
        w = self.net.weight
        return rewrite.substitute(expr, {w: weight}) if w in expr.free_symbols else expr

    def comment(self, step, case=None) -> list:
        """The step's equation at time t (or at T, or for t < T), numbered as in the derivation."""
        ts = self.time_steps.get(step.name)
        if ts is None:
            return []
        text = self.d.text
        if ts.kind == "gradient":
            return [f"# ({ts.number}) ∂L/∂{ts.of} = Σ_t {text(ts.expr)}"]
        if case == "last":
            return [f"# ({ts.number}) {text(self.d.at(step.symbol, 'T'))} = {text(ts.last)}"]
        shown = ts.before_last if case == "before_last" else ts.expr
        return [f"# ({ts.number}) {text(ts.symbol)} = {text(shown)}"]

    # ------------------------------------------------------------------
    # the plan
    # ------------------------------------------------------------------
    def build(self) -> dict:
        forward = self.plan_forward()
        loss = self.plan_loss()
        backward = self.plan_backward_last() if self.last_mode else self.plan_backward()
        gradients = [self.plan_gradient(s) for s in self.gradients]
        for name in self.loop_reads:
            if self.storage.get(name) == "flat":
                self.storage[name] = "3d"
        printed = [[make() for make in part] for part in (forward, [loss], backward, gradients)]
        return self._functions(*printed)

    def _reads_in_loop(self, expr):
        self.loop_reads |= {s.name for s in expr.free_symbols}

    # forward -----------------------------------------------------------
    def plan_forward(self) -> list:
        plan = []
        for s in self.pre_nodes:
            self.storage[s.name] = "flat"
            plan.append(self._vector(s, s.expr, "all"))
        loop = []
        for s in self.loop_nodes:
            if s.symbol in self.new_state:
                prev = self.new_state[s.symbol]
                plan.append(lambda prev=prev: Block(
                    [f"{prev.name} = np.zeros((T + 1, m, {int(prev.shape[0])}), dtype=dtype)  # [0]: h_0 = 0"
                     .replace("h_0", f"{prev.name}_0")], {prev.name}))
                loop.append((s, s.expr, False))
                self._reads_in_loop(s.expr)
                continue
            self.storage[s.name] = "3d"
            hoisted, rest = _split_sum(s.expr, self.varying_forward, self.printer)
            plan.append(self._initial(s, hoisted) if hoisted is not None else self._empty(s))
            loop.append((s, rest, hoisted is not None))
            self._reads_in_loop(rest)
        plan.append(lambda: self._forward_loop(loop))
        view = "last" if self.last_mode else "all"
        for s in self.post_nodes:
            self.storage[s.name] = "plain" if self.last_mode else "flat"
            plan.append(self._vector(s, s.expr, view))
        return plan

    def _vector(self, step, expr, view, case=None, target=None):
        def make():
            name = target or self.array[step.name]
            code = self.code(view, "example", self.weighted(expr))
            if target is None:
                code = self._stored(step.symbol, code)
            return Block(self.comment(step, case) + _statement(name, code), {name.split("[")[0]}, names_used(code))
        return make

    def _stored(self, sym, code) -> str:
        """Code of all T * m rows, kept per step (T, m, n) where a loop reads it."""
        if self.storage.get(sym.name) == "3d":
            return f"({code}).reshape(T, m, {int(sym.shape[0])})"
        return code

    def _initial(self, step, hoisted):
        def make():
            name, n = self.array[step.name], int(step.symbol.shape[0])
            code = self.code("all", "example", hoisted)
            what = self.d.text(self.d.at(hoisted))
            comment = [f"# {what} for every step at once: the part of {self.d.text(self.d.at(step.symbol))} "
                       "that does not depend on the state"]
            return Block(comment + _statement(name, f"({code}).reshape(T, m, {n})"), {name}, names_used(code))
        return make

    def _empty(self, step):
        def make():
            name = self.array[step.name]
            return Block([f"{name} = np.empty((T, m, {int(step.symbol.shape[0])}), dtype=dtype)"], {name})
        return make

    def _forward_loop(self, loop) -> Block:
        lines = ["for k in range(T):  # step t = k + 1"]
        reads, writes = set(), set()
        for s, expr, initialised in loop:
            if s.symbol in self.new_state:
                target = f"{self.new_state[s.symbol].name}[k + 1]"
            else:
                target = f"{self.array[s.name]}[k]"
            body = self._accumulate(target, expr, initialised)
            lines += ["    " + c for c in self.comment(s)] + ["    " + c for line in body for c in _split_long(line)]
            for line in body:
                reads |= names_used(line)
            writes.add(target.split("[")[0])
        return Block(lines, writes, reads - {"k"})

    def _accumulate(self, target, expr, initialised) -> list:
        """``target = expr``, or ``target += term`` per term when ``target`` holds the rest already."""
        p = self.printer
        p.spell = self.spelling("loop")
        if not initialised:
            return [f"{target} = {p.example(expr)}"]
        terms = p.terms(expr) if isinstance(expr, MatAdd) else [("+", expr)]
        lines = []
        for sign, term in terms:
            with p._in("pe", allow_narrow=True):
                lines.append(f"{target} {sign}= {p._operand(term)}")
        return lines

    # loss ---------------------------------------------------------------
    def plan_loss(self):
        def make():
            view = "last" if self.last_mode else "all"
            step_loss = self.d.step_loss()
            code = self.code(view, "mean", step_loss)
            if ".mean()" in code:  # a mean over all the rows would divide by T m, not by m
                code = f"inv_m * {paren(self.code(view, 'total', step_loss, ()))}"
            ts = next(s for s in self.d.steps if s.kind == "loss")
            total = "Σ_t L[t]" if not self.last_mode else "L[T]"
            comment = [f"# ({ts.number}) {self.d.text(ts.symbol)} = {self.d.text(ts.expr)}; L = {total}, the mean over the batch"]
            return Block(comment + _statement("L", code), {"L"}, names_used(code))
        return make

    # backward ------------------------------------------------------------
    def plan_backward(self) -> list:
        plan = []
        for s in self.pre_adjoints:
            self.storage[s.name] = "flat"
            plan.append(self._vector(s, s.expr, "all"))
        body = []
        for s in self.loop_adjoints:
            self.storage[s.name] = "3d"
            expr = self._hoist(self.weighted(s.expr), plan)
            body.append((s, expr))
            self._reads_in_loop(expr)
        for _, _, c in self.carries:
            self._reads_in_loop(c.expr)
        plan.append(self._allocate_adjoints)
        plan.append(lambda: self._backward_loop(body, "range(T)"))
        return plan

    def plan_backward_last(self) -> list:
        """The loss at step T only: step T on its own (no carries), then the loop over t < T (no loss)."""
        last, before = self.d.specialized("last"), self.d.specialized("before_last")
        plan = [self._allocate_adjoints]
        for s in self.pre_adjoints:
            if last[s.name] is not None:
                self.storage[s.name] = "plain"
                plan.append(self._vector(s, last[s.name], "last", case="last"))
        for s in self.loop_adjoints:
            self.storage[s.name] = "3d"
            if last[s.name] is None:
                plan.append(lambda s=s: Block([f"{self.array[s.name]}[-1] = 0.0"], set()))
            else:
                plan.append(self._vector(s, last[s.name], "last", case="last", target=f"{self.array[s.name]}[-1]"))
        plan.append(lambda: self._carry_block("last"))
        body = []
        hoisted = []
        for s in self.loop_adjoints:
            if before[s.name] is not None:
                expr = self._hoist(self.weighted(before[s.name], sp.S.Zero), hoisted)
                body.append((s, expr))
                self._reads_in_loop(expr)
        plan += hoisted
        for _, _, c in self.carries:
            self._reads_in_loop(c.expr)
        plan.append(lambda: self._backward_loop(body, "range(T - 1)", case="before_last"))
        return plan

    def _allocate_adjoints(self) -> Block:
        lines = []
        for s in self.loop_adjoints:
            lines.append(f"{self.array[s.name]} = np.empty((T, m, {int(s.symbol.shape[0])}), dtype=dtype)")
        if not self.last_mode:
            for prev, g, _ in self.carries:
                lines.append(f"{self.carry_name[g]} = np.zeros((m, {int(prev.shape[0])}), dtype=dtype)  # after step T: nothing")
        return Block(lines, {self.array[s.name] for s in self.loop_adjoints} | set(self.carry_name.values()))

    def _carry_block(self, view) -> Block:
        lines, reads = [], set()
        for prev, g, step in self.carries:
            code = self.code(view, "example", self.weighted(step.expr))
            where = "t" if view == "loop" else "T"
            sent = self.d.text(self.d.at(step.expr, where))
            lines += [f"# what step {where} sends back to {prev.name}[{where}-1]: {sent}"] + _statement(self.carry_name[g], code)
            reads |= names_used(code)
        return Block(lines, set(self.carry_name.values()), reads)

    def _backward_loop(self, body, steps, case=None) -> Block:
        lines = [f"for k in reversed({steps}):  # step t = k + 1"]
        reads, writes = set(), set()
        weight = sp.S.Zero if case == "before_last" else INV_M
        for s, expr in body:
            target = f"{self.array[s.name]}[k]"
            code = self.code("loop", "example", self.weighted(expr, weight))
            lines += ["    " + c for c in self.comment(s, case)] + ["    " + c for c in _statement(target, code)]
            reads |= names_used(code)
            writes.add(self.array[s.name])
        carry = self._carry_block("loop")
        lines += ["    " + c for c in carry.lines]
        return Block(lines, writes | carry.writes, (reads | carry.reads) - {"k"})

    def _hoist(self, expr, plan):
        """``expr`` with its products that do not depend on later steps replaced by arrays of every step, made before the loop."""
        varying, p = self.varying_backward, self.printer

        def independent(e):
            return not (e.free_symbols & varying)

        def costly(e):
            return p.is_pe(e) and any(_is_product(n) and p.is_pe(n) for n in _postorder(e))

        def fresh(e):
            sym = MatrixSymbol(f"pre{len(self.hoisted) + 1}", *e.shape)
            self.hoisted.append((sym, e))
            self.per_example.add(sym)
            p.per_example = frozenset(self.per_example)
            p._memo.clear()
            self.storage[sym.name] = "flat"
            plan.append(self._hoisted_block(sym, e))
            return sym

        def visit(e):
            if independent(e):
                return fresh(e) if costly(e) else e
            if isinstance(e, MatAdd):
                free = [a for a in e.args if independent(a)]
                rest = [visit(a) for a in e.args if not independent(a)]
                if free and costly(alg.add(*free)):
                    return alg.add(fresh(alg.add(*free)), *rest)
                return alg.add(*free, *rest)
            if isinstance(e, ElementwiseApplyFunction):
                return alg.elementwise(e.function, visit(e.expr))
            if ops.is_leaf(e) or isinstance(e, sp.Lambda):
                return e
            args = [visit(a) for a in e.args]
            return e if all(a is b for a, b in zip(args, e.args)) else rewrite.normalize(e.func(*args))

        with distribute(False):
            return visit(expr)

    def _hoisted_block(self, sym, expr):
        def make():
            code = self.code("all", "example", expr)
            what = self.d.text(self.d.at(self.weighted(expr, sp.S.One)))
            comment = [f"# {what} for every step at once (it does not depend on later steps)"]
            return Block(comment + _statement(sym.name, self._stored(sym, code)), {sym.name}, names_used(code))
        return make

    # gradients -------------------------------------------------------------
    def plan_gradient(self, s):
        def make():
            name, shape = "d" + s.of, alg.shape_of(s.symbol)
            if any(not self.printer.is_pe(t) for _, t in self.printer.terms(s.expr)):
                raise UnsupportedOperationError(
                    f"the gradient of {s.of} has a term of the parameters alone (a penalty in the loss); "
                    "a recurrent network's loss may depend on the parameters only through the data (use AdamW's weight decay)"
                )
            comment = self.comment(s)
            if not self.last_mode:
                code = self.code("all", "total", self.weighted(s.expr), shape)
            else:
                code = self._gradient_last(s, shape)
                ts = self.time_steps[s.name]
                if ts.before_last is None:
                    comment = [f"# ({ts.number}) ∂L/∂{ts.of} = {self.d.text(ts.last)}: the loss is at step T only"]
            return Block(comment + _statement(name, code), {name}, names_used(code))
        return make

    def _gradient_last(self, s, shape) -> str:
        """sum_t of the gradient's term: at T (no carries) and over t < T (no loss), or as one sum when they agree."""
        last, before = self.d.specialized("last")[s.name], self.d.specialized("before_last")[s.name]
        loop_adjoints = {a.symbol for a in self.loop_adjoints}
        adjoints = {a.symbol for a in self.adjoints}
        if last is not None and last == before and (s.expr.free_symbols & adjoints) <= loop_adjoints:
            return self.code("all", "total", self.weighted(last), shape)
        parts = []
        if last is not None:
            parts.append(self.code("last", "total", self.weighted(last), shape))
        if before is not None:
            parts.append(self.code("head", "total", self.weighted(before, sp.S.Zero), shape))
        return " + ".join(parts) if parts else f"np.zeros({shape})"

    # ------------------------------------------------------------------
    # the functions
    # ------------------------------------------------------------------
    def _predictions(self):
        preds = [s for s in self.forward_steps if s.role == "prediction"] or self.post_nodes[-1:] or self.loop_nodes[-1:]
        wanted, results = [], []
        for s in preds:
            if s.symbol in self.new_state:  # the state itself is the prediction
                h = self.new_state[s.symbol].name
                wanted.append(h)
                results.append(f"{h}[-1]" if self.last_mode else f"np.swapaxes({h}[1:], 0, 1)")
                continue
            name = self.array[s.name]
            wanted.append(name)
            if self.last_mode and self.storage[s.name] == "plain":
                results.append(name)
            else:
                results.append(f"np.swapaxes({_view(name, self.storage[s.name], 'time-major')}, 0, 1)")
        return wanted, results

    def _functions(self, forward, loss, backward, gradients) -> dict:
        net = self.net
        inputs = [s.name for s in net.inputs]
        data = inputs + [s.name for s in net.targets]
        wanted, results = self._predictions()
        functions = [
            self._function("forward", inputs, [self._forward_doc()], self._prologue(inputs, uses_m=False),
                           _live(forward, set(wanted)), ", ".join(results)),
            self._function("loss", data, ["The loss L of a batch of sequences: the mean over its examples."],
                           self._prologue(data), _live(forward + loss, {"L"}), "L"),
        ]
        grads = ["d" + p.name for p in net.params]
        body = _live(forward + loss + backward + gradients, {"L", *grads})
        forward_ids = {id(b) for b in forward + loss}
        n_forward = sum(1 for b in body if id(b) in forward_ids)
        backward_reads = set().union(set(), *(b.reads for b in body[n_forward:]))
        dead = list(dict.fromkeys(
            name for b in body[:n_forward] for name in sorted(b.writes) if name not in backward_reads | {"L"}))
        blocks = [Block(["# forward pass, keeping what the backward pass needs"], set())] + body[:n_forward]
        if dead:
            blocks.append(Block(["# not read by the backward pass: free the memory now"] + _del(dead), set()))
        blocks.append(Block(["# backward pass through time: the adjoints carry the 1/m of the batch mean from the loss on"], set()))
        blocks += body[n_forward:]
        tail = _dict_lines("grads = ", [(f'"{p.name}"', "d" + p.name) for p in net.params], indent=4)
        functions.append(self._function(
            "gradients", data,
            ["The loss L of a batch and dL/dp for every parameter p, by backpropagation through time.", "",
             "Returns (L, grads); grads[name] has the shape of params[name]."],
            self._prologue(data), blocks, "L, grads", tail=tail))
        helpers = sorted(self.printer.helpers_used)
        return {"functions": functions, "helpers": self._helpers(helpers)}

    def _prologue(self, args, uses_m=True) -> list:
        if not args:
            return []
        first = args[0]
        lines = [f"m, T = {first}.shape[0], {first}.shape[1]"]
        if uses_m:
            lines.append("inv_m = 1.0 / m")
        lines.append(f"dtype = {first}.dtype")
        sequences = [s.name for s in self.net.inputs] + ([] if self.last_mode else [s.name for s in self.net.targets])
        lines += [f"{a} = _time_major({a})" for a in args if a in sequences]
        return lines

    def _function(self, name, args, doc, prologue, blocks, result, tail=()) -> Function:
        reads = set().union(set(), *(b.reads for b in blocks))
        body = list(prologue) + [line for b in blocks for line in b.lines] + list(tail)
        unpack = [f'{p.name} = params["{p.name}"]' for p in self.net.params if p.name in reads]
        doc = [f'"""{doc[0]}"""'] if len(doc) == 1 else [f'"""{doc[0]}', *doc[1:], '"""']
        check = [f"_check_shapes({', '.join(f'{a}={a}' for a in args)})"] if args else []
        return Function(name, args, doc, check, unpack, body, result)

    def _forward_doc(self) -> str:
        at = "every step, (m, T, n)" if not self.last_mode else "the last step, (m, n)"
        return f"The prediction of a batch of sequences (forward pass only), at {at}."

    def _helpers(self, names) -> list:
        if not names:
            return []
        cell = _Emitter(self.cell)
        return [cell._helper(h) for h in helper_sources(set(names)).split("\n\n\n")]

    # ------------------------------------------------------------------
    def view(self) -> dict:
        built = self.build()
        net, d = self.net, self.d
        text = d.text
        forward = [f"({s.number}) {text(s.symbol)} = {text(s.expr)}" for s in d.steps if s.kind in ("forward", "loss")]
        total = next(s for s in d.steps if s.kind == "total")
        forward.append(f"({total.number}) L = " + ("Σ_t L[t]" if not self.last_mode else "L[T]"))
        backward = []
        for s in d.steps:
            if s.kind == "adjoint" and not s.inlined:
                backward.append(f"({s.number}) {text(s.symbol)} = {text(s.expr)}")
            elif s.kind == "gradient":
                backward.append(f"({s.number}) ∂L/∂{s.of} = Σ_t {text(s.expr)}")

        def shapes(syms):
            return [(f'"{s.name}"', repr(tuple(int(k) for k in alg.shape_of(s)))) for s in syms]

        def features(syms):
            return [(f'"{s.name}"', repr((int(s.shape[0]),))) for s in syms]

        return {
            "header": header("#", f"the network {net.name!r}"),
            "name": net.name,
            "T": net.T,
            "last": self.last_mode,
            "states": [prev.name for prev in net.state_symbols],
            "equations_forward": forward,
            "equations_backward": backward,
            "assumptions": [a.text for a in self.cell.assumptions],
            "params_dict": _dict_lines("PARAMS = ", shapes(net.params)),
            "inputs_dict": _dict_lines("INPUTS = ", features(net.inputs)),
            "targets_dict": _dict_lines("TARGETS = ", features(net.targets)),
            "sequences": [s.name for s in net.inputs] + ([] if self.last_mode else [s.name for s in net.targets]),
            "init": _Emitter(self.cell).init_lines(),
            "demo": self.demo(),
            **built,
        }

    def demo(self) -> dict:
        net = self.net
        lines = ["rng = np.random.default_rng(0)", "teacher = init_params(seed=1)"]
        for s in net.inputs:
            lines.append(f"{s.name} = rng.standard_normal(({DEMO_EXAMPLES}, {net.T}, {int(s.shape[0])}))")
        losses = sorted(self.d.step_loss().atoms(ops.LossExpr), key=sp.default_sort_key)
        inputs = ", ".join(s.name for s in net.inputs)
        for t in net.targets:
            rule = next((lx.rule.name for lx in losses if lx.target == t), None)
            lines.append(f"{t.name} = forward(teacher, {inputs})")
            width = int(t.shape[0])
            if rule == "cross_entropy" and width > 1:
                lines.append(f"{t.name} = np.eye({width})[{t.name}.argmax(axis=-1)]  # one-hot labels")
            elif rule == "binary_cross_entropy":
                lines.append(f"{t.name} = ({t.name} > 0.5) * 1.0  # 0/1 labels")
        names = [s.name for s in net.inputs + net.targets]
        lines += _dict_lines("data = ", [(f'"{n}"', f"{n}[:{DEMO_TRAIN}]") for n in names])
        lines += _dict_lines("validation = ", [(f'"{n}"', f"{n}[{DEMO_TRAIN}:]") for n in names])
        return {"lines": lines}


def _is_product(e) -> bool:
    """A matrix product of two or more matrices (not a scalar times a matrix)."""
    if not isinstance(e, MatMul):
        return False
    return sum(1 for a in e.args if isinstance(a, sp.MatrixExpr)) >= 2


RESERVED = {"m", "T", "k", "dtype", "inv_m", "params", "grads", "L", "np"}


def _split_sum(expr, varying, printer):
    """(the terms of a sum that do not depend on ``varying`` and hold data, the rest) or (None, expr)."""
    if not isinstance(expr, MatAdd):
        return None, expr
    free = [a for a in expr.args if not (a.free_symbols & varying)]
    rest = [a for a in expr.args if a not in free]
    if not rest or not any(printer.is_pe(a) for a in free):
        return None, expr
    return alg.add(*free), alg.add(*rest)


def _view(name, kind, view) -> str:
    if kind == "flat":
        return f"{name}.reshape(T, m, -1)" if view == "time-major" else name
    if kind == "plain":
        return name
    return {"all": f"_rows({name})", "loop": f"{name}[k]", "last": f"{name}[-1]", "head": f"_rows({name}[:-1])",
            "time-major": name}[view]


def _statement(name, code) -> list:
    return _split_long(f"{name} = {code}")


def _split_long(line) -> list:
    # ruff format would split a statement longer than the line; leave ours whole
    return [line + "  # fmt: skip" if len(line) + 8 > LINE_LENGTH else line]


def _live(blocks, wanted) -> list:
    """The blocks ``wanted`` depends on, in order (dead code dropped)."""
    needed = set(wanted)
    kept = []
    for b in reversed(blocks):
        if b.writes & needed:
            kept.append(b)
            needed |= b.reads
    return list(reversed(kept))


def _dict_lines(prefix, items, indent=0) -> list:
    return _Emitter._dict_lines(prefix, items, indent)


def view_model(derivation) -> dict:
    return _RecurrentEmitter(derivation).view()


def numpy_module(derivation, **options) -> str:
    """The source of a standalone NumPy training module for a recurrent derivation."""
    if options:
        raise TypeError(f"numpy_module got unexpected options {sorted(options)}")
    return environment(latex=False).get_template("recurrent_module.py.j2").render(**view_model(derivation))


__all__ = ["numpy_module", "view_model"]
