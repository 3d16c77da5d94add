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
    """Compile a .tex file of the user's (e.g. one that \\inputs fragments of notes) into ``pdf_path``.

    Its neighbours are found by \\input, as pdflatex would find them next to
    it; the document itself is always the file named.  On a LaTeX error
    nothing is written and the first error line is reported.
    """
    tex_path, pdf_path = Path(tex_path), Path(pdf_path)
    if not tex_path.is_file():
        raise LatexError(f"cannot compile {tex_path}: the file does not exist")
    check_writable(pdf_path, force)
    source = tex_path.read_bytes()
    return write_atomic(pdf_path, pdf_bytes(source, tex_path.name, neighbours=tex_path.resolve().parent), force)


# The document is compiled as ./JOB.tex in a private temporary directory: the
# "./" stops kpathsea from searching TEXINPUTS for it, so no file of the same
# name anywhere can be compiled instead ("the wrong PDF", issue 11).
_JOB = "symprop-notes"


def pdf_bytes(source: bytes, name: str = "the notes", neighbours=None) -> bytes:
    """The PDF of a standalone .tex source, compiled in a private temporary directory.

    Nothing is read from or written to the user's directories: pdflatex runs
    with openin_any=p (no absolute paths, no parent directories, no dot
    files) and without the caller's TEXINPUTS, so generated notes can only
    use the TeX installation.  ``neighbours`` (compile_pdf of a user's own
    file) is the one directory \\input may also search.  ``name`` names the
    document in messages.  pdflatex runs again when it asks for a rerun.
    """
    pdflatex = pdflatex_path()
    with tempfile.TemporaryDirectory(prefix="symprop-latex-") as tmp:
        work = Path(tmp)
        (work / f"{_JOB}.tex").write_bytes(source)
        env = {key: value for key, value in os.environ.items() if not key.startswith(("TEXINPUTS", "openin_any", "openout_any"))}
        env.update(SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1",  # reproducible PDF metadata
                   openin_any="p", openout_any="p")
        if neighbours is not None:
            env["TEXINPUTS"] = f"{neighbours}{os.pathsep}"
        log_path, pdf_path = work / f"{_JOB}.log", work / f"{_JOB}.pdf"
        for _ in range(3):
            try:
                run = subprocess.run(
                    [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", f"./{_JOB}.tex"],
                    cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=300,
                )
            except subprocess.TimeoutExpired:
                raise LatexError(f"pdflatex took more than 5 minutes on {name}") from None
            log = log_path.read_text(errors="replace") if log_path.exists() else ""
            if run.returncode != 0 or not pdf_path.exists():
                raise LatexError(f"pdflatex failed on {name}: {_first_latex_error(log, run)}")
            if "Rerun to get" not in log:
                break
        return pdf_path.read_bytes()


def _first_latex_error(log: str, run) -> str:
    match = _LATEX_ERROR.search(log)
    if match is None:
        tail = (run.stdout or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return f"exit code {run.returncode} ({tail[0]})"
    line = _LATEX_LINE.search(log, match.end())
    where = f" (line {line.group(1)} of the .tex)" if line else ""
    return f"{match.group(1).strip()}{where}"


__all__ = ["compile_pdf", "pdf_bytes", "pdflatex_path"]


_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")


def pdf_pages(data: bytes):
    """The number of pages of a PDF, or None if none are found.

    pdfTeX keeps the page objects in compressed object streams (PDF 1.5), so
    those streams are inflated and searched too; no PDF library is needed.
    """
    import zlib

    count = len(_PAGE.findall(data))
    for match in re.finditer(rb"(?<!end)stream\r?\n", data):
        head = data[max(0, match.start() - 500):match.start()]
        if b"/ObjStm" not in head[head.rfind(b" obj"):]:
            continue
        try:
            body = zlib.decompressobj().decompress(data[match.end():])  # stops at the end of the stream's data
        except zlib.error:
            continue
        count += len(_PAGE.findall(body))
    return count or None
