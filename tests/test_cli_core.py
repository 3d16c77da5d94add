"""The symprop command: help, and derive printing the equations and numbers."""

import shutil
import subprocess
import sys

import pytest

RELU = (
    "import sympy as sp, symprop\n"
    "w, b, x, y = sp.symbols('w b x y')\n"
    "net = symprop.Network((symprop.relu(w * x + b) - y) ** 2, params=[w, b], inputs=[x], targets=[y])\n"
)


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "symprop", *args], capture_output=True, text=True, cwd=cwd)


def test_help_lists_the_commands():
    proc = run("--help")
    assert proc.returncode == 0
    for command in ("derive", "emit", "check", "demo"):
        assert command in proc.stdout


def test_derive_prints_numbered_equations(tmp_path):
    model = tmp_path / "relu.py"
    model.write_text(RELU)
    proc = run("derive", str(model))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "(1) z = w*x + b"
    assert "(5) δ = 2*(a - y)*1[z > 0]" in lines
    assert "(7) ∂L/∂w = δ*x" in lines


def test_derive_with_values_prints_the_worked_numbers(tmp_path):
    model = tmp_path / "relu.py"
    model.write_text(RELU)
    proc = run("derive", str(model), "--values", "x=2,w=3,b=1,y=4")
    assert proc.returncode == 0, proc.stderr
    numbers = dict(line.split(" = ") for line in proc.stdout.splitlines() if " = " in line and not line.startswith("("))
    assert float(numbers["L"]) == 9 and float(numbers["dL/dw"]) == 12 and float(numbers["dL/dx"]) == 18


@pytest.mark.parametrize("values, words", [
    ("x=2,w=3,b=1", ["no value", "y"]),
    ("x=2,w=3,b=1,y=__import__('os')", ["'y'", "not a number"]),
    ("x=2,w=3,b=1,y=nan", ["'y'"]),
    ("x2,w=3", ["name=value"]),
])
def test_bad_values_are_one_line_errors(tmp_path, values, words):
    model = tmp_path / "relu.py"
    model.write_text(RELU)
    proc = run("derive", str(model), "--values", values)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr


def test_console_script_is_installed():
    exe = shutil.which("symprop")
    if exe is None:
        pytest.skip("symprop is not installed as a console script here (pip install -e .)")
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("symprop ")
