"""Shared test fixtures.

Optional oracles (PyTorch, JAX, pdflatex) skip with a reason locally; CI sets
SYMPROP_REQUIRE_ORACLES=1 so that a missing oracle fails instead of skipping.
"""

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REQUIRE_ORACLES = os.environ.get("SYMPROP_REQUIRE_ORACLES") == "1"


def _missing(reason):
    if REQUIRE_ORACLES:
        pytest.fail(f"{reason} (SYMPROP_REQUIRE_ORACLES=1: CI must install it)")
    pytest.skip(reason)


@pytest.fixture
def torch():
    try:
        import torch as _torch
    except ImportError:
        _missing("PyTorch is not installed (pip install torch==2.13.0)")
    _torch.set_default_dtype(_torch.float64)
    return _torch


@pytest.fixture
def jax():
    """jax with float64 enabled (the JAX export's oracle: jax.grad)."""
    try:
        import jax as _jax
    except ImportError:
        _missing("JAX is not installed (pip install -e '.[jax]')")
    _jax.config.update("jax_enable_x64", True)
    return _jax


@pytest.fixture
def pdflatex():
    path = shutil.which("pdflatex")
    if path is None:
        _missing("pdflatex is not installed (apt-get install texlive-latex-base texlive-latex-recommended)")
    return path


def pytest_terminal_summary(terminalreporter):
    """Print the fuzzing counts (tests/test_fuzz.py, tests/test_fuzz_render.py) at the end of the session."""
    render = sys.modules.get("tests.test_fuzz_render") or sys.modules.get("test_fuzz_render")
    if render is not None and render.STATS["rendered"]:
        stats = render.STATS
        terminalreporter.write_line(
            f"fuzz render: {stats['rendered']} networks rendered (.tex, .md, worked example), {stats['compiled']} compiled,"
            f" {stats['refused']} not derivable"
        )
    fuzz = sys.modules.get("tests.test_fuzz") or sys.modules.get("test_fuzz")
    if fuzz is None or not fuzz.STATS["generated"]:
        return
    stats = fuzz.STATS
    kinks = f", {stats['at a kink']} discarded (no point away from a ReLU kink)" if stats.get("at a kink") else ""
    terminalreporter.write_line(
        f"fuzz: {stats['generated']} networks generated, {stats['failed']} failed, {len(stats['refused'])} refused{kinks}"
    )
    for line in stats["refused"][:20]:
        terminalreporter.write_line(f"  refused: {line}")
