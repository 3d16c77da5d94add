"""Recurrence through time: the BPTT equations, their numbers, their notation and their code.

Oracles: PyTorch's own nn.RNN, nn.GRUCell and nn.LSTM (float64 autograd), a
torch unrolling of any declared cell (tests/torch_oracle.py), and central
differences of the network's own loss.
"""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest
import sympy as sp

import symprop
from symprop import examples, ops
from symprop.errors import DeclarationError, EvaluationError, InvalidNameError, ShapeError
from symprop.recurrent import RecurrentNetwork

from tests.torch_oracle import RecurrentTorchOracle, torch_builtin_recurrent

RTOL = 1e-8
BUILDERS = {"rnn": symprop.rnn, "gru": symprop.gru, "lstm": symprop.lstm}
LOSSES = {"mse": symprop.mse, "cross_entropy": symprop.cross_entropy, "binary_cross_entropy": symprop.binary_cross_entropy}

# (builder, loss, loss_at, seed): sizes and T are drawn from the seed
CASES = [
    ("rnn", "mse", "every", 0), ("rnn", "cross_entropy", "every", 1), ("rnn", "mse", "last", 2),
    ("rnn", "binary_cross_entropy", "last", 3), ("gru", "mse", "every", 4), ("gru", "cross_entropy", "last", 5),
    ("lstm", "cross_entropy", "every", 6), ("lstm", "mse", "last", 7),
]


def draw(kind, loss, loss_at, seed):
    rng = np.random.default_rng(seed)
    nx, nh, ny = (int(v) for v in rng.integers(1, 5, 3))
    ny = max(ny, 2) if loss == "cross_entropy" else ny
    T, m = int(rng.integers(1, 8)), int(rng.integers(1, 5))
    net = BUILDERS[kind](nx, nh, ny, T=T, loss=LOSSES[loss], loss_at=loss_at)
    params = {p.name: rng.standard_normal(tuple(int(k) for k in p.shape)) * 0.6 for p in net.params}
    x = rng.standard_normal((m, T, nx))
    shape = (m, T, ny) if loss_at == "every" else (m, ny)
    if loss == "cross_entropy":
        y = np.eye(ny)[rng.integers(0, ny, shape[:-1])]
    else:
        y = rng.random(shape)
    return net, params, {"x": x, "y": y}


def rel_err(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def load_module(source, tmp_path, name="generated_rnn"):
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ==========================================================================
# gradients against torch
# ==========================================================================


@pytest.mark.parametrize("kind, loss, loss_at, seed", CASES)
def test_derived_and_emitted_gradients_match_torch_modules(torch, kind, loss, loss_at, seed, tmp_path):
    net, params, data = draw(kind, loss, loss_at, seed)
    d = net.derive()
    expected_loss, expected = torch_builtin_recurrent(torch, kind, params, data["x"], data["y"], loss_at, loss)
    value, grads = d.loss_and_gradients(params, data)
    assert abs(value - expected_loss) <= RTOL * abs(expected_loss)
    module = load_module(d.numpy(), tmp_path)
    emitted_loss, emitted = module.gradients(params, data["x"], data["y"])
    assert abs(emitted_loss - expected_loss) <= RTOL * abs(expected_loss)
    assert abs(module.loss(params, data["x"], data["y"]) - expected_loss) <= RTOL * abs(expected_loss)
    for name in expected:
        assert grads[name].shape == params[name].shape and emitted[name].shape == params[name].shape
        assert rel_err(grads[name], expected[name]) < RTOL, (name, "derived")
        assert rel_err(emitted[name], expected[name]) < RTOL, (name, "emitted")


def test_relu_rnn_matches_torch(torch, tmp_path):
    rng = np.random.default_rng(11)
    net = symprop.rnn(3, 4, 2, T=5, activation=symprop.relu)
    params = {p.name: rng.standard_normal(tuple(int(k) for k in p.shape)) * 0.5 for p in net.params}
    data = {"x": rng.standard_normal((3, 5, 3)), "y": rng.standard_normal((3, 5, 2))}
    _, expected = torch_builtin_recurrent(torch, "rnn", params, data["x"], data["y"], "every", "mse", activation="relu")
    _, emitted = load_module(net.derive().numpy(), tmp_path).gradients(params, data["x"], data["y"])
    for name in expected:
        assert rel_err(emitted[name], expected[name]) < RTOL, name


def two_state_cell(T=4, loss_at="every"):
    """A cell of my own: two states that feed each other, a ReLU, the loss on a state directly."""
    x, y = sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("y", 3, 1)
    h, s = sp.MatrixSymbol("h", 3, 1), sp.MatrixSymbol("s", 3, 1)
    A, B, C = sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("B", 3, 2), sp.MatrixSymbol("C", 3, 3)
    g = sp.MatrixSymbol("g", 3, 1)
    h_next = ops.tanh(A * h + B * x + sp.HadamardProduct(s, g))
    s_next = ops.relu(C * h_next) + sp.HadamardProduct(s, g)
    return RecurrentNetwork(symprop.mse(h_next, y), {h: h_next, s: s_next}, [A, B, C, g], [x], [y], T=T, loss_at=loss_at)


@pytest.mark.parametrize("loss_at", ["every", "last"])
def test_a_cell_of_my_own_matches_the_torch_unrolling_of_its_declaration(torch, loss_at, tmp_path):
    net = two_state_cell(loss_at=loss_at)
    rng = np.random.default_rng(3)
    params = {p.name: rng.standard_normal(tuple(int(k) for k in p.shape)) * 0.5 for p in net.params}
    data = {"x": rng.standard_normal((3, 4, 2)), "y": rng.standard_normal((3, 4, 3) if loss_at == "every" else (3, 3))}
    expected_loss, expected = RecurrentTorchOracle(torch, net).loss_and_gradients(params, data)
    d = net.derive()
    value, grads = d.loss_and_gradients(params, data)
    emitted_loss, emitted = load_module(d.numpy(), tmp_path).gradients(params, data["x"], data["y"])
    assert abs(value - expected_loss) <= RTOL * abs(expected_loss)
    assert abs(emitted_loss - expected_loss) <= RTOL * abs(expected_loss)
    for name in expected:
        assert rel_err(grads[name], expected[name]) < RTOL, name
        assert rel_err(emitted[name], expected[name]) < RTOL, name


def test_gradients_match_central_differences_of_the_loss():
    net = symprop.gru(2, 3, 2, T=6, loss_at="last")
    rng = np.random.default_rng(5)
    params = {p.name: rng.standard_normal(tuple(int(k) for k in p.shape)) * 0.5 for p in net.params}
    data = {"x": rng.standard_normal((2, 6, 2)), "y": rng.standard_normal((2, 2))}
    d = net.derive()
    _, grads = d.loss_and_gradients(params, data)
    for name in ("W_n", "b_hn", "U_u"):
        for index in np.ndindex(params[name].shape):
            h = 1e-6
            plus, minus = dict(params), dict(params)
            plus[name], minus[name] = params[name].copy(), params[name].copy()
            plus[name][index] += h
            minus[name][index] -= h
            numeric = (d.loss_and_gradients(plus, data)[0] - d.loss_and_gradients(minus, data)[0]) / (2 * h)
            assert abs(numeric - grads[name][index]) <= 1e-6 * max(1.0, abs(numeric)), (name, index)


# ==========================================================================
# the equations: stated once, named by time
# ==========================================================================


def test_the_recursion_is_stated_once_whatever_T():
    short, long = symprop.rnn(3, 4, 2, T=2).derive(), symprop.rnn(3, 4, 2, T=500).derive()
    assert [str(s.expr) for s in short.steps if s.expr is not None] == [str(s.expr) for s in long.steps if s.expr is not None]
    deltas = [s for s in long.steps if s.kind == "adjoint" and s.name == "delta"]
    assert len(deltas) == 1
    text = str(long)
    assert "δ[t] = (Vᵀ ∂L/∂o[t] + Wᵀ δ[t+1]) ⊙ (𝟏 - h[t] ⊙ h[t])" in text
    assert "∂L/∂W = Σ_t δ[t] h[t-1]ᵀ" in text


LAYER_NAME = re.compile(r"\b(?:z|a|delta|Delta|h|yhat|dz|da|dh)\d+\b|\^\{\[\d+\]\}|[zaδ]\d")


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_printed_equations_use_t_not_layer_numbers(kind):
    d = BUILDERS[kind](3, 4, 2, T=5, loss=symprop.cross_entropy).derive()
    text = str(d)
    tex = d.latex()
    md = d.markdown()
    for printed in (text, tex, md):
        assert not LAYER_NAME.search(printed), LAYER_NAME.search(printed).group(0)
        assert not re.search(r"\blayer\b(?!/\.style)", printed, re.IGNORECASE)  # (a TikZ style of the figure is called layer)
    assert "[t+1]" in text and "[t-1]" in text
    assert r"_{t+1}" in tex and r"_{t-1}" in tex and r"\sum_{t=1}^{T}" in tex


def _entries(expr) -> bool:
    from sympy.matrices.expressions.matexpr import MatrixElement

    return any(isinstance(e, (MatrixElement, sp.MatrixBase, sp.Trace)) for e in sp.preorder_traversal(expr))


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("loss_at", ["every", "last"])
def test_the_backward_pass_has_no_matrix_entries(kind, loss_at):
    d = BUILDERS[kind](3, 4, 2, T=5, loss_at=loss_at).derive()
    for s in d.steps:
        if s.kind in ("adjoint", "gradient"):
            for expr in [s.expr, s.last, s.before_last] + [f.expr for f in s.forms]:
                if expr is not None:
                    assert not _entries(expr), (s.name, expr)
    printed = str(d) + d.latex() + d.numpy()
    for marker in ("[0, 0]", "Matrix(", "Trace(", r"\operatorname{tr}"):
        assert marker not in printed


def test_the_last_step_equations_come_from_the_general_ones():
    d = symprop.rnn(2, 3, 1, T=4, loss_at="last").derive()
    delta = d.step("delta")
    assert d.text(delta.last) == "(Vᵀ ∂L/∂o[T]) ⊙ (𝟏 - h[T] ⊙ h[T])"
    assert d.text(delta.before_last) == "(Wᵀ δ[t+1]) ⊙ (𝟏 - h[t] ⊙ h[t])"
    assert d.step("do").before_last is None  # no loss before T
    assert d.text(d.step("dV").last) == "∂L/∂o[T] h[T]ᵀ" and d.step("dV").before_last is None


# ==========================================================================
# numbers of every step
# ==========================================================================


def test_evaluate_gives_every_step():
    net = examples.rnn()
    d = net.derive()
    values = d.evaluate(examples.RNN_VALUES, learning_rate=0.1)
    T = net.T
    for t in range(1, T + 1):
        assert np.allclose(values[f"h[{t}]"], np.tanh(values[f"z[{t}]"]))
        assert f"delta[{t}]" in values and f"dL/dh[{t}]" in values
    assert "L[12]" in values and "L[11]" not in values  # the loss is at the last step only
    assert values["L"] == values["L[12]"]
    W = np.array(examples.RNN_VALUES["W"])
    expected = sum(values[f"delta[{t}]"] @ values[f"h[{t - 1}]"].T for t in range(1, T + 1))
    assert np.allclose(values["dL/dW"], expected, rtol=1e-12)
    assert np.allclose(values["W_new"], W - 0.1 * values["dL/dW"])  # norm below 1: no clipping


def test_clipping_by_global_norm_in_the_update():
    d = examples.rnn().derive()
    values = dict(examples.RNN_VALUES, y=[[40.0]])  # a large error: a large gradient
    out = d.evaluate(values, learning_rate=0.1, clip_norm=1.0)
    grads = [np.asarray(out[f"dL/d{p.name}"]) for p in d.network.params]
    norm = np.sqrt(sum(float(np.sum(g * g)) for g in grads))
    assert norm > 1
    step = np.asarray(values["W"]) - out["W_new"]
    assert np.allclose(step, 0.1 * out["dL/dW"] / (norm + 1e-6))


def test_bad_values_get_one_line():
    d = symprop.rnn(2, 3, 1, T=4).derive()
    params = {p.name: np.zeros(tuple(int(k) for k in p.shape)) for p in d.network.params}
    with pytest.raises(EvaluationError, match=r"'x' is a sequence of 4 columns of size 2: give an array of shape \(4, 2\)"):
        d.evaluate({**params, "x": np.zeros((3, 2)), "y": np.zeros((4, 1))})
    with pytest.raises(EvaluationError, match="no value given for y"):
        d.evaluate({**params, "x": np.zeros((4, 2))})


# ==========================================================================
# bad declarations: one clear line
# ==========================================================================


def _simple(T=3, h_next=None, loss_at="every", **kw):
    x, y, h = sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("y", 1, 1), sp.MatrixSymbol("h", 3, 1)
    W, U, V = sp.MatrixSymbol("W", 3, 3), sp.MatrixSymbol("U", 3, 2), sp.MatrixSymbol("V", 1, 3)
    h_next = ops.tanh(W * h + U * x) if h_next is None else h_next(W, U, x, h)
    return RecurrentNetwork(symprop.mse(V * h_next, y), {h: h_next}, [W, U, V], [x], [y], T=T, loss_at=loss_at, **kw)


@pytest.mark.parametrize("T, message", [
    (0, "T (the number of steps) must be at least 1, got 0"),
    (-3, "must be at least 1, got -3"),
    (2.5, "must be a positive integer, got 2.5"),
    (True, "must be a positive integer, got True"),
])
def test_T_below_one(T, message):
    with pytest.raises(DeclarationError, match=re.escape(message)) as err:
        _simple(T=T)
    assert "\n" not in str(err.value)
    with pytest.raises(DeclarationError, match=re.escape(message)):
        symprop.rnn(2, 3, 1, T=T)


def test_a_state_that_does_not_feed_back():
    with pytest.raises(DeclarationError, match="the state 'h' does not feed back: no next state depends on 'h'") as err:
        _simple(h_next=lambda W, U, x, h: ops.tanh(U * x))
    assert "\n" not in str(err.value)


def test_a_next_state_of_another_shape():
    x, y, h = sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("y", 1, 1), sp.MatrixSymbol("h", 3, 1)
    W = sp.MatrixSymbol("W", 4, 3)
    with pytest.raises(ShapeError, match=r"the next state of 'h' has shape \(4, 1\) but 'h' has shape \(3, 1\)"):
        RecurrentNetwork(symprop.mse(sp.OneMatrix(1, 4) * ops.tanh(W * h), y), {h: ops.tanh(W * h)}, [W], [x], [y], T=2)


@pytest.mark.parametrize("make, error, message", [
    (lambda: _simple(loss_at="first"), DeclarationError, "loss_at must be 'every'"),
    (lambda: symprop.rnn(2, 0, 1, T=3), ShapeError, "rnn: hidden_size must be a positive integer, got 0"),
    (lambda: RecurrentNetwork(symprop.mse(sp.MatrixSymbol("h", 1, 1), sp.MatrixSymbol("y", 1, 1)), {},
                              [], [], [sp.MatrixSymbol("y", 1, 1)], T=2), DeclarationError, "needs a state"),
    (lambda: _simple(names={sp.MatrixSymbol("x", 2, 1): "q"}), DeclarationError, "it is not one of the cell's named values"),
    (lambda: _simple(names={}, name="x"), None, None),
])
def test_other_bad_declarations(make, error, message):
    if error is None:
        make()
        return
    with pytest.raises(error, match=re.escape(message)) as err:
        make()
    assert "\n" not in str(err.value)


def test_names_the_generated_code_uses_are_refused():
    x, y, h = sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("y", 1, 1), sp.MatrixSymbol("h", 3, 1)
    W, k = sp.MatrixSymbol("W", 3, 3), sp.MatrixSymbol("k", 1, 3)
    with pytest.raises(InvalidNameError, match="'k' is the step index in the generated code; rename it"):
        RecurrentNetwork(symprop.mse(k * ops.tanh(W * h), y), {h: ops.tanh(W * h)}, [W, k], [x], [y], T=2)


def test_a_state_named_like_an_input():
    x, y, h = sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("y", 1, 1), sp.MatrixSymbol("h", 3, 1)
    W, U, V = sp.MatrixSymbol("W", 3, 3), sp.MatrixSymbol("U", 3, 2), sp.MatrixSymbol("V", 1, 3)
    with pytest.raises(DeclarationError, match="the state 'h' is also declared"):
        RecurrentNetwork(symprop.mse(V * ops.tanh(W * h + U * x), y), {h: ops.tanh(W * h + U * x)}, [W, U, V], [x, h], [y], T=2)
    with pytest.raises(InvalidNameError):
        _simple(names={ops.tanh(sp.MatrixSymbol("W", 3, 3) * sp.MatrixSymbol("h", 3, 1)
                                + sp.MatrixSymbol("U", 3, 2) * sp.MatrixSymbol("x", 2, 1)): "not a name"})


# ==========================================================================
# the generated module
# ==========================================================================


def test_the_module_imports_numpy_only_and_passes_ruff(tmp_path):
    import shutil
    import subprocess

    source = symprop.gru(3, 4, 2, T=5, loss=symprop.cross_entropy, loss_at="last").derive().numpy()
    imports = {line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports == {"numpy"}
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    path = tmp_path / "gru_train.py"
    path.write_text(source)
    assert subprocess.run([ruff, "check", "--isolated", str(path)], capture_output=True).returncode == 0
    assert subprocess.run([ruff, "format", "--isolated", "--check", str(path)], capture_output=True).returncode == 0


def test_the_module_trains_in_float32_with_clipping(tmp_path):
    d = symprop.rnn(3, 8, 2, T=6, loss=symprop.cross_entropy).derive()
    module = load_module(d.numpy(), tmp_path)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 6, 3))
    teacher = module.init_params(seed=1)
    y = np.eye(2)[module.forward(teacher, x).argmax(axis=-1)]
    params = module.init_params(seed=0, dtype=np.float32)
    history = module.train(params, {"x": x, "y": y}, epochs=8, batch_size=32,
                           optimizer=module.Adam(lr=0.02, clip_norm=1.0), verbose=False)
    assert params["W"].dtype == np.float32
    assert history["train"][-1] < 0.7 * history["train"][0]
    value, grads = module.gradients(params, x[:8].astype(np.float32), y[:8].astype(np.float32))
    assert all(g.dtype == np.float32 for g in grads.values())


def test_the_module_reads_T_from_the_data_and_checks_shapes(tmp_path):
    d = symprop.rnn(3, 4, 2, T=5).derive()
    module = load_module(d.numpy(), tmp_path)
    params = module.init_params(seed=0)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((2, 9, 3)), rng.standard_normal((2, 9, 2))
    assert module.forward(params, x).shape == (2, 9, 2)
    longer = symprop.rnn(3, 4, 2, T=9).derive()
    value, _ = longer.loss_and_gradients(params, {"x": x, "y": y})
    assert abs(module.loss(params, x, y) - value) <= 1e-12 * abs(value)
    with pytest.raises(ValueError, match=r"x must have shape \(m, T, 3\), got \(2, 9\)"):
        module.loss(params, x[:, :, 0], y)
    with pytest.raises(ValueError, match="y has shape"):
        module.loss(params, x, y[:, :4])


# ==========================================================================
# the notes
# ==========================================================================


def test_the_notes_tell_the_vanishing_and_exploding_story():
    d = examples.rnn().derive()
    doc_tex = d.latex(standalone=True, values=examples.RNN_VALUES)
    from symprop.render_recurrent import document

    doc = document(d, "tex", examples.RNN_VALUES)
    numbers = {n.key: n.value for n in doc.numbers}
    small = [numbers[f"norm:delta[{t}]@rho = 0.5"] for t in range(1, 13)]
    large = [numbers[f"norm:delta[{t}]@rho = 2"] for t in range(1, 13)]
    assert small[0] / small[-1] < 1e-4 and large[0] / large[-1] > 10  # measured, not assumed
    values = d.evaluate(examples.RNN_VALUES, learning_rate=0.1, clip_norm=1.0)
    for key, value in numbers.items():
        if key in values:
            assert np.allclose(value, values[key]), key
    assert r"\lVert \delta_{t} \rVert" in doc_tex and doc_tex.count(r"\begin{tikzpicture}") == 2
    assert r"g_{\max}" in doc_tex and r"\kappa" in doc_tex  # clipping in the update rule
    # the recursion once, numbered once; never written out for t = 1, 2, ... (the numbers are in tables)
    assert doc_tex.count(r"\tag{%d}" % d.step("delta").number) == 1
    assert not re.findall(r"\\delta_{\d+}", doc_tex)


def test_notes_and_module_are_byte_identical_in_a_fresh_process_with_another_hash_seed():
    import os
    import subprocess
    import sys

    from tests.regenerate_golden import ROOT, render

    code = ("import sys; from tests.regenerate_golden import render; from symprop import examples; "
            "out = render('rnn'); py = examples.rnn().derive().numpy(); "
            "sys.stdout.write(out['tex'] + '\\x00' + out['md'] + '\\x00' + py)")
    env = dict(os.environ, PYTHONHASHSEED="4321", PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, check=True)
    tex, md, py = run.stdout.decode("utf-8").split("\x00")
    here = render("rnn")
    assert tex == here["tex"] and md == here["md"]
    assert py == examples.rnn().derive().numpy()


def test_the_notes_refuse_other_optimizers():
    with pytest.raises(symprop.SympropError, match="gradient descent with clipping"):
        symprop.rnn(2, 3, 1, T=2).derive().latex(optimizer="adam")


# ==========================================================================
# checking hand-derived formulas and hand-written code
# ==========================================================================


@pytest.mark.parametrize("formula", [
    r"\sum_{t=1}^{T} \delta_{t} h_{t-1}^{\top}",  # as the notes print it
    r"\sum_t \delta_t h_{t-1}^\top",
    "sum_t delta[t] @ h[t-1].T",  # as the terminal prints it
])
def test_check_gradient_of_the_textbook_bptt_formula(formula):
    result = symprop.check_gradient(symprop.rnn(3, 4, 2, T=5), "W", formula)
    assert result.ok, str(result)
    assert result.formula == "Σ_t δ[t] h[t-1]ᵀ" or result.formula == "Σ_t δ[t] @ h[t-1]ᵀ"


@pytest.mark.parametrize("formula, key, message", [
    (r"\sum_t \delta_t h_t^\top", "wrong_step", "h[t] should be h[t-1]"),
    (r"\sum_t \delta_t h_{t-1}", "transpose", "h[t-1] should be h[t-1]ᵀ"),
    (r"\delta_t h_{t-1}^\top", "sum_over_t", "W is used at every step"),
])
def test_check_gradient_diagnoses_the_usual_bptt_mistakes(formula, key, message):
    result = symprop.check_gradient(symprop.rnn(3, 4, 2, T=5), "W", formula)
    assert not result.ok
    assert result.diagnosis.key == key and message in result.diagnosis.message, str(result)


def test_check_gradient_of_gated_cells_and_of_the_last_step():
    lstm = symprop.lstm(3, 4, 2, T=5)
    term = r"\frac{\partial L}{\partial c_t} \odot c_{t-1} \odot f_t \odot (1 - f_t) h_{t-1}^{\top}"
    assert symprop.check_gradient(lstm, "W_f", r"\sum_{t=1}^{T} " + term).ok
    assert not symprop.check_gradient(lstm, "W_f", r"\sum_{t=1}^{T} \frac{\partial L}{\partial c_t} \odot c_{t-1} h_{t-1}^{\top}").ok
    last = symprop.rnn(3, 4, 2, T=5, loss_at="last")
    assert symprop.check_gradient(last, "V", r"\frac{\partial L}{\partial o_T} h_T^\top").ok  # one term: no sum needed
    with pytest.raises(symprop.FormulaError, match="a value symprop does not know at step t"):
        symprop.check_gradient(last, "W", r"\sum_t \delta_{t+1} h_t^\top")


def test_gradcheck_against_the_derived_gradients(tmp_path):
    net = symprop.gru(3, 4, 2, T=5, loss_at="last")
    module = load_module(net.derive().numpy(), tmp_path)
    rng = np.random.default_rng(2)
    params = module.init_params(seed=0)
    data = {"x": rng.standard_normal((4, 5, 3)), "y": rng.standard_normal((4, 2))}
    report = symprop.gradcheck(lambda p, x, y: module.gradients(p, x, y)[1], params, data, net=net)
    assert report.ok, str(report)

    def forgets_the_reset_gate(p, x, y):
        grads = module.gradients(p, x, y)[1]
        grads["W_r"] = grads["W_r"] * 0.5
        return grads

    report = symprop.gradcheck(forgets_the_reset_gate, params, data, net=net)
    assert not report.ok and not report["W_r"].ok and report["W_n"].ok
