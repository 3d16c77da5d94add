"""A catalogue of bad inputs, through the command line and through the API.

Every CLI case must give exit code 2, one line ``symprop: error: ...`` on
stderr that names the problem, no traceback, and leave the directory exactly
as it was (no partial output, no file touched).  The cases run in-process
(``cli.main``); a sample also runs as a real subprocess, as do the cases that
need one (special files, a closed pipe, read-only places).  Every API case
must raise a SympropError whose message is one line naming the problem, and
write nothing.
"""

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
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




def toml(network: str = 'sizes = [2, 3, 1]\n', extra: str = "", top: str = "") -> str:
    return f"{top}[network]\n{network}{extra}"


def act_toml(definition: str, latex: str = "", name: str = "act") -> str:
    key = name if name.isidentifier() else f'"{name}"'
    latex_line = f"latex = {latex}\n" if latex else ""
    return toml(f'sizes = [2, 3, 1]\nhidden = "{name}"\n', f"[activations.{key}]\ndefinition = {definition}\n{latex_line}")


def named_model(name: str) -> str:
    return HEADER + f"w = sp.Symbol({name!r}); x, y = sp.symbols('xx yy')\n" \
        "net = symprop.Network((w * x - y) ** 2, params=[w], inputs=[x], targets=[y])\n"


CHECK = ["check", "model.py", "--param", "w", "--formula"]
DERIVE_VALUES = ["derive", "model.py", "--values"]

CASES.update({
    # --- model files: what the path names
    "model is /dev/null": ({}, ["derive", "/dev/null"], ["/dev/null", "character device"]),
    "model is /dev/zero": ({}, ["derive", "/dev/zero"], ["/dev/zero", "character device"]),
    "model is a directory named .toml": ({"m.toml/keep": ""}, ["derive", "m.toml"], ["m.toml", "directory"]),
    "model path too long": ({}, ["derive", "m" * 300 + ".py"], ["cannot read model file", "too long"]),
    "model in a missing directory": ({}, ["derive", "no/such/model.py"], ["does not exist"]),
    "model file of kind .pyc": ({"model.pyc": "x"}, ["derive", "model.pyc"], [".py", ".toml"]),
    "model that is not UTF-8 Python": ({"model.py": b"net = '\xff\xfe'\n"}, ["derive", "model.py"], ["model.py"]),
    "model whose exception has lines": ({"model.py": "raise ValueError('one\\ntwo\\nthree')\n"}, ["derive", "model.py"],
                                        ["ValueError", "one two three"]),
    "model whose exception cannot print": ({"model.py": "class E(Exception):\n    def __str__(self):\n        raise RuntimeError\n"
                                                        "raise E()\n"}, ["derive", "model.py"], ["line 4", "cannot be shown"]),
    "model raising a BaseException": ({"model.py": "class B(BaseException):\n    pass\nraise B('odd')\n"},
                                      ["derive", "model.py"], ["line 3", "B: odd"]),
    "model calling exit": ({"model.py": "import sys\nsys.exit(3)\n"}, ["derive", "model.py"], ["exit(3)"]),
    "model opening a missing file": ({"model.py": "open('data.csv')\n"}, ["derive", "model.py"], ["line 1", "data.csv"]),
    "model with a deep recursion": ({"model.py": "def f(n):\n    return f(n + 1)\nf(0)\n"}, ["derive", "model.py"],
                                    ["RecursionError"]),
    "net is not a network": ({"model.py": "net = 5\n"}, ["derive", "model.py"], ["defines no symprop.Network"]),
    # --- declarations
    "loss is a string": ({"model.py": scalar_model("net = symprop.Network('w*x', params=[w], inputs=[x])\n")},
                         ["derive", "model.py"], ["SymPy expression", "str"]),
    "loss is a number": ({"model.py": scalar_model("net = symprop.Network(3, params=[w], inputs=[x])\n")},
                         ["derive", "model.py"], ["constant"]),
    "no parameters": ({"model.py": scalar_model("net = symprop.Network((w * x - y) ** 2, params=[], inputs=[x, w], targets=[y])\n")},
                      ["derive", "model.py"], ["no parameters"]),
    "loss with a division by zero": ({"model.py": scalar_model(
        "net = symprop.Network((w * x - y) ** 2 + sp.zoo * w, params=[w], inputs=[x], targets=[y])\n")},
        ["derive", "model.py"], ["zoo", "infinite"]),
    "loss with nan": ({"model.py": scalar_model("net = symprop.Network((w * x - y) ** 2 + sp.nan, params=[w], inputs=[x], targets=[y])\n")},
                      ["derive", "model.py"], ["nan"]),
    "zero-sized matrix": ({"model.py": HEADER + "W = sp.MatrixSymbol('W', 0, 1); x = sp.MatrixSymbol('x', 1, 1)\n"
                           "net = symprop.Network(symprop.mse(W * x, W * x), params=[W], inputs=[x])\n"},
                          ["derive", "model.py"], ["'W'", "positive integer"]),
    "symbolic dimension": ({"model.py": HEADER + "n = sp.Symbol('n'); W = sp.MatrixSymbol('W', n, 1); x = sp.MatrixSymbol('x', 1, 1)\n"
                            "net = symprop.Network(symprop.mse(W * x, W * x), params=[W], inputs=[x])\n"},
                           ["derive", "model.py"], ["'W'", "positive integer"]),
    "tanh of a matrix outside symprop": ({"model.py": matrix_model("net = symprop.Network(symprop.mse(symprop.tanh(W * x), y), "
                                                                   "params=[W], inputs=[x], targets=[y])\n".replace(
                                                                       "symprop.tanh(W * x)", "sp.tanh(W * x)"))},
                                         ["derive", "model.py"], ["model.py"]),
    "a parameter that is a number": ({"model.py": scalar_model("net = symprop.Network((w * x - y) ** 2, params=[w, 3], inputs=[x], targets=[y])\n")},
                                     ["derive", "model.py"], ["parameter", "Symbol"]),
    "a name with two underscores": ({"model.py": named_model("w__1")}, ["derive", "model.py"], ["'w__1'", "__"]),
    "a non-ASCII name": ({"model.py": named_model("wä")}, ["derive", "model.py"], ["not a valid name"]),
    "an empty name": ({"model.py": named_model("")}, ["derive", "model.py"], ["not a valid name"]),
    "a name with a newline": ({"model.py": named_model("w\nimport os")}, ["derive", "model.py"], ["not a valid name"]),
    "a name with triple quotes": ({"model.py": named_model('w"""')}, ["derive", "model.py"], ["not a valid name"]),
    "a name with a backslash": ({"model.py": named_model("w\\input")}, ["derive", "model.py"], ["not a valid name"]),
    "the name of the update of another": ({"model.py": scalar_model(
        "w_new = sp.Symbol('w_new')\nnet = symprop.Network((w * w_new * x - y) ** 2, params=[w, w_new], inputs=[x], targets=[y])\n")},
        ["derive", "model.py"], ["'w_new'", "derives"]),
    "a declared delta": ({"model.py": scalar_model(
        "delta = sp.Symbol('delta')\nnet = symprop.Network((symprop.relu(w * x + delta) - y) ** 2, params=[w, delta], inputs=[x], targets=[y])\n")},
        ["derive", "model.py"], ["'delta'", "derives"]),
    "an activation named like a derived value": ({"model.py": scalar_model(
        "z = sp.Symbol('t')\na = symprop.activation('a', sp.Lambda(z, z**3 + z))\n"
        "net = symprop.Network((a(w * x) - y) ** 2, params=[w], inputs=[x], targets=[y])\n")},
        ["derive", "model.py"], ["activation 'a'"]),
    "an activation with a hostile LaTeX spelling": ({"model.py": scalar_model(
        "z = sp.Symbol('t')\nf = symprop.activation('cube', sp.Lambda(z, z**3), latex=r'\\input{/etc/passwd}')\n"
        "net = symprop.Network((f(w * x) - y) ** 2, params=[w], inputs=[x], targets=[y])\n")},
        ["derive", "model.py"], ["LaTeX spelling", "\\\\input"]),
    "an activation that is a constant": ({"model.py": scalar_model(
        "z = sp.Symbol('t')\nf = symprop.activation('flat', sp.Lambda(z, sp.Integer(2)))\n")},
        ["derive", "model.py"], ["'flat'", "does not depend"]),
    "an activation that is not a Lambda": ({"model.py": scalar_model("f = symprop.activation('cube', lambda t: t**3)\n")},
                                           ["derive", "model.py"], ["'cube'", "Lambda"]),
    "an activation redefining relu": ({"model.py": scalar_model("z = sp.Symbol('t')\nsymprop.activation('relu', sp.Lambda(z, z**3))\n")},
                                      ["derive", "model.py"], ["'relu'", "already registered"]),
})

# names the generated module or evaluate() define, declared by a user
for _reserved in ["teacher", "Adam", "INPUTS", "PARAMS", "logsumexp", "rng", "data", "validation", "inv_m", "eta", "L",
                  "grads", "params", "np", "train", "forward", "gradients", "sigmoid", "len", "out", "lse_z"]:
    CASES[f"a declared name symprop uses: {_reserved}"] = ({"model.py": named_model(_reserved)}, ["derive", "model.py"],
                                                          [repr(_reserved), "clashes"])

CASES.update({
    # --- declarative model files
    "empty TOML": ({"model.toml": ""}, ["derive", "model.toml"], ["[network] table is required"]),
    "TOML that is not UTF-8": ({"model.toml": b"[network]\nsizes = [2, 1]\nname = \"\xff\"\n"}, ["derive", "model.toml"], ["UTF-8"]),
    "TOML over a megabyte": ({"model.toml": "# " + "x" * 1_000_001 + "\n"}, ["derive", "model.toml"], ["at most 1000000 bytes"]),
    "TOML arrays 5000 deep": ({"model.toml": toml(extra="deep = " + "[" * 5000 + "]" * 5000 + "\n")}, ["derive", "model.toml"],
                              ["nested too deeply"]),
    "TOML loss is a list": ({"model.toml": toml('sizes = [2, 3, 1]\nloss = [1]\n')}, ["derive", "model.toml"], ["network.loss", "[1]"]),
    "TOML loss is a number": ({"model.toml": toml('sizes = [2, 3, 1]\nloss = 5\n')}, ["derive", "model.toml"], ["network.loss", "5"]),
    "TOML unknown loss": ({"model.toml": toml('sizes = [2, 3, 1]\nloss = "hinge"\n')}, ["derive", "model.toml"], ["'hinge'", "known"]),
    "TOML hidden is a table": ({"model.toml": toml('sizes = [2, 3, 1]\nhidden = {a = 1}\n')}, ["derive", "model.toml"], ["network.hidden"]),
    "TOML output is not an activation": ({"model.toml": toml('sizes = [2, 3, 1]\noutput = "step"\n')}, ["derive", "model.toml"],
                                         ["'step'", "not an activation"]),
    "TOML without sizes": ({"model.toml": toml("")}, ["derive", "model.toml"], ["network.sizes"]),
    "TOML sizes is a string": ({"model.toml": toml('sizes = "3"\n')}, ["derive", "model.toml"], ["network.sizes"]),
    "TOML sizes empty": ({"model.toml": toml('sizes = []\n')}, ["derive", "model.toml"], ["at least two"]),
    "TOML one size": ({"model.toml": toml('sizes = [3]\n')}, ["derive", "model.toml"], ["at least two"]),
    "TOML zero width": ({"model.toml": toml('sizes = [0, 1]\n')}, ["derive", "model.toml"], ["network.sizes", "from 1"]),
    "TOML negative width": ({"model.toml": toml('sizes = [-1, 2]\n')}, ["derive", "model.toml"], ["network.sizes"]),
    "TOML boolean width": ({"model.toml": toml('sizes = [true, 2]\n')}, ["derive", "model.toml"], ["network.sizes"]),
    "TOML fractional width": ({"model.toml": toml('sizes = [1.5, 2]\n')}, ["derive", "model.toml"], ["network.sizes"]),
    "TOML huge width": ({"model.toml": toml('sizes = [10000000000, 2]\n')}, ["derive", "model.toml"], ["network.sizes", "1000000"]),
    "TOML too many layers": ({"model.toml": toml("sizes = [" + ", ".join(["2"] * 6000) + "]\n")}, ["derive", "model.toml"],
                             ["at most 5000 layers"]),
    "TOML bias is a string": ({"model.toml": toml('sizes = [2, 1]\nbias = "yes"\n')}, ["derive", "model.toml"], ["network.bias"]),
    "TOML name is a number": ({"model.toml": toml(top="name = 5\n")}, ["derive", "model.toml"], ["name must be a string"]),
    "TOML unknown top-level key": ({"model.toml": toml(top="exec = 'rm -rf /'\n")}, ["derive", "model.toml"], ["unknown key", "exec"]),
    "TOML unknown network key": ({"model.toml": toml('sizes = [2, 1]\ndropout = 0.5\n')}, ["derive", "model.toml"], ["'dropout'"]),
    "TOML activations not a table": ({"model.toml": "activations = 5\n" + toml()}, ["derive", "model.toml"], ["[activations]"]),
    "TOML activation not a table": ({"model.toml": toml(extra="[activations]\nact = 5\n")}, ["derive", "model.toml"],
                                    ["[activations.act]", "table"]),
    "TOML activation without definition": ({"model.toml": toml(extra="[activations.act]\nlatex = 'a'\n")}, ["derive", "model.toml"],
                                           ["needs definition"]),
    "TOML activation unknown key": ({"model.toml": toml(extra="[activations.act]\ndefinition = 'z'\ncode = 'x'\n")},
                                    ["derive", "model.toml"], ["'code'"]),
    "TOML definition is a number": ({"model.toml": act_toml("5")}, ["derive", "model.toml"], ["needs definition"]),
    "TOML definition constant": ({"model.toml": act_toml('"1"')}, ["derive", "model.toml"], ["does not depend"]),
    "TOML definition nan": ({"model.toml": act_toml('"0/0 + z"')}, ["derive", "model.toml"], ["not finite"]),
    "TOML definition divides by zero": ({"model.toml": act_toml('"z / 0"')}, ["derive", "model.toml"], ["not finite"]),
    "TOML definition log of zero": ({"model.toml": act_toml('"log(0 * z)"')}, ["derive", "model.toml"], ["not finite"]),
    "TOML definition unknown name": ({"model.toml": act_toml('"q * z"')}, ["derive", "model.toml"], ["'q'"]),
    "TOML definition syntax error": ({"model.toml": act_toml('"z +"')}, ["derive", "model.toml"], ["definition"]),
    "TOML definition too long": ({"model.toml": act_toml('"' + "z + " * 600 + 'z"')}, ["derive", "model.toml"], ["limit"]),
    "TOML definition attribute access": ({"model.toml": act_toml('"z.__class__"')}, ["derive", "model.toml"], ["definition"]),
    "TOML definition power tower": ({"model.toml": act_toml('"z^16^16^16^16"')}, ["derive", "model.toml"], ["degree"]),
    "TOML latex is a number": ({"model.toml": act_toml('"z"', "5")}, ["derive", "model.toml"], ["latex must be a string"]),
    "TOML activation name with a space": ({"model.toml": act_toml('"z^3"', name="my act")}, ["derive", "model.toml"],
                                          ["not a valid name"]),
    "TOML activation named np": ({"model.toml": act_toml('"z^3"', name="np")}, ["derive", "model.toml"], ["'np'", "clashes"]),
    "TOML activation named loss": ({"model.toml": act_toml('"z^3"', name="loss")}, ["derive", "model.toml"], ["'loss'", "clashes"]),
    "TOML activation named erf": ({"model.toml": act_toml('"z^3"', name="erf")}, ["derive", "model.toml"], ["'erf'"]),
    "TOML activation named len": ({"model.toml": act_toml('"z^3"', name="len")}, ["derive", "model.toml"], ["'len'", "builtin"]),
    "TOML activation named x": ({"model.toml": act_toml('"z^3"', name="x")}, ["derive", "model.toml"], ["'x'"]),
    "TOML activation named a1": ({"model.toml": act_toml('"z^3"', name="a1")}, ["derive", "model.toml"], ["'a1'"]),
})

for _label, _latex in {"input": r"\input{/etc/passwd}", "write18": r"\immediate\write18{touch pwned}", "end document": r"\end{document}",
                       "html": '<img src=x onerror="alert(1)">', "newline": "f\nx", "superscript": "f^{2}", "prime": "f'",
                       "too long": "f" * 100, "empty": "", "dollar": "$x$", "percent": "f%", "unbalanced": "{f"}.items():
    import json as _json

    CASES[f"TOML latex spelling: {_label}"] = ({"model.toml": act_toml('"z^3 + z"', _json.dumps(_latex))}, ["derive", "model.toml"],
                                               ["LaTeX spelling"])

CASES.update({
    # --- worked-example values
    "values nested 5000 deep": ({"model.py": RELU}, DERIVE_VALUES + ["x=" + "[" * 5000 + "]" * 5000 + ",w=1,b=1,y=1"], ["'x'"]),
    "value is a dict": ({"model.py": RELU}, DERIVE_VALUES + ["x={1: 2},w=1,b=1,y=1"], ["'x'"]),
    "value is a string": ({"model.py": RELU}, DERIVE_VALUES + ["x='two',w=1,b=1,y=1"], ["'x'"]),
    "value is complex": ({"model.py": RELU}, DERIVE_VALUES + ["x=1j,w=1,b=1,y=1"], ["'x'"]),
    "value with 5000 digits": ({"model.py": RELU}, DERIVE_VALUES + ["x=" + "9" * 5000 + ",w=1,b=1,y=1"], ["'x'"]),
    "value without a name": ({"model.py": RELU}, DERIVE_VALUES + ["=3,w=1,b=1,y=1,x=1"], ["''"]),
    "value without =": ({"model.py": RELU}, DERIVE_VALUES + ["x,w=1,b=1,y=1"], ["name=value"]),
    "values too long": ({"model.py": RELU}, DERIVE_VALUES + ["x=" + "1" * 100_001], ["too long"]),
    "ragged matrix value": ({"model.py": TWO_LAYER}, DERIVE_VALUES + ["W1=[[1,2,3],[4,5]],b1=[0,0,0,0],W2=[[0,0,0,0],[0,0,0,0]],"
                                                                      "b2=[0,0],x=[1,2,3],y=[1,0]"], ["'W1'"]),
    "scalar value for a matrix": ({"model.py": TWO_LAYER}, DERIVE_VALUES + ["W1=1,b1=[0,0,0,0],W2=[[0,0,0,0],[0,0,0,0]],"
                                                                            "b2=[0,0],x=[1,2,3],y=[1,0]"], ["'W1'"]),
    "matrix value for a scalar": ({"model.py": RELU}, DERIVE_VALUES + ["x=[1,2],w=1,b=1,y=1"], ["'x'", "scalar"]),
    "learning rate nan": ({"model.py": RELU}, DERIVE_VALUES + ["x=2,w=3,b=1,y=5", "--lr", "nan"], ["learning rate", "finite"]),
    "learning rate inf": ({"model.py": RELU}, DERIVE_VALUES + ["x=2,w=3,b=1,y=5", "--lr", "inf"], ["learning rate", "finite"]),
    "learning rate not a number": ({"model.py": RELU}, DERIVE_VALUES + ["x=2,w=3,b=1,y=5", "--lr", "fast"], ["--lr"]),
    # --- hostile formulas
    "power tower formula": ({"model.py": RELU}, CHECK + ["w^16^16^16^16^16"], ["degree"]),
    "empty formula": ({"model.py": RELU}, CHECK + [""], ["empty"]),
    "blank formula": ({"model.py": RELU}, CHECK + ["   "], ["empty"]),
    "unbalanced formula": ({"model.py": RELU}, CHECK + ["(x * 2"], ["expected ')'"]),
    "unknown function in a formula": ({"model.py": RELU}, CHECK + ["foo(x)"], ["foo"]),
    "LaTeX input in a formula": ({"model.py": RELU}, CHECK + [r"\input{/etc/passwd}"], ["input"]),
    "comparison outside an indicator": ({"model.py": RELU}, CHECK + ["x > 0"], ["comparison"]),
    "formula too long": ({"model.py": RELU}, CHECK + ["x + " * 700 + "x"], ["limit"]),
    "formula of too many tokens": ({"model.py": RELU}, CHECK + ["+".join(["x"] * 300)], ["tokens"]),
    "formula with a lambda": ({"model.py": RELU}, CHECK + ["lambda: 0"], ["':'", "position 6"]),
    "formula with a string": ({"model.py": RELU}, CHECK + ["'x'"], ["syntax error", "position 0"]),
    "formula with a long number": ({"model.py": RELU}, CHECK + ["1" * 40 + " * x"], ["too long"]),
    "empty parameter name": ({"model.py": RELU}, ["check", "model.py", "--param", "", "--formula", "x"], ["''"]),
    "negative seed": ({"model.py": RELU}, ["check", "model.py", "--param", "w", "--formula", "x", "--seed", "-1"], ["--seed", ">= 0"]),
    "seed not a number": ({"model.py": RELU}, ["check", "model.py", "--param", "w", "--formula", "x", "--seed", "one"], ["--seed"]),
    # --- the command line itself
    "unknown command": ({}, ["compile", "model.py"], ["invalid choice", "compile"]),
    "unknown option": ({"model.py": RELU}, ["derive", "model.py", "--latex", "x.tex"], ["unrecognized", "--latex"]),
    "check without --param": ({"model.py": RELU}, ["check", "model.py", "--formula", "x"], ["--param"]),
    "emit without -o": ({"model.py": RELU}, ["emit", "model.py"], ["-o"]),
    "unknown optimizer": ({"model.py": RELU}, ["derive", "model.py", "--optimizer", "lbfgs"], ["--optimizer", "lbfgs"]),
    "derive without a model": ({}, ["derive"], ["model"]),
    # --- outputs
    "tex onto /dev/null": ({"model.py": RELU}, ["derive", "model.py", "--tex", "/dev/null", "--force"], ["/dev/null", "character device"]),
    "module onto /proc/version": ({"model.py": RELU}, ["emit", "model.py", "-o", "/proc/version", "--force"], ["/proc"]),
    "module into /sys": ({"model.py": RELU}, ["emit", "model.py", "-o", "/sys/kernel/symprop.py", "--force"], ["/sys"]),
    "output path too long": ({"model.py": RELU}, ["emit", "model.py", "-o", "o" * 300 + ".py"], ["too long"]),
    "one file under two spellings": ({"model.py": RELU, "sub/keep": ""}, ["derive", "model.py", "--tex", "n.tex", "--md", "sub/../n.tex"],
                                     ["same file"]),
    "one file through a parent that does not exist": ({"model.py": RELU}, ["derive", "model.py", "--tex", "n.tex", "--md",
                                                                           "nowhere/../n.md"], ["does not exist"]),
    "pdf into a missing directory": ({"model.py": RELU}, ["derive", "model.py", "--pdf", "no/dir/n.pdf"], ["does not exist"]),
    "pdf over a file symprop did not write": ({"model.py": RELU, "model.pdf": b"%PDF-1.4 mine"}, ["derive", "model.py", "--pdf"],
                                              ["model.pdf", "--force"]),
    "marker on the second line is not ours": ({"model.py": RELU, "n.md": "my notes\n<!-- Generated by symprop -->\n"},
                                              ["derive", "model.py", "--md", "n.md"], ["n.md", "--force"]),
    "demo into /proc": ({}, ["demo", "--outdir", "/proc/symprop-demo"], ["cannot create the directory"]),
    "demo over a file of the user's": ({"out/two_layer.md": "mine\n"}, ["demo", "--outdir", "out"], ["two_layer.md", "--force"]),
})


def _special_files(tmp_path: Path) -> None:
    """Files no table can hold: FIFOs, links to devices, links in a loop."""
    tmp_path.mkdir()
    os.mkfifo(tmp_path / "fifo.toml")
    os.mkfifo(tmp_path / "fifo.py")
    os.mkfifo(tmp_path / "fifo.tex")
    os.symlink("/dev/zero", tmp_path / "zero.toml")
    os.symlink("/dev/urandom", tmp_path / "random.py")
    os.symlink("missing.py", tmp_path / "dangling.py")
    os.symlink("loop2.py", tmp_path / "loop1.py")
    os.symlink("loop1.py", tmp_path / "loop2.py")
    os.symlink("/dev/null", tmp_path / "null.md")
    (tmp_path / "model.py").write_text(RELU)


SPECIAL = {
    "model is a FIFO (toml)": (["derive", "fifo.toml"], ["fifo.toml", "FIFO"]),
    "model is a FIFO (py)": (["derive", "fifo.py"], ["fifo.py", "FIFO"]),
    "model links to /dev/zero": (["derive", "zero.toml"], ["zero.toml", "character device"]),
    "model links to /dev/urandom": (["derive", "random.py"], ["random.py", "character device"]),
    "model is a dangling link": (["derive", "dangling.py"], ["dangling.py", "does not exist"]),
    "model is a loop of links": (["derive", "loop1.py"], ["loop1.py"]),
    "output onto a FIFO": (["derive", "model.py", "--tex", "fifo.tex", "--force"], ["fifo.tex", "FIFO"]),
    "output through a link to /dev/null": (["derive", "model.py", "--md", "null.md", "--force"], ["null.md", "character device"]),
}


def snapshot(directory: Path) -> dict:
    """Every regular file under ``directory`` with its bytes, and every other entry with its kind."""
    out = {}
    for p in sorted(directory.rglob("*")):
        key = p.relative_to(directory).as_posix()
        if p.is_symlink():
            out[key] = ("link", os.readlink(p))
        elif p.is_file():
            out[key] = p.read_bytes()
        else:
            out[key] = ("dir" if p.is_dir() else "special",)
    return out


def _write_files(tmp_path: Path, files: dict) -> None:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def run_in_process(argv, cwd: Path, capsys, monkeypatch) -> tuple:
    """``symprop ARGV`` in this process: (exit code, stdout, stderr).  An exception escaping is a traceback."""
    from symprop import cli
    from symprop.ops import FUNCTIONS

    monkeypatch.chdir(cwd)
    registered = dict(FUNCTIONS)  # model files may register activations: keep the registry as it was
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    finally:
        FUNCTIONS.clear()
        FUNCTIONS.update(registered)
    out, err = capsys.readouterr()
    return code, out, err


def run_subprocess(argv, cwd: Path, prefix=()) -> tuple:
    proc = subprocess.run([*prefix, sys.executable, "-m", "symprop", *argv], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def check_refusal(case, code, out, err, words) -> None:
    message = err.strip()
    assert code == 2, f"{case}: exit {code}\n{out}\n{err}"
    assert "Traceback" not in err and "Traceback" not in out
    assert message.startswith("symprop: error: ") and "\n" not in message, f"{case}: {message!r}"
    for word in words:
        assert word in message, f"{case}: {word!r} not in {message!r}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case, tmp_path, capsys, monkeypatch):
    files, argv, words = CASES[case]
    _write_files(tmp_path, files)
    before = snapshot(tmp_path)
    check_refusal(case, *run_in_process(argv, tmp_path, capsys, monkeypatch), words)
    assert snapshot(tmp_path) == before, f"{case}: the directory changed"
    assert not (tmp_path / "pwned").exists()


# A sample runs as a real process too: exit status, stderr and the interpreter's own exit path.
SUBPROCESS_SAMPLE = ["model whose exception cannot print", "negative seed", "formula that is Python", "demo into /proc"]

# Cases run in one child process (cli.main each, output captured): a FIFO read by mistake
# hangs the child, not the test session (the timeout fails the test).
_DRIVER = """
import contextlib, io, json, os, sys
from symprop import cli
results = []
for cwd, argv in json.load(sys.stdin):
    os.chdir(cwd)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code
    results.append((code, out.getvalue(), err.getvalue()))
json.dump(results, sys.stdout)
"""


def run_batch(jobs, prefix=(), env_path="/usr/bin:/bin") -> list:
    """[(code, stdout, stderr)] of ``symprop ARGV`` run in ``cwd``, for each (cwd, argv), in one child process."""
    import json

    proc = subprocess.run([*prefix, sys.executable, "-c", _DRIVER], input=json.dumps([(str(c), a) for c, a in jobs]),
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": env_path}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("case", SUBPROCESS_SAMPLE)
def test_bad_input_in_a_process(case, tmp_path):
    files, argv, words = CASES[case]
    _write_files(tmp_path, files)
    before = snapshot(tmp_path)
    check_refusal(case, *run_subprocess(argv, tmp_path), words)
    assert snapshot(tmp_path) == before


def test_special_files(tmp_path):
    """FIFOs, devices and link loops as models and outputs: refused before any read or write."""
    cases = sorted(SPECIAL)
    for case in cases:
        _special_files(tmp_path / case.replace(" ", "_").replace("/", "_"))
    directories = [tmp_path / case.replace(" ", "_").replace("/", "_") for case in cases]
    before = [snapshot(d) for d in directories]
    results = run_batch([(d, SPECIAL[case][0]) for case, d in zip(cases, directories)])
    for case, d, result, earlier in zip(cases, directories, results, before):
        check_refusal(case, *result, SPECIAL[case][1])
        assert snapshot(d) == earlier, case


def test_output_piped_into_head_is_no_error(tmp_path):
    (tmp_path / "model.py").write_text(TWO_LAYER)
    proc = subprocess.run(f"{sys.executable} -m symprop derive model.py --tex n.tex | head -c 10", shell=True, cwd=tmp_path,
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("wrote n.tex (") and proc.stderr.count("\n") == 1 and (tmp_path / "n.tex").exists()  # still written


# ---------------------------------------------------------------------------
# read-only places: as a non-root user by permissions; as root (the sandbox) in
# a private mount namespace where the directory is a read-only bind mount
# ---------------------------------------------------------------------------

IS_ROOT = os.geteuid() == 0

# name: (files, read-only directory (relative), argv, words, needs a non-root user)
READ_ONLY = {
    "a read-only second target": ({"model.py": RELU, "ro/keep": ""}, "ro", ["derive", "model.py", "--tex", "n.tex", "--md", "ro/n.md"],
                                  ["ro", "not writable"], False),
    "a read-only second target after a generated first": (
        {"model.py": RELU, "n.tex": "% Generated by symprop\nold\n", "ro/keep": ""}, "ro",
        ["derive", "model.py", "--values", "x=2,w=3,b=1,y=5", "--tex", "n.tex", "--md", "ro/n.md"], ["not writable"], False),
    "emit into a read-only directory": ({"model.py": RELU, "ro/keep": ""}, "ro", ["emit", "model.py", "-o", "ro/train.py"],
                                        ["not writable"], False),
    "replace a file in a read-only directory with --force": (
        {"model.py": RELU, "ro/n.tex": "mine\n"}, "ro", ["derive", "model.py", "--tex", "ro/n.tex", "--force"], ["not writable"], False),
    "demo into a read-only directory": ({"ro/keep": ""}, "ro", ["demo", "--outdir", "ro/demo"], ["cannot create the directory"], False),
    "a read-only file with --force": ({"model.py": RELU, "n.tex": "mine\n"}, None, ["derive", "model.py", "--tex", "n.tex", "--force"],
                                      ["read-only"], True),
    "an unreadable model file": ({"model.py": RELU}, None, ["derive", "model.py"], ["cannot read model file", "Permission denied"], True),
    "an unreadable TOML model": ({"model.toml": "[network]\nsizes = [2, 1]\n"}, None, ["derive", "model.toml"],
                                 ["cannot read model file", "Permission denied"], True),
}
_UNREADABLE = {"an unreadable model file": "model.py", "an unreadable TOML model": "model.toml"}


def _nobody_can_run_symprop() -> bool:
    """Can the unprivileged user import symprop's dependencies here (not when they live under /root)?"""
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", "import sympy"],
                           capture_output=True, timeout=60)
    return probe.returncode == 0


def _prepare(work: Path, cases) -> list:
    """One directory per case under ``work`` (readable by anyone), with its files and permissions."""
    directories = []
    os.chmod(work, 0o777)
    for case in cases:
        files, ro, _, _, _ = READ_ONLY[case]
        d = work / case.replace(" ", "_")
        d.mkdir(mode=0o777)
        os.chmod(d, 0o777)
        _write_files(d, files)
        for path in d.rglob("*"):
            os.chmod(path, 0o777 if path.is_dir() else 0o644)
        if case in _UNREADABLE:
            os.chmod(d / _UNREADABLE[case], 0o000)
        if case == "a read-only file with --force":
            os.chmod(d / "n.tex", 0o444)
        if ro and not IS_ROOT:
            os.chmod(d / ro, 0o555)
        directories.append(d)
    return directories


def _check_batch(cases, directories, results, befores) -> None:
    for case, d, result, before in zip(cases, directories, results, befores):
        check_refusal(case, *result, READ_ONLY[case][3])
        if before is not None:
            assert snapshot(d) == before, f"{case}: something changed"


def _restore(work: Path) -> None:
    for path in [work, *work.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    shutil.rmtree(work)


def test_read_only_directories():
    """As a user: directories without write permission.  As root: read-only bind mounts in a private mount namespace."""
    cases = sorted(c for c, spec in READ_ONLY.items() if spec[1])
    work = Path(tempfile.mkdtemp(prefix="symprop-ro-", dir="/tmp"))  # not under pytest's private 0700 directory
    try:
        directories = _prepare(work, cases)
        befores = [snapshot(d) for d in directories]
        jobs = [(d, READ_ONLY[c][2]) for c, d in zip(cases, directories)]
        if not IS_ROOT:
            results = run_batch(jobs)
        else:
            if not shutil.which("unshare"):
                pytest.skip("running as root without unshare: no read-only directory can be made")
            import json

            mounts = " && ".join(f"mount --bind {shlex.quote(str(d / READ_ONLY[c][1]))} {shlex.quote(str(d / READ_ONLY[c][1]))} && "
                                 f"mount -o remount,bind,ro {shlex.quote(str(d / READ_ONLY[c][1]))}"
                                 for c, d in zip(cases, directories))
            command = f"{mounts} && exec {shlex.quote(sys.executable)} -c {shlex.quote(_DRIVER)}"
            proc = subprocess.run(["unshare", "-m", "sh", "-c", command], input=json.dumps([(str(d), a) for d, a in jobs]),
                                  capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin:/sbin:/usr/sbin"},
                                  timeout=300)
            if proc.returncode != 0 and "mount" in proc.stderr:
                pytest.skip(f"running as root, and no read-only bind mount can be made here: {proc.stderr.strip()}")
            assert proc.returncode == 0, proc.stderr
            results = json.loads(proc.stdout)
        _check_batch(cases, directories, results, befores)
    finally:
        _restore(work)


def test_permissions_as_a_user():
    """Unreadable model files and read-only files need a user whom permissions bind (root reads and replaces anything)."""
    cases = sorted(c for c, spec in READ_ONLY.items() if spec[4])
    prefix = ()
    if IS_ROOT:
        if not shutil.which("setpriv") or not _nobody_can_run_symprop():
            pytest.skip("running as root, and the unprivileged user cannot import sympy here "
                        "(its site-packages are under /root): root may read and replace anything")
        prefix = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    work = Path(tempfile.mkdtemp(prefix="symprop-perm-", dir="/tmp"))
    try:
        directories = _prepare(work, cases)
        befores = [None if c in _UNREADABLE else snapshot(d) for c, d in zip(cases, directories)]
        results = run_batch([(d, READ_ONLY[c][2]) for c, d in zip(cases, directories)], prefix)
        _check_batch(cases, directories, results, befores)
    finally:
        _restore(work)


# ---------------------------------------------------------------------------
# the API: SympropError, one line, nothing written
# ---------------------------------------------------------------------------

def _scalar():
    import sympy as sp

    return sp.symbols("w b x y")


def _relu_net():
    import symprop
    w, b, x, y = _scalar()
    return symprop.Network((symprop.relu(w * x + b) - y) ** 2, params=[w, b], inputs=[x], targets=[y])


def _declare(loss_of, params_of, inputs_of=lambda s: [s[2]], targets_of=lambda s: [s[3]]):
    import symprop

    def build(tmp_path):
        s = _scalar()
        return symprop.Network(loss_of(s), params=params_of(s), inputs=inputs_of(s), targets=targets_of(s))
    return build


def _activation(name, definition=None, **options):
    import sympy as sp

    import symprop

    def build(tmp_path):
        t = sp.Symbol("t")
        return symprop.activation(name, definition if definition is not None else sp.Lambda(t, t**3), **options)
    return build


def _evaluate(values):
    return lambda tmp_path: _relu_net().derive().evaluate(values)


def _check(param, formula, **options):
    import symprop
    return lambda tmp_path: symprop.check_gradient(_relu_net(), param, formula, **options)


def _gradcheck(params, **options):
    import numpy as np

    import symprop

    def backward(p, x):
        return {k: np.zeros_like(v) for k, v in p.items()}

    def loss(p, x):
        return float(sum(np.sum(v) for v in p.values()))
    return lambda tmp_path: symprop.gradcheck(backward, params, {"x": np.ones(3)}, loss=loss, **options)


def _toml_file(text):
    def build(tmp_path):
        from symprop.modelfile import load_toml
        (tmp_path / "m.toml").write_text(text)
        return load_toml(tmp_path / "m.toml")
    return build


def _fifo_model(tmp_path):
    from symprop.loader import load_network
    os.mkfifo(tmp_path / "f.toml")
    return load_network(tmp_path / "f.toml")


def _write_notes_into(name):
    def build(tmp_path):
        from symprop.render import write_notes
        (tmp_path / "afile").write_text("x")
        return write_notes(_relu_net().derive(), tmp_path / name, "n", pdf=False)
    return build


def _write_all(outputs_of, force=False):
    def build(tmp_path):
        from symprop.outputs import write_all
        return write_all(outputs_of(tmp_path), force)
    return build


API_CASES = {
    "Network: a name that is a keyword": (_declare(lambda s: (s[0] * s[2] - s[3]) ** 2,
                                                   lambda s: [__import__("sympy").Symbol("lambda")]), ["'lambda'"]),
    "Network: a name symprop uses": (_declare(lambda s: (__import__("sympy").Symbol("Adam") * s[2] - s[3]) ** 2,
                                              lambda s: [__import__("sympy").Symbol("Adam")]), ["'Adam'", "clashes"]),
    "Network: an undeclared symbol": (_declare(lambda s: (s[0] * s[2] + s[1] - s[3]) ** 2, lambda s: [s[0]]), ["not declared", "b"]),
    "Network: a parameter the loss ignores": (_declare(lambda s: (s[0] * s[2] - s[3]) ** 2, lambda s: [s[0], s[1]]), ["'b'"]),
    "Network: a loss that is a string": (_declare(lambda s: "w*x", lambda s: [s[0]]), ["SymPy expression"]),
    "Network: a loss that is infinite": (_declare(lambda s: (s[0] * s[2] - s[3]) ** 2 + __import__("sympy").oo * s[0],
                                                  lambda s: [s[0]]), ["infinite"]),
    "Network: a parameter that is a tuple": (_declare(lambda s: (s[0] * s[2] - s[3]) ** 2, lambda s: [(s[0],)]), ["parameter"]),
    "Network: declared twice": (_declare(lambda s: (s[0] * s[2] - s[3]) ** 2, lambda s: [s[0], s[2]]), ["'x'", "both"]),
    "activation: not an identifier": (_activation("my act"), ["not a valid name"]),
    "activation: a Python keyword": (_activation("for"), ["not a valid name"]),
    "activation: a name symprop uses": (_activation("train"), ["'train'", "clashes"]),
    "activation: a builtin": (_activation("print"), ["'print'", "builtin"]),
    "activation: not a Lambda": (_activation("cube", definition=__import__("sympy").Symbol("t") ** 3), ["Lambda"]),
    "activation: a constant": (_activation("flat", definition=__import__("sympy").Lambda(__import__("sympy").Symbol("t"), 1)),
                               ["does not depend"]),
    "activation: LaTeX \\input": (_activation("cube3", latex=r"\input{/etc/passwd}"), ["LaTeX spelling"]),
    "activation: LaTeX with a newline": (_activation("cube4", latex="f\n\\end{document}"), ["LaTeX spelling"]),
    "activation: LaTeX that is not a string": (_activation("cube5", latex=5), ["LaTeX spelling"]),
    "evaluate: values not a dict": (_evaluate([1, 2]), ["dict"]),
    "evaluate: a missing value": (_evaluate({"w": 1, "b": 1, "x": 1}), ["no value", "y"]),
    "evaluate: an unknown name": (_evaluate({"w": 1, "b": 1, "x": 1, "y": 1, "q": 2}), ["'q'"]),
    "evaluate: not finite": (_evaluate({"w": float("inf"), "b": 1, "x": 1, "y": 1}), ["'w'", "finite"]),
    "evaluate: a string": (_evaluate({"w": "one", "b": 1, "x": 1, "y": 1}), ["'w'"]),
    "check_gradient: an unknown parameter": (_check("W9", "x"), ["W9"]),
    "check_gradient: Python in the formula": (_check("w", "__import__('os')"), ["__"]),
    "check_gradient: a negative seed": (_check("w", "x", seed=-1), ["seed"]),
    "check_gradient: a power tower": (_check("w", "w^16^16^16"), ["degree"]),
    "gradcheck: complex parameters": (_gradcheck({"W": __import__("numpy").ones(3) * 1j}), ["complex"]),
    "gradcheck: a negative seed": (_gradcheck({"W": __import__("numpy").ones(3)}, seed=-2), ["seed"]),
    "gradcheck: an unknown mode": (_gradcheck({"W": __import__("numpy").ones(3)}, mode="slow"), ["mode"]),
    "gradcheck: non-finite parameters": (_gradcheck({"W": __import__("numpy").array([1.0, float("nan")])}), ["non-finite"]),
    "load_toml: deep arrays": (_toml_file("[network]\nsizes = [2, 1]\nx = " + "[" * 5000 + "]" * 5000 + "\n"), ["nested too deeply"]),
    "load_toml: a hostile LaTeX spelling": (_toml_file('[network]\nsizes = [2, 1]\nhidden = "a"\n[activations.a]\n'
                                                       'definition = "z^3"\nlatex = "\\\\end{document}"\n'), ["LaTeX spelling"]),
    "load_network: a FIFO": (_fifo_model, ["FIFO"]),
    "write_notes: into a file": (_write_notes_into("afile"), ["not a directory"]),
    "write_notes: into a missing directory": (_write_notes_into("missing"), ["not a directory"]),
    "write_all: two spellings of one file": (_write_all(lambda t: [(t / "a.tex", "x"), (t / "." / "a.tex", "y")]), ["same file"]),
    "write_all: a FIFO target": (_write_all(lambda t: (os.mkfifo(t / "p.md"), [(t / "p.md", "x")])[1], force=True), ["FIFO"]),
    "write_all: a NUL byte in a path": (_write_all(lambda t: [(str(t / "a\0b.tex"), "x")]), ["cannot write"]),
    "compile_pdf: a missing .tex": (lambda t: __import__("symprop.pdf", fromlist=["x"]).compile_pdf(t / "none.tex", t / "n.pdf"),
                                    ["does not exist"]),
}


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_bad_input_through_the_api(case, tmp_path):
    from symprop import ops
    from symprop.errors import SympropError

    build, words = API_CASES[case]
    registered = dict(ops.FUNCTIONS)
    try:
        with pytest.raises(SympropError) as info:
            build(tmp_path)
    finally:
        ops.FUNCTIONS.clear()
        ops.FUNCTIONS.update(registered)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    for word in words:
        assert word in message, f"{case}: {word!r} not in {message!r}"
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink() and p.suffix in (".tex", ".md", ".py", ".pdf")]
    assert not written, f"{case}: a file was written"


def test_the_catalogue_is_large():
    assert len(CASES) + len(SPECIAL) + len(API_CASES) + len(READ_ONLY) >= 150
