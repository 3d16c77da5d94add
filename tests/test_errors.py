"""Bad input gets a clear symprop error that names the problem.

One row per kind of mistake: the exception class and words the message must
contain (the node, the shapes, the name).  The CLI turns each into one line
and exit code 2.
"""

import subprocess
import sys

import pytest
import sympy as sp

import symprop
from symprop import ops

x = sp.MatrixSymbol("x", 3, 1)
y = sp.MatrixSymbol("y", 2, 1)
W = sp.MatrixSymbol("W", 2, 3)
b = sp.MatrixSymbol("b", 2, 1)
w, s, xs, ys = sp.symbols("w s xs ys")


def net(loss, params, inputs=(x,), targets=(y,)):
    return symprop.Network(loss, params=params, inputs=inputs, targets=targets)


CASES = {
    "prediction and target shapes differ": (
        lambda: symprop.mse(W * x, sp.MatrixSymbol("y", 3, 1)),
        symprop.ShapeError, ["mse", "(2, 1)", "(3, 1)"]),
    "loss is not a scalar": (
        lambda: net(W * x + b, [W, b], targets=()),
        symprop.ShapeError, ["scalar", "2x1"]),
    "parameter the loss does not depend on": (
        lambda: net(symprop.mse(W * x, y), [W, b]),
        symprop.DeclarationError, ["does not depend", "'b'"]),
    "input used as a parameter": (
        lambda: net(symprop.mse(W * x, y), [W, x]),
        symprop.DeclarationError, ["'x'", "parameter", "input"]),
    "undefined SymPy function": (
        lambda: net((sp.Function("f")(w * xs) - ys) ** 2, [w], (xs,), (ys,)),
        symprop.UnsupportedOperationError, ["f", "symprop.activation"]),
    "undefined function applied entrywise": (
        lambda: net(symprop.mse((W * x).applyfunc(sp.Function("g")), y), [W]),
        symprop.UnsupportedOperationError, ["g", "symprop.activation"]),
    "two symbols with one name": (
        lambda: net(symprop.mse(W * x + sp.MatrixSymbol("W", 2, 1), y), [W]),
        symprop.InvalidNameError, ["'W'", "(2, 1)", "(2, 3)"]),
    "name that is not an identifier": (
        lambda: net(symprop.mse(sp.MatrixSymbol("W^1", 2, 3) * x, y), [sp.MatrixSymbol("W^1", 2, 3)]),
        symprop.InvalidNameError, ["'W^1'", "letters"]),
    "name with a backslash and braces": (
        lambda: net(symprop.mse(sp.MatrixSymbol(r"W\{%", 2, 3) * x, y), [sp.MatrixSymbol(r"W\{%", 2, 3)]),
        symprop.InvalidNameError, ["not a valid name"]),
    "Python keyword as a name": (
        lambda: net((sp.Symbol("lambda") * xs - ys) ** 2, [sp.Symbol("lambda")], (xs,), (ys,)),
        symprop.InvalidNameError, ["'lambda'"]),
    "name symprop uses itself": (
        lambda: net((sp.Symbol("np") * xs - ys) ** 2, [sp.Symbol("np")], (xs,), (ys,)),
        symprop.InvalidNameError, ["'np'", "rename"]),
    "name clashing with a derived name": (
        lambda: net((symprop.relu(w * xs) - sp.Symbol("z")) ** 2, [w], (xs,), (sp.Symbol("z"),)),
        symprop.InvalidNameError, ["'z'", "derive"]),
    "undeclared symbol": (
        lambda: net((w * xs + s - ys) ** 2, [w], (xs,), (ys,)),
        symprop.DeclarationError, ["not declared", "s"]),
    "matrix inverse": (
        lambda: net(symprop.mse(sp.MatrixSymbol("S", 3, 3).I * x, sp.MatrixSymbol("y", 3, 1)),
                    [sp.MatrixSymbol("S", 3, 3)], targets=(sp.MatrixSymbol("y", 3, 1),)),
        symprop.UnsupportedOperationError, ["inverse", "S"]),
    "piecewise": (
        lambda: net((sp.Piecewise((w * xs, xs > 0), (0, True)) - ys) ** 2, [w], (xs,), (ys,)),
        symprop.UnsupportedOperationError, ["Piecewise", "symprop.activation"]),
    "softmax of a scalar": (lambda: symprop.softmax(w), symprop.ShapeError, ["column vector", "w"]),
    "batch input that is a column": (
        lambda: symprop.Network(symprop.mse(W * sp.MatrixSymbol("X", 3, 5), sp.MatrixSymbol("Y", 2, 5)), [W],
                                inputs=[sp.MatrixSymbol("X", 3, 5)], targets=[sp.MatrixSymbol("Y", 2, 1)], batch=5),
        symprop.ShapeError, ["'Y'", "(2, 1)", "batch of 5"]),
    "no parameters": (lambda: net((w * xs - ys) ** 2, [], (xs,), (ys,)), symprop.DeclarationError, ["no parameters"]),
    "parameter that is an expression": (
        lambda: net((w * xs - ys) ** 2, [2 * w], (xs,), (ys,)), symprop.DeclarationError, ["2*w", "Symbol"]),
    "constant loss": (lambda: symprop.Network(3, params=[w]), symprop.DeclarationError, ["constant"]),
    "mlp with one size": (lambda: symprop.mlp([3]), symprop.ShapeError, ["sizes", "[3]"]),
    "custom activation with a free symbol": (
        lambda: symprop.activation("f2", sp.Lambda(w, w * s)), symprop.DeclarationError, ["'f2'", "['s']"]),
    "custom activation reusing a built-in name": (
        lambda: symprop.activation("relu", sp.Lambda(w, w)), symprop.InvalidNameError, ["'relu'", "already"]),
    "custom activation with an undefined function": (
        lambda: symprop.activation("f3", sp.Lambda(w, sp.Function("h")(w))), symprop.UnsupportedOperationError, ["h"]),
    "evaluate with a missing value": (
        lambda: symprop.examples.relu_neuron().derive().evaluate({"w": 3, "b": 1, "x": 2}),
        symprop.EvaluationError, ["no value", "y"]),
    "evaluate with a non-finite value": (
        lambda: symprop.examples.relu_neuron().derive().evaluate({"w": float("nan"), "b": 1, "x": 2, "y": 5}),
        symprop.EvaluationError, ["'w'", "not finite"]),
    "evaluate with a wrong shape": (
        lambda: symprop.examples.two_layer().derive().evaluate(
            {"W1": [[1, 2]], "b1": [0] * 4, "W2": [[0] * 4] * 2, "b2": [0, 0], "x": [1, 2, 3], "y": [1, 0]}),
        symprop.EvaluationError, ["'W1'", "(4, 3)", "(1, 2)"]),
    "evaluate with an unknown name": (
        lambda: symprop.examples.relu_neuron().derive().evaluate({"w": 3, "b": 1, "x": 2, "y": 5, "q": 1}),
        symprop.EvaluationError, ["'q'"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_named(case):
    import symprop.examples  # noqa: F401  (used by the lambdas)

    build, error, words = CASES[case]
    with pytest.raises(error) as info:
        build()
    message = str(info.value)
    for word in words:
        assert word in message, f"{case}: {word!r} not in {message!r}"
    assert isinstance(info.value, symprop.SympropError)


def test_every_error_is_a_symprop_error():
    for cls in (symprop.ShapeError, symprop.DeclarationError, symprop.InvalidNameError,
                symprop.UnsupportedOperationError, symprop.FormulaError, symprop.ModelFileError,
                symprop.OutputError, symprop.EvaluationError):
        assert issubclass(cls, symprop.SympropError)


MODEL_FILES = {
    "shape mismatch": (
        "import sympy as sp, symprop\n"
        "x = sp.MatrixSymbol('x', 2, 1); y = sp.MatrixSymbol('y', 4, 1)\n"
        "W = sp.MatrixSymbol('W', 4, 3)\n"
        "net = symprop.Network(symprop.mse(W * x, y), params=[W], inputs=[x], targets=[y])\n",
        ["line 4", "W (4x3)", "x (2x1)", "3 columns against 2 rows"]),
    "syntax error": ("net = (\n", ["line", "syntax error"]),
    "exception in the model": ("import sympy\nraise RuntimeError('boom')\n", ["line 2", "RuntimeError", "boom"]),
    "no network": ("a = 1\n", ["defines no symprop.Network"]),
    "undefined function": (
        "import sympy as sp, symprop\nw, x, y = sp.symbols('w x y')\n"
        "net = symprop.Network((sp.Function('f')(w * x) - y) ** 2, params=[w], inputs=[x], targets=[y])\n",
        ["line 3", "undefined function", "symprop.activation"]),
}


@pytest.mark.parametrize("case", sorted(MODEL_FILES))
def test_cli_reports_model_errors_in_one_line(case, tmp_path):
    source, words = MODEL_FILES[case]
    model = tmp_path / "model.py"
    model.write_text(source)
    proc = subprocess.run([sys.executable, "-m", "symprop", "derive", str(model)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip()
    assert line.startswith("symprop: error:") and "\n" not in line, line
    for word in words:
        assert word in line, f"{word!r} not in {line!r}"


def test_cli_missing_model_file(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "symprop", "derive", str(tmp_path / "nope.py")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_registry_rejects_name_clash_between_kinds():
    with pytest.raises(symprop.InvalidNameError):
        ops.activation("mse", sp.Lambda(w, w))
