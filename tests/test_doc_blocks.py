"""Every ```python block of README.md and docs/*.md runs (issue 14).

The blocks of one file run in order in one namespace (a page is read top to
bottom), in a temporary working directory, so that files they write land
there.  Convention: ```python blocks are complete and run; ```py blocks are
fragments shown for their shape (they name your own code or data) and are not
run; ```bash / ```toml / ``` blocks are not Python.
"""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<code>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(path: Path) -> list:
    """[(line number, source)] of the ```python blocks of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group("code")) for m in FENCE.finditer(text) if m.group("lang") == "python"]


PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_the_pages_have_python_blocks():
    assert len(python_blocks(ROOT / "README.md")) >= 4
    assert sum(len(python_blocks(p)) for p in PAGES) >= 20


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_python_block_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__doc_block__"}
    for line, source in python_blocks(page):
        code = compile(source, f"{page.name}:{line}", "exec")
        try:
            exec(code, namespace)
        except Exception as exc:  # the block and its line, not only a traceback into exec
            raise AssertionError(f"{page.relative_to(ROOT)} line {line}: {type(exc).__name__}: {exc}") from exc
    assert os.getcwd() == str(tmp_path)


def test_the_table_of_activations_is_the_registry():
    """docs/reference/ops.md lists each built-in activation with its definition and derivative, as the registry has them."""
    import sympy as sp

    import symprop
    from symprop.ops import T, U

    z, a = sp.symbols("z a")
    text = (ROOT / "docs" / "reference" / "ops.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| `([^`]+)` \| `([^`]+)` \|$", text, re.MULTILINE)
    names = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "silu", "gelu"]
    assert [r[0] for r in rows] == names
    for name, definition, derivative in rows:
        rule = getattr(symprop, name)
        assert definition == sp.sstr(rule.definition_expr.xreplace({T: z})), name
        assert derivative == sp.sstr(rule.derivative.xreplace({T: z, U: a})), name
