"""Compile a .tex with pdflatex and read its log: overfull boxes and the page count.

The tests of the notes' layout use this (symprop's own PDF build throws the log
away): a line that runs into the margin shows up in pdflatex's log as
``Overfull \\hbox (171.2pt too wide) in paragraph at lines 80--81``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_OVERFULL = re.compile(r"^Overfull \\[hv]box \((\d+(?:\.\d+)?)pt too (?:wide|high)\) (.*)$", re.MULTILINE)
_PAGES = re.compile(r"Output written on \S+ \((\d+) pages?")


@dataclass(frozen=True)
class Compiled:
    pdf: bytes
    log: str

    def overfull(self, more_than: float = 0.0) -> list:
        """[(points, where)] of the boxes that stick out by more than ``more_than`` points."""
        return [(float(pt), where) for pt, where in _OVERFULL.findall(self.log) if float(pt) > more_than]

    @property
    def pages(self) -> int:
        found = _PAGES.search(self.log)
        return int(found.group(1)) if found else 0


def compile_tex(tex: str) -> Compiled:
    """pdflatex twice (cross-references settle) in a temporary directory; a LaTeX error fails with its log."""
    pdflatex = shutil.which("pdflatex")
    assert pdflatex, "pdflatex is not installed"
    with tempfile.TemporaryDirectory(prefix="symprop-test-latex-") as tmp:
        work = Path(tmp)
        (work / "notes.tex").write_text(tex, encoding="utf-8")
        for _ in range(2):
            run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "notes.tex"],
                                 cwd=work, stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
            log = (work / "notes.log").read_text(errors="replace")
            assert run.returncode == 0, "pdflatex failed:\n" + "\n".join(line for line in log.splitlines() if line.startswith("!"))
            if "Rerun" not in log:
                break
        return Compiled((work / "notes.pdf").read_bytes(), log)
