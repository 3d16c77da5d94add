"""Lecture notes of a derivation: Derivation -> view model -> .tex / .md (+ PDF).

Everything printed comes from the Derivation: its steps, their chains of forms
with reasons, contributions (the chain rule, consumer by consumer), local
derivatives, batch forms and, for a worked example, ``Derivation.evaluate``.
The package ``symprop.notes`` turns them into a *view model* - a list of
sections of already printed LaTeX and already formatted numbers, one builder
per section - and the Jinja2 templates in ``templates/`` only lay it out.
Nothing knows a network or an answer by name; the op registry supplies each
activation's and loss's own notation.

Output is deterministic: no dates, no set or dict-order dependence, numbers
formatted by one function.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from . import notes as _sections
from .errors import SympropError
from .notes.context import Notes, _join_math, _outer_product_factors, _prime  # noqa: F401  (render_recurrent's)
from .notes.network import NetworkSection
from .notes.options import NoteOptions
from .notes.view import (  # noqa: F401  (re-exported: the view model and the formatting are public)
    Block,
    Document,
    Equation,
    Math,
    Plot,
    Section,
    Series,
    WorkedNumber,
    _equation_chain,
    _Format,
    escape_latex,
    escape_markdown,
    format_number,
    format_value,
)
from .outputs import write_all
from .pdf import compile_pdf, pdf_bytes, pdflatex_path  # noqa: F401  (compile_pdf, pdflatex_path: re-exported)
from .templating import environment, template_dir


class _Notes(Notes):
    """The notes' shared context with the network section's definitions of the loss and the activations.

    What the notes of recurrent networks (render_recurrent.py) build on: their
    own sections, the same prose, notes, reasons, equation blocks and definitions.
    """

    loss_definition = NetworkSection.loss_definition
    _indexable = NetworkSection._indexable
    activation_definitions = NetworkSection.activation_definitions


# ==========================================================================
# Templates
# ==========================================================================


def _environment():
    return environment(latex=True)


def _render(template: str, **context) -> str:
    return _environment().get_template(template).render(**context)


# ==========================================================================
# Public API
# ==========================================================================


def preamble() -> str:
    """The preamble lines a LaTeX document needs to ``\\input`` a fragment of the notes (the standalone notes' own)."""
    return _render("preamble.tex.j2")


def document(derivation, fmt: str = "tex", values=None, learning_rate=None, **options) -> Document:
    """The view model of the notes (what the templates receive); ``options``: see ``NoteOptions``."""
    return _sections.build(Notes(derivation, _Format(fmt), values, learning_rate, NoteOptions.from_keywords(options)))


def latex(derivation, standalone: bool = False, values=None, learning_rate=None, jupyter: bool = False, **options) -> str:
    """The derivation as LaTeX: a whole document (``standalone``) or a fragment to \\input.

    ``options`` (``NoteOptions``): ``optimizer`` "sgd" (default), "momentum" or
    "adam", the update rule the notes write out; ``sections`` / ``omit``:
    which sections to write (``symprop.notes.SECTION_NAMES``).
    """
    doc = document(derivation, "tex", values, learning_rate, **options)
    if jupyter:
        return _render("derivation_jupyter.tex.j2", doc=doc, steps=_jupyter_equations(derivation))
    return _render("derivation.tex.j2", doc=doc, standalone=standalone)


def markdown(derivation, values=None, learning_rate=None, **options) -> str:
    """The derivation as Markdown with $...$ maths (KaTeX's dialect) and a Mermaid computation graph (options as ``latex``)."""
    text = _render("derivation.md.j2", doc=document(derivation, "md", values, learning_rate, **options))
    for latex_spelling, katex_spelling in KATEX_SPELLINGS:
        text = text.replace(latex_spelling, katex_spelling)
    return text


# What the .tex spells with a macro of its preamble, and KaTeX (Markdown viewers) cannot: KaTeX's blackboard
# bold has no digits, so the indicator 1[z > 0] is drawn as the .tex's preamble draws it.
KATEX_SPELLINGS = ((r"\mathbb{1}", r"\mathrm{1\kern-0.25em l}"),)


def _jupyter_equations(derivation) -> list:
    """Every numbered equation in its final form (the notebook's compact view)."""
    notes = Notes(derivation, _Format("tex"))
    lines = []
    for s in derivation.steps:
        rel = r"\leftarrow" if s.kind == "update" else "="
        lines.append(Equation(notes.tex(s.symbol), rel, notes.tex(s.expr), tag=str(s.number), label=f"({s.number})"))
    return lines


# ==========================================================================
# Writing the notes of a network (examples/, symprop demo)
# ==========================================================================


def write_notes(derivation, directory, stem: str, values=None, learning_rate=None, pdf=None, force: bool = False,
                extra_files=(), **options) -> list:
    """Write ``stem.tex`` and ``stem.md`` (and ``stem.pdf``, and ``extra_files``: (path, text)) into ``directory``.

    ``pdf=None`` makes the PDF where pdflatex is installed; every file is
    rendered before any is written, and files symprop did not generate are
    never replaced unless ``force``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise SympropError(f"cannot write notes into {directory}: it is not a directory")
    # the derivation's own views: a recurrent derivation renders its notes differently
    tex = derivation.latex(standalone=True, values=values, learning_rate=learning_rate, **options)
    outputs = [(directory / f"{stem}.tex", tex),
               (directory / f"{stem}.md", derivation.markdown(values=values, learning_rate=learning_rate, **options))]
    if shutil.which("pdflatex") is not None if pdf is None else pdf:
        outputs.append((directory / f"{stem}.pdf", pdf_bytes(tex.encode("utf-8"), str(directory / f"{stem}.pdf"))))
    return write_all(outputs + list(extra_files), force)  # all or nothing


def notes_main(net, script: str, values=None, learning_rate=None, argv=None, stem=None, extra=None, code: bool = False,
               **options) -> list:
    """The command line of an example script: ``python examples/x.py [--outdir DIR] [--force]``.

    Writes ``<stem>.tex``, ``.md`` and ``.pdf`` (stem: the script's name) into examples/out,
    and ``extra`` files, {file name: function(derivation) -> text}; ``code=True`` adds the
    training module ``<stem>_train.py``; ``options`` are the notes' options (``NoteOptions``).
    """
    import argparse
    import sys

    stem = stem or Path(script).stem
    parser = argparse.ArgumentParser(description=f"Write the lecture notes of {stem} (.tex, .md, and .pdf with pdflatex).")
    parser.add_argument("--outdir", default=str(Path(script).resolve().parent / "out"), help="default: examples/out")
    parser.add_argument("--force", action="store_true", help="replace files that symprop did not generate")
    args = parser.parse_args(argv)
    try:
        outdir = Path(args.outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        derivation = net.derive()
        extra = dict(extra or {})
        if code:
            extra[f"{stem}_train.py"] = lambda d: d.numpy()
        files = [(outdir / name, make(derivation)) for name, make in extra.items()]
        written = write_notes(derivation, outdir, stem, values, learning_rate, force=args.force, extra_files=files, **options)
    except (SympropError, OSError) as exc:  # OSError: the directory cannot be made
        print(f"{stem}: error: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        raise SystemExit(2) from None
    from .cli import _print  # survives `python examples/x.py | head`, as the symprop command does
    from .outputs import describe_file

    for path in written:
        _print(f"wrote {path} ({describe_file(path)})")
    if not shutil.which("pdflatex"):
        _print("pdflatex not found: no PDF (apt-get install texlive-latex-base texlive-latex-recommended texlive-pictures)")
    return written


__all__ = [
    "Block", "Document", "Equation", "Math", "Section", "WorkedNumber",
    "compile_pdf", "pdf_bytes", "document", "escape_latex", "escape_markdown", "format_number", "format_value",
    "latex", "markdown", "notes_main", "pdflatex_path", "template_dir", "write_notes",
]
