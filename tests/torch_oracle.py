"""PyTorch reference: the declared loss of a network, evaluated with torch ops.

The oracle walks the *declared* SymPy loss expression (``network.loss``), not
the derivation, so it is independent of everything symprop derives or
prints: matrix products, sums, Hadamard products and powers, transposes,
elementwise functions (registry activations by their torch equivalents,
custom ones by their SymPy definition), softmax, the loss ops by torch's own
losses, and scalar SymPy algebra.  Each example is evaluated on its own in
the mathematical layout (column vectors), the loss is the batch mean, and
torch autograd gives the reference gradients.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement

from symprop import ops
from symprop.algebra import T


def _is_mean_term(term) -> bool:
    """-mu 1^T (or -1 mu): the broadcast mean subtracted in a normalisation."""
    return isinstance(term, sp.MatMul) and any(isinstance(a, ops.Named) and a.base == "mu" for a in term.args)


def _registry_function(torch, name):
    F = torch.nn.functional
    table = {
        "identity": lambda x: x,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
        "softplus": F.softplus,
        "silu": F.silu,
        "gelu": F.gelu,  # exact (erf) form, torch's default
        "step": lambda x: (x > 0).to(x.dtype),
        "Phi": lambda x: 0.5 * (1 + torch.erf(x / math.sqrt(2))),
        "phi": lambda x: torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi),
    }
    return table.get(name)


def _sympy_function(torch, func):
    table = {
        sp.exp: torch.exp,
        sp.log: torch.log,
        sp.sin: torch.sin,
        sp.cos: torch.cos,
        sp.tan: torch.tan,
        sp.tanh: torch.tanh,
        sp.sinh: torch.sinh,
        sp.cosh: torch.cosh,
        sp.atan: torch.atan,
        sp.erf: torch.erf,
        sp.Abs: torch.abs,
        sp.sqrt: torch.sqrt,
    }
    return table.get(func)


class TorchOracle:
    """Evaluate a network's declared loss with torch, per example."""

    def __init__(self, torch, network):
        self.torch = torch
        self.net = network
        self.sizes: dict = {}  # the batch-size symbol of a batch network -> its value

    def _dims(self, shape):
        return [int(sp.sympify(d).xreplace(self.sizes)) for d in shape]

    def _eval(self, e, env, memo):
        if e in memo:
            return memo[e]
        out = self._eval_uncached(e, env, memo)
        memo[e] = out
        return out

    def _eval_uncached(self, e, env, memo):
        torch = self.torch
        def ev(a):
            return self._eval(a, env, memo)

        if isinstance(e, ops.Constant):
            return torch.tensor(float(e.value))
        if isinstance(e, (sp.Symbol, sp.MatrixSymbol)):
            return env[e]
        if isinstance(e, ops.Named) and e.closed_form.startswith("standardize"):
            return self._standardize(e, ev)
        if isinstance(e, (ops.Named, ops.Hint)):
            return ev(e.args[0])
        if isinstance(e, ops.Conv):  # torch's own convolution, on the image and kernel tensors
            c, h, w, o, kh, kw, stride, ph, pw = e.geometry
            x = ev(e.input).reshape(1, c, h, w)
            k = ev(e.kernels).reshape(o, c, kh, kw)
            return torch.nn.functional.conv2d(x, k, stride=stride, padding=(ph, pw)).reshape(o, -1)
        if isinstance(e, ops.Pool):
            c, h, w, kh, kw, stride = e.geometry
            pool = torch.nn.functional.max_pool2d if e.kind == "max" else torch.nn.functional.avg_pool2d
            return pool(ev(e.input).reshape(1, c, h, w), (kh, kw), stride=stride).reshape(c, -1)
        if isinstance(e, ops.Flatten):
            return ev(e.args[0]).reshape(-1, 1)
        if isinstance(e, ops.Masked):
            return ev(e.scores).masked_fill(ev(e.mask) <= 0, float("-inf"))
        if isinstance(e, sp.OneMatrix):
            return torch.ones(*self._dims(e.shape))
        if isinstance(e, sp.ZeroMatrix):
            return torch.zeros(*self._dims(e.shape))
        if isinstance(e, sp.Identity):
            return torch.eye(e.shape[0])
        if isinstance(e, sp.MatrixBase):
            return torch.tensor(np.array(e.tolist(), dtype=float))
        if e.is_Number or isinstance(e, sp.NumberSymbol):
            return torch.tensor(float(e))
        if isinstance(e, sp.MatMul):
            out = None
            scalar = torch.tensor(1.0)
            for a in e.args:
                v = ev(a)
                if isinstance(a, sp.MatrixExpr):
                    out = v if out is None else out @ v
                else:
                    scalar = scalar * v
            return scalar * out
        if isinstance(e, (sp.MatAdd, sp.Add)):
            out = ev(e.args[0])
            for a in e.args[1:]:
                out = out + ev(a)
            return out
        if isinstance(e, (sp.HadamardProduct, sp.Mul)):
            out = ev(e.args[0])
            for a in e.args[1:]:
                out = out * ev(a)
            return out
        if isinstance(e, sp.HadamardPower):
            return ev(e.base) ** float(e.exp)
        if isinstance(e, sp.Pow):
            return ev(e.base) ** ev(e.exp)
        if isinstance(e, sp.Transpose):
            return ev(e.arg).T
        if isinstance(e, sp.Trace):
            return torch.trace(ev(e.arg))
        if isinstance(e, MatrixElement):
            return ev(e.parent)[int(e.i), int(e.j)]
        if isinstance(e, ElementwiseApplyFunction):
            (var,) = e.function.variables
            inner = ev(e.expr)
            return self._eval(e.function.expr, {**env, var: inner}, {})
        if isinstance(e, ops.Softmax):
            return torch.softmax(ev(e.arg), dim=e.axis)
        if isinstance(e, ops.LossExpr):
            logits = self._logits(e)
            if logits is not None:  # torch's stable forms where the prediction is sigmoid(z) or softmax(z)
                return logits(ev)
            p, t = ev(e.prediction), ev(e.target)
            F = torch.nn.functional
            name = e.rule.name
            columns = p.shape[1] if p.dim() == 2 else 1  # a loss of matrices: the mean over the columns
            if name == "mse":
                return F.mse_loss(p, t)
            if name == "binary_cross_entropy":
                return F.binary_cross_entropy(p, t)
            if name == "cross_entropy":
                return -(t * torch.log(p)).sum() / columns
            raise NotImplementedError(name)
        if isinstance(e, ops.ScalarFunctionBase):
            f = _registry_function(torch, e.rule.name)
            x = ev(e.args[0])
            if f is not None:
                return f(x)
            # a custom activation: its SymPy definition
            return self._eval(e.rule.definition_expr, {**env, T: x}, {})
        if isinstance(e, (sp.Max, sp.Min)):
            combine = torch.maximum if isinstance(e, sp.Max) else torch.minimum
            vals = [ev(a) for a in e.args]
            out = vals[0]
            for v in vals[1:]:
                out = combine(torch.as_tensor(out), torch.as_tensor(v))
            return out
        if isinstance(e, sp.Heaviside):
            x = ev(e.args[0])
            return (x > 0).to(x.dtype)
        if isinstance(e, sp.Function):
            f = _sympy_function(torch, e.func)
            if f is None:
                raise NotImplementedError(f"torch oracle: no torch spelling of {e.func}")
            return f(*[ev(a) for a in e.args])
        raise NotImplementedError(f"torch oracle: {type(e).__name__} in {e}")

    def _logits(self, loss):
        """BCE of sigmoid(z) by binary_cross_entropy_with_logits, CE of softmax(z) by log_softmax (both as
        torch computes them without the log of a saturated probability), or None."""
        F = self.torch.nn.functional
        pred, name = loss.prediction, loss.rule.name
        while isinstance(pred, (ops.Named, ops.Hint)):
            pred = pred.args[0]
        if name == "binary_cross_entropy" and isinstance(pred, ElementwiseApplyFunction):
            body = pred.function.expr
            if isinstance(body, ops.ScalarFunctionBase) and body.rule.name == "sigmoid" and body.args == pred.function.variables:
                return lambda ev: F.binary_cross_entropy_with_logits(ev(pred.expr), ev(loss.target))
        if name == "cross_entropy" and isinstance(pred, ops.Softmax):
            def ce(ev):
                z, t = ev(pred.arg), ev(loss.target)
                columns = z.shape[1] if z.dim() == 2 else 1
                return -(t * self.torch.log_softmax(z, dim=pred.axis)).sum() / columns
            return ce
        return None

    def _standardize(self, named, ev):
        """batch norm / layer norm statistics by torch's own functions (not symprop's composition).

        The region's pieces are read off Zhat = Z_c (.) (sigma 1^T)^-1 directly (never by a search
        of the subtree, which holds the statistics of earlier normalisations too)."""
        F = self.torch.nn.functional
        centred = next(a for a in named.expr.args if isinstance(a, ops.Named))
        spread = next(a for a in named.expr.args if isinstance(a, sp.HadamardPower)).base
        sigma = next(a for a in (spread, *spread.args) if isinstance(a, ops.Named) and a.base == "sigma")
        z = next(a for a in centred.expr.args if not _is_mean_term(a))
        eps = next(float(c.value) for term in sigma.expr.base.args for c in getattr(term, "args", ())
                   if isinstance(c, ops.Constant))
        x = ev(z)
        if named.closed_form == "standardize1":  # over the columns (the batch)
            return F.batch_norm(x.T, None, None, training=True, eps=eps).T
        return F.layer_norm(x.T, (x.shape[0],), eps=eps).T

    # ------------------------------------------------------------------
    def _example(self, data: dict, i: int) -> dict:
        """Example i of a batch-first batch, as the declared symbols' values."""
        env = {}
        for s in self.net.inputs + self.net.targets:
            row = data[s.name][i]
            if getattr(s, "dims", None) is not None:
                env[s] = row.reshape(int(s.shape[0]), int(s.shape[1]))  # an image (C, H, W): channels x pixels
            elif isinstance(s, sp.MatrixSymbol) and s.shape[1] != 1:
                env[s] = row  # an example that is a matrix (a sequence)
            elif isinstance(s, sp.MatrixSymbol):
                env[s] = row.reshape(-1, 1)
            else:
                env[s] = row.reshape(()) if hasattr(row, "reshape") else row
        return env

    def loss_and_gradients(self, params: dict, data: dict):
        """Batch-mean loss and its gradients (numpy float64) at NumPy ``params``."""
        torch = self.torch
        tp = {
            p: torch.tensor(np.asarray(params[p.name], dtype=np.float64), requires_grad=True) for p in self.net.params
        }
        tdata = {k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in data.items()}
        names = [s.name for s in self.net.inputs + self.net.targets]
        if self.net.batch is not None:  # the declared loss is already the batch mean: one evaluation
            env = dict(tp)
            env.update({s: tdata[s.name].T for s in self.net.inputs + self.net.targets})
            if self.net.batch.is_Symbol:
                size = len(tdata[names[0]])
                self.sizes = {self.net.batch: sp.Integer(size)}
                env[self.net.batch] = torch.tensor(float(size))
            mean = self._eval(self.net.loss, env, {}).sum()
            grads = torch.autograd.grad(mean, list(tp.values()), allow_unused=True)
            return float(mean.detach()), {
                p.name: np.zeros(np.shape(params[p.name])) if g is None else g.detach().numpy() for p, g in zip(tp, grads)
            }
        m = len(tdata[names[0]]) if names else 1
        total = 0.0
        for i in range(m):
            env = dict(tp)
            env.update(self._example(tdata, i))
            value = self._eval(self.net.loss, env, {})
            total = total + value.sum()  # a 1x1 loss matrix sums to its entry
        mean = total / m
        grads = torch.autograd.grad(mean, list(tp.values()), allow_unused=True)
        out = {}
        for p, g in zip(tp, grads):
            out[p.name] = np.zeros(np.shape(params[p.name])) if g is None else g.detach().numpy()
        return float(mean.detach()), out


# ==========================================================================
# Recurrent networks
# ==========================================================================


def _stacked(params, names):
    return np.vstack([np.asarray(params[n], dtype=np.float64) for n in names])


def torch_builtin_recurrent(torch, kind, params, x, y, loss_at, loss, activation="tanh"):
    """Loss and gradients of symprop.rnn/gru/lstm by torch's own modules (nn.RNN, nn.GRUCell, nn.LSTM).

    ``x``: (m, T, n) batch-first; ``y``: (m, T, k) or, for loss_at="last", (m, k).
    Torch's two biases per gate are given as (symprop's bias, 0), except the GRU's
    b_hn, which sits inside r * (W_n h + b_hn).  The output layer and the loss are
    written with torch functions; the loss is the batch mean of sum_t L_t (or L_T).
    """
    F = torch.nn.functional
    nx, m, T = x.shape[2], x.shape[0], x.shape[1]
    tx = torch.tensor(np.asarray(x, dtype=np.float64))
    if kind == "rnn":
        nh = params["W"].shape[0]
        module = torch.nn.RNN(nx, nh, nonlinearity=activation, batch_first=True)
        weights = {"weight_ih_l0": params["U"], "weight_hh_l0": params["W"], "bias_ih_l0": params["b"][:, 0],
                   "bias_hh_l0": 0 * params["b"][:, 0]}
        out_names = ("V", "c")
    elif kind == "gru":
        nh = params["W_r"].shape[0]
        module = torch.nn.GRUCell(nx, nh)
        zero = np.zeros(nh)
        weights = {"weight_ih": _stacked(params, ["U_r", "U_u", "U_n"]), "weight_hh": _stacked(params, ["W_r", "W_u", "W_n"]),
                   "bias_ih": _stacked(params, ["b_r", "b_u", "b_n"])[:, 0],
                   "bias_hh": np.concatenate([zero, zero, np.asarray(params["b_hn"])[:, 0]])}
        out_names = ("V", "c")
    else:
        nh = params["W_i"].shape[0]
        module = torch.nn.LSTM(nx, nh, batch_first=True)
        weights = {"weight_ih_l0": _stacked(params, ["U_i", "U_f", "U_g", "U_o"]),
                   "weight_hh_l0": _stacked(params, ["W_i", "W_f", "W_g", "W_o"]),
                   "bias_ih_l0": _stacked(params, ["b_i", "b_f", "b_g", "b_o"])[:, 0], "bias_hh_l0": np.zeros(4 * nh)}
        out_names = ("V", "c_y")
    module = module.to(torch.float64)
    with torch.no_grad():
        for name, value in weights.items():
            getattr(module, name).copy_(torch.tensor(np.asarray(value, dtype=np.float64)))
    V = torch.tensor(np.asarray(params[out_names[0]], dtype=np.float64), requires_grad=True)
    c = torch.tensor(np.asarray(params[out_names[1]], dtype=np.float64)[:, 0], requires_grad=True)
    if kind == "gru":
        h = torch.zeros(m, nh, dtype=torch.float64)
        states = []
        for t in range(T):
            h = module(tx[:, t], h)
            states.append(h)
        hs = torch.stack(states, dim=1)
    else:
        hs, _ = module(tx)
    scores = hs @ V.T + c
    ty = torch.tensor(np.asarray(y, dtype=np.float64))
    if loss_at == "last":
        scores = scores[:, -1]
    if loss == "cross_entropy":
        per = -(ty * torch.log_softmax(scores, dim=-1)).sum(-1)
    elif loss == "binary_cross_entropy":
        per = F.binary_cross_entropy(torch.sigmoid(scores), ty, reduction="none").mean(-1)
    else:
        per = ((scores - ty) ** 2).mean(-1)
    value = per.reshape(m, -1).sum(1).mean()
    leaves = dict(module.named_parameters())
    names = list(leaves) + ["V", "c"]
    grads = torch.autograd.grad(value, list(leaves.values()) + [V, c])
    g = {n: t.detach().numpy() for n, t in zip(names, grads)}
    out = {out_names[0]: g["V"], out_names[1]: g["c"][:, None]}
    if kind == "rnn":
        out.update(W=g["weight_hh_l0"], U=g["weight_ih_l0"], b=g["bias_ih_l0"][:, None])
    elif kind == "gru":
        for j, k in enumerate("run"):
            out[f"U_{k}"] = g["weight_ih"][j * nh:(j + 1) * nh]
            out[f"W_{k}"] = g["weight_hh"][j * nh:(j + 1) * nh]
            out[f"b_{k}"] = g["bias_ih"][j * nh:(j + 1) * nh, None]
        out["b_hn"] = g["bias_hh"][2 * nh:, None]
    else:
        for j, k in enumerate("ifgo"):
            out[f"U_{k}"] = g["weight_ih_l0"][j * nh:(j + 1) * nh]
            out[f"W_{k}"] = g["weight_hh_l0"][j * nh:(j + 1) * nh]
            out[f"b_{k}"] = g["bias_ih_l0"][j * nh:(j + 1) * nh, None]
    return float(value.detach()), out


class RecurrentTorchOracle(TorchOracle):
    """Any declared cell, unrolled with torch: the declared next states and step loss, walked per example."""

    def loss_and_gradients(self, params: dict, data: dict):
        torch, net = self.torch, self.net
        tp = {p: torch.tensor(np.asarray(params[p.name], dtype=np.float64), requires_grad=True) for p in net.params}
        m = len(data[net.inputs[0].name])
        total = 0.0
        for i in range(m):
            state = {s: torch.zeros(*s.shape, dtype=torch.float64) for s in net.state_symbols}
            for t in range(net.T):
                env = dict(tp)
                env.update(state)
                for s in net.inputs:
                    env[s] = torch.tensor(np.asarray(data[s.name][i][t], dtype=np.float64)).reshape(-1, 1)
                for s in net.targets:
                    value = data[s.name][i] if net.loss_at == "last" else data[s.name][i][t]
                    env[s] = torch.tensor(np.asarray(value, dtype=np.float64)).reshape(-1, 1)
                memo = {}
                if net.loss_at == "every" or t == net.T - 1:
                    total = total + self._eval(net.loss, env, memo).sum()
                state = {prev: self._eval(new, env, memo) for prev, new in net.states}
        mean = total / m
        grads = torch.autograd.grad(mean, list(tp.values()), allow_unused=True)
        return float(mean.detach()), {p.name: (np.zeros(np.shape(params[p.name])) if g is None else g.detach().numpy())
                                      for p, g in zip(tp, grads)}
