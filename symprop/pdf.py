"""Compiling the generated LaTeX notes into a PDF with pdflatex."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import LatexError
from .outputs import check_writable, write_atomic

_LATEX_ERROR = re.compile(r"^! (.*)$", re.MULTILINE)
_LATEX_LINE = re.compile(r"^l\.(\d+)", re.MULTILINE)


def pdflatex_path() -> str:
    path = shutil.which("pdflatex")
    if path is None:
        raise LatexError(
            "pdflatex is not installed, so no PDF can be made "
            "(apt-get install texlive-latex-base texlive-latex-recommended texlive-pictures), or leave out --pdf"
        )
    return path


def compile_pdf(tex_path, pdf_path, force: bool = False) -> Path:
    """Compile ``tex_path`` with pdflatex into ``pdf_path``; return the PDF's path.

    On a LaTeX error nothing is written and the first error line is reported.
    """
    tex_path, pdf_path = Path(tex_path), Path(pdf_path)
    if not tex_path.is_file():
        raise LatexError(f"cannot compile {tex_path}: the file does not exist")
    check_writable(pdf_path, force)
    return write_atomic(pdf_path, pdf_bytes(tex_path.read_bytes(), tex_path), force)


def pdf_bytes(source: bytes, tex_path) -> bytes:
    """The PDF of a standalone .tex source, compiled in a temporary directory.

    pdflatex's .aux and .log never litter the user's directory; it runs twice
    when it asks for a rerun.  ``tex_path`` names the document in messages
    and is where \\input looks for neighbours.
    """
    tex_path = Path(tex_path)
    pdflatex = pdflatex_path()
    with tempfile.TemporaryDirectory(prefix="symprop-latex-") as tmp:
        work = Path(tmp)
        (work / "notes.tex").write_bytes(source)
        env = dict(
            os.environ,
            SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1",  # reproducible PDF metadata
            TEXINPUTS=f"{tex_path.resolve().parent}{os.pathsep}",  # \input finds the .tex's neighbours
        )
        for _ in range(3):
            try:
                run = subprocess.run(
                    [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "notes.tex"],
                    cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=300,
                )
            except subprocess.TimeoutExpired:
                raise LatexError(f"pdflatex took more than 5 minutes on {tex_path}") from None
            log = (work / "notes.log").read_text(errors="replace") if (work / "notes.log").exists() else ""
            if run.returncode != 0 or not (work / "notes.pdf").exists():
                raise LatexError(f"pdflatex failed on {tex_path}: {_first_latex_error(log, run)}")
            if "Rerun to get" not in log:
                break
        return (work / "notes.pdf").read_bytes()


def _first_latex_error(log: str, run) -> str:
    match = _LATEX_ERROR.search(log)
    if match is None:
        tail = (run.stdout or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return f"exit code {run.returncode} ({tail[0]})"
    line = _LATEX_LINE.search(log, match.end())
    where = f" (line {line.group(1)} of the .tex)" if line else ""
    return f"{match.group(1).strip()}{where}"


__all__ = ["compile_pdf", "pdf_bytes", "pdflatex_path"]
