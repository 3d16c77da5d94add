"""Shared test fixtures.

Optional oracles (PyTorch, JAX, pdflatex) skip with a reason locally; CI sets
SYMPROP_REQUIRE_ORACLES=1 so that a missing oracle fails instead of skipping.
"""

import json
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
        _missing("PyTorch is not installed (the extra 'torch': pip install -e '.[torch]' --extra-index-url https://download.pytorch.org/whl/cpu)")
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


FUZZ_MODULES = {"render": ("tests.test_fuzz_render", "test_fuzz_render"), "fuzz": ("tests.test_fuzz", "test_fuzz")}
_WORKER_STATS = []  # under pytest-xdist: the counts each worker sent back


def _local_stats() -> dict:
    """{"render"/"fuzz": that module's STATS} of the fuzzing modules this process ran."""
    out = {}
    for key, names in FUZZ_MODULES.items():
        module = next((sys.modules[n] for n in names if n in sys.modules), None)
        if module is not None:
            out[key] = module.STATS
    return out


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):  # a pytest-xdist worker: send its counts to the controller
        session.config.workeroutput["fuzz_stats"] = json.dumps(_local_stats())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):  # pytest-xdist's controller, as each worker ends
    _WORKER_STATS.append(json.loads(getattr(node, "workeroutput", {}).get("fuzz_stats", "{}")))


def _merged_stats() -> dict:
    merged = {}
    for stats in [_local_stats(), *_WORKER_STATS]:
        for key, counts in stats.items():
            into = merged.setdefault(key, {})
            for name, value in counts.items():
                into[name] = into.get(name, type(value)()) + value  # counts add up, lists of refusals join
    return merged


def pytest_terminal_summary(terminalreporter):
    """Print the fuzzing counts (tests/test_fuzz.py, tests/test_fuzz_render.py) at the end of the session."""
    merged = _merged_stats()
    stats = merged.get("render")
    if stats and stats["rendered"]:
        terminalreporter.write_line(
            f"fuzz render: {stats['rendered']} networks rendered (.tex, .md, worked example), {stats['compiled']} compiled,"
            f" {stats['refused']} not derivable"
        )
    stats = merged.get("fuzz")
    if not stats or not stats["generated"]:
        return
    kinks = f", {stats['at a kink']} discarded (no point away from a ReLU kink)" if stats.get("at a kink") else ""
    terminalreporter.write_line(
        f"fuzz: {stats['generated']} networks generated, {stats['failed']} failed, {len(stats['refused'])} refused{kinks}"
    )
    for line in stats["refused"][:20]:
        terminalreporter.write_line(f"  refused: {line}")
