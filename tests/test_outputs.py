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
    with pytest.raises(OutputError, match="disk full; nothing was changed"):
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


# ---------------------------------------------------------------------------
# all or nothing (issue 11, item 7)
# ---------------------------------------------------------------------------

from symprop.outputs import write_all  # noqa: E402

MARKED = f"% {GENERATED_MARK}\n"


@pytest.mark.parametrize("text", [
    f"my notes\n% {GENERATED_MARK}\n",  # the marker on a later line
    f"my notes mention {GENERATED_MARK}\n",  # in the first line, but not as its header
    f"%{GENERATED_MARK}\n",  # no space: not the header symprop writes
    f"x{MARKED}",
])
def test_the_marker_counts_only_as_the_first_lines_header(tmp_path, text):
    mine = tmp_path / "mine.tex"
    mine.write_text(text)
    assert not was_generated(mine)
    with pytest.raises(OutputError, match="--force"):
        write_atomic(mine, MARKED)
    assert mine.read_text() == text


def test_a_later_rename_failure_puts_back_every_earlier_file(tmp_path, monkeypatch):
    first, second, third = (tmp_path / n for n in ("a.tex", "b.md", "c.py"))
    first.write_text(MARKED + "old a\n")
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 3:  # a.tex and b.md are in place, c.py fails
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OutputError, match="No space left on device; nothing was changed"):
        write_all([(first, MARKED + "new a\n"), (second, "<!-- " + GENERATED_MARK + " -->\n"), (third, "# x\n")])
    monkeypatch.undo()
    assert first.read_text() == MARKED + "old a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tex"]  # no b.md, no temporaries, no backups


def test_a_staging_failure_writes_nothing(tmp_path, monkeypatch):
    import tempfile

    (tmp_path / "a.tex").write_text(MARKED + "old\n")
    real = tempfile.mkstemp
    count = []

    def mkstemp(*args, **kwargs):
        count.append(1)
        if len(count) == 2:
            raise PermissionError(13, "Permission denied")
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    with pytest.raises(OutputError, match="cannot create a file in .*Permission denied; nothing was written"):
        write_all([(tmp_path / "a.tex", MARKED + "new\n"), (tmp_path / "b.md", "x")])
    monkeypatch.undo()
    assert (tmp_path / "a.tex").read_text() == MARKED + "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tex"]


def test_one_file_under_two_spellings_is_refused(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "n.tex").write_text(MARKED)
    os.link(tmp_path / "n.tex", tmp_path / "hard.tex")
    os.symlink(tmp_path / "n.tex", tmp_path / "soft.tex")
    for other in ("sub/../n.tex", "./n.tex", "hard.tex", "soft.tex", str(tmp_path / "n.tex")):
        with pytest.raises(OutputError, match="same file"):
            write_all([(tmp_path / "n.tex", MARKED + "1\n"), (tmp_path / other, MARKED + "2\n")])
    assert (tmp_path / "n.tex").read_text() == MARKED


def test_writing_through_a_symbolic_link_keeps_the_link(tmp_path):
    (tmp_path / "real.tex").write_text(MARKED)
    os.symlink("real.tex", tmp_path / "link.tex")
    write_atomic(tmp_path / "link.tex", MARKED + "new\n")
    assert os.path.islink(tmp_path / "link.tex") and (tmp_path / "real.tex").read_text() == MARKED + "new\n"


@pytest.mark.parametrize("special", ["/dev/null", "/dev/zero", "fifo", "/proc/self/fd/0"])
def test_special_files_are_never_written_even_with_force(tmp_path, special):
    if special == "fifo":
        special = tmp_path / "fifo"
        os.mkfifo(special)
    with pytest.raises(OutputError, match="cannot write"):
        write_atomic(special, MARKED, force=True)


def test_a_kernel_file_with_force_is_one_error(tmp_path):
    with pytest.raises(OutputError, match="nothing was written"):
        write_all([(tmp_path / "a.tex", MARKED), ("/proc/version", MARKED)], force=True)
    assert not (tmp_path / "a.tex").exists()


def test_demo_into_an_impossible_directory_creates_nothing(tmp_path):
    proc = run(["demo", "--outdir", "/proc/symprop-demo/x"], tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "cannot create the directory" in proc.stderr
    proc = run(["demo", "--outdir", "fresh/deeper"], tmp_path)
    assert proc.returncode == 0 and (tmp_path / "fresh" / "deeper" / "two_layer.tex").exists()
