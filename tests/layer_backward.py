"""Backward passes of the layer networks written by hand in NumPy, batch-first, with bugs to inject.

What a student or an engineer writes for the networks of layer_nets.py
(batch norm, layer norm, an attention head, a CNN with max or average
pooling, dropout), in the layout of layer_nets.data_for: examples along the
first axis, images (m, C, H, W), kernels (O, C, kh, kw) as PyTorch keeps
them.  Written from the textbook formulas, not from symprop's output; the
convolutions are plain loops over the kernel taps.

Each ``backward(params, bug=None, **data)`` returns the gradients; ``bug``
names one of the usual mistakes, and BUGS lists, per network, each bug with
the parameters whose gradients it makes wrong.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-5  # batch and layer norm's epsilon (symprop's, PyTorch's default)


def _softmax_rows(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _col(v):
    return v.reshape(-1, 1)


# --------------------------------------------------------------------------
# batch norm: layer_nets.bn_mlp() (4-5-3, ReLU, softmax + cross-entropy), over a batch
# --------------------------------------------------------------------------


def bn_mlp(params, X, Y, bug=None):
    W1, b1, gamma, beta, W2, b2 = (params[k] for k in ("W1", "b1", "gamma", "beta", "W2", "b2"))
    m = X.shape[0]
    Z = X @ W1.T + b1.T
    mu, var = Z.mean(axis=0), Z.var(axis=0)
    std = np.sqrt(var + EPS)
    xhat = (Z - mu) / std
    Zt = gamma.T * xhat + beta.T
    A = np.maximum(Zt, 0)
    P = _softmax_rows(A @ W2.T + b2.T)
    dZ2 = (P - Y) / m
    dA = dZ2 @ W2
    dZt = dA * (Zt > 0)
    dxhat = dZt * gamma.T
    mean_term = 0 if bug == "forgets the path through the mean" else dxhat.sum(axis=0)
    variance_term = 0 if bug == "forgets the path through the variance" else xhat * (dxhat * xhat).sum(axis=0)
    dZ = (m * dxhat - mean_term - variance_term) / (m * std)
    dgamma = (dZt * xhat).mean(axis=0) if bug == "averages dgamma over the batch" else (dZt * xhat).sum(axis=0)
    return {"W1": dZ.T @ X, "b1": _col(dZ.sum(axis=0)), "gamma": _col(dgamma), "beta": _col(dZt.sum(axis=0)),
            "W2": dZ2.T @ A, "b2": _col(dZ2.sum(axis=0))}


# --------------------------------------------------------------------------
# layer norm: layer_nets.ln_column() (4-5-3, tanh, softmax + cross-entropy), per example
# --------------------------------------------------------------------------


def ln_column(params, x, y, bug=None):
    W1, b1, g, c, W2, b2 = (params[k] for k in ("W1", "b1", "g", "c", "W2", "b2"))
    m, n = x.shape[0], W1.shape[0]
    Z = x @ W1.T + b1.T
    mu, var = Z.mean(axis=1, keepdims=True), Z.var(axis=1, keepdims=True)  # over the features of each example
    std = np.sqrt(var + EPS)
    zhat = (Z - mu) / std
    Zt = g.T * zhat + c.T
    A = np.tanh(Zt)
    P = _softmax_rows(A @ W2.T + b2.T)
    dZ2 = (P - y) / m
    dZt = (dZ2 @ W2) * (1 - A**2)
    dzhat = dZt * g.T
    axis = 0 if bug == "sums over the batch, not the features" else 1
    variance_term = 0 if bug == "forgets the path through the variance" else zhat * (dzhat * zhat).sum(axis=axis, keepdims=True)
    dZ = (n * dzhat - dzhat.sum(axis=axis, keepdims=True) - variance_term) / (n * std)
    dg = dZt.sum(axis=0) if bug == "forgets zhat in dg" else (dZt * zhat).sum(axis=0)
    return {"W1": dZ.T @ x, "b1": _col(dZ.sum(axis=0)), "g": _col(dg), "c": _col(dZt.sum(axis=0)),
            "W2": dZ2.T @ A, "b2": _col(dZ2.sum(axis=0))}


# --------------------------------------------------------------------------
# one attention head: layer_nets.attention() (tokens as columns, X: d x T, mean squared error)
# --------------------------------------------------------------------------


def attention(params, X, Y, bug=None):
    Wq, Wk, Wv, Wo = (params[k] for k in ("W_Q", "W_K", "W_V", "W_o"))
    m, d_k = X.shape[0], Wq.shape[0]
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    for x, y in zip(X, Y):  # one d x T example at a time
        Q, K, V = Wq @ x, Wk @ x, Wv @ x
        S = K.T @ Q / np.sqrt(d_k)
        E = np.exp(S - S.max(axis=0, keepdims=True))
        P = E / E.sum(axis=0, keepdims=True)  # softmax of every column: a query's weights over the keys
        out = V @ P  # O, the head's output
        Yhat = Wo @ out
        dYhat = 2 * (Yhat - y) / y.size / m  # the mean over the entries, then over the batch
        d_out = Wo.T @ dYhat
        dP = V.T @ d_out
        axis = 1 if bug == "the softmax Jacobian along the rows" else 0
        dS = P * (dP - (P * dP).sum(axis=axis, keepdims=True))
        dQ = K @ dS / np.sqrt(d_k)
        dK = (Q @ dS if bug == "dK without the transpose of dS" else Q @ dS.T) / np.sqrt(d_k)
        dV = d_out @ P if bug == "dV without the transpose of P" else d_out @ P.T
        grads["W_o"] += dYhat @ out.T
        grads["W_Q"] += dQ @ x.T
        grads["W_K"] += dK @ x.T
        grads["W_V"] += dV @ x.T
    return grads


# --------------------------------------------------------------------------
# a CNN: layer_nets.cnn() (conv 3x3 same -> ReLU -> pool 2 -> conv -> ReLU -> pool 2 -> dense -> softmax)
# --------------------------------------------------------------------------


def conv_same(x, k):
    """Cross-correlation of x (C, H, W) with k (O, C, kh, kw), zero padding to keep H x W."""
    o, c, kh, kw = k.shape
    h, w = x.shape[1:]
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2)))
    out = np.zeros((o, h, w))
    for p in range(kh):
        for q in range(kw):
            out += np.einsum("oc,chw->ohw", k[:, :, p, q], xp[:, p:p + h, q:q + w])
    return out


def conv_same_backward(x, k, dz, bug=None):
    """(dx, dk): dk = x ⋆ dz; dx = rot180(k) full-convolved with dz (as a scatter of each tap)."""
    o, c, kh, kw = k.shape
    h, w = x.shape[1:]
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2)))
    dxp, dk = np.zeros_like(xp), np.zeros_like(k)
    taps = k[:, :, ::-1, ::-1] if bug == "the input's gradient with the kernels flipped twice" else k
    for p in range(kh):
        for q in range(kw):
            dk[:, :, p, q] = np.einsum("ohw,chw->oc", dz, xp[:, p:p + h, q:q + w])
            dxp[:, p:p + h, q:q + w] += np.einsum("oc,ohw->chw", taps[:, :, p, q], dz)
    if bug == "the kernels' gradient turned by 180 degrees":
        dk = dk[:, :, ::-1, ::-1]
    return dxp[:, kh // 2:kh // 2 + h, kw // 2:kw // 2 + w], dk


def pool_forward(a, kind):
    c, h, w = a.shape
    windows = a.reshape(c, h // 2, 2, w // 2, 2)
    return windows.max(axis=(2, 4)) if kind == "max" else windows.mean(axis=(2, 4))


def pool_backward(a, dp, kind, bug=None):
    c, h, w = a.shape
    spread = np.repeat(np.repeat(dp, 2, axis=1), 2, axis=2)
    if kind == "avg":
        return spread if bug == "average pooling without the 1/4" else spread / 4
    if bug == "max pooling spreads to the whole window":
        return spread
    windows = a.reshape(c, h // 2, 2, w // 2, 2)
    best = windows == windows.max(axis=(2, 4), keepdims=True)
    return (best * dp[:, :, None, :, None]).reshape(c, h, w)  # ties (ReLU's zeros) get no gradient past ReLU'


def cnn(params, X, y, kind="max", bug=None):
    K1, b1, K2, b2, W3, b3 = (params[k] for k in ("K1", "b1", "K2", "b2", "W3", "b3"))
    K1, K2 = K1.reshape(3, 1, 3, 3), K2.reshape(4, 3, 3, 3)  # as PyTorch keeps them
    m = X.shape[0]
    grads = {k: np.zeros(v.shape) for k, v in params.items()}
    for x, t in zip(X, y):
        z1 = conv_same(x, K1) + b1.reshape(-1, 1, 1)
        a1 = np.maximum(z1, 0)
        p1 = pool_forward(a1, kind)
        z2 = conv_same(p1, K2) + b2.reshape(-1, 1, 1)
        a2 = np.maximum(z2, 0)
        p2 = pool_forward(a2, kind)
        f = p2.reshape(-1, 1)
        e = np.exp(W3 @ f + b3 - (W3 @ f + b3).max())
        dz3 = (e / e.sum() - t.reshape(-1, 1)) / m
        dz2 = pool_backward(a2, (W3.T @ dz3).reshape(p2.shape), kind, bug) * (z2 > 0)  # the bugs are in layer 2
        dp1, dK2 = conv_same_backward(p1, K2, dz2, bug)
        dz1 = pool_backward(a1, dp1, kind) * (z1 > 0)
        _, dK1 = conv_same_backward(x, K1, dz1)
        grads["W3"] += dz3 @ f.T
        grads["b3"] += dz3
        grads["K2"] += dK2.reshape(grads["K2"].shape)
        grads["b2"] += dz2.sum(axis=(1, 2)).reshape(-1, 1)
        grads["K1"] += dK1.reshape(grads["K1"].shape)
        grads["b1"] += dz1.sum(axis=(1, 2)).reshape(-1, 1)
    return {k: g.reshape(params[k].shape) for k, g in grads.items()}


# --------------------------------------------------------------------------
# inverted dropout: layer_nets.dropout_mlp() (3-4-2, tanh, keep 0.75, the mask an input)
# --------------------------------------------------------------------------

KEEP = 0.75


def dropout_mlp(params, x, M, y, bug=None):
    W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
    m = x.shape[0]
    A1 = np.tanh(x @ W1.T + b1.T)
    D = A1 * M / KEEP
    P = _softmax_rows(D @ W2.T + b2.T)
    dZ2 = (P - y) / m
    dD = dZ2 @ W2
    if bug == "forgets the mask":
        dA1 = dD / KEEP
    elif bug == "forgets 1/p":
        dA1 = dD * M
    else:
        dA1 = dD * M / KEEP
    dZ1 = dA1 * (1 - A1**2)
    dW2 = dZ2.T @ (A1 if bug == "dW2 with the activations before dropout" else D)
    return {"W1": dZ1.T @ x, "b1": _col(dZ1.sum(axis=0)), "W2": dW2, "b2": _col(dZ2.sum(axis=0))}


# network (layer_nets.table() name) -> (backward, options, {bug: the parameters it makes wrong})
BUGS = {
    "bn_mlp": (bn_mlp, {}, {"forgets the path through the mean": {"W1", "b1"}, "forgets the path through the variance": {"W1"},
                            "averages dgamma over the batch": {"gamma"}}),
    "ln_column": (ln_column, {}, {"sums over the batch, not the features": {"W1", "b1"},
                                  "forgets the path through the variance": {"W1", "b1"}, "forgets zhat in dg": {"g"}}),
    "attention": (attention, {}, {"the softmax Jacobian along the rows": {"W_Q", "W_K"}, "dK without the transpose of dS": {"W_K"},
                                  "dV without the transpose of P": {"W_V"}}),
    "cnn_max": (cnn, {"kind": "max"}, {"the input's gradient with the kernels flipped twice": {"K1", "b1"},
                                       "the kernels' gradient turned by 180 degrees": {"K2"},
                                       "max pooling spreads to the whole window": {"K2", "b2", "K1", "b1"}}),
    "cnn_avg": (cnn, {"kind": "avg"}, {"average pooling without the 1/4": {"K2", "b2", "K1", "b1"},
                                       "the kernels' gradient turned by 180 degrees": {"K2"}}),
    "dropout_mlp": (dropout_mlp, {}, {"forgets the mask": {"W1", "b1"}, "forgets 1/p": {"W1", "b1"},
                                      "dW2 with the activations before dropout": {"W2"}}),
}
