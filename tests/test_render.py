"""Lecture notes: numbers, notation, escaping, structure and the PDF build.

The golden files (test_render_golden.py) pin the whole text of five networks;
these tests state the properties one by one, over more networks.
"""

import re
import shutil

import numpy as np
import pytest
import sympy as sp

import symprop
from symprop import examples, ops
from symprop.errors import InvalidNameError, LatexError, OutputError, SympropError
from symprop.outputs import GENERATED_MARK
from symprop.render import (
    _environment,
    compile_pdf,
    document,
    escape_latex,
    escape_markdown,
    format_number,
    format_value,
    template_dir,
)
from tests.regenerate_golden import CASES

# ---------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, text",
    [
        (8.0, "8"), (4.000000000001, "4"), (-0.0, "0"), (0.7310585786, "0.7311"), (-0.05628128, "-0.05628"),
        (0.0105754, "0.01058"), (2.2000000000000002, "2.2"), (12345.0, "12345"), (1.2e-7, r"1.2 \times 10^{-7}"),
        (123456.7, r"1.235 \times 10^{5}"),
    ],
)
def test_format_number(value, text):
    assert format_number(value) == text


def test_format_value_of_arrays():
    assert format_value([[1.0], [0.5]]) == r"\begin{bmatrix} 1 & 0.5 \end{bmatrix}^{\top}"
    assert format_value([[1, 2], [3, 4]]) == r"\begin{bmatrix} 1 & 2 \\ 3 & 4 \end{bmatrix}"
    assert "norm" in format_value(np.ones((20, 20)))  # too big to print: shape and norm


def _worked(name):
    factory, values, learning_rate, *_ = CASES[name]
    d = factory().derive()
    return d, values, learning_rate


@pytest.mark.parametrize("name", ["relu_neuron", "sigmoid_neuron", "sigmoid_111", "two_layer"])
def test_worked_numbers_are_the_engines_numbers(name):
    d, values, learning_rate = _worked(name)
    engine = d.evaluate(values, learning_rate=learning_rate)
    doc = document(d, "tex", values, learning_rate)
    tex = d.latex(standalone=True, values=values, learning_rate=learning_rate)
    keys = {n.key for n in doc.numbers}
    # every value, gradient and update of the engine is printed in the worked example
    assert {k for k in engine if not k.startswith("dL/dz") or k in keys} - keys <= {k for k in engine if k.startswith("dL/dz")}
    for number in doc.numbers:
        if number.key in engine:
            assert np.array_equal(np.asarray(number.value), np.asarray(engine[number.key])), number.key
        assert number.tex == format_value(number.value)
        assert number.tex in tex, f"{number.key} = {number.tex} is not in the notes"


def _printed(tex: str, lhs: str) -> float:
    """The number that ends the worked-example equation of ``lhs`` (possibly continued on the next lines)."""
    lines = [line.strip() for line in tex.splitlines()]
    number = re.compile(r"= (-?[\d.]+)( \\\\)?$")
    for i, line in enumerate(lines):
        if line.startswith(lhs + " &"):
            j = i + 1
            while j < len(lines) and lines[j].startswith("&"):  # its continuation lines
                j += 1
            for follow in lines[i:j]:
                found = number.search(follow)
                if found:
                    return float(found.group(1))
    raise AssertionError(f"no worked line for {lhs}")


# (the textbook's published numbers; a printed number may differ from a
# published one by one unit of its last digit: the textbooks round
# intermediate results, e.g. dL/dw1 = -0.056 x 2 = -0.112 where -0.1126 is exact)
PUBLISHED = {
    "relu_neuron": {
        "L": 4, r"\frac{\partial L}{\partial w}": 8, r"\frac{\partial L}{\partial b}": 4,
        r"\frac{\partial L}{\partial a}": 4,
    },
    "sigmoid_neuron": {
        r"\frac{\partial L}{\partial w}": -0.2115, r"\frac{\partial L}{\partial b}": -0.1058,
        "w": 0.5212, "b": 0.0106,
    },
    "sigmoid_111": {
        "a_{1}": 0.731, r"\hat{y}": 0.642, "L": 0.443, r"\delta_{2}": -0.358,
        r"\frac{\partial L}{\partial w_{2}}": -0.262, r"\delta_{1}": -0.056, r"\frac{\partial L}{\partial w_{1}}": -0.112,
        "w_{2}": 0.826, "w_{1}": 0.511,
    },
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_textbook_numbers_come_out(name):
    d, values, learning_rate = _worked(name)
    tex = d.latex(values=values, learning_rate=learning_rate)
    worked = tex[tex.index("A worked example"):]
    for lhs, published in PUBLISHED[name].items():
        printed = _printed(worked, lhs)
        decimals = len(str(published).split(".")[1]) if "." in str(published) else 0
        assert abs(printed - published) <= 10.0**-decimals, (lhs, printed, published)


def test_relu_neuron_chain_is_written_as_the_textbook_does():
    d, values, learning_rate = _worked("relu_neuron")
    tex = d.latex(values=values, learning_rate=learning_rate)
    chain = r"\frac{\partial L}{\partial w} &= \frac{\partial L}{\partial a} \cdot \frac{\partial a}{\partial z} \cdot \frac{\partial z}{\partial w}"
    assert chain in tex
    assert r"= 4 \cdot 1 \cdot 2 = 8" in tex
    assert r"z &= w x + b = 3 \cdot 2 + 1 = 7" in tex


def test_relu_neuron_with_target_4_gives_the_graph_view_numbers():
    d = examples.relu_neuron().derive()
    tex = d.latex(values={"x": 2, "w": 3, "b": 1, "y": 4})
    assert r"= 6 \cdot 1 \cdot 2 = 12" in tex  # dL/dw
    assert r"= 6 \cdot 1 \cdot 3 = 18" in tex  # dL/dx
    assert r"L &= \left(a - y\right)^{2} = \left(7 - 4\right)^{2} = 9" in tex


# ---------------------------------------------------------------------------
# structure and notation
# ---------------------------------------------------------------------------


def _all_networks():
    nets = {name: factory() for name, factory in examples.BUILTIN.items()}
    nets["deep_relu"] = examples.deep(ops.relu, depth=4)
    nets["mlp_mse"] = symprop.mlp([3, 2, 2], hidden=symprop.tanh, loss=symprop.mse)
    return nets


NETWORKS = _all_networks()


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_every_step_is_numbered_exactly_once(name):
    d = NETWORKS[name].derive()
    tex = d.latex(standalone=True)
    tags = re.findall(r"\\tag\{(\d+)\}", tex)
    assert sorted(map(int, tags)) == [s.number for s in d.steps]
    md = d.markdown()
    for s in d.steps:
        assert md.count(rf"\qquad ({s.number})") == 1


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_every_final_equation_is_in_the_notes_with_its_number(name):
    from symprop.notes import Notes, _Format

    d = NETWORKS[name].derive()
    tex = d.latex()
    notes = Notes(d, _Format("tex"))
    for s in d.steps:
        rel = r"\leftarrow" if s.kind == "update" else "="
        final = rf"&{rel} {notes.tex(s.expr)}"
        all_lines = tex.splitlines()
        tagged = [i for i, line in enumerate(all_lines) if rf"\tag{{{s.number}}}" in line]
        assert len(tagged) == 1, (s.number, tagged)
        # the loss op is written out on the tagged line below its own, and a
        # long form has its reason and number on the line below it
        shown = all_lines[tagged[0] - 1 : tagged[0] + 1]
        assert any(final in line for line in shown), (s.number, final, shown)


def test_headers_mark_generated_files():
    d = examples.two_layer().derive()
    assert d.latex(standalone=True).startswith(f"% {GENERATED_MARK}")
    assert d.latex().startswith(f"% {GENERATED_MARK}")
    assert d.markdown().startswith(f"<!-- {GENERATED_MARK}")
    assert d.markdown().splitlines()[0].endswith("-->")
    assert r"\pdfinfo{/Creator (" + GENERATED_MARK + ")}" in d.latex(standalone=True)


def test_fragment_and_standalone():
    d = examples.two_layer().derive()
    fragment, whole = d.latex(), d.latex(standalone=True)
    assert r"\documentclass" not in fragment and r"\begin{document}" not in fragment
    assert r"\section{The backward pass}" in fragment
    assert whole.count(r"\documentclass") == 1 and whole.rstrip().endswith(r"\end{document}")


def test_textbook_notation_of_the_mlp():
    tex = examples.two_layer().derive().latex()
    for expected in [
        r"W^{[1]}", r"\delta^{[1]}", r"\hat{y}", r"\odot", r"^{\top}",
        r"\delta^{[1]} &= \frac{\partial L}{\partial z^{[1]}} = \frac{\partial L}{\partial a^{[1]}} \odot \operatorname{ReLU}'\left(z^{[1]}\right)",
        r"\left(\left(W^{[2]}\right)^{\top} \delta^{[2]}\right) \odot \mathbb{1}\left[z^{[1]} > 0\right]",
        r"\frac{\partial L}{\partial W^{[1]}} &= \delta^{[1]} x^{\top}",
        r"= \hat{y} - y && \text{since } \mathbf{1}^{\top} y = 1",
        r"\frac{1}{m} \Delta^{[1]} X^{\top}",
        r"\frac{1}{m} \Delta^{[2]} \mathbf{1}_{m}",
        r"W^{[1]} &\leftarrow W^{[1]} - \eta \frac{\partial L}{\partial W^{[1]}}",
        r"J = \frac{\partial \hat{y}}{\partial z^{[2]}} = \operatorname{diag}\left(\hat{y}\right) - \hat{y} \hat{y}^{\top}",
    ]:
        assert expected in tex, expected
    assert r"\begin{align*}" in tex


def test_the_derivation_of_the_output_delta_keeps_each_step_with_its_reason():
    d = examples.two_layer().derive()
    delta = d.step("delta2")
    tex = d.latex()
    block = tex[tex.index(r"\delta^{[2]} &= "):]
    block = block[: block.index(r"\end{align*}")]
    assert block.count(r"\\") == len(delta.forms)  # the chain rule line + one line per form
    assert r"\text{substituting } \frac{\partial L}{\partial \hat{y}} \text{ from (6)}" in block
    assert r"\text{cancel entrywise}" in block


def test_tanh_derivative_is_written_as_one_minus_a_odot_a():
    tex = examples.residual().derive().latex()
    assert r"\mathbf{1} - a^{[2]} \odot a^{[2]}" in tex
    assert r"\tanh'\left(z\right) &= 1 - \tanh^{2}\left(z\right)" in tex or r"\tanh'\left(z\right) &=" in tex


def test_residual_notes_say_the_paths_add():
    tex = examples.residual().derive().latex()
    assert "the gradients along both paths add" in tex


def test_scalar_products_in_textbook_order():
    tex = examples.sigmoid_111().derive().latex()
    assert r"z_{2} &= w_{2} a_{1} + b_{2}" in tex
    assert r"&= \delta_{2} w_{2} a_{1} \left(1 - a_{1}\right)" in tex
    assert r"\sigma'\left(z\right) &= \sigma\left(z\right) \left(1 - \sigma\left(z\right)\right)" in tex


def _graph(doc):
    """The layer-level computation graph of a document (the graph section's figure)."""
    return next(s for s in doc.sections if s.kind == "graph").blocks[-1].graph


def test_big_networks_get_the_layer_level_graph():
    d = symprop.mlp([3] * 12 + [2], loss=symprop.cross_entropy).derive()
    graph = _graph(document(d))
    assert graph.compact
    assert any(n.kind == "ellipsis" for n in graph.nodes)
    assert len(graph.nodes) <= 12
    ids = [n.id for n in graph.nodes]
    assert len(ids) == len(set(ids))
    assert {e.source for e in graph.edges} | {e.target for e in graph.edges} <= set(ids)


def test_skip_connections_are_drawn_as_arcs():
    graph = _graph(document(examples.residual().derive()))
    bent = [(e.source, e.target) for e in graph.edges if e.bend]
    assert bent == [("n_a1", "n_z3")]


def test_graph_of_the_worked_example_carries_values_and_gradients():
    d, values, learning_rate = _worked("relu_neuron")
    graph = _graph(document(d, "tex", values, learning_rate))
    value = {n.id: n.value for n in graph.nodes}
    assert value["n_z"] == "7" and value["n_L"] == "4"
    gradient = {(e.source, e.target): e.gradient for e in graph.edges}
    assert gradient[("n_w", "n_z")] == "8" and gradient[("n_b", "n_z")] == "4"
    assert gradient[("n_y", "n_L")] == ""  # the target gets no gradient


def test_jupyter_reprs():
    d = examples.two_layer().derive()
    latex = d._repr_latex_()
    assert latex.startswith("$$") and latex.rstrip().endswith("$$")
    assert r"\section" not in latex and r"\tag" not in latex
    assert all(f"({s.number})" in latex for s in d.steps)
    assert d._repr_markdown_() == d.markdown()


def test_unknown_option_is_an_error():
    with pytest.raises(SympropError, match="unknown rendering option"):
        examples.relu_neuron().derive().latex(colour="red")


# ---------------------------------------------------------------------------
# templates
# ---------------------------------------------------------------------------


def test_templates_use_latex_safe_delimiters_and_strict_undefined():
    import jinja2

    for path in template_dir().glob("*.j2"):
        if path.name.endswith(".py.j2"):
            continue  # the generated Python module's template: no LaTeX braces to clash with
        text = path.read_text()
        assert "{{" not in text and not re.search(r"\{%-?\s*\w", text), f"{path.name} uses Jinja's default delimiters"
        assert "{% set" not in text and "((* set" not in text, f"{path.name} computes in the template"
    with pytest.raises(jinja2.UndefinedError):
        _environment().from_string("<< missing >>").render()


# ---------------------------------------------------------------------------
# names and escaping
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["w^", "w\\", "w{", "w%", "w}", "w$", "w&", "w#", "w~", "w 1"])
def test_hostile_parameter_names_are_rejected(bad):
    w, x, y = sp.Symbol(bad), sp.Symbol("x"), sp.Symbol("y")
    with pytest.raises(InvalidNameError, match="not a valid name"):
        symprop.Network((w * x - y) ** 2, params=[w], inputs=[x], targets=[y])


def _underscore_network():
    x, y = sp.MatrixSymbol("x_in", 3, 1), sp.MatrixSymbol("y_true", 2, 1)
    W, b = sp.MatrixSymbol("W_out", 2, 3), sp.MatrixSymbol("b_out_1_2", 2, 1)
    name = r"a_b & 100% $money$ #1 {x} ~y^2 \relax <tag>"
    return symprop.Network(symprop.mse(symprop.sigmoid(W * x + b), y), params=[W, b], inputs=[x], targets=[y], name=name)


def test_underscores_in_names_are_subscripts():
    tex = _underscore_network().derive().latex()
    assert r"W_{\mathrm{out}}" in tex and r"x_{\mathrm{in}}" in tex and r"b_{\mathrm{out},1,2}" in tex
    assert r"_{\mathrm{true}}_k" not in tex  # no double subscripts (the loss's sum over k)
    assert r"{y_{\mathrm{true}}}_k" in tex


def test_free_text_title_is_escaped():
    d = _underscore_network().derive()
    tex, md = d.latex(standalone=True), d.markdown()
    assert r"a\_b \& 100\% \$money\$ \#1 \{x\} \textasciitilde{}y\textasciicircum{}2 \textbackslash{}relax \textless{}tag\textgreater{}" in tex
    assert r"a\_b &amp; 100% \$money\$ #1 {x} \~y^2 \\relax &lt;tag&gt;" in md


def test_escaping_functions():
    assert escape_latex("50% of a_b\nnext") == r"50\% of a\_b next"
    assert escape_markdown("# not a heading") == r"\# not a heading"
    assert escape_markdown("*x* [link](y) `c`") == r"\*x\* \[link\](y) \`c\`"


def test_hostile_names_and_title_still_compile(pdflatex, tmp_path):
    tex = tmp_path / "hostile.tex"
    tex.write_text(_underscore_network().derive().latex(standalone=True, values={
        "x_in": [1, 2, 3], "y_true": [0, 1], "W_out": [[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]], "b_out_1_2": [0, 0],
    }))
    assert compile_pdf(tex, tmp_path / "hostile.pdf").exists()


def test_a_user_name_starting_with_d_is_not_a_derivative():
    decay, x, y = sp.symbols("decay x y")
    d = symprop.Network((decay * x - y) ** 2, params=[decay], inputs=[x], targets=[y]).derive()
    tex = d.latex()
    assert r"\mathrm{decay}" in tex
    assert r"\partial \mathrm{ecay}" not in tex


# ---------------------------------------------------------------------------
# every activation and loss renders and compiles
# ---------------------------------------------------------------------------


def _registry_networks():
    nets = {}
    for name, rule in sorted(ops.activations().items()):
        nets[f"act_{name}"] = symprop.mlp([2, 3, 2], hidden=rule, loss=symprop.mse, name=f"{name} network")
    for name, loss in sorted(ops.LOSSES.items()):
        nets[f"loss_{name}"] = symprop.mlp([2, 2, 3], hidden=symprop.tanh, loss=loss, name=f"{name} network")
    z = sp.Symbol("z")
    swish2 = symprop.activation("swish2", sp.Lambda(z, z / (1 + sp.exp(-z))))
    w, b, x, y = sp.symbols("w b x y")
    nets["custom_scalar"] = symprop.Network((swish2(w * x + b) - y) ** 2, params=[w, b], inputs=[x], targets=[y],
                                            name="custom activation")
    return nets


def test_every_registered_op_renders_and_compiles(pdflatex, tmp_path):
    nets = _registry_networks()
    inputs = []
    for name, net in nets.items():
        d = net.derive()
        fragment = d.latex()
        assert d.markdown()
        assert sorted(map(int, re.findall(r"\\tag\{(\d+)\}", fragment))) == [s.number for s in d.steps]
        (tmp_path / f"{name}.tex").write_text(fragment)
        inputs.append(rf"\input{{{name}.tex}}\clearpage")
    # the fragments as a lecturer would \input them into a document of their own
    standalone = examples.relu_neuron().derive().latex(standalone=True)
    preamble = standalone[: standalone.index(r"\begin{document}")]
    (tmp_path / "all.tex").write_text(preamble + "\\begin{document}\n" + "\n".join(inputs) + "\n\\end{document}\n")
    assert compile_pdf(tmp_path / "all.tex", tmp_path / "all.pdf").exists()


# ---------------------------------------------------------------------------
# the PDF build
# ---------------------------------------------------------------------------


def test_compile_pdf_reports_the_first_latex_error_and_keeps_the_tex(pdflatex, tmp_path):
    tex = tmp_path / "broken.tex"
    tex.write_text("\\documentclass{article}\n\\begin{document}\n\\undefinedmacro\n\\end{document}\n")
    with pytest.raises(LatexError, match=r"Undefined control sequence.*line 3"):
        compile_pdf(tex, tmp_path / "broken.pdf")
    assert tex.exists() and not (tmp_path / "broken.pdf").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.tex"]  # no .aux, .log or partial PDF


def test_compile_pdf_without_pdflatex(monkeypatch, tmp_path):
    tex = tmp_path / "notes.tex"
    tex.write_text(examples.relu_neuron().derive().latex(standalone=True))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(LatexError, match="pdflatex is not installed"):
        compile_pdf(tex, tmp_path / "notes.pdf")


def test_compile_pdf_marks_the_pdf_and_will_not_replace_a_foreign_one(pdflatex, tmp_path):
    from symprop.outputs import was_generated

    tex = tmp_path / "notes.tex"
    tex.write_text(examples.relu_neuron().derive().latex(standalone=True))
    pdf = compile_pdf(tex, tmp_path / "notes.pdf")
    assert was_generated(pdf)
    first = pdf.read_bytes()
    assert compile_pdf(tex, pdf).read_bytes() == first  # reproducible, and ours to replace
    foreign = tmp_path / "mine.pdf"
    foreign.write_bytes(b"%PDF-1.4 my own work")
    with pytest.raises(OutputError, match="not generated by symprop"):
        compile_pdf(tex, foreign)
    assert foreign.read_bytes() == b"%PDF-1.4 my own work"


# ---------------------------------------------------------------------------
# optimizers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("name", ["sigmoid_neuron", "two_layer"])
def test_update_rule_of_each_optimizer_is_numbered_once(name, optimizer):
    d, values, learning_rate = _worked(name)
    tex = d.latex(standalone=True, values=values, learning_rate=learning_rate, optimizer=optimizer)
    assert sorted(map(int, re.findall(r"\\tag\{(\d+)\}", tex))) == [s.number for s in d.steps]
    expected = {"sgd": r"\eta \frac{\partial L}", "momentum": r"\mu v_{", "adam": r"\beta_2 r_{"}[optimizer]
    assert expected in tex


def test_first_optimizer_steps_of_the_worked_example():
    d, values, learning_rate = _worked("sigmoid_neuron")
    engine = d.evaluate(values, learning_rate=learning_rate)
    momentum = {n.key: n.value for n in document(d, "tex", values, learning_rate, optimizer="momentum").numbers}
    # from a zero velocity, the first momentum step is the plain gradient step
    assert momentum["momentum:w_new"] == pytest.approx(engine["w_new"])
    adam = {n.key: n.value for n in document(d, "tex", values, learning_rate, optimizer="adam").numbers}
    # at t = 1 Adam moves each parameter by about eta against the sign of its gradient
    assert adam["adam:w_new"] == pytest.approx(0.5 + learning_rate, rel=1e-6)
    assert adam["adam:b_new"] == pytest.approx(0 + learning_rate, rel=1e-6)


def test_unknown_optimizer_is_an_error():
    with pytest.raises(SympropError, match="unknown optimizer 'lbfgs'"):
        examples.relu_neuron().derive().latex(optimizer="lbfgs")


# ---------------------------------------------------------------------------
# sections: each builder alone, each switchable
# ---------------------------------------------------------------------------


def test_each_section_can_be_switched_off_and_built_alone():
    from symprop.notes import SECTION_NAMES

    d, values, learning_rate = _worked("sigmoid_111")
    whole = document(d, "tex", values, learning_rate)
    kinds = [s.kind for s in whole.sections]
    assert set(SECTION_NAMES) - set(kinds) <= {"vanishing"}  # a 2-layer scalar network with values: all but depth's
    for name in SECTION_NAMES:
        without = document(d, "tex", values, learning_rate, omit=[name])
        assert [s.kind for s in without.sections] == [k for k in kinds if k != name]
        alone = document(d, "tex", values, learning_rate, sections=[name])
        assert [s.kind for s in alone.sections] == [k for k in kinds if k == name]
        assert [s.title for s in alone.sections] == [s.title for s in whole.sections if s.kind == name]
    assert r"\section{The computation graph}" not in d.latex(values=values, omit="graph")


def test_unknown_section_is_an_error():
    with pytest.raises(SympropError, match="unknown section.*'graphs'.*the sections are notation, network, graph"):
        examples.relu_neuron().derive().latex(omit=["graphs"])


# ---------------------------------------------------------------------------
# printing: arguments of entrywise functions, superscripts, scalars in matrix networks
# ---------------------------------------------------------------------------

_z = sp.Symbol("z")


@pytest.mark.parametrize("body, tex, text", [
    (sp.exp(-_z**2), r"V e^{- \left(W x + b\right)^{2}}", "V exp(-(W x + b)**2)"),
    (_z**2, r"V \left(W x + b\right)^{2}", "V (W x + b)**2"),
    (_z**3 - _z, r"V \left(\left(W x + b\right)^{3} - \left(W x + b\right)\right)", "V ((W x + b)**3 - (W x + b))"),
    (-_z, r"V \left(- \left(W x + b\right)\right)", "V (-(W x + b))"),
    (sp.sin(_z), r"V \sin{\left(W x + b \right)}", "V sin(W x + b)"),
])
def test_a_compound_argument_of_an_entrywise_function_is_bracketed(body, tex, text):
    x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 1, 1)
    W, b, V = sp.MatrixSymbol("W", 2, 3), sp.MatrixSymbol("b", 2, 1), sp.MatrixSymbol("V", 1, 2)
    net = symprop.Network(symprop.mse(V * (W * x + b).applyfunc(sp.Lambda(_z, body)), y), params=[W, b, V], inputs=[x], targets=[y])
    d = net.derive()
    assert rf"\hat{{y}} &= {tex} \tag{{1}}" in d.latex()
    assert rf"\hat{{y}} &= {tex} &&" in d.markdown()
    assert str(d).splitlines()[0] == f"(1) ŷ = {text}"
    assert f"# (1) ŷ = {text}" in d.numpy()  # the generated module's comments


def test_no_double_superscripts():
    w, b, x, y = sp.symbols("w b x y")
    tanh_neuron = symprop.Network((symprop.tanh(w * x + b) - y) ** 2, params=[w, b], inputs=[x], targets=[y]).derive().latex()
    assert r"1 - \left(a^{(i)}\right)^{2}" in tanh_neuron  # the batch form: example i of a, squared
    X, Y, T = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1), sp.MatrixSymbol("t", 4, 1)
    W1, W2 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("W2", 2, 4)
    hidden = symprop.softmax(W1 * X)
    two_heads = symprop.Network(symprop.cross_entropy(symprop.softmax(W2 * hidden), Y) + symprop.cross_entropy(hidden, T),
                                params=[W1, W2], inputs=[X], targets=[Y, T]).derive().latex()
    assert r"\hat{y}^{[2]} \left(\hat{y}^{[2]}\right)^{\top}" in two_heads  # the softmax Jacobian of layer 2
    for tex in (tanh_neuron, two_heads):
        assert not re.search(r"\^\{[^{}]*\}\^", tex)


def test_a_scalar_parameter_in_a_matrix_network():
    x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
    W, s = sp.MatrixSymbol("W", 2, 3), sp.Symbol("s")
    d = symprop.Network(symprop.mse(symprop.tanh(s * (W * x)), y), params=[W, s], inputs=[x], targets=[y]).derive()
    values = {"x": [1, 2, 3], "y": [0, 1], "W": [[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]], "s": 0.5}
    tex = d.latex(values=values)
    assert r"$s$ & $\mathbb{R}$ & parameter of layer 1 \\" in tex
    engine = d.evaluate(values, learning_rate=0.1)
    printed = {n.key: n.value for n in document(d, "tex", values, 0.1).numbers}
    assert printed["dL/ds"] == engine["dL/ds"] and printed["s_new"] == engine["s_new"]


def test_a_dead_relu_in_a_residual_sum():
    # z2 = w2 a1 + a1 + b2: the local derivative dz2/da1 is w2 + 1, not (delta2 w2 + delta2)/delta2,
    # which is 0/0 where the ReLU of layer 2 is dead (delta2 = 0)
    w1, b1, w2, b2, x, y = sp.symbols("w1 b1 w2 b2 x y")
    a1 = symprop.relu(w1 * x + b1)
    d = symprop.Network((symprop.relu(w2 * a1 + a1 + b2) - y) ** 2, params=[w1, b1, w2, b2], inputs=[x], targets=[y]).derive()
    local = next(c.local for c in d.step("da1").contributions if c.consumer == "z2")
    assert sp.simplify(local - (w2 + 1)) == 0
    tex = d.latex(values={"x": 1, "w1": 1, "b1": 0, "w2": -2, "b2": 0, "y": 1})  # z2 = -1: dead
    assert "NaN" not in tex and r"\infty" not in tex
    assert r"\frac{\partial z_{2}}{\partial a_{1}} &= w_{2} + 1 = \left(-2\right) + 1 = -1" in tex
