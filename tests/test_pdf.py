"""The PDF build: always the generated notes, compiled where nothing of the user's is read or written."""

import pytest

from symprop import cli, examples
from symprop.errors import LatexError
from symprop.pdf import compile_pdf, pdf_bytes

MODEL = "from symprop.examples import relu_neuron\nnet = relu_neuron()\n"
VALUES = "x=2,w=3,b=1,y=5"


@pytest.fixture(scope="module")
def relu_pdf():
    """The reference: the relu neuron's notes compiled on their own."""
    from symprop.cli import parse_values

    tex = examples.relu_neuron().derive().latex(standalone=True, values=parse_values(VALUES), learning_rate=0.1)
    return tex, pdf_bytes(tex.encode(), "reference")


def test_a_notes_file_lying_in_the_directory_is_not_compiled_instead(pdflatex, relu_pdf, tmp_path, monkeypatch):
    # the README's two commands in order: the first leaves the two-layer notes as notes.tex
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text(MODEL)
    other = examples.two_layer().derive().latex(standalone=True)
    for name in ("notes.tex", "symprop-notes.tex", "model.tex", "relu_neuron.tex"):
        (tmp_path / name).write_text(other)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert cli.main(["derive", "model.py", "--values", VALUES, "--pdf"]) == 0
    assert (tmp_path / "model.pdf").read_bytes() == relu_pdf[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before + ["model.pdf"])  # no stray .tex


def test_pdf_alone_writes_only_the_pdf(pdflatex, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text(MODEL)
    mine = tmp_path / "model.tex"
    mine.write_text("my own notes\n")  # a hand-written file of the .tex's name is no obstacle
    assert cli.main(["derive", "model.py", "--pdf", "out.pdf"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py", "model.tex", "out.pdf"]
    assert mine.read_text() == "my own notes\n"


def test_the_generated_notes_cannot_read_the_users_files(pdflatex, tmp_path):
    secret = tmp_path / "secret.tex"
    secret.write_text("SECRET\n")
    for reference in (str(secret), "../secret", "secret"):
        source = f"\\documentclass{{article}}\\begin{{document}}\\input{{{reference}}}\\end{{document}}\n"
        with pytest.raises(LatexError, match="pdflatex failed"):
            pdf_bytes(source.encode(), "hostile")


def test_the_environment_cannot_redirect_the_search(pdflatex, relu_pdf, tmp_path, monkeypatch):
    (tmp_path / "symprop-notes.tex").write_text(examples.two_layer().derive().latex(standalone=True))
    monkeypatch.setenv("TEXINPUTS", f"{tmp_path}:")
    assert pdf_bytes(relu_pdf[0].encode(), "notes") == relu_pdf[1]


def test_compile_pdf_of_a_users_file_finds_its_neighbours_but_is_that_file(pdflatex, tmp_path):
    fragment = examples.relu_neuron().derive().latex()
    standalone = examples.relu_neuron().derive().latex(standalone=True)
    preamble = standalone[: standalone.index(r"\begin{document}")]
    (tmp_path / "fragment.tex").write_text(fragment)
    (tmp_path / "symprop-notes.tex").write_text("\\documentclass{article}\\begin{document}WRONG\\end{document}\n")
    (tmp_path / "lecture.tex").write_text(preamble + "\\begin{document}\n\\input{fragment}\n\\end{document}\n")
    pdf = compile_pdf(tmp_path / "lecture.tex", tmp_path / "lecture.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000  # the fragment was typeset (WRONG is one word)
