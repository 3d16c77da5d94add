"""Textbook backprop formulas in their sources' own notation, each with mistaken variants and the diagnosis they need.

The formulas are written here from each source's conventions (numbering,
names, layout, product symbols), not copied: Nielsen's "Neural Networks and
Deep Learning" (BP1-BP4, ch. 2; the cross-entropy cost, ch. 3), CS231n's
batch-first NumPy notes ("Putting it together: minimal neural network case
study"), d2l section 5.3 (forward, backward and the computational graph),
Goodfellow et al. Algorithm 6.4, Ng's deep learning course notation
(dZ^[l], dW^[l], g'^[l], and the planar-data NumPy code), UFLDL's
backpropagation algorithm, and the output style of matrixcalculus.org.

A row: the source (with the place in it), the network, the gradient checked,
the correct formula, the reading options (layers=, convention=, names=) and
1-3 mistaken variants, each with the diagnosis key symprop must give (and
options of its own where the mistake is the convention itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

import symprop


def _network(sizes, hidden, output, loss=None, *, quadratic=False, decay=None, bias=True, name="net"):
    """z^[l] = W^[l] a^[l-1] (+ b^[l]), a^[l] = f(z^[l]); ``quadratic``: C = 1/2 ||a - y||^2 written out;
    ``decay``: + lamda/2 sum ||W||^2 with lamda a hyper-parameter of that default."""
    x, y = sp.MatrixSymbol("x", sizes[0], 1), sp.MatrixSymbol("y", sizes[-1], 1)
    a, params, squares = x, [], 0
    for layer in range(1, len(sizes)):
        W = sp.MatrixSymbol(f"W{layer}", sizes[layer], sizes[layer - 1])
        params.append(W)
        z = W * a
        if bias:
            b = sp.MatrixSymbol(f"b{layer}", sizes[layer], 1)
            params.append(b)
            z = z + b
        squares += sp.Trace(W.T * W)
        a = (output if layer == len(sizes) - 1 else hidden)(z)
    cost = sp.Rational(1, 2) * ((a - y).T * (a - y))[0, 0] if quadratic else loss(a, y)
    hyper = {}
    if decay is not None:
        lam = sp.Symbol("lamda")
        cost, hyper = cost + lam / 2 * squares, {lam: decay}
    return symprop.Network(cost, params=params, inputs=[x], targets=[y], hyperparams=hyper, name=name)


def _logistic_regression():
    """Ng's logistic regression: z = w^T x + b with w a column (n_x, 1), a = sigma(z), the log loss."""
    x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 1, 1)
    w, b = sp.MatrixSymbol("w", 3, 1), sp.MatrixSymbol("b", 1, 1)
    return symprop.Network(symprop.binary_cross_entropy(symprop.sigmoid(w.T * x + b), y), params=[w, b], inputs=[x],
                           targets=[y], name="logistic regression")


def _least_squares(activation=None, bias=False):
    """matrixcalculus.org's examples: f = ||W x - y||^2, ||W x + b - y||^2, ||tanh(W x) - y||^2 (the norm written out)."""
    x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
    W, b = sp.MatrixSymbol("W", 2, 3), sp.MatrixSymbol("b", 2, 1)
    u = W * x + b if bias else W * x
    p = activation(u) if activation else u
    return symprop.Network((p - y).T * (p - y), params=[W, b] if bias else [W], inputs=[x], targets=[y], name="least squares")


def networks() -> dict:
    return {
        "nielsen": _network([3, 4, 2], symprop.sigmoid, symprop.sigmoid, quadratic=True, name="Nielsen ch. 2"),
        "nielsen_ce": _network([3, 4, 1], symprop.sigmoid, symprop.sigmoid, symprop.binary_cross_entropy, name="Nielsen ch. 3"),
        "cs231n": _network([4, 5, 3], symprop.relu, symprop.softmax, symprop.cross_entropy, decay=0.01, name="CS231n"),
        "cs231n_linear": _network([4, 3], None, symprop.softmax, symprop.cross_entropy, decay=0.01, name="CS231n softmax"),
        "ng": _network([3, 4, 1], symprop.tanh, symprop.sigmoid, symprop.binary_cross_entropy, name="Ng planar data"),
        "ng_logistic": _logistic_regression(),
        "d2l": _network([3, 4, 2], symprop.relu, symprop.softmax, symprop.cross_entropy, decay=0.01, bias=False, name="d2l 5.3"),
        "goodfellow": _network([3, 4, 4, 2], symprop.tanh, symprop.softmax, symprop.cross_entropy, decay=0.01,
                               name="Goodfellow Alg. 6.4"),
        "ufldl": _network([3, 4, 2], symprop.sigmoid, symprop.sigmoid, quadratic=True, name="UFLDL"),
        "ufldl_decay": None,  # filled below: the same with weight decay
        "mc_linear": _least_squares(),
        "mc_bias": _least_squares(bias=True),
        "mc_tanh": _least_squares(symprop.tanh),
    }


@dataclass(frozen=True)
class Row:
    source: str
    network: str
    target: str
    formula: str
    options: dict = field(default_factory=dict)
    mistakes: tuple = ()  # (formula, diagnosis key) or (formula, diagnosis key, options replacing the row's)


N = {"layers": "nielsen"}
U = {"layers": "ufldl"}
G = {"layers": "goodfellow"}
CS = {"convention": "rows", "names": {"hidden_layer": "A1", "dscores": "Delta2 / m", "reg": "lamda", "N": "m"}}
CS_LINEAR = {"convention": "rows", "names": {"dscores": "Delta / m", "reg": "lamda"}}
D2L = {"names": {"o": "z2", "h": "a1", "z": "z1"}}

ROWS = [
    # --- Nielsen, ch. 2: BP1-BP4 (quadratic cost, sigmoid), layers numbered from the input as 1 -------------------------
    Row("Nielsen ch. 2, BP1 (matrix form)", "nielsen", "delta2", r"\delta^L = \nabla_a C \odot \sigma'(z^L)", N,
        ((r"\nabla_a C \odot \sigma'(a^L)", "fprime_at_activation"), (r"\nabla_a C", "missing_fprime"))),
    Row("Nielsen ch. 2, BP1 with the quadratic cost (eq. 30)", "nielsen", "delta2", r"\delta^L = (a^L - y) \odot \sigma'(z^L)", N,
        ((r"(y - a^L) \odot \sigma'(z^L)", "sign"), (r"2 (a^L - y) \odot \sigma'(z^L)", "factor_2"))),
    Row("Nielsen ch. 2, BP1 (components)", "nielsen", "delta2", r"\delta^L_j = \frac{\partial C}{\partial a^L_j} \sigma'(z^L_j)", N,
        ((r"\frac{\partial C}{\partial a^L_j} \sigma'(z^{L-1}_j)", "wrong_layer"),)),
    Row("Nielsen ch. 2, the output error's gradient (eq. 30)", "nielsen", "dyhat", r"\nabla_a C = a^L - y", N,
        ((r"y - a^L", "sign"),)),
    Row("Nielsen ch. 2, BP2 (matrix form)", "nielsen", "delta1", r"\delta^l = ((w^{l+1})^T \delta^{l+1}) \odot \sigma'(z^l)", N,
        ((r"(w^{l+1} \delta^{l+1}) \odot \sigma'(z^l)", "transpose"),
         (r"((w^{l+1})^T \delta^{l+1}) \odot \sigma'(a^l)", "fprime_at_activation"))),
    Row("Nielsen ch. 2, BP2 (components)", "nielsen", "delta1", r"\delta^l_j = \sum_k w^{l+1}_{kj} \delta^{l+1}_k \sigma'(z^l_j)", N,
        ((r"\sum_k w^{l+1}_{jk} \delta^{l+1}_k \sigma'(z^l_j)", "indices"),
         (r"\sum_k w^{l+1}_{kj} \delta^{l+1}_k", "missing_fprime"))),
    Row("Nielsen ch. 2, BP3", "nielsen", "b1", r"\frac{\partial C}{\partial b^l_j} = \delta^l_j", N,
        ((r"\delta^{l+1}_j", "wrong_layer"),)),
    Row("Nielsen ch. 2, BP3 (vector form)", "nielsen", "b2", r"\frac{\partial C}{\partial b^L} = \delta^L", N,
        ((r"-\delta^L", "sign"),)),
    Row("Nielsen ch. 2, BP4 (components)", "nielsen", "W1",
        r"\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_k \delta^l_j", N,
        ((r"\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_j \delta^l_k", "indices"),
         (r"a^{1}_k \delta^{2}_j", "numbering", {}))),
    Row("Nielsen ch. 2, BP4 (matrix form, eq. 32)", "nielsen", "W1", r"\frac{\partial C}{\partial w^l} = \delta^l (a^{l-1})^T", N,
        ((r"a^{l-1} (\delta^l)^T", "layout"), (r"\delta^l (a^{l})^T", "wrong_layer"))),
    Row("Nielsen ch. 2, BP4 at the output layer", "nielsen", "W2", r"\delta^L (a^{L-1})^T", N,
        ((r"\delta^L a^{L-1}", "transpose"), (r"\delta^L (a^{L})^T", "wrong_layer"))),
    # --- Nielsen, ch. 3: the cross-entropy cost with a sigmoid output --------------------------------------------------
    Row("Nielsen ch. 3, cross-entropy: delta^L = a^L - y (eq. 66)", "nielsen_ce", "delta2", r"\delta^L = a^L - y", N,
        ((r"(a^L - y) \odot \sigma'(z^L)", "extra_fprime"),)),
    Row("Nielsen ch. 3, cross-entropy: dC/dw_jk (eq. 67)", "nielsen_ce", "W2",
        r"\frac{\partial C}{\partial w^L_{jk}} = a^{L-1}_k (a^L_j - y_j)", N,
        ((r"a^{L-1}_k (a^L_j - y_j) \sigma'(z^L_j)", "extra_fprime"),)),
    Row("Nielsen ch. 3, cross-entropy: dC/db_j (eq. 68)", "nielsen_ce", "b2", r"\frac{\partial C}{\partial b^L_j} = a^L_j - y_j", N,
        ((r"(a^L_j - y_j) \sigma'(z^L_j)", "extra_fprime"),)),
    # --- CS231n: batch-first NumPy, weights (in, out), reg * W -------------------------------------------------------
    Row("CS231n case study, dW2", "cs231n", "W2", "np.dot(hidden_layer.T, dscores) + reg * W2", CS,
        (("np.dot(hidden_layer.T, dscores)", "regularisation"), ("np.dot(hidden_layer.T, dscores) + 0.5 * reg * W2", "regularisation"),
         ("np.dot(dscores.T, hidden_layer) + reg * W2", "transpose"))),
    Row("CS231n case study, db2", "cs231n", "b2", "np.sum(dscores, axis=0, keepdims=True)", CS,
        (("np.sum(dscores, axis=1, keepdims=True)", "axis"),)),
    Row("CS231n case study, dW (through dhidden)", "cs231n", "W1",
        "np.dot(X.T, np.dot(dscores, W2.T) * (hidden_layer > 0)) + reg * W1", CS,
        (("np.dot(X.T, np.dot(dscores, W2.T)) + reg * W1", "missing_fprime"),
         ("np.dot(X.T, np.dot(dscores, W2.T) * (hidden_layer > 0))", "regularisation"),
         ("np.dot(X.T, np.dot(dscores, W2.T) * (hidden_layer > 0)) - reg * W1", "regularisation"))),
    Row("CS231n case study, db (1-D, as in the notes)", "cs231n", "b1", "np.sum(np.dot(dscores, W2.T) * (hidden_layer > 0), axis=0)", CS,
        (("np.sum(np.dot(dscores, W2.T) * (hidden_layer > 0), axis=1)", "axis"),)),
    Row("CS231n softmax classifier, dW", "cs231n_linear", "W1", "np.dot(X.T, dscores) + reg * W1", CS_LINEAR,
        (("np.dot(X.T, dscores) + 2 * reg * W1", "regularisation"), ("np.dot(X, dscores) + reg * W1", "transpose"))),
    Row("CS231n softmax classifier, db", "cs231n_linear", "b1", "np.sum(dscores, axis=0, keepdims=True)", CS_LINEAR,
        (("dscores.sum(axis=1, keepdims=True)", "axis"),)),
    # --- Ng's course: column convention, batch matrices, g'^[l] -----------------------------------------------------
    Row("Ng, dZ^[2] = A^[2] - Y", "ng", "delta2", r"dZ^{[2]} = A^{[2]} - Y", {},
        ((r"Y - A^{[2]}", "sign"), (r"(A^{[2]} - Y) * g^{[2]\prime}(Z^{[2]})", "extra_fprime"))),
    Row("Ng, dW^[2] = 1/m dZ^[2] A^[1]T", "ng", "W2", r"dW^{[2]} = \frac{1}{m} dZ^{[2]} A^{[1]T}", {},
        ((r"dZ^{[2]} A^{[1]T}", "factor_m"), (r"\frac{1}{m} dZ^{[2]} A^{[1]}", "transpose"))),
    Row("Ng, db^[2] with np.sum", "ng", "b2", r"db^{[2]} = \frac{1}{m} np.sum(dZ^{[2]}, axis=1, keepdims=True)", {},
        ((r"\frac{1}{m} np.sum(dZ^{[2]}, axis=0, keepdims=True)", "axis"),)),
    Row("Ng, dZ^[1] = W^[2]T dZ^[2] * g^[1]'(Z^[1])", "ng", "delta1", r"dZ^{[1]} = W^{[2]T} dZ^{[2]} * g^{[1]'}(Z^{[1]})", {},
        ((r"W^{[2]T} dZ^{[2]} * g^{[1]'}(A^{[1]})", "fprime_at_activation"), (r"W^{[2]} dZ^{[2]} * g^{[1]'}(Z^{[1]})", "transpose"))),
    Row("Ng, dZ^[1] with nested-superscript transposes", "ng", "delta1", r"W^{[2]^T} dZ^{[2]} * g'^{[1]}(Z^{[1]})", {},
        ((r"W^{[2]^T} dZ^{[2]}", "missing_fprime"),)),
    Row("Ng, planar data code: dZ1", "ng", "delta1", "dZ1 = np.multiply(np.dot(W2.T, dZ2), 1 - np.power(A1, 2))", {},
        (("np.multiply(np.dot(W2.T, dZ2), 1 - np.power(Z1, 2))", "fprime_at_activation"), ("np.dot(W2.T, dZ2)", "missing_fprime"))),
    Row("Ng, planar data code: dW1", "ng", "W1", "dW1 = 1 / m * np.dot(dZ1, X.T)", {},
        (("np.dot(dZ1, X.T)", "factor_m"), ("1 / m * np.dot(dZ1, A1.T)", "wrong_layer"))),
    Row("Ng, planar data code: db1", "ng", "b1", "db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)", {},
        (("1 / m * np.sum(dZ1, axis=1)", "axis"), ("np.sum(dZ1, axis=1, keepdims=True)", "factor_m"))),
    Row("Ng, dA^[1] = W^[2]T dZ^[2]", "ng", "da1", r"dA^{[1]} = W^{[2]T} dZ^{[2]}", {},
        ((r"W^{[2]} dZ^{[2]}", "transpose"),)),
    Row("Ng, dZ^[l] = dA^[l] * g^[l]'(Z^[l])", "ng", "delta1", r"dZ^{[l]} = dA^{[l]} * g^{[l]'}(Z^{[l]})", {},
        ((r"dA^{[l]} * g^{[l]'}(A^{[l]})", "fprime_at_activation"),)),
    Row("Ng, per example: dz^[2] a^[1]T", "ng", "W2", r"dz^{[2]} a^{[1]T}", {},
        ((r"dz^{[2]} a^{[1]}", "layout"),)),  # dz^[2] is 1x1: (dz a)ᵀ = dz aᵀ
    Row("Ng, the row convention: dW^[l] = 1/m A^[l-1]T dZ^[l]", "ng", "W2", r"dW^{[l]} = \frac{1}{m} A^{[l-1]T} dZ^{[l]}",
        {"convention": "rows"}, ((r"\frac{1}{m} A^{[l-1]T} dZ^{[l]}", "transpose", {}),)),
    Row("Ng, per example with dL/dz^[1]", "ng", "W1", r"\frac{\partial \mathcal{L}}{\partial z^{[1]}} x^T", {},
        ((r"x \left(\frac{\partial \mathcal{L}}{\partial z^{[1]}}\right)^T", "layout"),)),
    Row("Ng, per example: db^[1] = dL/dz^[1]", "ng", "b1", r"\partial \mathcal{L} / \partial z^{[1]}", {},
        ((r"\partial \mathcal{L} / \partial a^{[1]}", "missing_fprime"),)),
    Row("Ng, logistic regression: dz = a - y", "ng_logistic", "delta", r"dz = a - y", {}, ((r"y - a", "sign"),)),
    Row("Ng, logistic regression: dw = x dz", "ng_logistic", "w", r"dw = x \, dz", {}, ((r"x^T dz", "layout"),)),
    Row("Ng, logistic regression: db = dz", "ng_logistic", "b", r"db = dz", {},
        ((r"dz \, \sigma'(z)", "extra_fprime"),)),
    # --- d2l 5.3: one hidden layer without biases, the regularised objective J = L + s ----------------------------------
    Row("d2l 5.3, dJ/do", "d2l", "delta2", r"\frac{\partial J}{\partial \mathbf{o}} = \text{softmax}(\mathbf{o}) - \mathbf{y}", D2L,
        ((r"\mathbf{y} - \text{softmax}(\mathbf{o})", "sign"),)),
    Row("d2l 5.3, dJ/dW^(2)", "d2l", "W2",
        r"\frac{\partial J}{\partial \mathbf{W}^{(2)}} = \frac{\partial J}{\partial \mathbf{o}} \mathbf{h}^\top + \lambda \mathbf{W}^{(2)}",
        D2L, ((r"\frac{\partial J}{\partial \mathbf{o}} \mathbf{h}^\top", "regularisation"),
              (r"\frac{\partial J}{\partial \mathbf{o}} \mathbf{h}^\top + \frac{\lambda}{2} \mathbf{W}^{(2)}", "regularisation"),
              (r"\frac{\partial J}{\partial \mathbf{o}} \mathbf{h}^\top - \lambda \mathbf{W}^{(2)}", "regularisation"))),
    Row("d2l 5.3, dJ/dh", "d2l", "da1", r"\frac{\partial J}{\partial \mathbf{h}} = {\mathbf{W}^{(2)}}^\top \frac{\partial J}{\partial \mathbf{o}}",
        D2L, ((r"\mathbf{W}^{(2)} \frac{\partial J}{\partial \mathbf{o}}", "transpose"),)),
    Row("d2l 5.3, dJ/dz", "d2l", "delta1",
        r"\frac{\partial J}{\partial \mathbf{z}} = \frac{\partial J}{\partial \mathbf{h}} \odot \phi'(\mathbf{z})", D2L,
        ((r"\frac{\partial J}{\partial \mathbf{h}}^\top \odot \phi'(\mathbf{z})", "transpose"),
         (r"\frac{\partial J}{\partial \mathbf{h}}", "missing_fprime"))),
    Row("d2l 5.3, dJ/dW^(1)", "d2l", "W1",
        r"\frac{\partial J}{\partial \mathbf{W}^{(1)}} = \frac{\partial J}{\partial \mathbf{z}} \mathbf{x}^\top + \lambda \mathbf{W}^{(1)}",
        D2L, ((r"\frac{\partial J}{\partial \mathbf{z}} \mathbf{x}^\top", "regularisation"),
              (r"\frac{\partial J}{\partial \mathbf{z}} \mathbf{h}^\top + \lambda \mathbf{W}^{(1)}", "wrong_layer"))),
    # --- Goodfellow et al., Algorithm 6.4: a^(k) pre-activations, h^(k) activations, g the running gradient ---------------
    Row("Goodfellow Alg. 6.4, g <- g * f'(a^(k))", "goodfellow", "delta2",
        r"\nabla_{\boldsymbol{a}^{(k)}} J = \nabla_{\boldsymbol{h}^{(k)}} J \odot f'(\boldsymbol{a}^{(k)})", G,
        ((r"\nabla_{\boldsymbol{h}^{(k)}} J \odot f'(\boldsymbol{h}^{(k)})", "fprime_at_activation"),
         (r"\nabla_{\boldsymbol{h}^{(k)}} J", "missing_fprime"))),
    Row("Goodfellow Alg. 6.4, grad W^(k) = g h^(k-1)T + lambda grad Omega", "goodfellow", "W2",
        r"\nabla_{\boldsymbol{W}^{(k)}} J = \nabla_{\boldsymbol{a}^{(k)}} J \, \boldsymbol{h}^{(k-1)\top} + \lambda \boldsymbol{W}^{(k)}", G,
        ((r"\nabla_{\boldsymbol{a}^{(k)}} J \, \boldsymbol{h}^{(k-1)\top}", "regularisation"),
         (r"\nabla_{\boldsymbol{a}^{(k)}} J \, \boldsymbol{h}^{(k)\top} + \lambda \boldsymbol{W}^{(k)}", "wrong_layer"))),
    Row("Goodfellow Alg. 6.4, grad b^(k) = g", "goodfellow", "b2", r"\nabla_{\boldsymbol{b}^{(k)}} J = \nabla_{\boldsymbol{a}^{(k)}} J", G,
        ((r"\nabla_{\boldsymbol{h}^{(k)}} J", "missing_fprime"),)),
    Row("Goodfellow Alg. 6.4, g <- W^(k)T g", "goodfellow", "da1",
        r"\nabla_{\boldsymbol{h}^{(k)}} J = \boldsymbol{W}^{(k+1)\top} \nabla_{\boldsymbol{a}^{(k+1)}} J", G,
        ((r"\boldsymbol{W}^{(k+1)} \nabla_{\boldsymbol{a}^{(k+1)}} J", "transpose"),)),
    Row("Goodfellow Alg. 6.4, the output layer's weights", "goodfellow", "W3",
        r"\nabla_{\boldsymbol{a}^{(k)}} J \, \boldsymbol{h}^{(k-1)\top} + \lambda \boldsymbol{W}^{(k)}", G,
        ((r"\nabla_{\boldsymbol{a}^{(k)}} J \, \boldsymbol{h}^{(k-1)\top} - \lambda \boldsymbol{W}^{(k)}", "regularisation"),)),
    Row("Goodfellow Alg. 6.4, g <- grad_yhat J (cross-entropy)", "goodfellow", "dyhat",
        r"\nabla_{\hat{\boldsymbol{y}}} J = -\boldsymbol{y} / \hat{\boldsymbol{y}}", G,
        ((r"\boldsymbol{y} / \hat{\boldsymbol{y}}", "sign"),)),
    Row("Goodfellow Alg. 6.4, the first layer's biases", "goodfellow", "b1", r"\nabla_{\boldsymbol{b}^{(k)}} J = \nabla_{\boldsymbol{a}^{(k)}} J", G,
        ((r"\nabla_{\boldsymbol{a}^{(k+1)}} J", "wrong_layer"),)),
    Row("Goodfellow Alg. 6.4, the first layer's weights", "goodfellow", "W1",
        r"\nabla_{\boldsymbol{a}^{(k)}} J \, \boldsymbol{h}^{(k-1)\top} + \lambda \boldsymbol{W}^{(k)}", G,
        ((r"\nabla_{\boldsymbol{a}^{(k)}} J \, \boldsymbol{h}^{(k-1)} + \lambda \boldsymbol{W}^{(k)}", "transpose"),)),
    # --- UFLDL: the input is layer 1, W^(l) maps layer l to l+1, n_l the output layer, bullet the entrywise product -------
    Row("UFLDL backpropagation, delta^(n_l)", "ufldl", "delta2", r"\delta^{(n_l)} = -(y - a^{(n_l)}) \bullet f'(z^{(n_l)})", U,
        ((r"(y - a^{(n_l)}) \bullet f'(z^{(n_l)})", "sign"),)),
    Row("UFLDL backpropagation, delta^(l)", "ufldl", "delta1",
        r"\delta^{(l)} = \left((W^{(l)})^T \delta^{(l+1)}\right) \bullet f'(z^{(l)})", U,
        ((r"\left((W^{(l)})^T \delta^{(l+1)}\right) \bullet f'(a^{(l)})", "fprime_at_activation"),
         (r"\left(W^{(l)} \delta^{(l+1)}\right) \bullet f'(z^{(l)})", "transpose"))),
    Row("UFLDL backpropagation, delta^(l)_i (components)", "ufldl", "delta1",
        r"\delta^{(l)}_i = \left(\sum_j W^{(l)}_{ji} \delta^{(l+1)}_j\right) f'(z^{(l)}_i)", U,
        ((r"\left(\sum_j W^{(l)}_{ij} \delta^{(l+1)}_j\right) f'(z^{(l)}_i)", "indices"),)),
    Row("UFLDL backpropagation, grad W^(l) (vectorised)", "ufldl", "W1", r"\nabla_{W^{(l)}} J = \delta^{(l+1)} (a^{(l)})^T", U,
        ((r"\delta^{(l+1)} (a^{(l)})^T", "numbering", {}), (r"\delta^{(l+1)} a^{(l)}", "transpose"))),
    Row("UFLDL backpropagation, grad b^(l)", "ufldl", "b1", r"\nabla_{b^{(l)}} J = \delta^{(l+1)}", U,
        ((r"-\delta^{(l+1)}", "sign"),)),
    Row("UFLDL backpropagation, dJ/dW_ij (components)", "ufldl", "W1",
        r"\frac{\partial J}{\partial W^{(l)}_{ij}} = a^{(l)}_j \delta^{(l+1)}_i", U,
        ((r"\frac{\partial J}{\partial W^{(l)}_{ij}} = a^{(l)}_i \delta^{(l+1)}_j", "indices"),)),
    Row("UFLDL backpropagation, dJ/db_i (components)", "ufldl", "b2", r"\frac{\partial J}{\partial b^{(l)}_i} = \delta^{(l+1)}_i", U,
        ((r"\delta^{(l)}_i", "wrong_layer"),)),
    Row("UFLDL, grad W^(l) with weight decay", "ufldl_decay", "W2", r"\delta^{(l+1)} (a^{(l)})^T + \lambda W^{(l)}", U,
        ((r"\delta^{(l+1)} (a^{(l)})^T", "regularisation"), (r"(a^{(l)})^T \delta^{(l+1)} + \lambda W^{(l)}", "transpose"))),
    # --- matrixcalculus.org: its output style (⋅ products, ⊙, ^⊤) -----------------------------------------------------
    Row("matrixcalculus.org, d/dW ||W x - y||^2", "mc_linear", "W", "2⋅(W⋅x−y)⋅x^⊤", {},
        (("2⋅(W⋅x−y)^⊤⋅x", "transpose"), ("(W⋅x−y)⋅x^⊤", "factor_2"))),
    Row("matrixcalculus.org, d/dx ||W x - y||^2", "mc_linear", "x", "2⋅W^⊤⋅(W⋅x−y)", {},
        (("2⋅W⋅(W⋅x−y)", "transpose"), ("2⋅W^⊤⋅(y−W⋅x)", "sign"))),
    Row("matrixcalculus.org, d/db ||W x + b - y||^2", "mc_bias", "b", "2⋅(W⋅x+b−y)", {},
        (("W⋅x+b−y", "factor_2"),)),
    Row("matrixcalculus.org, d/dW ||W x + b - y||^2", "mc_bias", "W", "2⋅(W⋅x+b−y)⋅x^⊤", {},
        (("2⋅x⋅(W⋅x+b−y)^⊤", "layout"),)),
    Row("matrixcalculus.org, d/dW ||tanh(W x) - y||^2", "mc_tanh", "W", "2⋅((tanh(W⋅x)−y)⊙(1−tanh(W⋅x)⊙tanh(W⋅x)))⋅x^⊤", {},
        (("2⋅((tanh(W⋅x)−y)⊙(1−tanh(W⋅x)⊙tanh(W⋅x)))⋅x", "transpose"), ("2⋅(tanh(W⋅x)−y)⋅x^⊤", "missing_fprime"))),
    Row("matrixcalculus.org, d/dW ||tanh(W x) - y||^2 with its names", "mc_tanh", "W", "2⋅((ŷ−y)⊙(1−ŷ⊙ŷ))⋅x^⊤", {},
        (("2⋅((ŷ−y)⊙(1−z⊙z))⋅x^⊤", "fprime_at_activation"),)),
    Row("matrixcalculus.org, d/dx ||tanh(W x) - y||^2", "mc_tanh", "x", "2⋅W^⊤⋅((tanh(W⋅x)−y)⊙(1−tanh(W⋅x)⊙tanh(W⋅x)))", {},
        (("2⋅W^⊤⋅(tanh(W⋅x)−y)", "missing_fprime"),)),
]


def all_networks() -> dict:
    nets = networks()
    nets["ufldl_decay"] = _network([3, 4, 2], symprop.sigmoid, symprop.sigmoid, quadratic=True, decay=0.01, name="UFLDL decay")
    return nets


def cases(rows=None):
    """(row, formula, options, expected diagnosis or None for right), every formula of the table (or of ``rows``)."""
    for row in ROWS if rows is None else rows:
        yield row, row.formula, row.options, None
        for mistake in row.mistakes:
            formula, key = mistake[:2]
            options = mistake[2] if len(mistake) > 2 else row.options
            yield row, formula, options, key


def judge(nets, row, formula, options, expected) -> tuple:
    """(right verdict, right diagnosis) of one case; diagnosis is True for right formulas."""
    result = symprop.check_gradient(nets[row.network], row.target, formula, **options)
    if expected is None:
        return result.ok, result.ok, result
    key = result.diagnosis.key if result.diagnosis else None
    return not result.ok, key == expected, result
