"""The teaching sections of the notes, each checked against an oracle that is not the section itself.

The recurrence's instances are re-checked by check_gradient (the formula
parser reads BP1-BP4 written out for the layer); the collapsed layers of a
deep network keep every numbered equation.
"""

import re

import pytest

import symprop
from symprop import examples
from symprop.notes import Notes, _Format
from symprop.notes.recurrence import RecurrenceSection
from symprop.notes.structure import dense_layers


def _instances(net):
    d = net.derive()
    notes = Notes(d, _Format("tex"))
    section = RecurrenceSection(notes)
    return d, section.instances(dense_layers(notes))


def _formula(key, step, layers, scalar):
    """BP2-BP4 for the step's layer, as a student would write it (the checker's own notation)."""
    layer = next(lnum for lnum, dense in layers.items() if step in (dense.delta,) or step.of in (
        dense.weight.name, dense.bias.name if dense.bias is not None else None))
    w = "w" if scalar else "W"
    t = "" if scalar else "^T"
    below = f"a{layer - 1}" if layer > 1 else "x"
    if key == "BP2":
        return f"({w}{layer + 1}{t} delta{layer + 1}) * {layers[layer].a.activation}_prime(z{layer})"
    if key == "BP3":
        return f"delta{layer}"
    return f"delta{layer} {below}{t}"


@pytest.mark.parametrize("make", [examples.two_layer, examples.sigmoid_111, lambda: examples.deep(symprop.tanh, depth=4),
                                  examples.residual, lambda: symprop.mlp([3, 4, 4, 2], hidden=symprop.relu, loss=symprop.mse)])
def test_every_claimed_instance_of_the_recurrence_is_right(make):
    net = make()
    d, found = _instances(net)
    notes = Notes(d, _Format("tex"))
    layers = dense_layers(notes)
    for key in ("BP2", "BP3", "BP4"):
        for step in found[key]:
            result = symprop.check_gradient(d, step.name if step.kind == "adjoint" else step.of, _formula(key, step, layers, d.network.is_scalar))
            assert result.ok, (key, step.number, str(result))
    claimed = [s.name for key in ("BP1", "BP2", "BP3", "BP4", "product", "other") for s in found[key]]
    assert sorted(claimed) == sorted(s.name for s in d.steps if s.kind in ("adjoint", "gradient"))  # each step once


def test_a_dense_network_is_all_instances_and_a_residual_one_is_not():
    _, found = _instances(examples.deep(symprop.sigmoid, depth=5))
    assert len(found["BP2"]) == 4 and len(found["BP3"]) == len(found["BP4"]) == 5 and len(found["BP1"]) == 1
    _, found = _instances(examples.residual())
    assert not found["BP1"] and not found["BP2"]  # layer 3 takes a1 + a2: no dense layer above layers 1 and 2


def test_a_deep_network_collapses_its_repeated_layers_and_keeps_every_number():
    d = examples.deep(symprop.relu, depth=8).derive()
    tex = d.latex()
    subsections = re.findall(r"\\subsection\{([^}]*)\}", tex[: tex.index(r"\section{The pattern")])
    assert subsections == ["The output layer (layer 8)", "Layer 7", "Layers 6 to 1", "The gradient with respect to the input"]
    assert sorted(map(int, re.findall(r"\\tag\{(\d+)\}", tex))) == [s.number for s in d.steps]
    assert r"\delta^{[1]} &= \left(\left(W^{[2]}\right)^{\top} \delta^{[2]}\right) \odot \mathbb{1}\left[z^{[1]} > 0\right]" in tex


# ---------------------------------------------------------------------------
# numbers in the text, parsed back and compared with the engine's
# ---------------------------------------------------------------------------

import numpy as np  # noqa: E402

from symprop.render import document, format_number  # noqa: E402
from tests.regenerate_golden import CASES, GOLDEN  # noqa: E402

NUMBER = r"(-?\d+(?:\.\d+)?(?: \\times 10\^\{-?\d+\})?)"


def _number(text: str) -> float:
    mantissa, _, exponent = text.partition(r" \times 10^{")
    return float(mantissa) * (10.0 ** int(exponent.rstrip("}")) if exponent else 1.0)


def _case(name):
    factory, values, learning_rate, *options = CASES[name]
    d = factory().derive()
    return d, values, learning_rate, (options[0] if options else {})


def _fresh_loss(d, values, learning_rate):
    """The loss of a forward pass at the parameters after one SGD step, from the engine's own updated values."""
    engine = d.evaluate(values, learning_rate=learning_rate)
    moved = dict(values)
    for p in d.network.params:
        moved[p.name] = np.asarray(engine[f"{p.name}_new"], dtype=float).reshape(np.shape(np.asarray(values[p.name], dtype=float)))
    return float(np.asarray(d.evaluate(moved)["L"]).reshape(-1)[0])


@pytest.mark.parametrize("name", ["relu_neuron", "sigmoid_neuron", "sigmoid_111", "two_layer", "softmax_classifier", "tanh_neuron",
                                  "deep_sigmoid_vs_relu"])
def test_the_loss_after_the_update_is_a_fresh_forward_pass(name):
    d, values, learning_rate, options = _case(name)
    tex = (GOLDEN / f"{name}.tex").read_text()
    before, after = re.search(rf"L = {NUMBER} \\to {NUMBER}", tex).groups()
    engine = d.evaluate(values, learning_rate=learning_rate)
    assert before == format_number(engine["L"])
    assert after == format_number(_fresh_loss(d, values, learning_rate))


def test_the_reference_notes_loss_after_the_update():
    # the 1-1-1 sigmoid notes: 0.4429 -> 0.4220 (printed 0.422); the ReLU neuron: 4 -> 0
    assert re.search(r"L = 0\.4429 \\to 0\.422\$", (GOLDEN / "sigmoid_111.tex").read_text())
    assert re.search(r"L = 4 \\to 0\$", (GOLDEN / "relu_neuron.tex").read_text())


@pytest.mark.parametrize("name", ["relu_neuron", "sigmoid_neuron", "sigmoid_111", "tanh_neuron"])
def test_gradient_sentences_are_the_engines_numbers(name):
    d, values, learning_rate, _ = _case(name)
    engine = d.evaluate(values, learning_rate=learning_rate)
    tex = (GOLDEN / f"{name}.tex").read_text()
    notes = Notes(d, _Format("tex"))
    for p in d.network.params:
        g = re.search(rf"\\partial L / \\partial {re.escape(notes.name(p.name))} = {NUMBER}\$: raising", tex).group(1)
        assert g == format_number(engine[f"dL/d{p.name}"])
        step = re.search(rf"so the step (?:raises|lowers) \${re.escape(notes.name(p.name))}\$: \${NUMBER} \\to {NUMBER}\$", tex)
        assert step.group(2) == format_number(engine[f"{p.name}_new"])
        # the sign of the sentence is the sign of the gradient
        direction = "lowers" if engine[f"dL/d{p.name}"] > 0 else "raises"
        assert f"so the step {direction} ${notes.name(p.name)}$" in tex


@pytest.mark.parametrize("name", ["sigmoid_111", "two_layer", "wide"])
def test_the_gradient_check_section_is_a_centred_difference(name):
    d, values, learning_rate, _ = _case(name)
    tex = (GOLDEN / f"{name}.tex").read_text()
    section = tex[tex.index(r"\section{Checking a gradient numerically}"):]
    up, down, centred, backprop = (_number(m) for m in re.findall(rf"&= {NUMBER}", section)[:4])
    assert abs((up - down) / 2e-4 - centred) <= 1e-6 * max(1.0, abs(centred))  # the printed quotient is the quotient
    first = d.network.params[0]
    engine = np.asarray(d.evaluate(values)[f"dL/d{first.name}"], dtype=float)
    assert backprop == pytest.approx(float(engine.reshape(-1)[np.argmax(np.abs(engine))]), rel=1e-8)
    assert centred == pytest.approx(backprop, rel=1e-6)
    count = sum(int(np.asarray(values[p.name]).size) for p in d.network.params)
    assert f"{2 * count} forward passes" in section


def test_the_vanishing_table_is_the_engines_deltas():
    d, values, learning_rate, options = _case("deep_sigmoid_vs_relu")
    tex = (GOLDEN / "deep_sigmoid_vs_relu.tex").read_text()
    section = tex[tex.index(r"\section{Vanishing"):]
    rows = re.findall(r"^(\d) & \$([^$]*)\$ & \$?([^$&]*)\$? & \$([^$]*)\$ & \$?([^$\\]*)\$? \\\\$", section, re.M)
    assert [int(r[0]) for r in rows] == [6, 5, 4, 3, 2, 1]
    for net_derivation, column in ((d, 1), (options["compare"].derive(), 3)):
        engine = net_derivation.evaluate(values)
        for row in rows:
            assert row[column] == format_number(np.linalg.norm(np.asarray(engine[f"delta{row[0]}"], dtype=float)))
    assert re.search(r"The deep relu network keeps \$\d", section)  # the comparison named from the numbers


def test_the_exercise_answers_are_the_engines_numbers():
    d, values, learning_rate, _ = _case("sigmoid_111")
    tex = (GOLDEN / "sigmoid_111.tex").read_text()
    target = re.search(rf"Redo the worked example with the target \$y = {NUMBER}\$", tex).group(1)
    loss, gradient = re.search(rf"\\item \$L = {NUMBER}\$ and \$\\partial L / \\partial w_\{{1\}} = {NUMBER}\$", tex).groups()
    engine = d.evaluate({**values, "y": float(target)})
    assert loss == format_number(engine["L"]) and gradient == format_number(engine["dL/dw1"])


# ---------------------------------------------------------------------------
# mistakes and exercises: judged by check_gradient, read back from the notes
# ---------------------------------------------------------------------------


def _targets(d):
    """LaTeX of a left-hand side -> the name check_gradient takes (J for the batch gradients)."""
    notes = Notes(d, _Format("tex"))
    out = {}
    for s in d.steps:
        if s.kind in ("adjoint", "gradient"):
            lhs = notes.tex(s.symbol)
            out[lhs] = (s.name if s.kind == "adjoint" else s.of, False)
            if s.kind == "gradient":  # the gradients of the batch loss J
                out[lhs.replace(r"\frac{\partial L}", r"\frac{\partial J}", 1)] = (s.of, True)
    return out


@pytest.mark.parametrize("name", ["relu_neuron", "sigmoid_111", "two_layer", "wide", "softmax_classifier", "ten_classes"])
def test_every_wrong_formula_in_the_notes_is_wrong_and_every_answer_right(name):
    d, *_ = _case(name)
    tex = (GOLDEN / f"{name}.tex").read_text()
    targets = _targets(d)
    box = tex[tex.index(r"\section{Common mistakes}"):tex.index(r"\end{tabular}", tex.index(r"\section{Common mistakes}"))]
    wrong = re.findall(r"^\$(.+?) = (.+?)\$ & ", box, re.M)
    assert wrong
    for label, formula in wrong:
        target, batched = targets[label]
        assert not symprop.check_gradient(d, target, formula, batched=batched).ok, (label, formula)
    exercises = tex[tex.index(r"\section{Exercises}"):]
    options = re.findall(r"\(([a-c])\) \$(.+?) = (.+?)\$", exercises[: exercises.index(r"\end{enumerate}")])
    right = re.search(r"\\item \(([a-c])\), the equation derived above", exercises).group(1)
    assert len(options) >= 2
    for letter, label, formula in options:
        target, batched = targets[label]
        assert symprop.check_gradient(d, target, formula, batched=batched).ok == (letter == right), (letter, formula)


def test_the_other_activation_answer_is_symprops_derivation_of_that_network():
    d, *_ = _case("two_layer")
    tex = (GOLDEN / "two_layer.tex").read_text()
    answer = re.search(r"\\item \$\\delta\^\{\[1\]\} = (.+?)\$ \(symprop's derivation of the network with tanh", tex).group(1)
    x, y = d.network.inputs[0], d.network.targets[0]
    W1, b1, W2, b2 = d.network.params
    with_tanh = symprop.Network(symprop.cross_entropy(symprop.softmax(W2 * symprop.tanh(W1 * x + b1) + b2), y),
                                params=[W1, b1, W2, b2], inputs=[x], targets=[y])
    assert symprop.check_gradient(with_tanh, "delta1", answer).ok


# ---------------------------------------------------------------------------
# the operation-level graph: the gradients on its edges add up to the engine's
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["relu_neuron", "sigmoid_neuron", "sigmoid_111", "tanh_neuron"])
def test_the_gradients_on_the_edges_add_up_to_the_gradients(name):
    d, values, learning_rate, _ = _case(name)
    engine = d.evaluate(values, learning_rate=learning_rate)
    flows = {}
    for n in document(d, "tex", values, learning_rate).numbers:
        if n.key.startswith("opgraph:"):
            source = n.key[len("opgraph:"):].split("->")[0]
            flows[source] = flows.get(source, 0.0) + float(n.value)
    for sym in d.network.params + d.network.inputs:  # a fork adds the gradients of its uses
        assert flows[sym.name] == pytest.approx(float(engine[f"dL/d{sym.name}"]), rel=1e-12, abs=1e-15)


def test_the_gate_patterns_named_are_the_ones_in_the_graph():
    relu = (GOLDEN / "relu_neuron.tex").read_text()
    assert "a multiply node swaps its inputs" in relu and "ReLU, a max with 0, routes the gradient" in relu
    sigmoid = (GOLDEN / "sigmoid_111.tex").read_text()
    assert "routes the gradient" not in sigmoid  # no ReLU, no max
    w, v, x, y = sp.symbols("w v x y")
    a = symprop.tanh(w * x)
    forked = symprop.Network((v * a + a - y) ** 2, params=[w, v], inputs=[x], targets=[y]).derive()
    assert "a value used twice (a fork) receives the sum of the gradients" in forked.latex(values={"w": 1, "v": 2, "x": 2, "y": 1})


# ---------------------------------------------------------------------------
# notation, options, Markdown
# ---------------------------------------------------------------------------

import sympy as sp  # noqa: E402

from tests.markdown_math import katex_problems  # noqa: E402


def test_the_notation_box_defines_what_the_notes_use_and_nothing_else():
    scalar = (GOLDEN / "sigmoid_111.tex").read_text()
    box = scalar[scalar.index(r"\section{Notation}"):scalar.index(r"\section{The network}")]
    assert r"$\odot$" not in box and r"$\oslash$" not in box and r"\mathbb{1}" not in box  # none in a scalar sigmoid net
    matrix = (GOLDEN / "two_layer.tex").read_text()
    box = matrix[matrix.index(r"\section{Notation}"):matrix.index(r"\section{The network}")]
    rest = matrix[matrix.index(r"\section{The network}"):]
    for symbol, used in ((r"$\odot$", r"\odot"), (r"$\oslash$", r"\oslash"), (r"$\mathbb{1}\left[z > 0\right]$", r"\mathbb{1}"),
                         (r"$\mathbf{1}$", r"\mathbf{1}"), (r"$J$", r"\partial J"), (r"$\Delta^{[l]}$", r"\Delta^{[1]}")):
        assert symbol in box and used in rest


@pytest.mark.parametrize("name", sorted(CASES))
def test_markdown_maths_is_katexs(name):
    assert katex_problems((GOLDEN / f"{name}.md").read_text()) == []


def test_the_katex_check_finds_what_katex_would_not_render():
    bad = "text $a$ and $b\n\n$$\n\\begin{align}x \\tag{1}\\end{align}\n$$\n| a | b |\n| --- | --- |\n| $\\|x\\|$ | 2 |\n$\\mathbb{1}$ $\\symfit{x}$"
    problems = " ".join(katex_problems(bad))
    for expected in ("unbalanced $", "environment align", r"\tag", "in a table row", "no digits", r"\symfit"):
        assert expected in problems, expected


OPTIONS = [
    dict(learning_rate_symbol="alpha"),
    dict(layer_style="(l)"),
    dict(layer_style="_l"),
    dict(interleaved=True),
    dict(interleaved=True, layer_style="(l)", learning_rate_symbol="alpha", optimizer="adam"),
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("name", ["sigmoid_111", "two_layer"])
def test_course_options(name, options, pdflatex):
    from tests.latex_log import compile_tex

    d, values, learning_rate, _ = _case(name)
    tex = d.latex(standalone=True, values=values, learning_rate=learning_rate, **options)
    md = d.markdown(values=values, learning_rate=learning_rate, **options)
    assert sorted(map(int, re.findall(r"\\tag\{(\d+)\}", tex))) == [s.number for s in d.steps]
    if options.get("learning_rate_symbol") == "alpha":
        assert r"\eta" not in tex and r"\eta" not in md and r"\alpha" in tex
    if options.get("layer_style") == "(l)":
        assert "^{[" not in tex and (d.network.is_scalar or r"W^{(1)}" in tex) and r"\langle i\rangle" in tex
    if options.get("layer_style") == "_l" and not d.network.is_scalar:
        assert "^{[" not in tex and r"W_{1}" in tex
    doc = document(d, "tex", values, learning_rate, **options)
    engine = d.evaluate(values, learning_rate=learning_rate)
    for number in doc.numbers:  # interleaved or not, every number is the engine's and is printed
        if number.key in engine:
            assert np.array_equal(np.asarray(number.value), np.asarray(engine[number.key]))
        assert number.tex in tex, number.key
    assert katex_problems(md) == []
    compiled = compile_tex(tex)
    assert compiled.overfull(5) == []
