"""Hand-written backward code: gradcheck against differences of a loss and against a symprop network."""

import numpy as np
import pytest

import symprop
from symprop import examples
from symprop.errors import EvaluationError
from symprop.verify import network_loss_and_gradients

SIZES = [3, 4, 4, 4]  # equal widths: the classic bug below runs without a shape error


def tanh_prime(z):
    return 1 - np.tanh(z) ** 2


def softmax_rows(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def forward(params, x):
    """Batch-first, as the generated code: rows are examples; W^[l] (n_l, n_{l-1}), b^[l] (n_l, 1)."""
    A, Z = [x], [None]
    for k in (1, 2, 3):
        z = A[-1] @ params[f"W{k}"].T + params[f"b{k}"].T
        Z.append(z)
        A.append(softmax_rows(z) if k == 3 else np.tanh(z))
    return Z, A


def loss(params, x, y):
    _, A = forward(params, x)
    return -np.mean(np.sum(y * np.log(A[3]), axis=1))


def backward(params, x, y):
    m = x.shape[0]
    Z, A = forward(params, x)
    grads = {}
    delta = (A[3] - y) / m  # dL/dZ3
    for k in (3, 2, 1):
        grads[f"W{k}"] = delta.T @ A[k - 1]
        grads[f"b{k}"] = delta.sum(axis=0).reshape(-1, 1)
        if k > 1:
            delta = (delta @ params[f"W{k}"]) * tanh_prime(Z[k - 1])
    return grads


def buggy_backward(params, x, y):
    """The classic bug: the loop updates delta before computing dW, with the f' of the layer above."""
    m = x.shape[0]
    Z, A = forward(params, x)
    grads = {}
    delta = (A[3] - y) / m
    for k in (3, 2, 1):
        if k < 3:
            delta = (delta @ params[f"W{k + 1}"]) * tanh_prime(Z[k + 1])  # should be Z[k]
        grads[f"W{k}"] = delta.T @ A[k - 1]
        grads[f"b{k}"] = delta.sum(axis=0).reshape(-1, 1)
    return grads


def make_problem(seed=1, m=16, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = {}
    for k in (1, 2, 3):
        params[f"W{k}"] = rng.normal(0, 1 / np.sqrt(SIZES[k - 1]), (SIZES[k], SIZES[k - 1])).astype(dtype)
        params[f"b{k}"] = rng.normal(0, 0.1, (SIZES[k], 1)).astype(dtype)
    x = rng.normal(size=(m, SIZES[0])).astype(dtype)
    y = np.eye(SIZES[-1], dtype=dtype)[rng.integers(0, SIZES[-1], m)]
    return params, {"x": x, "y": y}


NET = symprop.mlp(SIZES, hidden=symprop.tanh, loss=symprop.cross_entropy)
OUTPUT, HIDDEN = ("W3", "b3"), ("W1", "b1", "W2", "b2")


# --- the correct backward passes ------------------------------------------------


@pytest.mark.parametrize("reference", ["loss", "net"])
def test_correct_backward_passes(reference):
    params, data = make_problem()
    kwargs = {"loss": loss} if reference == "loss" else {"net": NET}
    report = symprop.gradcheck(backward, params, data, **kwargs)
    assert report.ok, str(report)
    assert set(report) == set(params)
    assert all(report[name].ok for name in params)


def test_fast_mode_costs_a_few_loss_evaluations():
    params, data = make_problem()
    report = symprop.gradcheck(backward, params, data, loss=loss)
    assert report.ok
    assert report.loss_evaluations <= 10  # 1 at the point + 2 per joint direction
    assert report.backward_calls == 1
    assert all(c.method == "joint directions" for c in report.values())


# --- the classic bug is caught and localised ------------------------------------


@pytest.mark.parametrize("reference", ["loss", "net"])
def test_classic_bug_fails_the_hidden_layers_only(reference):
    params, data = make_problem()
    kwargs = {"loss": loss} if reference == "loss" else {"net": NET}
    report = symprop.gradcheck(buggy_backward, params, data, **kwargs)
    assert not report.ok
    for name in OUTPUT:
        assert report[name].ok, str(report)
    for name in HIDDEN:
        assert not report[name].ok, str(report)
    assert sorted(report.failed) == sorted(HIDDEN)
    # localised: the worst entry is a real difference between the two backwards
    right = backward(params, **data)
    wrong = buggy_backward(params, **data)
    for name in HIDDEN:
        c = report[name]
        assert c.worst_index is not None
        assert c.got == pytest.approx(wrong[name][c.worst_index])
        assert c.expected == pytest.approx(right[name][c.worst_index], rel=1e-4, abs=1e-8)
        assert abs(c.expected - c.got) > 1e-4
    text = str(report)
    assert "4 of 6 parameters WRONG" in text and "W3" in text


def test_localisation_runs_only_on_failing_parameters():
    params, data = make_problem()
    report = symprop.gradcheck(buggy_backward, params, data, loss=loss, max_entries=5)
    for name in OUTPUT:
        assert report[name].entries == []  # passed on its own direction: no entry-by-entry work
    for name in HIDDEN:
        assert 0 < len(report[name].entries) <= 5
        assert all(e.index < report[name].shape for e in report[name].entries)


def test_float32_parameters():
    params, data = make_problem(dtype=np.float32)
    assert symprop.gradcheck(backward, params, data, loss=loss).ok
    report = symprop.gradcheck(buggy_backward, params, data, loss=loss)
    assert sorted(report.failed) == sorted(HIDDEN), str(report)
    assert report.dtype == np.float32
    assert symprop.gradcheck(backward, params, data, net=NET).ok  # float32 gradients, float64 reference
    assert sorted(symprop.gradcheck(buggy_backward, params, data, net=NET).failed) == sorted(HIDDEN)


def test_loss_computed_in_float32():
    params, data = make_problem(dtype=np.float32)

    def loss32(p, x, y):
        return np.float32(loss({k: v.astype(np.float32) for k, v in p.items()}, x, y))

    report = symprop.gradcheck(backward, params, data, loss=loss32)
    assert report.ok, str(report)
    assert any("float32" in n for n in report.notes)
    assert report.rtol > 1e-3


def test_full_mode_checks_every_entry():
    params, data = make_problem()
    report = symprop.gradcheck(buggy_backward, params, data, loss=loss, mode="full")
    assert sorted(report.failed) == sorted(HIDDEN)
    n = sum(p.size for p in params.values())
    assert report.loss_evaluations >= 2 * n + 1
    assert all(len(c.entries) == params[name].size for name, c in report.items())


# --- plain NumPy functions, no symprop model ------------------------------------


def test_plain_numpy_least_squares():
    rng = np.random.default_rng(3)
    A, t = rng.normal(size=(20, 5)), rng.normal(size=20)
    data = {"A": A, "t": t}

    def ls_loss(p, A, t):
        r = A @ p["w"] + p["c"] - t
        return 0.5 * np.mean(r ** 2)

    def ls_grad(p, A, t):
        r = A @ p["w"] + p["c"] - t
        return {"w": A.T @ r / len(t), "c": np.mean(r)}

    def ls_grad_sum(p, A, t):  # forgets the mean over the batch for w
        r = A @ p["w"] + p["c"] - t
        return {"w": A.T @ r, "c": np.mean(r)}

    params = {"w": rng.normal(size=5), "c": np.array(0.3)}
    assert symprop.gradcheck(ls_grad, params, data, loss=ls_loss).ok
    report = symprop.gradcheck(ls_grad_sum, params, data, loss=ls_loss)
    assert report.failed == ["w"]
    assert report["w"].got / report["w"].expected == pytest.approx(20, rel=1e-4)


def test_generated_style_backward_returning_loss_and_grads():
    params, data = make_problem()
    report = symprop.gradcheck(lambda p, **d: (loss(p, **d), backward(p, **d)), params, data, net=NET)
    assert report.ok


def test_user_code_cannot_move_the_point():
    params, data = make_problem()

    def mutating_loss(p, x, y):
        p["W1"] += 1.0
        return loss(p, x, y)

    with pytest.raises(ValueError, match="read-only"):
        symprop.gradcheck(backward, params, data, loss=mutating_loss)


# --- kinks ------------------------------------------------------------------------


def relu_problem():
    """One ReLU layer whose pre-activations are exactly 0 at the point (x has a zero row, b = 0)."""
    rng = np.random.default_rng(5)
    params = {"W": rng.normal(size=(6, 3)), "b": np.zeros((6, 1)), "v": rng.normal(size=(1, 6))}
    x = rng.normal(size=(8, 3))
    x[:3] = 0.0  # three examples sit on every kink
    t = rng.normal(size=(8, 1))
    return params, {"x": x, "t": t}


def relu_loss(p, x, t):
    h = np.maximum(x @ p["W"].T + p["b"].T, 0)
    return 0.5 * np.mean((h @ p["v"].T - t) ** 2)


def relu_backward(p, x, t):
    m = x.shape[0]
    z = x @ p["W"].T + p["b"].T
    h = np.maximum(z, 0)
    r = (h @ p["v"].T - t) / m
    dh = r @ p["v"]
    dz = dh * (z > 0)
    return {"W": dz.T @ x, "b": dz.sum(axis=0).reshape(-1, 1), "v": r.T @ h}


def test_kink_at_the_point_is_detected_and_the_point_moved():
    params, data = relu_problem()
    report = symprop.gradcheck(relu_backward, params, data, loss=relu_loss)
    assert report.ok, str(report)
    assert any("kink" in n for n in report.notes), str(report)
    assert report.backward_calls == 2


def test_kink_does_not_hide_a_wrong_gradient():
    params, data = relu_problem()

    def wrong(p, x, t):
        g = relu_backward(p, x, t)
        g["v"] = -g["v"]
        return g

    report = symprop.gradcheck(wrong, params, data, loss=relu_loss)
    assert "v" in report.failed


# --- against a network: its derived gradients ------------------------------------


def test_network_reference_matches_the_hand_written_backward():
    params, data = make_problem()
    value, grads = network_loss_and_gradients(NET, params, data)
    assert value == pytest.approx(loss(params, **data))
    for name, g in backward(params, **data).items():
        np.testing.assert_allclose(grads[name], g, rtol=1e-10, atol=1e-14)


def test_scalar_network_reference():
    net = examples.relu_neuron()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=10), rng.normal(size=10)
    params = {"w": np.array(0.7), "b": np.array(0.2)}

    def bw(p, x, y):
        z = p["w"] * x + p["b"]
        d = 2 * (np.maximum(z, 0) - y) * (z > 0) / len(x)
        return {"w": np.sum(d * x), "b": np.sum(d)}

    assert symprop.gradcheck(bw, params, {"x": x, "y": y}, net=net).ok


# --- clear errors for bad input ---------------------------------------------------


def test_missing_gradient_is_an_error():
    params, data = make_problem()

    def bw(p, **d):
        g = backward(p, **d)
        g.pop("W2")
        return g

    with pytest.raises(EvaluationError, match="no gradient for W2"):
        symprop.gradcheck(bw, params, data, loss=loss)


@pytest.mark.parametrize("reference", ["loss", "net"])
@pytest.mark.parametrize("mutate, pattern", [
    (lambda g: g.__setitem__("W1", g["W1"].T), "transposed"),
    (lambda g: g.__setitem__("W1", g["W1"] * np.nan), "non_finite"),
])
def test_gradients_that_cannot_be_compared_are_wrong_with_a_pattern(mutate, pattern, reference):
    params, data = make_problem()

    def bw(p, **d):
        g = backward(p, **d)
        mutate(g)
        return g

    report = symprop.gradcheck(bw, params, data, **({"loss": loss} if reference == "loss" else {"net": NET}))
    assert report.failed == ["W1"], str(report)
    assert report["W1"].pattern.key == pattern, str(report)
    assert f"W1: pattern [{pattern}]" in str(report)


def test_a_vector_gradient_may_be_flat():
    params, data = make_problem()

    def bw(p, **d):
        g = backward(p, **d)
        g["b1"] = g["b1"].reshape(-1)  # (n,) for a (n, 1) bias: the same vector
        return g

    assert symprop.gradcheck(bw, params, data, loss=loss).ok


def test_bad_inputs():
    params, data = make_problem()
    with pytest.raises(EvaluationError, match="one of them"):
        symprop.gradcheck(backward, params, data)
    with pytest.raises(EvaluationError, match="one of them"):
        symprop.gradcheck(backward, params, data, loss=loss, net=NET)
    with pytest.raises(EvaluationError, match="non-finite"):
        symprop.gradcheck(backward, {**params, "W1": params["W1"] * np.inf}, data, loss=loss)
    with pytest.raises(EvaluationError, match="scalar"):
        symprop.gradcheck(backward, params, data, loss=lambda p, **d: np.ones(3))
    with pytest.raises(EvaluationError, match="non-finite"):
        symprop.gradcheck(backward, params, data, loss=lambda p, **d: np.nan)
    with pytest.raises(EvaluationError, match="missing \\['b3'\\]"):
        symprop.gradcheck(backward, {k: v for k, v in params.items() if k != "b3"}, data, net=NET)
    with pytest.raises(EvaluationError, match="batch-first"):
        symprop.gradcheck(backward, params, {"x": data["x"].T, "y": data["y"]}, net=NET)
    with pytest.raises(EvaluationError, match="unknown \\['z'\\]"):
        symprop.gradcheck(backward, params, {**data, "z": data["x"]}, net=NET)
    with pytest.raises(EvaluationError, match="declares"):
        symprop.gradcheck(backward, {**params, "W1": np.zeros((2, 2))}, data, net=NET)


def test_report_prints_a_table():
    params, data = make_problem()
    text = str(symprop.gradcheck(buggy_backward, params, data, loss=loss))
    header = next(line for line in text.splitlines() if line.strip().startswith("param "))
    for column in ("verdict", "max abs err", "max rel err", "worst entry", "expected", "got"):
        assert column in header
    assert text.count("WRONG") >= 4
