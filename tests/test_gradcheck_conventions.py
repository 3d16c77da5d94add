"""gradcheck on batch-first code with its own conventions: (in, out) weights, its own names, integer labels,
hyper-parameters, a summed loss; and the named patterns of injected bugs."""

import numpy as np
import pytest

import symprop
from symprop import examples
from symprop.cli import main
from symprop.errors import EvaluationError
from symprop.verify.patterns import factor_cause, layer_pattern, value_pattern

from backprop_code import BUGS, THREE, TWO, backward, buggy, loss, network, problem, reported_pattern

OPTIONS = {"layout": "in_out", "names": {"X": "x"}}


def correct(params, X, y):
    return backward(params, X, y)


# --- correct code in the (in, out) layout --------------------------------------------


@pytest.mark.parametrize("sizes, scale", [(TWO, 1.0), (THREE, 1.0), (TWO, 1000.0)])
def test_correct_in_out_code_passes_with_the_layout(sizes, scale):
    params, data = problem(sizes, scale=scale)
    report = symprop.gradcheck(correct, params, data, net=network(sizes), **OPTIONS)
    assert report.ok, str(report)
    assert "layout 'in_out'" in str(report) and "integer class labels" in str(report)
    if scale == 1.0:  # (at logits ~1000 the hand-written loss itself overflows: no finite differences)
        assert symprop.gradcheck(correct, params, data, loss=loss).ok


@pytest.mark.parametrize("sizes", [TWO, THREE])
def test_correct_in_out_code_without_the_layout_is_refused_not_wrong(sizes):
    params, data = problem(sizes)
    with pytest.raises(EvaluationError) as info:
        symprop.gradcheck(correct, params, data, net=network(sizes), names={"X": "x"})
    message = str(info.value)
    assert "W1 is 4×5, the network declares 5×4: transposed?" in message and "layout='in_out'" in message
    assert "\n" not in message


def test_layout_per_parameter():
    params, data = problem(TWO)
    net = network(TWO)
    report = symprop.gradcheck(correct, params, data, net=net, names={"X": "x"}, layout={"W1": "in_out", "W2": "in_out"})
    assert report.ok, str(report)
    with pytest.raises(EvaluationError, match="W2 is 5×3, the network declares 3×5: transposed"):
        symprop.gradcheck(correct, params, data, net=net, names={"X": "x"}, layout={"W1": "in_out"})
    with pytest.raises(EvaluationError, match="layout must be"):
        symprop.gradcheck(correct, params, data, net=net, names={"X": "x"}, layout="row-major")
    with pytest.raises(EvaluationError, match="W1 is 5×4, its layout 'in_out' makes it 4×5: transposed"):
        symprop.gradcheck(correct, {**params, "W1": params["W1"].T}, data, net=net, **OPTIONS)


# --- injected bugs: the right parameters and the right pattern ------------------------


@pytest.mark.parametrize("bug", BUGS, ids=[b.key for b in BUGS])
def test_injected_bug_gets_the_right_parameters_and_pattern(bug):
    params, data = problem(bug.sizes, scale=bug.scale)
    report = symprop.gradcheck(buggy(bug.key), params, data, net=network(bug.sizes), **OPTIONS)
    assert sorted(report.failed) == sorted(bug.wrong), str(report)
    assert bug.pattern in reported_pattern(report, bug.wrong), str(report)
    assert f"[{bug.pattern}]" in str(report)


@pytest.mark.parametrize("bug", [b for b in BUGS if b.key != "softmax_not_shifted"], ids=lambda b: b.key)
def test_injected_bug_is_localised_by_finite_differences_too(bug):
    params, data = problem(bug.sizes, scale=bug.scale)
    report = symprop.gradcheck(buggy(bug.key), params, data, loss=loss)
    assert sorted(report.failed) == sorted(bug.wrong), str(report)


def test_the_bug_table_covers_the_issue():
    keys = {b.key for b in BUGS}
    assert len(BUGS) >= 10
    assert {"negated_dW", "missing_1_over_N", "missing_reg", "relu_mask_wrong_array", "softmax_not_shifted",
            "transposed_dW", "bias_wrong_axis"} <= keys
    assert {b.pattern for b in BUGS} >= {"sign", "factor", "regularisation", "transposed", "bias_axis", "non_finite",
                                          "from_layer", "only_bias"}


def test_sum_over_the_batch_is_stated_with_its_factor():
    params, data = problem(TWO)
    report = symprop.gradcheck(buggy("missing_1_over_N"), params, data, net=network(TWO), **OPTIONS)
    m = len(data["y"])
    assert f"every gradient is m = {m} times the network's" in str(report)
    assert all(report[n].pattern.factor == pytest.approx(m) for n in params)

    def summed(p, X, y):  # the sum over the batch of the per-example loss (its decay term m times)
        return {k: m * v for k, v in backward(p, X, y).items()}

    assert symprop.gradcheck(summed, params, data, net=network(TWO), reduction="sum", **OPTIONS).ok


# --- conventions: names, labels, hyper-parameters ------------------------------------------


def test_names_labels_and_hyperparameters():
    params, data = problem(TWO)
    net = network(TWO)
    assert symprop.gradcheck(lambda p, x, y: backward(p, x, y), params, {"x": data["X"], "y": data["y"]}, net=net,
                             layout="in_out").ok
    with pytest.raises(EvaluationError, match="missing \\['x'\\]: unknown \\['X'\\]"):
        symprop.gradcheck(correct, params, data, net=net, layout="in_out")
    with pytest.raises(EvaluationError, match="does not declare"):
        symprop.gradcheck(correct, params, data, net=net, layout="in_out", names={"X": "inputs"})
    with pytest.raises(EvaluationError, match="class labels must be 0..2"):
        symprop.gradcheck(correct, params, {**data, "y": data["y"] + 3}, net=net, **OPTIONS)

    def without_decay(p, X, y):
        return backward(p, X, y, lam=0.0)

    assert not symprop.gradcheck(without_decay, params, data, net=net, **OPTIONS).ok
    assert symprop.gradcheck(without_decay, params, data, net=net, hyperparams={"lamda": 0.0}, **OPTIONS).ok
    with pytest.raises(EvaluationError, match="does not declare"):
        symprop.gradcheck(correct, params, data, net=net, hyperparams={"mu": 1.0}, **OPTIONS)
    with pytest.raises(EvaluationError, match="need net="):
        symprop.gradcheck(correct, params, data, loss=loss, layout="in_out")


# --- values are never reshaped --------------------------------------------------------------


def test_evaluate_refuses_a_transposed_matrix_and_accepts_a_flat_column():
    d = examples.two_layer().derive()
    rng = np.random.default_rng(0)
    values = {"W1": rng.normal(size=(4, 3)), "b1": np.zeros(4), "W2": rng.normal(size=(2, 4)), "b2": [[0.1], [0.2]],
              "x": [1.0, 2.0, 3.0], "y": [[1.0], [0.0]]}
    d.evaluate(values)
    with pytest.raises(EvaluationError, match="^W1 is 3×4, the network declares 4×3: transposed\\?$"):
        d.evaluate({**values, "W1": values["W1"].T})
    with pytest.raises(EvaluationError, match="'W1' has shape \\(12,\\), the network declares \\(4, 3\\)"):
        d.evaluate({**values, "W1": values["W1"].reshape(-1)})
    with pytest.raises(EvaluationError, match="b2 is 1×2, the network declares 2×1: transposed"):
        d.evaluate({**values, "b2": [[0.1, 0.2]]})


def test_cli_values_refuse_a_transposed_matrix(capsys):
    model = "examples/relu_neuron.py"
    assert main(["derive", model, "--values", "x=2,w=3,b=1,y=5"]) == 0
    capsys.readouterr()
    two_layer = "examples/two_layer.py"
    values = "W1=[[1,2,3,4],[1,2,3,4],[1,2,3,4]],b1=[0,0,0,0],W2=[[1,2,3,4],[1,2,3,4]],b2=[0,0],x=[1,2,3],y=[1,0]"
    assert main(["derive", two_layer, "--values", values]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "transposed?" in err[0] and "W1 is 3×4" in err[0]


# --- the patterns themselves ------------------------------------------------------------------


def test_value_patterns():
    rng = np.random.default_rng(1)
    e = rng.normal(size=(4, 4))
    r = 0.1 * rng.normal(size=(4, 4))
    assert value_pattern(e, e) is None
    assert value_pattern(e, -e).key == "sign"
    assert value_pattern(e, e.T).key == "transposed"
    assert value_pattern(e, 16 * e, batch_size=16).factor == pytest.approx(16)
    assert "sum over the batch" in value_pattern(e, 16 * e, batch_size=16).message
    assert "missing factor 2" in value_pattern(e, 0.5 * e).message
    assert value_pattern(e, 0 * e).key == "zero"
    assert value_pattern(e, e - r, regularisation=r).message.startswith("the regularisation term is missing")
    assert "halved" in value_pattern(e, e - r / 2, regularisation=r).message
    assert "wrong sign" in value_pattern(e, e - 2 * r, regularisation=r).message
    assert "data term" in value_pattern(e, 3 * (e - r) + r, regularisation=r).message
    assert value_pattern(e, e + rng.normal(size=(4, 4))) is None  # noise: no pattern claimed
    assert "1/m" in factor_cause(1 / 8, 8) and "m/2" in factor_cause(4, 8)


def test_layer_patterns():
    layers = {"W1": 1, "b1": 1, "W2": 2, "b2": 2, "W3": 3, "b3": 3}
    ok = dict.fromkeys(layers, True)
    assert layer_pattern(ok, layers) is None
    assert layer_pattern({**ok, "W1": False, "b1": False, "W2": False, "b2": False}, layers).key == "from_layer"
    assert layer_pattern({**ok, "W2": False, "b2": False}, layers).key == "one_layer"
    assert layer_pattern({**ok, "W1": False, "W3": False}, layers) is None  # no pattern: two separate errors


@pytest.mark.parametrize("options, words", [
    ({"names": ["X"]}, "names must be a dict"), ({"hyperparams": [0.1]}, "hyperparams must be a dict"),
    ({"hyperparams": {"lamda": "big"}}, "must be a number"), ({"hyperparams": {"lamda": float("nan")}}, "finite"),
    ({"layout": 3}, "layout must be"), ({"layout": {"W9": "in_out"}}, "not given"), ({"reduction": "max"}, "reduction"),
])
def test_bad_options_are_one_clear_line(options, words):
    params, data = problem(TWO)
    settings = {**OPTIONS, **options}
    with pytest.raises(EvaluationError, match=words) as info:
        symprop.gradcheck(correct, params, data, net=network(TWO), **settings)
    assert "\n" not in str(info.value)
