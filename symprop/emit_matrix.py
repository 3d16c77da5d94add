"""The NumPy module of a network declared over a batch, or of one whose examples are matrices.

The same view model and template as ``emit`` (one module: forward, loss,
gradients, optimizers, train), printed by ``printing_matrix.MatrixPrinter``
in the mathematical layout:

* ``layout="batch"`` (``Network(..., batch=m)``): the derivation is the batch
  computation, so each line is its equation as written.  The module's
  arguments are batch-first, (m, n), like every symprop module; they are
  transposed (a view, no copy) to the n x m of the derivation on entry, and
  predictions are transposed back.
* ``layout="stacked"`` (an example is a matrix, e.g. a d x T sequence): the
  arrays are the examples' matrices stacked along a leading axis, (m, d, T);
  a per-example column arrives as (m, n) and is viewed as (m, n, 1).  The
  loss is the mean over the examples, so its 1/m enters the backward pass
  with the seed (as in ``emit``), and parameter gradients sum over the
  examples.
"""

from __future__ import annotations

import sympy as sp
from sympy import MatrixExpr

from . import ops
from .emit import LINE_LENGTH, Function, Line, _Emitter
from .printing_matrix import MatrixPrinter


class MatrixEmitter(_Emitter):
    def __init__(self, derivation):
        super().__init__(derivation)
        self.layout = "batch" if self.net.batch is not None else "stacked"
        producers = {s.symbol: s.expr for s in self.forward_steps}
        stacked = self.layout == "stacked"
        indicators = {}
        for s in self.forward_steps:
            if s.activation and s.activation != "softmax" and ops.FUNCTIONS[s.activation].sign_preserving:
                indicators[ops.activation_argument(s.expr)] = s.symbol
        self.printer = MatrixPrinter(self.per_example if stacked else (), stacked, producers, indicators)
        self.printer.dtype_of = self.data[0].name if self.data else None  # np.ones(...) of the data's dtype

    # -- lines -------------------------------------------------------------
    def forward_line(self, step) -> Line:
        p = self.printer
        if step.kind == "loss":
            note = ", the mean over the batch"
            code = p.loss(step.expr)
            return self._line(step.name, [self.equation(step, note)] + self._fused_notes(step.expr), [f"L = {code}"])
        return self._line(step.name, [self.equation(step)], [f"{step.name} = {p.example(step.expr)}"])

    def backward_line(self, step) -> Line:
        p = self.printer
        name = step.name
        if self.layout == "batch":
            return self._line(name, [self.equation(step)], [f"{name} = {p.example(step.expr)}"])
        # stacked: the adjoints are the derivation's per-example ones; the batch mean's 1/m
        # is applied once, to each parameter gradient (the smallest arrays of the pass)
        if step.kind == "gradient" or not p.is_pe(step.symbol):
            code = p.total(step.expr)
            if p.is_pe(step.expr):
                code = f"inv_m * {code}" if " " not in code else f"inv_m * ({code})"
                note = ", the mean over the batch"
            else:
                note = ""
            return self._line(name, [self.equation(step, note)], [f"{name} = {code}"])
        return self._line(name, [self.equation(step)], [f"{name} = {p.example(step.expr)}"])

    def _backward_heading(self) -> str:
        if self.layout == "batch":
            return "backward pass: the derivation's equations for the batch, as written"
        return "backward pass, each example's adjoints at once; parameter gradients are batch means"

    def _fused_notes(self, expr) -> list:
        notes = []
        for loss in sorted(expr.atoms(ops.LossExpr), key=sp.default_sort_key):
            found = self.printer.fused_activation(loss)
            if found:
                act, z = found
                how = "log-sum-exp" if act == "softmax" else "softplus"
                notes.append(f"    {loss.rule.name} of {act}({z.name}) from {z.name} by {how}: no log of {loss.prediction}, no overflow")
        return notes

    def _gradient_forward_lines(self, forward_lines) -> list:
        """Where gradients() needs both softmax(z) and the loss fused with it, the log-sum-exp
        of z is computed once for both (softmax(z) = exp(z - lse))."""
        shared = {}
        for loss in sorted(self.forward_steps[-1].expr.atoms(ops.LossExpr), key=sp.default_sort_key):
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
                    self.printer.helpers_used.add("logsumexp")
                    comment = f"log-sum-exp of {z.name} over the classes, for both ({step.number}) and the loss"
                    lines.append(self._line(shared[z], [comment], [f"{shared[z]} = logsumexp({z.name}, axis=-2)"]))
                lines.append(self.forward_line(step))
            return lines
        finally:
            self.printer.shared_lse = {}

    # -- functions -------------------------------------------------------------
    def _function(self, name, args, doc, lines, result, uses_m=True, sections=(), tail=()) -> Function:
        f = super()._function(name, args, doc, lines, result, uses_m, sections, tail)
        reads = set().union(*(line.reads for line in lines)) if lines else set()
        entry = self._entry_lines(args, reads)
        batch = self.net.batch
        if batch is not None and batch.is_Symbol and batch.name in reads and args:
            entry.insert(0, f"{batch.name} = len({args[0]})  # the batch size")
        body = list(f.body)
        if body and body[0].startswith("inv_m = "):
            entry.insert(0, body.pop(0))
        f.body = entry + body
        if name == "forward" and result:
            f.result = ", ".join(self._api_layout(n) for n in result.split(", "))
        return f

    def _entry_lines(self, args, reads) -> list:
        """The arguments in the layout of the derivation (views, no copies)."""
        syms = {s.name: s for s in (*self.data, *self.masks)}
        lines = []
        for a in (a.split("=")[0] for a in args):
            if a not in reads:
                continue
            dims = getattr(syms[a], "dims", None)
            if self.layout == "batch":
                lines.append(f"{a} = {a}.T  # one example per column, as in the derivation")
            elif dims is not None:
                rows, cols = (int(d) for d in syms[a].shape)
                lines.append(f"{a} = {a}.reshape(len({a}), {rows}, {cols})  # {' x '.join(map(str, dims[1:]))} pixels as one row per channel")
            elif syms[a].shape[1] == 1:
                lines.append(f"{a} = {a}[:, :, None]  # each example a column")
        return lines

    def _api_layout(self, name) -> str:
        sym = self.node_symbols[name]
        if self.layout == "batch":
            return f"{name}.T"
        if isinstance(sym, MatrixExpr) and sym.shape[1] == 1:
            return f"{name}[:, :, 0]"
        return name

    def feature_shape(self, sym) -> tuple:
        if getattr(sym, "dims", None) is not None:
            return tuple(sym.dims)  # an image: (C, H, W), as PyTorch takes it
        if self.layout == "batch":
            return (int(sym.shape[0]),)
        if sym.shape[1] == 1:
            return (int(sym.shape[0]),)
        return tuple(int(d) for d in sym.shape)

    def _batch_shape(self, sym) -> str:
        return "(m, " + ", ".join(str(d) for d in self.feature_shape(sym)) + ")"

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
                conds.append(f"{a}.shape[1:] != {feature!r}")
            else:
                conds.append(f"{a}.shape != (len({first}), {', '.join(map(str, feature))})")
        conds.append(f"not len({first})")
        call = ", ".join(f"{a}={a}" for a in args)
        line = f"if {' or '.join(conds)}:"
        if len(line) + 4 > LINE_LENGTH:
            return [
                "if (",
                *[f"    {c}" + (" or" if i < len(conds) - 1 else "") for i, c in enumerate(conds)],
                "):",
                f"    _shape_error({call})",
            ]
        return [line, f"    _shape_error({call})"]

    # -- the rest of the module --------------------------------------------------
    def _demo_shape(self, sym) -> str:
        from .emit import DEMO_EXAMPLES

        return f"({DEMO_EXAMPLES}, " + ", ".join(str(d) for d in self.feature_shape(sym)) + ")"

    def demo(self) -> dict:
        out = super().demo()
        fixed = []
        for line in out["lines"]:
            # one-hot classes along the class axis of a stacked (m, k, T) target
            if "np.eye(" in line and "argmax(axis=1)" in line:
                target = line.split(" = ", 1)[0]
                sym = next(s for s in self.data if s.name == target)
                if self.layout == "stacked" and sym.shape[1] != 1:
                    k = int(sym.shape[0])
                    line = f"{target} = np.moveaxis(np.eye({k})[{target}.argmax(axis=1)], -1, 1)  # one-hot labels"
            fixed.append(line)
        out["lines"] = fixed
        return out

    def view(self) -> dict:
        model = super().view()
        model["layout"] = self.layout
        return model


def is_matrix_layout(derivation) -> bool:
    """Networks that ``emit`` hands to this module: declared over a batch, or with matrix examples."""
    from .batch import columns_per_example

    net = derivation.network
    return net.batch is not None or not columns_per_example(net)


__all__ = ["MatrixEmitter", "is_matrix_layout"]
