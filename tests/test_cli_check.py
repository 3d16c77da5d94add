"""symprop check: a verdict on stdout, exit 0 (right) / 1 (wrong) / 2 (error)."""

import subprocess
import sys
from pathlib import Path

import pytest

from symprop.cli import main

ROOT = Path(__file__).resolve().parent.parent

MODEL = """
import sympy as sp
import symprop

x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
W1, b1 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("b1", 4, 1)
W2, b2 = sp.MatrixSymbol("W2", 2, 4), sp.MatrixSymbol("b2", 2, 1)
yhat = symprop.softmax(W2 * symprop.relu(W1 * x + b1) + b2)
net = symprop.Network(symprop.cross_entropy(yhat, y), params=[W1, b1, W2, b2], inputs=[x], targets=[y])
"""


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "two_layer.py"
    path.write_text(MODEL)
    return str(path)


def test_right_formula_exits_0(model, capsys):
    assert main(["check", model, "--param", "W1", "--formula", "(W2^T delta2) * relu_prime(z1) @ x.T"]) == 0
    out = capsys.readouterr().out
    assert "CORRECT" in out and "dL/dW1" in out


def test_wrong_formula_exits_1_with_diagnosis(model, capsys):
    assert main(["check", model, "--param", "W1", "--formula", r"\delta^{[1]} x"]) == 1
    out = capsys.readouterr().out
    assert "WRONG" in out and "[transpose]" in out and "missing transpose?" in out and "counterexample" in out


def test_batched_flag(model, capsys):
    assert main(["check", model, "--param", "W1", "--formula", r"\Delta^{[1]} X^T", "--batched"]) == 1
    assert "[factor_m]" in capsys.readouterr().out
    assert main(["check", model, "--param", "W1", "--formula", r"\frac{1}{m}\Delta^{[1]} X^T"]) == 0


def test_errors_exit_2_with_one_line(model, capsys):
    assert main(["check", model, "--param", "W1", "--formula", "delta1 @ q.T"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symprop: error: unknown name 'q'") and "W2" in err and err.count("\n") == 1
    assert main(["check", model, "--param", "W1", "--formula", "__import__('os').system('ls')"]) == 2
    assert "'__' is not allowed" in capsys.readouterr().err
    assert main(["check", model, "--param", "V", "--formula", "x"]) == 2
    assert "no gradient or adjoint named 'V'" in capsys.readouterr().err


def test_python_dash_m(model):
    run = subprocess.run(
        [sys.executable, "-m", "symprop", "check", model, "--param", "b1", "--formula", "W2.T @ delta2 * (z1 > 0)"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "CORRECT" in run.stdout


def test_conventions_on_the_command_line(model, capsys):
    # Nielsen numbers the input as layer 1: delta^3 is the output's delta, a^2 the hidden activation
    assert main(["check", model, "--param", "W2", "--formula", r"\delta^3 (a^2)^T", "--layers", "nielsen"]) == 0
    assert main(["check", model, "--param", "W2", "--formula", r"\delta^2 (a^1)^T", "--layers", "-1"]) == 1
    assert main(["check", model, "--param", "W2", "--formula", "A1.T @ Delta2 / m", "--rows"]) == 0
    capsys.readouterr()
    assert main(["check", model, "--param", "W2", "--formula", r"\delta^3 (a^2)^T"]) == 2
    err = capsys.readouterr().err.strip()
    assert "there is no delta3" in err and "\n" not in err
