"""Golden lecture notes: the rendered .tex and .md of the classic networks, byte for byte.

After an intended change to the notation, the templates or the engine,
regenerate the files and review the diff:

    python -m tests.regenerate_golden
"""

import os
import subprocess
import sys

import pytest

from tests.latex_log import compile_tex
from tests.regenerate_golden import CASES, GOLDEN, ROOT, render
from tests.tiers import FULL

FORMATS = ("tex", "md")


@pytest.fixture(scope="module")
def rendered():
    return {name: render(name) for name in CASES}


@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_golden_file(rendered, name, suffix):
    path = GOLDEN / f"{name}.{suffix}"
    assert path.exists(), f"{path} is missing: run python -m tests.regenerate_golden"
    expected = path.read_text(encoding="utf-8")
    assert rendered[name][suffix] == expected, (
        f"{path.name} differs from the rendered notes; if the change is intended, "
        "run python -m tests.regenerate_golden and review the diff"
    )


OVERFULL_POINTS = 5  # a box sticking out by more than this is visible: text cut off at the margin


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_tex_compiles_and_fits_the_page(pdflatex, name):
    compiled = compile_tex((GOLDEN / f"{name}.tex").read_text(encoding="utf-8"))
    assert compiled.pdf.startswith(b"%PDF")
    assert compiled.overfull(OVERFULL_POINTS) == [], f"{name}: boxes wider than the text, from pdflatex's log"


def test_rendering_twice_gives_the_same_bytes(rendered):
    again = render("two_layer")
    assert again == rendered["two_layer"]


@pytest.mark.parametrize("hash_seed", ["0", "12345"] if FULL else ["12345"])  # the full tier (tests/tiers.py) adds seed 0
def test_a_fresh_process_gives_the_same_bytes(rendered, hash_seed):
    # A new interpreter with another hash seed: no set or dict order, no Dummy
    # counter, no cache may leak into the notes.
    code = (
        "import sys; from tests.regenerate_golden import render; "
        "out = render(sys.argv[1]); sys.stdout.write(out['tex'] + '\\x00' + out['md'])"
    )
    env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(ROOT))
    for name in ("sigmoid_111", "residual"):
        run = subprocess.run([sys.executable, "-c", code, name], cwd=ROOT, env=env, capture_output=True, check=True)
        tex, md = run.stdout.decode("utf-8").split("\x00")
        assert tex == rendered[name]["tex"]
        assert md == rendered[name]["md"]
