"""What the symprop command says: every option explained in --help, the optimizer's update on the terminal
as in the notes and the module, options that change nothing, and where each output went and how big it is."""

import io
import shutil
import subprocess
import sys

import numpy as np
import pytest

from symprop import cli
from symprop.examples import relu_neuron, two_layer

VALUES = "x=2,w=3,b=1,y=5"
NEWLINE = b"\n"


@pytest.fixture
def model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "relu_neuron.py"
    path.write_text("from symprop.examples import relu_neuron\nnet = relu_neuron()\n")
    return path


def test_every_option_of_every_command_has_a_help_text():
    parser = cli._build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    assert set(commands.choices) == {"derive", "emit", "check", "demo", "preamble"}
    assert all(action.help and action.help.strip() for action in parser._actions)
    for name, sub in commands.choices.items():
        assert sub.description, f"{name} has no description"
        for action in sub._actions:
            assert action.help and action.help.strip(), f"symprop {name}: {action.option_strings or action.dest} has no help"


def _numbers(out: str) -> dict:
    return {k: v for k, v in (line.split(" = ", 1) for line in out.splitlines() if " = " in line and not line.startswith(("(", " ")))}


def _module_step(optimizer, theta, gradient):
    """One step of the optimizer of the generated training module."""
    namespace = {}
    exec(compile(relu_neuron().derive().numpy(), "module", "exec"), namespace)
    opt = {"adam": lambda: namespace["Adam"](lr=0.1), "momentum": lambda: namespace["SGD"](lr=0.1, momentum=0.9)}[optimizer]()
    params = {"p": np.array(theta, dtype=float)}
    opt.step(params, {"p": np.array(gradient, dtype=float)})
    return float(params["p"])


@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_the_terminal_prints_the_optimizers_update_as_the_module_computes_it(model, capsys, optimizer):
    assert cli.main(["derive", str(model), "--values", VALUES, "--optimizer", optimizer]) == 0
    out = capsys.readouterr().out
    numbers = _numbers(out)
    assert float(numbers["dL/dw"]) == 8 and float(numbers["dL/db"]) == 4
    assert float(numbers["w_new"]) == pytest.approx(_module_step(optimizer, 3, 8), abs=1e-12)
    assert float(numbers["b_new"]) == pytest.approx(_module_step(optimizer, 1, 4), abs=1e-12)
    assert float(numbers["w_new"]) != pytest.approx(3 - 0.1 * 8) or optimizer == "momentum"  # not SGD's step
    if optimizer == "adam":
        assert "(9) w ← w - η·ŝ_w / (√r̂_w + ε)" in out and "w ← w - η·∂L/∂w" not in out
        assert float(numbers["s_w"]) == pytest.approx(0.8) and float(numbers["r_w"]) == pytest.approx(0.064)
    else:
        assert "(9) w ← w - η·v_w" in out and float(numbers["v_w"]) == 8


def test_the_terminal_and_the_notes_give_the_same_adam_step(model, capsys):
    assert cli.main(["derive", str(model), "--values", VALUES, "--optimizer", "adam", "--lr", "0.05", "--md", "n.md"]) == 0
    numbers = _numbers(capsys.readouterr().out)
    notes = (model.parent / "n.md").read_text()
    # the worked update of the notes: w <- 2.95 (3 - 0.05 * 0.8/0.1 / (sqrt(0.064/0.001) + 1e-8))
    assert float(numbers["w_new"]) == pytest.approx(2.95, abs=1e-8)
    assert r"w &\leftarrow 2.95" in notes and r"b &\leftarrow 0.95" in notes


def test_the_adam_step_of_a_matrix_network_is_torchs(torch):
    d = two_layer().derive()
    rng = np.random.default_rng(0)
    values = {s.name: rng.normal(size=tuple(int(n) for n in s.shape)) for s in d.network.declared}
    values["y"] = np.array([[1.0], [0.0]])
    numbers = cli._worked_values(d, values, "adam", 0.1)
    for p in d.network.params:
        tensor = torch.tensor(values[p.name], requires_grad=True)
        tensor.grad = torch.tensor(np.asarray(numbers[f"dL/d{p.name}"]).reshape(tensor.shape))
        torch.optim.Adam([tensor], lr=0.1).step()
        np.testing.assert_allclose(numbers[f"{p.name}_new"], tensor.detach().numpy(), rtol=0, atol=1e-12)


def test_options_that_change_nothing_get_a_note(model, capsys):
    assert cli.main(["derive", str(model), "--lr", "0.5"]) == 0
    assert "symprop: note: --lr" in capsys.readouterr().err
    assert cli.main(["derive", str(model), "--optimizer", "adam", "--py", "m.py"]) == 0
    assert "symprop: note: --optimizer adam" in capsys.readouterr().err
    assert cli.main(["derive", str(model), "--optimizer", "adam", "--md", "n.md", "--values", VALUES, "--lr", "0.5"]) == 0
    assert "note" not in capsys.readouterr().err


def test_a_recurrent_network_refuses_another_optimizer(tmp_path, capsys):
    path = tmp_path / "rnn.py"
    path.write_text("import symprop\nnet = symprop.rnn(2, 2, 2, T=2)\n")
    assert cli.main(["derive", str(path), "--optimizer", "adam"]) == 2
    err = capsys.readouterr().err
    assert "recurrent" in err and "--optimizer sgd" in err and len(err.strip().splitlines()) == 1


def test_derive_says_where_each_output_went_and_how_big_it_is(model, capsys, pdflatex):
    assert cli.main(["derive", str(model), "--values", VALUES, "--tex", "n.tex", "--md", "n.md", "--py", "n.py", "--pdf"]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 4
    for line, name in zip(lines, ["n.tex", "n.pdf", "n.md", "n.py"]):
        data = (model.parent / name).read_bytes()
        assert line.startswith(f"wrote {name} (") and f"{len(data) / 1000:.1f} kB)" in line, line
        if name != "n.pdf":
            assert f"({data.count(NEWLINE)} lines, " in line
    pages = int(lines[1].split("(")[1].split(" page")[0])
    assert pages >= 2
    if shutil.which("pdfinfo"):  # poppler's count, an independent reader of the PDF
        info = subprocess.run(["pdfinfo", str(model.parent / "n.pdf")], capture_output=True, text=True).stdout
        assert int(next(line.split()[1] for line in info.splitlines() if line.startswith("Pages:"))) == pages


def test_the_pdf_page_count_reads_compressed_object_streams():
    from symprop.pdf import pdf_pages

    plain = b"%PDF-1.4\n1 0 obj << /Type /Pages /Count 2 >> endobj\n2 0 obj << /Type /Page >> endobj\n3 0 obj << /Type/Page >> endobj\n"
    assert pdf_pages(plain) == 2
    import zlib

    body = zlib.compress(b"1 0 2 30 << /Type /Pages /Kids [4 0 R 5 0 R 6 0 R] >> << /Type /Page >> << /Type /Page >> << /Type /Page >>")
    packed = b"%PDF-1.5\n7 0 obj << /Type /ObjStm /N 4 /Filter /FlateDecode >> stream\n" + body + b"\nendstream\nendobj\n"
    assert pdf_pages(packed) == 3
    assert pdf_pages(b"%PDF-1.5\nnothing") is None


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_a_bar_on_a_terminal_and_nothing_elsewhere():
    pytest.importorskip("tqdm")
    from symprop.progress import Phases

    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        with Phases(["derive", "pdflatex"], stream=stream) as progress:
            progress.start("derive")
            progress.start("pdflatex")
    assert "derive" in terminal.getvalue() and "pdflatex: 1/2" in terminal.getvalue()
    assert pipe.getvalue() == ""


def test_derive_counts_its_phases(model, capsys, monkeypatch):
    pytest.importorskip("tqdm")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli.main(["derive", str(model), "--md", "n.md", "--py", "n.py"]) == 0
    shown = terminal.getvalue()
    for n, phase in enumerate(["load the model", "derive", "Markdown", "NumPy module", "write"]):
        assert f"{phase}: {n}/5" in shown, shown
    assert "wrote n.md (" in shown and "(1) z = w*x + b" in capsys.readouterr().out


def test_a_recurrent_network_with_values_refuses_another_optimizer_before_any_number(tmp_path, capsys):
    path = tmp_path / "rnn.py"
    path.write_text("import symprop\nnet = symprop.rnn(1, 1, 1, T=2)\n")
    assert cli.main(["derive", str(path), "--optimizer", "momentum", "--values", "x=[[1],[2]]"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "only --optimizer sgd" in captured.err
