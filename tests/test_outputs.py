"""Lossless output: atomic writes, never over a file symprop did not write,
and a failed run leaves every earlier file as it was."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from symprop.errors import OutputError
from symprop.outputs import GENERATED_MARK, check_writable, was_generated, write_atomic

ROOT = Path(__file__).resolve().parent.parent
RELU = (
    "import sympy as sp, symprop\nw, b, x, y = sp.symbols('w b x y')\n"
    "net = symprop.Network((symprop.relu(w * x + b) - y) ** 2, params=[w, b], inputs=[x], targets=[y])\n"
)


def run(args, cwd, path_prefix=None):
    env = {"PYTHONPATH": str(ROOT), "PATH": (f"{path_prefix}:" if path_prefix else "") + os.environ["PATH"]}
    return subprocess.run([sys.executable, "-m", "symprop", *args], cwd=cwd, capture_output=True, text=True, env=env)


def test_write_atomic_replaces_a_generated_file_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "notes.tex"
    write_atomic(target, f"% {GENERATED_MARK}\nfirst\n")
    write_atomic(target, f"% {GENERATED_MARK}\nsecond\n")
    assert target.read_text().endswith("second\n")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.tex"]


def test_written_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        fresh = write_atomic(tmp_path / "fresh.md", f"<!-- {GENERATED_MARK} -->\n")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644  # not mkstemp's private 0600
        os.chmod(fresh, 0o664)
        write_atomic(fresh, f"<!-- {GENERATED_MARK} -->\nagain\n")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o664  # a replaced file keeps its mode
    finally:
        os.umask(old)


def test_write_atomic_failure_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "notes.tex"
    target.write_text(f"% {GENERATED_MARK}\nold\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_atomic(target, f"% {GENERATED_MARK}\nnew\n")
    assert target.read_text().endswith("old\n")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.tex"]


def test_foreign_files_are_refused_unless_forced(tmp_path):
    mine = tmp_path / "mine.tex"
    mine.write_text("\\section{My own notes}\n")
    assert not was_generated(mine)
    with pytest.raises(OutputError, match="--force"):
        write_atomic(mine, "generated")
    assert mine.read_text() == "\\section{My own notes}\n"
    write_atomic(mine, f"% {GENERATED_MARK}\n", force=True)
    assert was_generated(mine)


def test_missing_directory_is_refused(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        check_writable(tmp_path / "missing" / "notes.tex")


def test_cli_regenerates_its_own_files_without_force(tmp_path):
    (tmp_path / "relu.py").write_text(RELU)
    assert run(["derive", "relu.py", "--tex", "n.tex", "--md", "n.md"], tmp_path).returncode == 0
    first = (tmp_path / "n.tex").read_bytes()
    assert first.splitlines()[0].decode().startswith("%") and GENERATED_MARK.encode() in first.splitlines()[0]
    assert GENERATED_MARK in (tmp_path / "n.md").read_text().splitlines()[0]
    assert run(["derive", "relu.py", "--tex", "n.tex", "--md", "n.md"], tmp_path).returncode == 0
    assert (tmp_path / "n.tex").read_bytes() == first


def test_a_refused_output_writes_nothing_at_all(tmp_path):
    (tmp_path / "relu.py").write_text(RELU)
    assert run(["derive", "relu.py", "--tex", "n.tex"], tmp_path).returncode == 0
    earlier = (tmp_path / "n.tex").read_bytes()
    (tmp_path / "n.md").write_text("my markdown\n")
    proc = run(["derive", "relu.py", "--values", "x=2,w=3,b=1,y=4", "--tex", "n.tex", "--md", "n.md"], tmp_path)
    assert proc.returncode == 2 and "n.md" in proc.stderr
    assert (tmp_path / "n.tex").read_bytes() == earlier  # not rewritten with the values
    assert (tmp_path / "n.md").read_text() == "my markdown\n"


def test_a_latex_failure_mid_run_leaves_earlier_files(tmp_path):
    """pdflatex fails after the notes were rendered: no file changes."""
    (tmp_path / "relu.py").write_text(RELU)
    assert run(["derive", "relu.py", "--tex", "n.tex", "--md", "n.md"], tmp_path).returncode == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    fake = tmp_path / "bin"
    fake.mkdir()
    script = fake / "pdflatex"
    script.write_text("#!/bin/sh\necho '! Emergency stop.' > notes.log\nexit 1\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    proc = run(["derive", "relu.py", "--values", "x=2,w=3,b=1,y=4", "--tex", "n.tex", "--md", "n.md", "--pdf"],
               tmp_path, path_prefix=str(fake))
    assert proc.returncode == 2 and "pdflatex failed" in proc.stderr and "Traceback" not in proc.stderr
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "bin"}
    assert after == {k: v for k, v in before.items() if k != "bin"}
