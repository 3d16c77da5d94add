"""The notations of real notes and code: each read into the same formula tree (issue 13's list)."""

import pytest
import sympy as sp

import symprop
from symprop import examples
from symprop import formula as fm
from symprop.errors import FormulaError
from textbook_formulas import all_networks

NETS = all_networks()
TWO_LAYER = examples.two_layer()


def read(net, source, target="W1", **options):
    from symprop.verify.formulas import _convention
    from symprop.verify.sampling import _derivation, _target

    d = _derivation(net)
    t = _target(d, target)
    conv = _convention(d, t, options.get("layers"), options.get("convention") == "rows", options.get("names"))
    return fm.parse(source, fm.namespace(d, t.exclude, conv)).text


# (network, target, source, how it is read, options)
READINGS = [
    ("ng", "W1", r"dZ^{[1]} A^{[0]^T}", "Delta1 Xᵀ", {}),
    ("ng", "W2", r"dZ^{[2]} A^{[1]^{T}}", "Delta2 A1ᵀ", {}),
    ("ng", "W2", r"\delta^{[2]} a^{[1]T}", "delta2 a1ᵀ", {}),
    ("ng", "delta1", r"g'^{[1]}(Z^{[1]})", "tanh'(Z1)", {}),
    ("ng", "delta1", r"g^{[1]\prime}(z^{[1]})", "tanh'(z1)", {}),
    ("ng", "delta1", r"g'(z^{[1]})", "tanh'(z1)", {}),
    ("ng", "b1", "np.sum(dZ1, axis=1, keepdims=True)", "np.sum(Delta1, axis=1, keepdims=True)", {}),
    ("ng", "b1", "dZ1.sum(axis=1, keepdims=True) / m", "np.sum(Delta1, axis=1, keepdims=True) / m", {}),
    ("ng", "W1", "np.dot(dZ1, X.T)", "Delta1 @ Xᵀ", {}),
    ("ng", "W1", "dZ1.dot(X.T)", "Delta1 @ Xᵀ", {}),
    ("ng", "delta1", "np.multiply(np.dot(W2.T, dZ2), 1 - np.power(A1, 2))", "(W2ᵀ @ Delta2) * (1 - A1^2)", {}),
    ("ng", "W1", "np.outer(dz1, x)", "np.outer(delta1, x)", {}),
    ("ng", "W1", r"\frac{\partial L}{\partial z^{[1]}} x^T", "delta1 xᵀ", {}),
    ("ng", "W1", r"\partial \mathcal{L} / \partial z^{[1]} \, x^\top", "delta1 xᵀ", {}),
    ("ng", "W1", "dL/dz1 @ x.T", "delta1 @ xᵀ", {}),
    ("nielsen", "delta2", r"\nabla_a C", "dyhat", {}),
    ("nielsen", "delta1", r"\nabla_{a^{2}} C", "da1", {"layers": "nielsen"}),
    ("d2l", "W1", r"\lambda \mathbf{W}^{(1)}", "lamda W1", {}),
    ("nielsen", "W1", r"\delta_j^{l} a_k^{l-1}", "delta1[j] x[k]", {"layers": "nielsen"}),
    ("nielsen", "delta1", r"\sum_k w^{l+1}_{kj} \delta^{l+1}_k", "sum_k(W2[k,j] delta2[k])", {"layers": "nielsen"}),
    ("nielsen", "W2", r"\delta^L (a^{L-1})^T", "delta2 a1ᵀ", {"layers": "nielsen"}),
    ("ufldl", "W1", r"\delta^{(l+1)} (a^{(l)})^T", "delta1 xᵀ", {"layers": "ufldl"}),
    ("ufldl", "delta2", r"f'(z^{(n_l)})", "sigmoid'(z2)", {"layers": "ufldl"}),
    ("goodfellow", "W2", r"\nabla_{a^{(k)}} J \, h^{(k-1)\top}", "delta2 a1ᵀ", {"layers": "goodfellow"}),
    ("cs231n", "W2", "hidden_layer.T @ dscores", "A1ᵀ @ (Delta2 / m)", {"names": {"hidden_layer": "A1", "dscores": "Delta2 / m"}}),
    ("ng", "W1", "dW1 = 1/m * np.dot(dZ1, X.T)", "(1 / m) * (Delta1 @ Xᵀ)", {}),
    ("mc_linear", "W", "2⋅(W⋅x−y)⋅x^⊤", "2 (W x - y) xᵀ", {}),
]


@pytest.mark.parametrize("network, target, source, reading, options", READINGS, ids=[r[2][:40] for r in READINGS])
def test_notation_is_read(network, target, source, reading, options):
    assert read(NETS[network], source, target, **options) == reading


def test_there_is_no_delta3():
    with pytest.raises(FormulaError) as info:
        symprop.check_gradient(TWO_LAYER, "W1", r"\delta^{3} x^T")
    message = str(info.value)
    assert message.startswith("there is no delta3: this network's deltas are delta1, delta2")
    assert "layers='nielsen'" in message and "unknown name" not in message
    with pytest.raises(FormulaError, match="there is no W3"):
        symprop.check_gradient(TWO_LAYER, "W1", r"W^{[3]}")
    # in Nielsen's numbering delta^3 is the output's: delta2
    assert symprop.check_gradient(TWO_LAYER, "W2", r"\delta^{3} (a^{2})^T", layers="nielsen").ok


def test_layer_variables_and_bad_numberings():
    assert symprop.check_gradient(NETS["nielsen"], "W1", r"\delta^l (a^{l-1})^T", layers="nielsen").ok
    assert symprop.check_gradient(NETS["nielsen"], "W1", r"\delta^l (a^{l-1})^T", layers=-1).ok
    with pytest.raises(FormulaError, match="unknown layer numbering"):
        symprop.check_gradient(NETS["nielsen"], "W1", r"\delta^1 x^T", layers="bishop")
    with pytest.raises(FormulaError, match="there is no W0"):  # dL/dx: l is the input's layer, 0
        symprop.check_gradient(NETS["nielsen"], "x", r"W^{[l]T} \delta^{[l]}")


def test_components_state_the_meaning_of_their_indices():
    result = symprop.check_gradient(NETS["nielsen"], "W1", r"\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_k \delta^l_j",
                                    layers="nielsen")
    assert result.ok
    assert any("j runs over the rows of dL/dW1, k over its columns" in n for n in result.notes)
    assert any("nielsen numbering" in n and "l = 2" in n for n in result.notes)


def test_row_convention_is_judged_as_written_and_suggested():
    net = NETS["cs231n"]
    names = {"hidden_layer": "A1", "dscores": "Delta2 / m", "reg": "lamda"}
    formula = "np.dot(hidden_layer.T, dscores) + reg * W2"
    assert symprop.check_gradient(net, "W2", formula, convention="rows", names=names).ok
    columns = symprop.check_gradient(net, "W2", formula, names=names)
    assert not columns.ok
    assert any("convention='rows'" in n for n in columns.notes), str(columns)
    with pytest.raises(FormulaError, match="convention must be"):
        symprop.check_gradient(net, "W2", formula, convention="batch-first")


def test_hyperparameters_given_at_check_time():
    net = NETS["d2l"]
    formula = r"\frac{\partial J}{\partial \mathbf{o}} \mathbf{h}^\top + 0.01 \mathbf{W}^{(2)}"
    names = {"o": "z2", "h": "a1"}
    assert not symprop.check_gradient(net, "W2", formula, names=names).ok  # lamda drawn at random
    assert symprop.check_gradient(net, "W2", formula, names=names, hyperparams={"lamda": 0.01}).ok
    with pytest.raises(FormulaError, match="does not declare"):
        symprop.check_gradient(net, "W2", formula, names=names, hyperparams={"mu": 1})


def test_names_and_equations_are_checked():
    with pytest.raises(FormulaError, match="unknown name"):
        symprop.check_gradient(TWO_LAYER, "W1", "delta1 @ x.T", names={"dh": "q1 + 2"})
    with pytest.raises(FormulaError, match="only one '='"):
        symprop.check_gradient(TWO_LAYER, "W1", "dW1 = delta1 @ x.T = 0")
    with pytest.raises(FormulaError, match="both sides"):
        symprop.check_gradient(TWO_LAYER, "W1", "dW1 =")
    result = symprop.check_gradient(TWO_LAYER, "W1", "dW1 = delta1 @ x.T")
    assert result.ok and any("left-hand side dW1 is taken as dL/dW1" in n for n in result.notes)


def test_numpy_calls_refuse_what_they_do_not_know():
    for source, words in [("np.linalg.inv(W1)", "np.linalg"), ("np.sum(dZ1, axis=2)", "two axes"),
                          ("np.maximum(z1, a1)", "np.maximum(0, z)"), ("np.dot(W1)", "takes 2 arguments"),
                          ("W1.reshape(3, 4)", ".reshape")]:
        with pytest.raises(FormulaError, match=words.replace("(", "\\(").replace(")", "\\)").replace(".", "\\.")):
            symprop.check_gradient(TWO_LAYER, "W1", source)


def test_a_sympy_weight_decay_term_reads_with_its_coefficient():
    lam = sp.Symbol("lamda")
    W1 = sp.MatrixSymbol("W1", 5, 4)
    tree = fm.from_sympy(lam * W1, fm.namespace(NETS["cs231n"].derive()))
    assert fm.text(tree) == "lamda W1"


def test_e_to_a_power_is_the_exponential():
    """e^{-z} as textbooks write the sigmoid's derivative; a wrong sign is caught, not misread."""
    w, x, y, b = sp.symbols("w x y b")
    net = symprop.Network(symprop.mse(symprop.sigmoid(w * x + b), y), params=[w, b], inputs=[x], targets=[y])
    for right in (r"2 (\hat{y} - y) \frac{e^{-z}}{(1 + e^{-z})^2}", "2 (yhat - y) e^-z / (1 + e^-z)^2",
                  "2 (yhat - y) e^(-z) / (1 + e^(-z))^2"):
        assert symprop.check_gradient(net, "z", right).ok, right
    assert not symprop.check_gradient(net, "z", r"2 (\hat{y} - y) \frac{e^{z}}{(1 + e^{-z})^2}").ok
    # a network's own e1 is e^{[1]}, not exp([1])
    e1 = sp.Symbol("e1")
    scaled = symprop.Network(symprop.mse(e1 * w * x, y), params=[e1, w], inputs=[x], targets=[y])
    assert symprop.check_gradient(scaled, "w", r"2 (\hat{y} - y) e^{[1]} x").ok
    assert symprop.check_gradient(scaled, "w", r"2 (\hat{y} - y) e^{[1]} x e^{0}").ok


def test_a_custom_activation_printed_with_exponentials_reads_back():
    """mish's derivative prints e^{Z} inside tanh(log(1 + e^{Z})) (8 nested brackets), and its SymPy form holds
    SymPy's own tanh: both read as the derived formula."""
    from symprop.printing import latex

    t = sp.Symbol("t")
    mish = symprop.activation("mish", sp.Lambda(t, t * sp.tanh(sp.log(1 + sp.exp(t)))))
    x, y = sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("y", 2, 1)
    W1, W2 = sp.MatrixSymbol("W1", 3, 2), sp.MatrixSymbol("W2", 2, 3)
    net = symprop.Network(symprop.mse(W2 * mish(W1 * x), y), params=[W1, W2], inputs=[x], targets=[y])
    step = next(s for s in net.derive().steps if s.name == "delta")  # one hidden layer: z, a, delta
    assert r"e^{z}" in latex(step.expr)
    for written in (latex(step.expr), step.expr):
        assert symprop.check_gradient(net, "delta", written).ok
