"""check_gradient on the layers beyond the MLP: batch and layer norm, attention, convolution and pooling, dropout.

* The table of tests/layer_formulas.py: every hand-derived formula judged
  right, every mistaken variant judged wrong with its named diagnosis.
* The notes' own notation: every adjoint and gradient of the layer networks,
  as ``print(d)`` and ``d.latex()`` print it (and as its SymPy expression),
  read back and judged right (the parser reads what the notes write); the
  forward pass likewise evaluates to
  the derivation's numbers (the layer ops ⋆, maxpool, vec, mask...).
  A selection of networks by default, every network of layer_nets.table()
  with SYMPROP_ALL_LAYER_CHECKS=1 (CI).
"""


import numpy as np
import pytest

import layer_nets
import symprop
from layer_formulas import KINDS, ROWS, networks
from symprop import formula as fm
from symprop.errors import FormulaError
from symprop.printing import latex, text
from symprop.verify import MISTAKES
from symprop.verify.sampling import _Sampler, _target
from tests.tiers import enabled
from textbook_formulas import cases, judge

NETS = networks()
CASES = list(cases(ROWS))
LAYER_MISTAKES = {"bn_mean_path", "bn_variance_path", "softmax_axis", "ones_axis", "conv_flip", "conv_order", "pooling",
                  "dropout_mask", "constant_factor", "missing_sum"}


@pytest.mark.parametrize("row, formula, options, expected", CASES,
                         ids=[f"{row.network}-{row.target}-{expected or 'right'}-{i}" for i, (row, _, _, expected) in enumerate(CASES)])
def test_layer_formula(row, formula, options, expected):
    right_verdict, right_diagnosis, result = judge(NETS, row, formula, options, expected)
    assert right_verdict, f"[{row.source}] {formula}\n{result}"
    assert right_diagnosis, f"[{row.source}] {formula}: expected [{expected}]\n{result}"
    if expected is not None:
        assert f"[{expected}]" in str(result) and result.counterexample is not None


def test_the_table_covers_every_layer_kind_and_layer_mistake():
    assert all(1 <= len(row.mistakes) <= 3 for row in ROWS)
    for kind, names in KINDS.items():
        rows = [row for row in ROWS if row.network in names]
        assert len(rows) >= 5, kind
    assert {name for names in KINDS.values() for name in names} == set(NETS)
    keys = {m[1] for row in ROWS for m in row.mistakes}
    assert LAYER_MISTAKES <= keys <= {m.key for m in MISTAKES}
    # the usual mistakes each layer's teaching warns about, by layer kind
    by_kind = {kind: {m[1] for row in ROWS if row.network in names for m in row.mistakes} for kind, names in KINDS.items()}
    assert {"bn_mean_path", "bn_variance_path"} <= by_kind["batch norm"] & by_kind["layer norm"]
    assert {"softmax_axis", "transpose", "constant_factor"} <= by_kind["attention"]
    assert {"conv_flip", "conv_order", "pooling"} <= by_kind["convolution and pooling"]
    assert {"dropout_mask", "constant_factor"} <= by_kind["dropout"]


def test_the_textbook_batch_norm_backward_of_the_issue():
    """check_gradient(bn_mlp, "Z1", <the simplified BN backward>) in the notes' LaTeX, their text and CS231n's code."""
    net = layer_nets.bn_mlp()
    d = net.derive()
    for written in (latex(d.step("dZ1").expr), text(d.step("dZ1").expr)):
        result = symprop.check_gradient(net, "Z1", written)
        assert result.ok and "m = 6 examples" in str(result), str(result)
    forgot_mean = symprop.check_gradient(net, "Z1", "1/m·((𝟏 ⊘ σ1) 𝟏) ⊙ (m·∂L/∂Ẑ1 - Ẑ1 ⊙ ((∂L/∂Ẑ1 ⊙ Ẑ1) 𝟏 𝟏))")
    assert forgot_mean.diagnosis.key == "bn_mean_path" and "mu1" in forgot_mean.diagnosis.message
    forgot_variance = symprop.check_gradient(net, "Z1", "1/m·((𝟏 ⊘ σ1) 𝟏) ⊙ (m·∂L/∂Ẑ1 - ∂L/∂Ẑ1 𝟏 𝟏)")
    assert forgot_variance.diagnosis.key == "bn_variance_path" and "var1" in forgot_variance.diagnosis.message
    # a batch of a fixed size: m is that number
    six = layer_nets.bn_mlp(batch=6, loss=symprop.mse)
    assert symprop.check_gradient(six, "Z1", text(six.derive().step("dZ1").expr).replace("6", "m")).ok


# --------------------------------------------------------------------------
# The notes' own notation, read back
# --------------------------------------------------------------------------

SELECTION = ["bn_mlp", "bn_numeric_batch", "bn_residual", "ln_column", "ln_sequence", "softmax_rows", "attention_masked",
             "cnn_max", "cnn_avg", "conv1d", "conv_random2", "dropout_mlp", "dropout_cnn", "bn_gelu"]
ALL = enabled("SYMPROP_ALL_LAYER_CHECKS")
TABLE = layer_nets.table()
NAMES = sorted(TABLE) if ALL else SELECTION
DERIVED: dict = {}


def derived(name):
    if name not in DERIVED:
        DERIVED[name] = TABLE[name].derive()
    return DERIVED[name]


@pytest.mark.parametrize("name", NAMES)
def test_every_printed_gradient_reads_back_right(name):
    net, d = TABLE[name], derived(name)
    wrong = []
    for step in d.steps:
        if step.kind not in ("adjoint", "gradient"):
            continue
        for written in (latex(step.expr), text(step.expr), step.expr):  # and as the SymPy expression itself
            result = symprop.check_gradient(net, step.name if step.kind == "adjoint" else step.of, written)
            if not result.ok:
                wrong.append(f"{step.name}: {written}\n{result}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", ["dropout_mlp", "ln_column"])
def test_every_printed_batch_form_reads_back_right(name):
    """The notes' batch forms of the per-example column networks (1/(p_keep m) Δ2 (A1 ⊙ M_B)ᵀ), batched=True."""
    net, d = TABLE[name], derived(name)
    steps = [s for s in d.steps if s.kind == "gradient" and s.batched is not None]
    assert steps
    for step in steps:
        for written in (latex(step.batched), text(step.batched)):
            result = symprop.check_gradient(net, step.of, written, batched=True)
            assert result.ok, f"{step.name}: {written}\n{result}"


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith(("cnn", "conv", "dropout_cnn", "attention", "softmax_rows", "ln"))])
def test_the_printed_forward_pass_evaluates_to_the_derivations_numbers(name):
    """K1 ⋆ X + b1 𝟏, maxpool2(A1), vec(P2), mask(...), softmax_rows(Z): the layer ops of the notes, by symprop's helpers."""
    d = derived(name)
    adjoint = next(s.name for s in d.steps if s.kind == "adjoint")
    point = _Sampler(d, _target(d, adjoint), False, 0).draw(0, 3)
    ns = fm.namespace(d)
    for step in d.steps:
        if step.kind != "forward":
            continue
        for written in (latex(step.expr), text(step.expr)):
            value = fm.Evaluator(point.env, ops=ns.ops)(fm.parse(written, ns).tree, np.shape(point.env[step.name]))
            assert np.allclose(value, point.env[step.name], rtol=1e-12, atol=1e-12), f"{step.name} = {written}"


# --------------------------------------------------------------------------
# One clear line for what cannot be read
# --------------------------------------------------------------------------


@pytest.mark.parametrize("network, target, formula, options, words", [
    ("bn", "beta", r"\sum_i \frac{\partial L}{\partial \tilde{Z}^{[1]}}", {}, "declared over a batch"),
    ("bn", "W1", "dZ1 @ X.T", {"batched": True}, "already batch means"),
    ("cnn_max", "K1", "K1 ⋆ dZ1", {}, "no convolution of the network"),
    ("cnn_max", "X", "rot(K1) ∗full dZ1", {}, "rot180"),
    ("cnn_max", "X", r"K^{[1]} \ast dZ1", {}, "full convolution"),
    ("cnn_max", "A1", "up(dP1)", {}, "say the window"),
    ("cnn_max", "A1", "up3(dP1)", {}, "no pooling of the network with windows of 3"),
    ("cnn_max", "A1", "route_max(dP1; A2)", {}, "no pooling of the network"),
    ("cnn_max", "P2", "vec^2(df2)", {}, "vec^{-1}"),
    ("attention", "S", "mask(S, P, Q)", {}, "takes 2 operands"),
])
def test_what_cannot_be_read_is_one_clear_line(network, target, formula, options, words):
    try:
        result = symprop.check_gradient(NETS[network], target, formula, **options)
    except FormulaError as exc:
        message = str(exc)
    else:
        assert not result.ok
        message = result.shape_error or ""
    assert words in message and "\n" not in message, message
