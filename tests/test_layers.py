"""Batch norm, layer norm, softmax along an axis and attention, end to end.

Every network of ``layer_nets.table()`` is checked three ways against torch
autograd in float64 (batch norm and layer norm by torch's own
``F.batch_norm``/``F.layer_norm``, see torch_oracle.py): the derivation's own
numbers (``Derivation.evaluate``), the emitted NumPy module, and the closed
form of the normalisation backward against the node-by-node chain rule.
"""

import importlib.util
import re

import numpy as np
import pytest
import sympy as sp

import symprop
from symprop import printing
from tests import layer_nets
from tests.torch_oracle import TorchOracle

NETS = layer_nets.table()
DERIVED: dict = {}


def derived(name):
    if name not in DERIVED:
        DERIVED[name] = NETS[name].derive()
    return DERIVED[name]


def module(name, tmp_path):
    path = tmp_path / f"{name}.py"
    path.write_text(derived(name).numpy())
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def relative_error(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)) if a.size else 0.0


def assert_close(got: dict, want: dict, what: str, tol=1e-8):
    for name, value in want.items():
        err = relative_error(got[name], value)
        # a gradient that is zero in exact arithmetic (the bias before batch norm) is compared absolutely
        if np.abs(value).max() < 1e-12:
            err = float(np.abs(np.asarray(got[name])).max())
        assert err < tol, f"{what}: dL/d{name} relative error {err:.2e}"


@pytest.mark.parametrize("name", sorted(NETS))
def test_evaluate_matches_torch(name, torch):
    net = NETS[name]
    rng = np.random.default_rng(sorted(NETS).index(name))
    params, data = layer_nets.params_for(net, rng), layer_nets.data_for(net, 6, rng)
    want_loss, want = TorchOracle(torch, net).loss_and_gradients(params, data)
    got = layer_nets.evaluate_batch(derived(name), params, data)
    assert abs(got["L"] - want_loss) <= 1e-10 * max(1.0, abs(want_loss))
    assert_close(got, want, f"{name} evaluate")


@pytest.mark.parametrize("name", sorted(NETS))
def test_emitted_module_matches_torch(name, torch, tmp_path):
    net = NETS[name]
    rng = np.random.default_rng(100 + sorted(NETS).index(name))
    params, data = layer_nets.params_for(net, rng), layer_nets.data_for(net, 7, rng)
    want_loss, want = TorchOracle(torch, net).loss_and_gradients(params, data)
    mod = module(name, tmp_path)
    loss, grads = mod.gradients(params, **data)
    assert abs(float(loss) - want_loss) <= 1e-10 * max(1.0, abs(want_loss))
    assert_close(grads, want, f"{name} emitted")
    assert set(grads) == {p.name for p in net.params}
    for p in net.params:
        assert grads[p.name].shape == tuple(int(d) for d in p.shape)


@pytest.mark.parametrize("name", sorted(NETS))
def test_float32_stays_float32(name, tmp_path):
    """No float64 scalar sneaks in (NumPy 2: np.sqrt(64.0) * a float32 array is float64, and a float32 @ float64
    product leaves BLAS): the attention scale 1/sqrt(d_k) is printed as a Python float."""
    net = NETS[name]
    rng = np.random.default_rng(7)
    params, data = layer_nets.params_for(net, rng), layer_nets.data_for(net, 3, rng)
    params = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
    data = {k: np.asarray(v, dtype=np.float32) if np.asarray(v).dtype.kind == "f" else v for k, v in data.items()}
    loss, grads = module(name, tmp_path).gradients(params, **data)
    assert np.asarray(loss).dtype == np.float32
    assert {name: np.asarray(g).dtype for name, g in grads.items() if np.asarray(g).dtype != np.float32} == {}


NORMALISED = [n for n in sorted(NETS) if n.startswith(("bn", "ln", "transformer"))]


@pytest.mark.parametrize("name", NORMALISED)
def test_closed_form_equals_the_node_by_node_chain_rule(name):
    net = NETS[name]
    d, nodes = derived(name), net.derive(closed_forms=False)
    closed = [s for s in d.steps if s.forms and "collect the three paths" in s.forms[-1].reason]
    assert closed, "the normalisation's input adjoint has its closed form"
    rng = np.random.default_rng(7)
    params, data = layer_nets.params_for(net, rng), layer_nets.data_for(net, 5, rng)
    a = layer_nets.evaluate_batch(d, params, data)
    b = layer_nets.evaluate_batch(nodes, params, data)
    assert_close(a, b, f"{name} closed form", tol=1e-10)


def test_batch_norm_backward_reads_as_the_textbook_closed_form():
    d = derived("bn_mlp")
    step = d.step("dZ1")
    text = printing.text(step.expr)
    # 1/m (1 ⊘ σ) ⊙ (m dẐ - dẐ 1 1ᵀ - Ẑ ⊙ ((dẐ ⊙ Ẑ) 1 1ᵀ)): no entries, the sums as products with ones
    zhat = "Z\u0302" + "1"  # Ẑ1 as the text printer writes it (Z and a combining hat)
    assert text.startswith(f"1/m·((𝟏 ⊘ σ1) 𝟏) ⊙ (m·∂L/∂{zhat}"), text
    assert f"{zhat} ⊙ ((∂L/∂{zhat} ⊙ {zhat}) 𝟏 𝟏)" in text
    first = step.forms[0].expr  # the chain rule: through Z_c and mu
    assert {s.name for s in first.free_symbols} >= {"dZ_c1", "dmu1"}
    # the intermediate adjoints are shown but no gradient needs them any more
    for name in ("dmu1", "dvar1", "dsigma1", "dZ_c1"):
        assert not d.step(name).needed


ENTRY = re.compile(r"\[\s*\d+\s*,\s*\d+\s*\]|\bMatrix\(|ImmutableDenseMatrix|MatrixElement|Trace\(")


@pytest.mark.parametrize("name", ["bn_mlp", "ln_column", "ln_sequence", "attention_masked", "transformer_block"])
def test_printed_backward_has_no_matrix_entries(name):
    d = derived(name)
    for s in d.steps:
        for printed in (printing.text(s.expr), printing.latex(s.expr), sp.srepr(s.expr)):
            assert not ENTRY.search(printed), f"{s.name}: {printed}"
    assert not ENTRY.search(d.latex())


def test_attention_backward_goes_through_scores_and_probabilities():
    d = derived("attention_masked")
    names = [s.name for s in d.steps]
    for name in ("Q1", "K1", "V1", "S1", "P1", "O1", "dP1", "dS1", "dQ1", "dK1", "dV1"):
        assert name in names
    ds = printing.text(d.step("dS1").expr)
    assert ds == "P1 ⊙ (∂L/∂P1 - 𝟏 𝟏 (P1 ⊙ ∂L/∂P1))", ds  # dS = P ⊙ (dP - 1 1ᵀ (P ⊙ dP))
    assert "Mask" in printing.text(d.step("dQ1").expr)  # the mask passes the adjoint where it is 1


def test_batch_size_symbolic_or_numeric_gives_the_same_numbers():
    symbolic, numeric = layer_nets.bn_mlp(), layer_nets.bn_mlp(batch=6)
    rng = np.random.default_rng(3)
    params, data = layer_nets.params_for(symbolic, rng), layer_nets.data_for(numeric, 6, rng)
    a = layer_nets.evaluate_batch(symbolic.derive(), params, data)
    b = layer_nets.evaluate_batch(numeric.derive(), params, data)
    assert_close(a, b, "symbolic m vs m = 6", tol=1e-12)


def test_attention_matches_torch_scaled_dot_product_attention(torch):
    """The head against torch's own fused attention (row layout: our columns are its rows)."""
    net = NETS["attention_masked"]
    rng = np.random.default_rng(11)
    params, data = layer_nets.params_for(net, rng), layer_nets.data_for(net, 4, rng)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    X = torch.tensor(data["X"]).transpose(1, 2)  # (m, T, d)
    q, k, v = X @ tp["W_Q"].T, X @ tp["W_K"].T, X @ tp["W_V"].T
    allowed = torch.tensor(data["Mask"]).transpose(1, 2) > 0  # row layout: query by key
    o = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    logits = o @ tp["W_o"].T  # (m, T, classes)
    Y = torch.tensor(data["Y"]).transpose(1, 2)
    loss = -(Y * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean(dim=-1).mean()
    loss.backward()
    got = layer_nets.evaluate_batch(derived("attention_masked"), params, data)
    assert abs(got["L"] - loss.item()) < 1e-10
    assert_close(got, {k: t.grad.numpy() for k, t in tp.items()}, "attention vs torch sdpa")


BAD = {
    "batch norm of one example": (
        lambda: symprop.batch_norm(sp.MatrixSymbol("z", 4, 1)), symprop.ShapeError, ["single column", "batch=m"]),
    "layer norm of one feature": (
        lambda: symprop.layer_norm(sp.MatrixSymbol("Z", 1, 5)), symprop.ShapeError, ["one row"]),
    "mean over one entry": (
        lambda: symprop.mean(sp.MatrixSymbol("Z", 3, 1), axis=1), symprop.ShapeError, ["single entry"]),
    "gamma of the wrong shape": (
        lambda: symprop.batch_norm(sp.MatrixSymbol("Z", 4, 6), sp.MatrixSymbol("g", 1, 4)), symprop.ShapeError, ["gamma", "4x1"]),
    "mask of the wrong shape": (
        lambda: symprop.attention(sp.MatrixSymbol("X", 4, 5), *[sp.MatrixSymbol(n, 3, 4) for n in ("A", "B", "C")],
                                  mask=sp.MatrixSymbol("Mask", 4, 4)), symprop.ShapeError, ["'Mask'", "(4, 4)", "5x5"]),
    "mask that is not an input": (
        lambda: symprop.attention(sp.MatrixSymbol("X", 4, 5), *[sp.MatrixSymbol(n, 3, 4) for n in ("A", "B", "C")],
                                  mask=2 * sp.MatrixSymbol("Mask", 5, 5)), symprop.DeclarationError, ["mask", "input"]),
    "attention weights that do not fit": (
        lambda: symprop.attention(sp.MatrixSymbol("X", 4, 5), sp.MatrixSymbol("A", 3, 2), sp.MatrixSymbol("B", 3, 4),
                                  sp.MatrixSymbol("C", 3, 4)), symprop.ShapeError, ["W_Q", "4 columns"]),
    "softmax along a bad axis": (lambda: symprop.softmax(sp.MatrixSymbol("Z", 3, 4), axis=2), symprop.ShapeError, ["axis"]),
    "batch network with a column input": (
        lambda: symprop.Network(symprop.mse(sp.MatrixSymbol("W", 2, 3) * sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)),
                                params=[sp.MatrixSymbol("W", 2, 3)], inputs=[sp.MatrixSymbol("x", 3, 1)],
                                targets=[sp.MatrixSymbol("y", 2, 1)], batch=layer_nets.M),
        symprop.ShapeError, ["'x'", "(3, 1)", "batch of m"]),
    "batch size that is not an integer symbol": (
        lambda: layer_nets.bn_mlp(batch=sp.Symbol("m")), symprop.DeclarationError, ["integer", "positive"]),
    "batch of one": (
        lambda: symprop.Network(symprop.mse(sp.MatrixSymbol("W", 2, 3) * sp.MatrixSymbol("X", 3, 1), sp.MatrixSymbol("Y", 2, 1)),
                                params=[sp.MatrixSymbol("W", 2, 3)], inputs=[sp.MatrixSymbol("X", 3, 1)],
                                targets=[sp.MatrixSymbol("Y", 2, 1)], batch=1),
        symprop.ShapeError, ["at least two"]),
    "symbolic dimension without batch=": (
        lambda: symprop.Network(symprop.mse(sp.MatrixSymbol("W", 2, 3) * sp.MatrixSymbol("X", 3, layer_nets.M),
                                            sp.MatrixSymbol("Y", 2, layer_nets.M)), params=[sp.MatrixSymbol("W", 2, 3)],
                                inputs=[sp.MatrixSymbol("X", 3, layer_nets.M)], targets=[sp.MatrixSymbol("Y", 2, layer_nets.M)]),
        symprop.ShapeError, ["'X'", "batch=m"]),
    "kernel larger than the image": (
        lambda: symprop.conv2d(symprop.image("X", 1, 3, 3), symprop.kernel("K", 2, 1, 5)), symprop.ShapeError,
        ["kernel (5x5)", "larger"]),
    "stride that does not fit": (
        lambda: symprop.conv2d(symprop.image("X", 1, 6, 6), symprop.kernel("K", 2, 1, 3), stride=2), symprop.ShapeError,
        ["stride 2", "6 + 2x0 - 3", "multiple of 2"]),
    "same padding with an even kernel": (
        lambda: symprop.conv2d(symprop.image("X", 1, 6, 6), symprop.kernel("K", 2, 1, 2), padding="same"), symprop.ShapeError,
        ["same", "odd"]),
    "kernel channels that do not match": (
        lambda: symprop.conv2d(symprop.image("X", 3, 6, 6), symprop.kernel("K", 2, 1, 3)), symprop.ShapeError,
        ["'K'", "1 input channels", "has 3"]),
    "kernel declared as a plain matrix": (
        lambda: symprop.conv2d(symprop.image("X", 1, 6, 6), sp.MatrixSymbol("K", 2, 9)), symprop.ShapeError, ["symprop.kernel"]),
    "pool windows that do not tile": (
        lambda: symprop.max_pool2d(symprop.image("X", 1, 5, 5), 2), symprop.ShapeError, ["windows of 2", "5"]),
    "dropout mask of the wrong shape": (
        lambda: symprop.dropout(sp.MatrixSymbol("a", 4, 1), sp.MatrixSymbol("M", 3, 1), 0.5), symprop.ShapeError,
        ["'M'", "(3, 1)", "4x1"]),
    "dropout keep probability out of range": (
        lambda: symprop.dropout(sp.MatrixSymbol("a", 4, 1), sp.MatrixSymbol("M", 4, 1), 1.5), symprop.DeclarationError,
        ["(0, 1]"]),
    "bad epsilon": (lambda: symprop.batch_norm(sp.MatrixSymbol("Z", 4, 6), epsilon=-1), symprop.DeclarationError, ["epsilon"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_declarations_name_the_problem(case):
    build, error, words = BAD[case]
    with pytest.raises(error) as info:
        build()
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
