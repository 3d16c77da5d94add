"""The package as a user gets it: lazy imports, what type checkers see, the license, the version."""

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import symprop

ROOT = Path(__file__).resolve().parent.parent


def test_import_symprop_loads_no_sympy_until_a_name_is_used():
    code = ("import sys, symprop; assert 'sympy' not in sys.modules and 'numpy' not in sys.modules; "
            "symprop.relu; assert 'sympy' in sys.modules; from symprop import *; print(len(symprop.__all__))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    import symprop

    assert int(proc.stdout) == len(symprop.__all__) and all(hasattr(symprop, name) for name in symprop.__all__)
    defined_here = {name for name, value in vars(symprop).items() if getattr(value, "__module__", None) == "symprop"}
    assert set(symprop._WHERE) == set(symprop.__all__) - defined_here  # every public name: lazy, or a function of __init__


def test_help_and_version_load_no_sympy():
    code = ("import sys; from symprop import cli\ntry:\n    cli.main(['--version'])\nexcept SystemExit:\n    pass\n"
            "cli.main([]); assert 'sympy' not in sys.modules, 'sympy was imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("symprop 0.1.0") and "derive" in proc.stdout


def test_type_checkers_see_the_names_that_are_imported_lazily():
    tree = ast.parse((ROOT / "symprop" / "__init__.py").read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    seen = {alias.asname or alias.name: (node.module, alias.name)
            for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert seen == symprop._WHERE


def test_packaging_files():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "MIT"} and (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert (ROOT / "symprop" / "py.typed").exists()
    assert "version" in project["dynamic"] and f"## {symprop.__version__}" in (ROOT / "CHANGELOG.md").read_text()
    assert project["dependencies"] == ["sympy>=1.12", "numpy>=1.24", "jinja2>=3.1"]  # the core install: nothing else
