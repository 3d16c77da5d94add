"""A catalogue of bad inputs, each through the command line.

Every case must give exit code 2, one line ``symprop: error: ...`` that names
the problem, no traceback, and leave the directory exactly as it was (no
partial output, no file touched).
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

HEADER = "import sympy as sp, symprop\n"
RELU = HEADER + (
    "w, b, x, y = sp.symbols('w b x y')\n"
    "net = symprop.Network((symprop.relu(w * x + b) - y) ** 2, params=[w, b], inputs=[x], targets=[y])\n"
)
TWO_LAYER = HEADER + "from symprop.examples import two_layer\nnet = two_layer()\n"


def matrix_model(body: str) -> str:
    return HEADER + (
        "x = sp.MatrixSymbol('x', 3, 1); y = sp.MatrixSymbol('y', 2, 1)\n"
        "W = sp.MatrixSymbol('W', 2, 3); b = sp.MatrixSymbol('b', 2, 1)\n"
    ) + body


def scalar_model(body: str) -> str:
    return HEADER + "w, b, x, y = sp.symbols('w b x y')\n" + body


# name: (files {name: text or bytes}, argv (model path relative to the directory), words in the message)
CASES = {
    # --- model files: unreadable, missing, not a network
    "missing model file": ({}, ["derive", "nope.py"], ["nope.py", "does not exist"]),
    "model path is a directory": ({"adir/keep": ""}, ["derive", "adir"], ["adir", "directory"]),
    "model file of another kind": ({"model.txt": "x"}, ["derive", "model.txt"], [".py", ".toml"]),
    "empty model file": ({"model.py": ""}, ["derive", "model.py"], ["defines no symprop.Network"]),
    "binary model file": ({"model.py": b"\x00\xff\xfe garbage"}, ["derive", "model.py"], ["model.py"]),
    "syntax error in the model": ({"model.py": "net = (\n"}, ["derive", "model.py"], ["syntax error", "line"]),
    "exception in the model": ({"model.py": "raise ValueError('no data here')\n"}, ["derive", "model.py"],
                               ["line 1", "ValueError", "no data here"]),
    "two networks and no net": ({"model.py": RELU + "other = net\nnet2 = net\ndel net\n"}, ["derive", "model.py"],
                                ["several networks", "net"]),
    # --- malformed declarations
    "shapes of a product": ({"model.py": matrix_model(
        "net = symprop.Network(symprop.mse(W * y, y), params=[W], inputs=[x], targets=[y])\n")},
        ["derive", "model.py"], ["W (2x3)", "y (2x1)", "3 columns against 2 rows"]),
    "shapes of a loss": ({"model.py": matrix_model(
        "net = symprop.Network(symprop.mse(W * x, x), params=[W], inputs=[x], targets=[x])\n")},
        ["derive", "model.py"], ["mse", "(2, 1)", "(3, 1)"]),
    "loss that is not a scalar": ({"model.py": matrix_model(
        "net = symprop.Network(W * x + b, params=[W, b], inputs=[x])\n")}, ["derive", "model.py"], ["scalar", "2x1"]),
    "unknown function": ({"model.py": scalar_model(
        "net = symprop.Network((sp.Function('f')(w * x) - y) ** 2, params=[w], inputs=[x], targets=[y])\n")},
        ["derive", "model.py"], ["undefined function", "f", "symprop.activation"]),
    "undeclared symbol": ({"model.py": scalar_model(
        "net = symprop.Network((w * x + b - y) ** 2, params=[w], inputs=[x], targets=[y])\n")},
        ["derive", "model.py"], ["not declared", "b"]),
    "parameter the loss ignores": ({"model.py": scalar_model(
        "net = symprop.Network((w * x - y) ** 2, params=[w, b], inputs=[x], targets=[y])\n")},
        ["derive", "model.py"], ["does not depend", "'b'"]),
    "input declared as a parameter": ({"model.py": scalar_model(
        "net = symprop.Network((w * x - y) ** 2, params=[w, x], inputs=[x], targets=[y])\n")},
        ["derive", "model.py"], ["'x'", "parameter", "input"]),
    "Piecewise": ({"model.py": scalar_model(
        "net = symprop.Network((sp.Piecewise((w * x, x > 0), (0, True)) - y) ** 2, params=[w], inputs=[x], targets=[y])\n")},
        ["derive", "model.py"], ["Piecewise"]),
    "matrix inverse": ({"model.py": HEADER + "S = sp.MatrixSymbol('S', 2, 2); x = sp.MatrixSymbol('x', 2, 1)\n"
                        "net = symprop.Network(symprop.mse(S.I * x, x), params=[S], inputs=[x])\n"},
                       ["derive", "model.py"], ["inverse"]),
    # --- hostile names
    "name with a caret": ({"model.py": HEADER + "w, x, y = sp.symbols('w^1 x y')\n"
                           "net = symprop.Network((w * x - y) ** 2, params=[w], inputs=[x], targets=[y])\n"},
                          ["derive", "model.py"], ["'w^1'", "not a valid name"]),
    "name with LaTeX specials": ({"model.py": HEADER + "w = sp.Symbol(r'w\\\\{%}'); x, y = sp.symbols('x y')\n"
                                  "net = symprop.Network((w * x - y) ** 2, params=[w], inputs=[x], targets=[y])\n"},
                                 ["derive", "model.py"], ["not a valid name"]),
    "a Python keyword as a name": ({"model.py": HEADER + "w = sp.Symbol('class'); x, y = sp.symbols('x y')\n"
                                    "net = symprop.Network((w * x - y) ** 2, params=[w], inputs=[x], targets=[y])\n"},
                                   ["derive", "model.py"], ["'class'"]),
    "a name symprop uses": ({"model.py": HEADER + "w = sp.Symbol('np'); x, y = sp.symbols('x y')\n"
                             "net = symprop.Network((w * x - y) ** 2, params=[w], inputs=[x], targets=[y])\n"},
                            ["derive", "model.py"], ["'np'"]),
    # --- declarative model files
    "invalid TOML": ({"model.toml": "[network\nsizes = ["}, ["derive", "model.toml"], ["not valid TOML"]),
    "TOML with an unknown activation": ({"model.toml": '[network]\nsizes = [2, 3, 1]\nhidden = "wobble"\n'},
                                        ["derive", "model.toml"], ["'wobble'"]),
    "TOML with Python in a formula": ({"model.toml": '[network]\nsizes = [2, 3, 1]\nhidden = "evil"\n'
                                       '[activations.evil]\ndefinition = "().__class__.__bases__[0]"\n'},
                                      ["derive", "model.toml"], ["evil", "definition"]),
    # --- worked-example values
    "non-finite value": ({"model.py": RELU}, ["derive", "model.py", "--values", "x=2,w=3,b=1,y=nan"], ["'y'", "finite"]),
    "infinite value": ({"model.py": RELU}, ["derive", "model.py", "--values", "x=2,w=1e999,b=1,y=1"], ["'w'"]),
    "missing value": ({"model.py": RELU}, ["derive", "model.py", "--values", "x=2,w=3"], ["no value", "b", "y"]),
    "code as a value": ({"model.py": RELU}, ["derive", "model.py", "--values", "x=__import__('os').getpid(),w=1,b=1,y=1"],
                        ["'x'", "not a number"]),
    "value of the wrong shape": ({"model.py": TWO_LAYER},
                                 ["derive", "model.py", "--values", "W1=[[1,2]],b1=[0,0,0,0],W2=[[0,0,0,0],[0,0,0,0]],"
                                  "b2=[0,0],x=[1,2,3],y=[1,0]"], ["'W1'", "(4, 3)"]),
    "value for an unknown name": ({"model.py": RELU}, ["derive", "model.py", "--values", "x=2,w=3,b=1,y=4,q=1"], ["'q'"]),
    # --- hostile formulas
    "formula that is Python": ({"model.py": RELU}, ["check", "model.py", "--param", "w",
                                                    "--formula", "__import__('os').system('touch pwned')"], ["__"]),
    "formula with a huge exponent": ({"model.py": RELU}, ["check", "model.py", "--param", "w", "--formula", "x^999999999"],
                                     ["exponent"]),
    "deeply nested formula": ({"model.py": RELU}, ["check", "model.py", "--param", "w", "--formula", "(" * 5000 + "x" + ")" * 5000],
                              ["formula"]),
    "formula naming an unknown symbol": ({"model.py": RELU}, ["check", "model.py", "--param", "w", "--formula", "q * x"],
                                         ["'q'", "known"]),
    "gradient of an unknown parameter": ({"model.py": RELU}, ["check", "model.py", "--param", "W9", "--formula", "x"],
                                         ["W9"]),
    # --- outputs
    "output in a missing directory": ({"model.py": RELU}, ["derive", "model.py", "--tex", "no/such/dir/notes.tex"],
                                      ["no/such/dir", "does not exist"]),
    "output over a file symprop did not write": ({"model.py": RELU, "notes.tex": "my own notes\n"},
                                                 ["derive", "model.py", "--tex", "notes.tex", "--md", "notes.md"],
                                                 ["notes.tex", "--force"]),
    "output path is a directory": ({"model.py": RELU, "out/keep": ""}, ["emit", "model.py", "-o", "out"], ["out", "directory"]),
    "two outputs to one file": ({"model.py": RELU}, ["derive", "model.py", "--tex", "same.txt", "--md", "same.txt"],
                                ["same file"]),
    "demo into a file": ({"taken": "a file"}, ["demo", "--outdir", "taken"], ["taken", "not a directory"]),
}


def snapshot(directory: Path) -> dict:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case, tmp_path):
    files, argv, words = CASES[case]
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = snapshot(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "symprop", *argv], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    message = proc.stderr.strip()
    assert proc.returncode == 2, f"{case}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    assert message.startswith("symprop: error: ") and "\n" not in message, message
    for word in words:
        assert word in message, f"{case}: {word!r} not in {message!r}"
    assert snapshot(tmp_path) == before, f"{case}: the directory changed"
    assert not (tmp_path / "pwned").exists()


def test_the_catalogue_is_large():
    assert len(CASES) >= 25
