"""A course's own document \\inputs the notes' fragment with the preamble symprop prints (issue 14)."""

import subprocess
import sys

import pytest

import symprop
from symprop import examples
from tests.regenerate_golden import TWO_LAYER_VALUES


def _course_document(preamble: str) -> str:
    return ("\\documentclass{article}\n" + preamble + "\\begin{document}\n\\section{Backpropagation}\n"
            "Our own text.\n\\input{notes}\n\\end{document}\n")


def _compile(tmp_path, document: str, fragment: str, pdflatex: str):
    (tmp_path / "notes.tex").write_text(fragment, encoding="utf-8")
    (tmp_path / "course.tex").write_text(document, encoding="utf-8")
    return subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "course.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def test_the_cli_prints_the_preamble_of_the_standalone_notes():
    printed = subprocess.run([sys.executable, "-m", "symprop", "preamble"], capture_output=True, text=True, check=True).stdout
    assert printed == symprop.preamble()
    assert "\\usetikzlibrary{arrows.meta}" in printed
    standalone = examples.two_layer().derive().latex(standalone=True)
    assert printed in standalone  # one source: the standalone notes open with the same lines


@pytest.fixture(scope="module")
def fragment():
    return examples.two_layer().derive().latex(values=TWO_LAYER_VALUES)  # graph, worked example, tables: every package


def test_a_course_document_with_the_printed_preamble_compiles(pdflatex, tmp_path, fragment):
    done = _compile(tmp_path, _course_document(symprop.preamble()), fragment, pdflatex)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "course.pdf").stat().st_size > 10_000


def test_without_the_preamble_the_fragment_does_not_compile(pdflatex, tmp_path, fragment):
    """The control: the packages the old README listed, without arrows.meta, are not enough."""
    old_recipe = "".join(f"\\usepackage{{{p}}}\n" for p in ("amsmath", "amssymb", "booktabs", "array", "graphicx", "tikz"))
    done = _compile(tmp_path, _course_document(old_recipe), fragment, pdflatex)
    assert done.returncode != 0
    assert "Arrow" in done.stdout or "arrows" in done.stdout
