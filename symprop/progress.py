"""Progress of a long command: a tqdm bar on stderr when it is a terminal and tqdm is installed, nothing otherwise.

The bar counts the phases of the command (load the model, derive, each output);
it is drawn on stderr and erased when the command ends, so piped or redirected
output never contains it.
"""

from __future__ import annotations

import sys


class Phases:
    """``with Phases(["derive", "LaTeX"]) as p: p.start("derive"); ...`` - one step per phase."""

    def __init__(self, names, stream=None):
        self.names = list(names)
        self.stream = stream if stream is not None else sys.stderr
        self.bar = None
        self.started = False
        isatty = getattr(self.stream, "isatty", None)
        if not self.names or not (isatty and isatty()):
            return
        try:
            from tqdm import tqdm
        except ImportError:  # an optional dependency (pip install 'symprop[progress]')
            return
        self.bar = tqdm(total=len(self.names), file=self.stream, leave=False, dynamic_ncols=True, mininterval=0,
                        bar_format="{desc}: {n_fmt}/{total_fmt} {bar} {elapsed}")

    def start(self, name: str) -> None:
        """The next phase begins (the one before it is done)."""
        if self.bar is None:
            return
        self.bar.set_description_str(name, refresh=False)  # "pdflatex: 3/6": three phases done, this one running
        if self.started:
            self.bar.update(1)
        else:
            self.bar.refresh()
        self.started = True

    def clear(self) -> None:
        """Erase the bar before printing to the terminal (the next phase draws it again)."""
        if self.bar is not None:
            self.bar.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False
