"""symprop derive with --tex/--md/--pdf/--values: files, messages, exit codes."""

import shutil

import pytest

from symprop import cli
from symprop.outputs import GENERATED_MARK

MODEL = "from symprop.examples import relu_neuron\nnet = relu_neuron()\n"


@pytest.fixture
def model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "relu_neuron.py"
    path.write_text(MODEL)
    return path


def test_derive_writes_tex_md_and_pdf(model, pdflatex, capsys):
    code = cli.main(["derive", str(model), "--tex", "notes.tex", "--md", "notes.md", "--pdf",
                     "--values", "x=2,w=3,b=1,y=5"])
    assert code == 0
    tex = (model.parent / "notes.tex").read_text()
    assert tex.startswith(f"% {GENERATED_MARK}") and r"= 4 \cdot 1 \cdot 2 = 8" in tex
    assert (model.parent / "notes.md").read_text().startswith(f"<!-- {GENERATED_MARK}")
    assert (model.parent / "notes.pdf").read_bytes().startswith(b"%PDF")


def test_derive_pdf_alone_names_the_pdf_after_the_model_and_writes_no_tex(model, pdflatex):
    assert cli.main(["derive", str(model), "--values", "x=2,w=3,b=1,y=5", "--pdf"]) == 0
    assert (model.parent / "relu_neuron.pdf").exists() and not (model.parent / "relu_neuron.tex").exists()


@pytest.mark.parametrize(
    "values, message",
    [
        ("x=2,w=3,b=1", "no value given for y"),
        ("x=2,w=3,b=1,y=nan", "not finite"),
        ("x=2,w=3,b=1,y=1e999", "not finite"),
        ("x=2,w=3,b=1,y=5,q=1", "unknown names"),
    ],
)
def test_bad_values_are_one_line_errors(model, capsys, values, message):
    assert cli.main(["derive", str(model), "--tex", "notes.tex", "--values", values]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (model.parent / "notes.tex").exists()


def test_missing_output_directory(model, capsys):
    assert cli.main(["derive", str(model), "--tex", "nowhere/notes.tex"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_missing_pdflatex_is_reported_before_anything_is_written(model, capsys, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert cli.main(["derive", str(model), "--tex", "notes.tex", "--pdf"]) == 2
    assert "pdflatex is not installed" in capsys.readouterr().err
    assert not (model.parent / "notes.tex").exists()


def test_a_file_symprop_did_not_write_needs_force(model, capsys):
    mine = model.parent / "notes.md"
    mine.write_text("my notes\n")
    assert cli.main(["derive", str(model), "--md", "notes.md"]) == 2
    assert "--force" in capsys.readouterr().err
    assert mine.read_text() == "my notes\n"
    assert cli.main(["derive", str(model), "--md", "notes.md", "--force"]) == 0
    assert mine.read_text().startswith(f"<!-- {GENERATED_MARK}")


def test_derive_writes_the_chosen_optimizer(model):
    assert cli.main(["derive", str(model), "--tex", "notes.tex", "--optimizer", "adam", "--values", "x=2,w=3,b=1,y=5"]) == 0
    assert r"\beta_1" in (model.parent / "notes.tex").read_text()


def test_a_tex_that_does_not_compile_is_not_written(model, pdflatex, monkeypatch, capsys):
    from symprop import render

    broken = "\\documentclass{article}\n\\begin{document}\n\\undefinedmacro\n\\end{document}\n"
    monkeypatch.setattr(render, "latex", lambda *args, **kwargs: broken)
    assert cli.main(["derive", str(model), "--tex", "notes.tex", "--md", "notes.md"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pdflatex failed" in err[0] and "Undefined control sequence" in err[0]
    assert not (model.parent / "notes.tex").exists() and not (model.parent / "notes.md").exists()
    # --no-latex-check: the user takes the .tex as it is
    assert cli.main(["derive", str(model), "--tex", "notes.tex", "--no-latex-check"]) == 0
    assert (model.parent / "notes.tex").read_text() == broken
