"""Finding and loading the Jinja2 templates (one template per output file).

The templates live in the repository's top-level ``templates/`` directory; an
installed wheel carries them as ``symprop/templates`` (force-included by
pyproject.toml).
"""

from __future__ import annotations

import functools
from pathlib import Path

from .errors import SympropError


def template_dir() -> Path:
    """templates/ of the installed wheel (symprop/templates) or of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "derivation.tex.j2").is_file():
            return candidate
    raise SympropError(f"symprop's templates are missing (looked in {here / 'templates'} and {here.parent / 'templates'})")


@functools.lru_cache(maxsize=2)
def environment(latex: bool):
    """The Jinja2 environment; ``latex=True``: delimiters that never occur in LaTeX or Markdown.

    ``<< >>`` for values, ``((* *))`` for statements, ``((= =))`` for comments
    (Jinja's ``{{ }}`` clash with LaTeX braces).  StrictUndefined everywhere:
    a typo in a template is an error, never an empty string in the output.
    """
    import jinja2

    delimiters = (
        dict(
            variable_start_string="<<",
            variable_end_string=">>",
            block_start_string="((*",
            block_end_string="*))",
            comment_start_string="((=",
            comment_end_string="=))",
        )
        if latex
        else {}
    )
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        **delimiters,
    )
