r"""Hand-derived backward formulas of the layers beyond the MLP, each with mistaken variants and the diagnosis they need.

Like textbook_formulas.py, for the networks of layer_nets.py: batch norm
(over a batch of m examples), layer norm (per example and per token), one
attention head (with and without a causal mask), a small CNN (convolution,
max and average pooling), a 1-D convolution, inverted dropout.  Each formula
is written here from its source's statement, in that source's notation or in
the notation symprop's notes print (``print(d)``, ``d.latex()``), not copied:

* Ioffe & Szegedy 2015 (§3, the chain rule through mu, sigma^2, xhat, node by node);
* the simplified batch-norm backward of CS231n's assignment 2 (batchnorm_backward_alt,
  batch-first NumPy: every value the transpose of ours, ``convention="rows"``);
* Ba, Kiros & Hinton 2016 (layer norm: the statistics over the features);
* the softmax Jacobian per column (symprop's notes) and FlashAttention's backward
  (Dao et al. 2022: dS = P ∘ (dP - rowsum(dP ∘ P)), dQ = dS K / √d, batch-first rows);
* convolution as taught (Goodfellow et al. §9.5; CS231n's conv_backward): dK = X ⋆ δ,
  dX = rot180(K) ∗full δ, db = δ 1; max pooling routes, average pooling spreads;
* inverted dropout (CS231n's dropout notes): dL/da = (Wᵀ δ / p) ⊙ M.

A row: the source, the network, the gradient or adjoint checked, the correct
formula, the reading options and 1-3 mistaken variants with the diagnosis
key symprop must give (see symprop/verify/mistakes.py).
"""

from __future__ import annotations

import layer_nets
from textbook_formulas import Row


def networks() -> dict:
    return {
        "bn": layer_nets.bn_mlp(),
        "ln": layer_nets.ln_column(),
        "ln_tokens": layer_nets.ln_sequence(),
        "attention": layer_nets.attention(),
        "attention_masked": layer_nets.attention(masked=True),
        "row_softmax": layer_nets.softmax_rows(),
        "cnn_max": layer_nets.cnn("max"),
        "cnn_avg": layer_nets.cnn("avg"),
        "conv1d": layer_nets.conv1d_sequence(),
        "dropout": layer_nets.dropout_mlp(),
        "dropout_cnn": layer_nets.dropout_cnn(),
    }


# the notes' LaTeX for the values these formulas use
dZh, Zh = r"\frac{\partial L}{\partial \hat{Z}^{[1]}}", r"\hat{Z}^{[1]}"
dZt = r"\frac{\partial L}{\partial \tilde{Z}^{[1]}}"
dzh, zh = r"\frac{\partial L}{\partial \hat{z}^{[1]}}", r"\hat{z}^{[1]}"
dTh, Th = r"\frac{\partial L}{\partial \hat{Z}}", r"\hat{Z}"  # layer norm per token (no layer number)
ONES, ONES_T = r"\mathbf{1}_m", r"\mathbf{1}_m^\top"
dZ1, dZ2 = r"\frac{\partial L}{\partial Z^{[1]}}", r"\frac{\partial L}{\partial Z^{[2]}}"
dP1 = r"\frac{\partial L}{\partial P^{[1]}}"
GAIN = rf"(\mathbf{{1}}\mathbf{{1}}^\top ({dzh} \odot {zh}))"
dY, JY = r"\frac{\partial L}{\partial \hat{Y}}", r"\left(\hat{Y} \odot \frac{\partial L}{\partial \hat{Y}}\right)"


def _bn(scale, adjoint, mean=True, variance=True):
    """1/m (scale ⊘ σ) 1ᵀ ⊙ (m dA - dA 1 1ᵀ - Ẑ ⊙ ((dA ⊙ Ẑ) 1 1ᵀ)), leaving out the mean's or the variance's term."""
    terms = [rf"m {adjoint}"]
    if mean:
        terms.append(rf"{adjoint} {ONES} {ONES_T}")
    if variance:
        terms.append(rf"{Zh} \odot \left(\left({adjoint} \odot {Zh}\right) {ONES} {ONES_T}\right)")
    return rf"\frac{{1}}{{m}} \left(\left({scale} \oslash \sigma^{{[1]}}\right) {ONES_T}\right) \odot \left({' - '.join(terms)}\right)"


def _ln(n, adjoint, value, sigma, mean=True, variance=True, axis_right=False):
    """1/n (1 (1 ⊘ σ)) ⊙ (n dA - 1 1ᵀ dA - Â ⊙ (1 1ᵀ (dA ⊙ Â))): the statistics over the rows (the features)."""
    mean_term = rf"{adjoint} \mathbf{{1}} \mathbf{{1}}^\top" if axis_right else rf"\mathbf{{1}} \mathbf{{1}}^\top {adjoint}"
    terms = [rf"{n} {adjoint}"] + ([mean_term] if mean else [])
    if variance:
        terms.append(rf"{value} \odot \left(\mathbf{{1}} \mathbf{{1}}^\top \left({adjoint} \odot {value}\right)\right)")
    return rf"\frac{{1}}{{{n}}} \left(\mathbf{{1}} \left(\mathbf{{1}} \oslash {sigma}\right)\right) \odot \left({' - '.join(terms)}\right)"


# CS231n's names (batch-first): dxhat is our dL/dZhat1, xhat Zhat1, N the batch size m
CS = {"convention": "rows", "names": {"dxhat": "dZhat1", "xhat": "Zhat1", "inv_std": "1 / sqrt(var1 + epsilon)", "N": "m",
                                      "dout": "dZtilde1"}}
# FlashAttention's (batch-first: Q, K, V are T x d; S = Q Kᵀ / √d; P the row softmax)
FA = {"convention": "rows"}
IOFFE = r"\frac{\partial L}{\partial \sigma^{2\,[1]}}", r"\frac{\partial L}{\partial \mu^{[1]}}"

ROWS = [
    # --- batch norm (over a batch of m examples, statistics over the columns) ------------------------------------
    Row("symprop's notes, the simplified batch-norm backward (eq. 25)", "bn", "Z1", _bn(r"\mathbf{1}", dZh), {},
        ((_bn(r"\mathbf{1}", dZh, mean=False), "bn_mean_path"), (_bn(r"\mathbf{1}", dZh, variance=False), "bn_variance_path"))),
    Row("symprop's terminal text, the same", "bn", "Z1",
        "1/m·((𝟏 ⊘ σ1) 𝟏) ⊙ (m·∂L/∂Ẑ1 - ∂L/∂Ẑ1 𝟏 𝟏 - Ẑ1 ⊙ ((∂L/∂Ẑ1 ⊙ Ẑ1) 𝟏 𝟏))", {},
        (("1/m·((𝟏 ⊘ σ1) 𝟏) ⊙ (m·∂L/∂Ẑ1 - Ẑ1 ⊙ ((∂L/∂Ẑ1 ⊙ Ẑ1) 𝟏 𝟏))", "bn_mean_path"),)),
    Row("Ioffe & Szegedy 2015 in the simplified form, with gamma and the output's adjoint", "bn", "Z1", _bn(r"\gamma", dZt), {},
        ((_bn(r"\gamma", dZt, mean=False), "bn_mean_path"), (_bn(r"\gamma", dZt, variance=False), "bn_variance_path"),
         (_bn(r"\gamma", dZt).replace(r"\frac{1}{m} ", "", 1), "factor_m"))),
    Row("Ioffe & Szegedy 2015, dL/dx node by node", "bn", "Z1",
        rf"{dZh} \oslash (\sigma^{{[1]}} \mathbf{{1}}^\top) + \frac{{2}}{{m}} \left({IOFFE[0]} \mathbf{{1}}^\top\right) \odot Z_c^{{[1]}} "
        rf"+ \frac{{1}}{{m}} {IOFFE[1]} \mathbf{{1}}^\top", {},
        ((rf"{dZh} \oslash (\sigma^{{[1]}} \mathbf{{1}}^\top) + \frac{{2}}{{m}} \left({IOFFE[0]} \mathbf{{1}}^\top\right) \odot Z_c^{{[1]}}",
          "bn_mean_path"),
         (rf"{dZh} \oslash (\sigma^{{[1]}} \mathbf{{1}}^\top) + \frac{{1}}{{m}} {IOFFE[1]} \mathbf{{1}}^\top", "bn_variance_path"))),
    Row("Ioffe & Szegedy 2015, dL/dsigma^2", "bn", "var1",
        rf"-\frac{{1}}{{2}} \left({dZh} \odot Z_c^{{[1]}}\right) \mathbf{{1}} \odot \left(\sigma^{{2\,[1]}} + \epsilon\right)^{{-3/2}}", {},
        ((rf"\frac{{1}}{{2}} \left({dZh} \odot Z_c^{{[1]}}\right) \mathbf{{1}} \odot \left(\sigma^{{2\,[1]}} + \epsilon\right)^{{-3/2}}",
          "sign"),)),
    Row("Ioffe & Szegedy 2015, dL/dgamma", "bn", "gamma", rf"\left({dZt} \odot {Zh}\right) {ONES}", {},
        ((rf"{dZt} \odot {Zh}", "missing_sum"), (rf"\frac{{1}}{{m}} \left({dZt} \odot {Zh}\right) {ONES}", "factor_m"))),
    Row("Ioffe & Szegedy 2015, dL/dbeta", "bn", "beta", rf"{dZt} {ONES}", {},
        ((rf"{ONES_T} {dZt}", "ones_axis"), (rf"\frac{{1}}{{m}} {dZt} {ONES}", "factor_m"))),
    Row("the weights before batch norm: the adjoints hold the batch mean's 1/m", "bn", "W1", rf"{dZ1} X^\top", {},
        ((rf"\frac{{1}}{{m}} {dZ1} X^\top", "factor_m"), (rf"{dZ1} X", "transpose"))),
    Row("CS231n assignment 2, batchnorm_backward_alt: dx", "bn", "Z1",
        "dx = (1/N) * inv_std * (N*dxhat - dxhat.sum(0) - xhat*(dxhat*xhat).sum(0))", CS,
        (("(1/N) * inv_std * (N*dxhat - xhat*(dxhat*xhat).sum(0))", "bn_mean_path"),
         ("(1/N) * inv_std * (N*dxhat - dxhat.sum(0))", "bn_variance_path"),
         ("(1/N) * inv_std * (N*dxhat - dxhat.sum(1) - xhat*(dxhat*xhat).sum(0))", "axis"))),
    Row("CS231n assignment 2, batchnorm_backward: dgamma", "bn", "gamma", "np.sum(dout * xhat, axis=0)", CS,
        (("np.sum(dout * xhat, axis=1)", "axis"),)),
    Row("CS231n assignment 2, batchnorm_backward: dxhat", "bn", "Zhat1", "dout * gamma", {"convention": "rows", "names": {"dout": "dZtilde1"}},
        (("dout * gamma.T", "transpose"),)),
    # --- layer norm (per example: the statistics over the features, axis 0) ------------------------------------
    Row("Ba et al. 2016, the simplified layer-norm backward (one example)", "ln", "z1", _ln(5, dzh, zh, r"\sigma^{[1]}"), {},
        ((_ln(5, dzh, zh, r"\sigma^{[1]}", mean=False), "bn_mean_path"), (_ln(5, dzh, zh, r"\sigma^{[1]}", variance=False), "bn_variance_path"),
         (_ln(5, dzh, zh, r"\sigma^{[1]}", axis_right=True), "ones_axis"))),
    Row("Ba et al. 2016, with 1/(n sigma) in front", "ln", "z1",
        rf"\frac{{1}}{{5 \sigma^{{[1]}}}} \left(5 {dzh} - \mathbf{{1}}\mathbf{{1}}^\top {dzh} - {zh} \odot {GAIN}\right)",
        {}, ((rf"\frac{{1}}{{5 \sigma^{{[1]}}}} \left(5 {dzh} - {zh} \odot {GAIN}\right)", "bn_mean_path"),)),
    Row("Ba et al. 2016, the gain's gradient", "ln", "g", r"\frac{\partial L}{\partial \tilde{z}^{[1]}} \odot \hat{z}^{[1]}", {},
        ((r"-\frac{\partial L}{\partial \tilde{z}^{[1]}} \odot \hat{z}^{[1]}", "sign"),)),
    Row("Ba et al. 2016, per token (the statistics over each column of a d x T sequence)", "ln_tokens", "Z", _ln(3, dTh, Th, r"\sigma"), {},
        ((_ln(3, dTh, Th, r"\sigma", axis_right=True), "ones_axis"), (_ln(3, dTh, Th, r"\sigma", variance=False), "bn_variance_path"))),
    Row("Ba et al. 2016, per token: the gain sums over the tokens", "ln_tokens", "g",
        r"\left(\frac{\partial L}{\partial \tilde{Z}} \odot \hat{Z}\right) \mathbf{1}", {},
        ((r"\mathbf{1}^\top \left(\frac{\partial L}{\partial \tilde{Z}} \odot \hat{Z}\right)", "ones_axis"),
         (r"\frac{\partial L}{\partial \tilde{Z}} \odot \hat{Z}", "missing_sum"))),
    # --- one attention head (tokens as columns: S = Kᵀ Q / √d_k, P = softmax of each column) --------------------
    Row("symprop's notes, the softmax Jacobian per column (eq. 13)", "attention", "S",
        r"P \odot \left(\frac{\partial L}{\partial P} - \mathbf{1} \mathbf{1}^\top \left(P \odot \frac{\partial L}{\partial P}\right)\right)", {},
        ((r"P \odot \left(\frac{\partial L}{\partial P} - \left(P \odot \frac{\partial L}{\partial P}\right) \mathbf{1} \mathbf{1}^\top\right)",
          "softmax_axis"),
         (r"P^\top \odot \left(\frac{\partial L}{\partial P} - \mathbf{1} \mathbf{1}^\top \left(P \odot \frac{\partial L}{\partial P}\right)\right)",
          "transpose"))),
    Row("the softmax Jacobian in NumPy (columns)", "attention", "S", "P * (dP - np.sum(P * dP, axis=0, keepdims=True))", {},
        (("P * (dP - np.sum(P * dP, axis=1, keepdims=True))", "axis"),)),
    Row("symprop's notes: dP", "attention", "P", r"V^\top \frac{\partial L}{\partial O}", {},
        ((r"V \frac{\partial L}{\partial O}", "transpose"),)),
    Row("symprop's notes: dQ", "attention", "Q", r"\frac{1}{\sqrt{d_k}} K \frac{\partial L}{\partial S}", {},
        ((r"K \frac{\partial L}{\partial S}", "constant_factor"), (r"\frac{1}{\sqrt{d_k}} K \frac{\partial L}{\partial S}^\top", "transpose"),
         (r"\frac{1}{d_k} K \frac{\partial L}{\partial S}", "constant_factor"))),
    Row("symprop's notes: dK", "attention", "K", r"\frac{1}{\sqrt{d_k}} Q \left(\frac{\partial L}{\partial S}\right)^\top", {},
        ((r"\frac{1}{\sqrt{d_k}} Q \frac{\partial L}{\partial S}", "transpose"),)),
    Row("symprop's notes: dV", "attention", "V", r"\frac{\partial L}{\partial O} P^\top", {},
        ((r"\frac{\partial L}{\partial O} P", "transpose"),)),
    Row("symprop's notes: dW_Q", "attention", "W_Q", r"\frac{\partial L}{\partial Q} X^\top", {},
        ((r"X \left(\frac{\partial L}{\partial Q}\right)^\top", "layout"),)),
    Row("dW_K through the scores", "attention", "W_K", r"\frac{1}{\sqrt{d_k}} Q \left(\frac{\partial L}{\partial S}\right)^\top X^\top", {},
        ((r"\frac{1}{\sqrt{d_k}} Q \frac{\partial L}{\partial S} X^\top", "transpose"),)),
    Row("symprop's notes: dW_V", "attention", "W_V", r"\frac{\partial L}{\partial V} X^\top", {},
        ((r"\frac{\partial L}{\partial V} X", "transpose"),)),
    Row("FlashAttention (Dao et al. 2022), dS = P ∘ (dP - rowsum(dP ∘ P)), rows", "attention", "S",
        "P * (dP - (P * dP).sum(axis=1, keepdims=True))", FA,
        (("P * (dP - (P * dP).sum(axis=0, keepdims=True))", "axis"),)),
    Row("FlashAttention: dV = Pᵀ dO, rows", "attention", "V", "P.T @ dO", FA, (("P @ dO", "transpose"),)),
    Row("FlashAttention: dP = dO Vᵀ, rows", "attention", "P", "dO @ V.T", FA, (("dO @ V", "transpose"),)),
    Row("FlashAttention: dQ = dS K / √d, rows", "attention", "Q", "dS @ K / sqrt(d_k)", FA,
        (("dS @ K", "constant_factor"), ("dS.T @ K / sqrt(d_k)", "transpose"))),
    Row("FlashAttention: dK = dSᵀ Q / √d, rows", "attention", "K", "dS.T @ Q / sqrt(d_k)", FA,
        (("dS @ Q / sqrt(d_k)", "transpose"),)),
    Row("a causal mask: the notes' dQ", "attention_masked", "Q1",
        r"\frac{1}{\sqrt{d_k}} K^{[1]} \left(\frac{\partial L}{\partial S^{[1]}} \odot \mathbb{1}[\mathrm{Mask} > 0]\right)", {},
        ((r"K^{[1]} \left(\frac{\partial L}{\partial S^{[1]}} \odot \mathbb{1}[\mathrm{Mask} > 0]\right)", "constant_factor"),)),
    Row("a causal mask: P is 0 where masked, so dS is too", "attention_masked", "Q1",
        r"\frac{1}{\sqrt{d_k}} K^{[1]} \frac{\partial L}{\partial S^{[1]}}", {},
        ((r"\frac{1}{\sqrt{d_k}} K^{[1]\top} \frac{\partial L}{\partial S^{[1]}}", "transpose"),)),
    Row("a softmax of each row: the Jacobian sums each row", "row_softmax", "Z",
        rf"\hat{{Y}} \odot \left({dY} - {JY} \mathbf{{1}}\mathbf{{1}}^\top\right)", {},
        ((rf"\hat{{Y}} \odot \left({dY} - \mathbf{{1}}\mathbf{{1}}^\top {JY}\right)", "softmax_axis"),)),
    # --- convolution and pooling (images as channels x pixels) --------------------------------------------------
    Row("convolution: the kernels' gradient, dK = X ⋆ δ", "cnn_max", "K1", rf"X \star {dZ1}", {},
        ((rf"{dZ1} \star X", "conv_order"), (rf"\operatorname{{rot}}_{{180}}\left(X \star {dZ1}\right)", "conv_flip"))),
    Row("convolution: the input's gradient, dX = rot180(K) ∗full δ", "cnn_max", "X",
        rf"\operatorname{{rot}}_{{180}}\left(K^{{[1]}}\right) \ast_{{\mathrm{{full}}}} {dZ1}", {},
        ((rf"K^{{[1]}} \ast_{{\mathrm{{full}}}} {dZ1}", "conv_flip"), (rf"\operatorname{{rot}}_{{180}}(K^{{[1]}}) \star {dZ1}", "conv_order"),
         (rf"{dZ1} \ast_{{\mathrm{{full}}}} \operatorname{{rot}}_{{180}}(K^{{[1]}})", "conv_order"))),
    Row("convolution: the kernels' gradient of the batch mean, a sum over the examples", "cnn_max", "K1",
        r"\frac{1}{m} \sum_{i=1}^{m} X^{(i)} \star \frac{\partial L}{\partial Z^{[1](i)}}", {},
        ((r"\frac{1}{m} \sum_{i=1}^{m} \frac{\partial L}{\partial Z^{[1](i)}} \star X^{(i)}", "conv_order"),
         (r"\sum_{i=1}^{m} X^{(i)} \star \frac{\partial L}{\partial Z^{[1](i)}}", "sum_vs_mean"))),
    Row("convolution in the terminal's text: the second layer's input", "cnn_max", "P1", "rot180(K2) ∗full ∂L/∂Z2", {},
        (("K2 ∗full ∂L/∂Z2", "conv_flip"),)),
    Row("convolution: the bias sums δ over the positions", "cnn_max", "b1", rf"{dZ1} \mathbf{{1}}", {},
        ((dZ1, "missing_sum"), (rf"\mathbf{{1}}^\top {dZ1}", "ones_axis"))),
    Row("convolution: the bias in NumPy", "cnn_max", "b2", "np.sum(dZ2, axis=1, keepdims=True)", {},
        (("np.sum(dZ2, axis=0, keepdims=True)", "axis"),)),
    Row("max pooling routes each entry to its window's arg-max", "cnn_max", "A1",
        rf"\operatorname{{route}}_{{\max}}\left({dP1}; A^{{[1]}}\right)", {},
        ((rf"\frac{{1}}{{4}} \operatorname{{up}}_{{2}}\left({dP1}\right)", "pooling"),)),
    Row("max pooling, then ReLU's derivative", "cnn_max", "Z1",
        rf"\operatorname{{route}}_{{\max}}\left({dP1}; A^{{[1]}}\right) \odot \mathbb{{1}}[Z^{{[1]}} > 0]", {},
        ((rf"\operatorname{{route}}_{{\max}}\left({dP1}; A^{{[1]}}\right)", "missing_fprime"),
         (rf"\operatorname{{up}}_{{2}}\left({dP1}\right) \odot \mathbb{{1}}[Z^{{[1]}} > 0]", "pooling"))),
    Row("flatten: vec⁻¹ of the dense layer's adjoint", "cnn_max", "P2", r"\operatorname{vec}^{-1}\left(W^{[3]\top} \delta^{[3]}\right)", {},
        ((r"\operatorname{vec}^{-1}\left(W^{[3]} \delta^{[3]}\right)", "transpose"),)),
    Row("average pooling spreads 1/k² of each entry over its window", "cnn_avg", "A1",
        rf"\frac{{1}}{{4}} \operatorname{{up}}_{{2}}\left({dP1}\right)", {},
        ((rf"\operatorname{{up}}_{{2}}\left({dP1}\right)", "pooling"),
         (rf"\operatorname{{route}}_{{\max}}\left({dP1}; A^{{[1]}}\right)", "pooling"))),
    Row("average pooling in the terminal's text", "cnn_avg", "A2", "1/4·up2(∂L/∂P2)", {}, (("up2(∂L/∂P2)", "pooling"),)),
    Row("1-D convolution: dK", "conv1d", "K", r"X \star \frac{\partial L}{\partial Z}", {},
        ((r"\frac{\partial L}{\partial Z} \star X", "conv_order"),)),
    Row("1-D convolution: dX", "conv1d", "X", r"\operatorname{rot}_{180}(K) \ast_{\mathrm{full}} \frac{\partial L}{\partial Z}", {},
        ((r"K \ast_{\mathrm{full}} \frac{\partial L}{\partial Z}", "conv_flip"),)),
    Row("1-D convolution: db", "conv1d", "b", r"\frac{\partial L}{\partial Z} \mathbf{1}", {},
        ((r"\frac{\partial L}{\partial Z}", "missing_sum"),)),
    # --- inverted dropout (the mask an input, p the probability of keeping) ---------------------------------------
    Row("CS231n dropout notes: dL/da = (Wᵀ δ / p) ⊙ M", "dropout", "a1", r"\left(\frac{1}{p} W^{[2]\top} \delta^{[2]}\right) \odot M", {},
        ((r"\frac{1}{p} W^{[2]\top} \delta^{[2]}", "dropout_mask"), (r"(W^{[2]\top} \delta^{[2]}) \odot M", "constant_factor"))),
    Row("inverted dropout in NumPy", "dropout", "a1", "(W2.T @ delta2 / p_keep) * M", {},
        (("W2.T @ delta2 * M", "constant_factor"), ("W2.T @ delta2 / p_keep", "dropout_mask"))),
    Row("dropout, then tanh's derivative", "dropout", "delta1",
        r"\left(\frac{1}{p} W^{[2]\top} \delta^{[2]}\right) \odot M \odot (1 - a^{[1]} \odot a^{[1]})", {},
        ((r"\left(\frac{1}{p} W^{[2]\top} \delta^{[2]}\right) \odot (1 - a^{[1]} \odot a^{[1]})", "dropout_mask"),
         (r"\left(\frac{1}{p} W^{[2]\top} \delta^{[2]}\right) \odot M", "missing_fprime"))),
    Row("dropout: the next layer's weights see the dropped activations", "dropout", "W2",
        r"\frac{1}{p} \delta^{[2]} (a^{[1]} \odot M)^\top", {},
        ((r"\frac{1}{p} \delta^{[2]} a^{[1]\top}", "dropout_mask"), (r"\delta^{[2]} (a^{[1]} \odot M)^\top", "constant_factor"))),
    Row("dropout on a convolution's feature maps", "dropout_cnn", "Z",
        r"\frac{1}{p} \operatorname{vec}^{-1}\left(\frac{\partial L}{\partial f}\right) \odot M \odot \mathbb{1}[Z > 0]", {},
        ((r"\frac{1}{p} \operatorname{vec}^{-1}\left(\frac{\partial L}{\partial f}\right) \odot \mathbb{1}[Z > 0]", "dropout_mask"),)),
]

KINDS = {"batch norm": ("bn",), "layer norm": ("ln", "ln_tokens"), "attention": ("attention", "attention_masked", "row_softmax"),
         "convolution and pooling": ("cnn_max", "cnn_avg", "conv1d"), "dropout": ("dropout", "dropout_cnn")}
