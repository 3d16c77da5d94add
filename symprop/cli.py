"""The ``symprop`` command: derive | emit | check | demo.

Every problem is reported as one line ``symprop: error: ...`` on stderr with
exit code 2; files are written atomically and never over a file symprop did
not generate (unless --force).
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import sys
from pathlib import Path

from . import __version__
from .errors import EvaluationError, OutputError, SympropError, describe

EXIT_USAGE = 2
EXIT_INTERNAL = 3  # a bug, not bad input


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: the same one line, exit 2
        print(f"symprop: error: {' '.join(message.split())} (usage: {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def parse_values(text: str) -> dict:
    """``x=2,w=3,W1=[[1,2],[3,4]]`` -> {"x": 2, ...}; literals only (no code is run)."""
    if len(text) > 100_000:
        raise EvaluationError("--values is too long")
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    values = {}
    for item in items:
        if not item.strip():
            continue
        if "=" not in item:
            raise EvaluationError(f"--values: expected name=value, got {item.strip()!r}")
        name, raw = item.split("=", 1)
        name = name.strip()
        if raw.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
            values[name] = float(raw)  # a number, but not finite: evaluate() says so
            continue
        try:
            value = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise EvaluationError(f"--values: the value of {name!r} is not a number or a list of numbers: {raw.strip()!r}") from None
        values[name] = value
    return values


def _seed(text: str) -> int:
    """--seed: a whole number >= 0 (NumPy's generators take no other)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


MODEL_HELP = "a .py file defining a symprop.Network (named `net`), or a .toml model"
FORCE_HELP = "replace output files that symprop did not generate"


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="symprop", description="Symbolic backpropagation: derive, render, emit, verify.")
    parser.add_argument("--version", action="version", version=f"symprop {__version__}", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser,
                                help="one of these (`symprop COMMAND --help` lists its options):")

    d = sub.add_parser("derive", help="derive the backprop equations of a model file and write notes/code",
                       description="Print the backprop equations of a model file; write them as notes (.tex, .md, .pdf) "
                                   "and as a NumPy training module (.py).")
    d.add_argument("model", help=MODEL_HELP)
    d.add_argument("--tex", metavar="PATH", help="write a standalone LaTeX derivation")
    d.add_argument("--md", metavar="PATH", help="write a Markdown derivation")
    d.add_argument("--pdf", nargs="?", const=True, metavar="PATH",
                   help="write the notes as a PDF (needs pdflatex): PATH, or the --tex path with .pdf, or MODEL.pdf here")
    d.add_argument("--py", metavar="PATH", help="write the standalone NumPy training module")
    d.add_argument("--values", metavar="NAME=V,...", help="a worked numeric example, e.g. x=2,w=3,b=1,y=5")
    d.add_argument("--lr", type=float, default=None, help="learning rate of the worked example's update (default 0.1)")
    d.add_argument("--optimizer", choices=("sgd", "momentum", "adam"), default="sgd",
                   help="the update rule the notes and --values write out (default sgd)")
    d.add_argument("--force", action="store_true", help=FORCE_HELP)
    d.add_argument("--no-latex-check", dest="latex_check", action="store_false",
                   help="write --tex without test-compiling it (by default, where pdflatex is installed, "
                        "a .tex that does not compile is an error and nothing is written)")

    e = sub.add_parser("emit", help="write the standalone NumPy (or PyTorch, or JAX) training module of a model file",
                       description="Write the standalone training module of a model file: NumPy (forward, backward, "
                                   "optimizers, train), a PyTorch nn.Module or JAX functions with the derived backward.")
    e.add_argument("model", help=MODEL_HELP)
    e.add_argument("-o", "--output", metavar="PATH", required=True, help="the .py file to write")
    e.add_argument("--target", choices=("numpy", "torch", "jax"), default="numpy",
                   help="numpy (default): a NumPy module; torch: an nn.Module whose backward is the derived one; "
                        "jax: pure functions on a jax.custom_vjp with the derived backward")
    e.add_argument("--force", action="store_true", help=FORCE_HELP)

    c = sub.add_parser(
        "check", help="check a hand-derived gradient formula",
        description="Check a hand-derived formula for dL/d(param) against the derivation; exit 0 if right, 1 if wrong.",
    )
    c.add_argument("model", help=MODEL_HELP)
    c.add_argument("--param", required=True,
                   help="the parameter or input the formula is the gradient of (or an adjoint: delta1, ...)")
    c.add_argument("--formula", required=True, help=r"e.g. 'delta1 @ x.T' or '\delta^{[1]} x^{\top}'")
    batch = c.add_mutually_exclusive_group()
    batch.add_argument("--batched", dest="batched", action="store_true", default=None,
                       help="the formula is the batch-mean gradient (default: decided by its notation)")
    batch.add_argument("--per-example", dest="batched", action="store_false", help="the formula is per example")
    c.add_argument("--seed", type=_seed, default=0, help="seed of the random sample points (default 0)")
    c.add_argument("--layers", metavar="NUMBERING", default=None,
                   help="the formula's layer numbering: ng (default), nielsen, ufldl, goodfellow, or an integer offset")
    c.add_argument("--rows", dest="convention", action="store_const", const="rows", default="columns",
                   help="the row (batch-first) convention: examples as rows, weights (in, out)")
    c.add_argument("--hyperparams", metavar="NAME=V,...", default=None, help="numbers for the network's hyper-parameters")

    demo = sub.add_parser("demo", help="derive a built-in two-layer network: writes .tex, .md, .py and .pdf",
                          description="Derive a built-in two-layer network (3-4-2, ReLU, softmax, cross-entropy) and write "
                                      "its notes (.tex, .md, and .pdf where pdflatex is installed) and its training module.")
    demo.add_argument("--outdir", default="symprop_demo", help="directory for the outputs (created if missing; default symprop_demo)")
    demo.add_argument("--force", action="store_true", help=FORCE_HELP)

    sub.add_parser("preamble", help="print the LaTeX preamble lines a document needs to \\input the notes' fragment",
                   description="Print the LaTeX preamble lines a course's document needs to \\input the fragment of the notes "
                               "(symprop derive --tex writes a standalone document; d.latex() the fragment).")
    return parser


def _derive_phases(args) -> list:
    """The phases of ``symprop derive`` that the progress bar counts."""
    compiles = args.pdf or (args.tex and args.latex_check and shutil.which("pdflatex"))
    return ["load the model", "derive", *(["LaTeX"] if args.tex or args.pdf else []), *(["pdflatex"] if compiles else []),
            *(["Markdown"] if args.md else []), *(["NumPy module"] if args.py else []), "write"]


def _derive_outputs(derivation, args, stem: str, progress=None) -> list:
    """Every requested output as (path, bytes-or-text), all made before anything is written."""
    from .progress import Phases

    progress = progress or Phases([])
    values = parse_values(args.values) if args.values else None
    lr = args.lr if args.lr is not None else (0.1 if values else None)
    outputs = []
    if args.tex or args.pdf:
        progress.start("LaTeX")
        tex = derivation.latex(standalone=True, values=values, learning_rate=lr, optimizer=args.optimizer)
    if args.tex:
        outputs.append((Path(args.tex), tex))
    if args.pdf:  # only the PDF: its .tex is compiled in a private directory, never written here
        from .pdf import pdf_bytes

        progress.start("pdflatex")
        if isinstance(args.pdf, str):
            pdf_path = Path(args.pdf)
        else:
            pdf_path = Path(args.tex).with_suffix(".pdf") if args.tex else Path(stem + ".pdf")
        outputs.append((pdf_path, pdf_bytes(tex.encode("utf-8"), str(pdf_path))))
    elif args.tex and args.latex_check and shutil.which("pdflatex"):
        from .pdf import pdf_bytes

        # compiled and thrown away: a .tex that does not compile is an error, never a file written with exit 0
        progress.start("pdflatex")
        pdf_bytes(tex.encode("utf-8"), args.tex)
    if args.md:
        progress.start("Markdown")
        outputs.append((Path(args.md), derivation.markdown(values=values, learning_rate=lr, optimizer=args.optimizer)))
    if args.py:
        progress.start("NumPy module")
        outputs.append((Path(args.py), derivation.numpy()))
    return outputs


def _write_all(outputs, force: bool) -> list:
    """Write the outputs only if every one of them may be written (a refusal writes nothing)."""
    from .outputs import write_all

    return write_all(outputs, force)


def _report(written) -> None:
    """Say on stderr where each output went and how big it is (lines of text, pages of a PDF)."""
    from .outputs import describe_file

    for path in written:
        print(f"wrote {path} ({describe_file(path)})", file=sys.stderr)


def _note(message: str) -> None:
    print(f"symprop: note: {message}", file=sys.stderr)


def _check_options(args, recurrent: bool) -> None:
    """--lr and --optimizer only matter where something shows the update: a note where they change nothing."""
    notes = bool(args.tex or args.md or args.pdf)
    if args.lr is not None and not args.values:
        _note("--lr sets the step of the worked example and has no effect without --values")
    if args.optimizer != "sgd":
        if recurrent:
            raise SympropError(f"--optimizer {args.optimizer}: the notes and the terminal of a recurrent network write "
                               "gradient descent with clipping; only --optimizer sgd is available for them")
        if not (notes or args.values):
            _note(f"--optimizer {args.optimizer} sets the update rule of the notes and of --values, "
                  "and has no effect without --tex, --md, --pdf or --values (the --py module has every optimizer)")


def _update_lines(derivation, optimizer: str) -> list:
    """The derivation as printed, with the update steps in the optimizer's form (as the notes write them)."""
    lines = str(derivation).splitlines()
    if optimizer == "sgd":
        return lines
    from .notes.context import ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON, MOMENTUM
    from .printing import text

    symbols = {s.name: s.symbol for s in derivation.steps}
    out = [f"{optimizer}: μ = {MOMENTUM}, from v = 0" if optimizer == "momentum" else
           f"adam: β1 = {ADAM_BETA1}, β2 = {ADAM_BETA2}, ε = {ADAM_EPSILON:g}, from s = r = 0; "
           "at step t, ŝ = s/(1 - β1^t), r̂ = r/(1 - β2^t)"] if any(s.kind == "update" for s in derivation.steps) else []
    for s, line in zip(derivation.steps, lines):  # one line per step
        if s.kind != "update":
            out.append(line)
            continue
        theta, grad = text(s.symbol), text(symbols["d" + s.of])
        if optimizer == "momentum":
            out += [f"    v_{theta} ← μ·v_{theta} + {grad}", f"({s.number}) {theta} ← {theta} - η·v_{theta}"]
            continue
        square, divide = (f"{grad} ⊙ {grad}", "⊘") if s.symbol.is_Matrix else (f"({grad})**2", "/")
        out += [f"    s_{theta} ← β1·s_{theta} + (1 - β1)·{grad}", f"    r_{theta} ← β2·r_{theta} + (1 - β2)·{square}",
                f"({s.number}) {theta} ← {theta} - η·ŝ_{theta} {divide} (√r̂_{theta} + ε)"]
    return out


def _worked_values(derivation, values: dict, optimizer: str, lr: float) -> dict:
    """The numbers of --values: every step's, and the optimizer's first step (the notes' worked example)."""
    numbers = derivation.evaluate(values, learning_rate=lr)
    if optimizer == "sgd":
        return numbers
    import numpy as np

    from .notes.context import first_step, given_values

    given = given_values(derivation, values)
    out = {}
    for s in derivation.steps:
        if s.kind != "update":
            continue
        theta = np.asarray(given[s.of], dtype=float)
        new, states = first_step(theta, np.asarray(numbers[f"dL/d{s.of}"], dtype=float).reshape(theta.shape), optimizer, lr)
        for letter, value in states:
            out[f"{letter}_{s.of}"] = _plain(value)
        out[s.key] = _plain(new)
    return {**{k: v for k, v in numbers.items() if k not in out}, **out}


def _plain(value):
    """1x1 results as plain floats, as evaluate gives them."""
    return float(value.reshape(-1)[0]) if value.size == 1 else value


def cmd_derive(args) -> int:
    from .loader import load_network

    if args.pdf:
        from .pdf import pdflatex_path

        pdflatex_path()  # no pdflatex: say so before doing anything
    for target in (args.tex, args.md, args.py, args.pdf if isinstance(args.pdf, str) else None):
        if target:
            from .outputs import check_writable

            check_writable(target, args.force)  # a missing directory: fail before the work
    from .progress import Phases
    from .recurrent import RecurrentDerivation

    with Phases(_derive_phases(args)) as progress:
        progress.start("load the model")
        net = load_network(args.model)
        progress.start("derive")
        derivation = net.derive()
        progress.clear()  # for the notes and the equations; the bar is drawn again at the next phase
        _check_options(args, isinstance(derivation, RecurrentDerivation))
        lines = _update_lines(derivation, args.optimizer)
        if args.values:
            values = _worked_values(derivation, parse_values(args.values), args.optimizer, args.lr if args.lr is not None else 0.1)
            lines += ["", *(f"{key} = {value}" for key, value in values.items())]
        _print("\n".join(lines))
        outputs = _derive_outputs(derivation, args, Path(args.model).stem, progress)
        progress.start("write")
        written = _write_all(outputs, args.force)
    _report(written)
    return 0


def cmd_emit(args) -> int:
    from .loader import load_network

    from .outputs import check_writable

    check_writable(args.output, args.force)  # before the work
    derivation = load_network(args.model).derive()
    source = {"numpy": derivation.numpy, "torch": derivation.torch, "jax": derivation.jax}[args.target]()
    outputs = [(Path(args.output), source)]
    _report(_write_all(outputs, args.force))
    return 0


def cmd_check(args) -> int:
    from .loader import load_network
    from .verify import check_gradient

    net = load_network(args.model)
    layers = int(args.layers) if args.layers and args.layers.lstrip("+-").isdigit() else args.layers
    hyper = parse_values(args.hyperparams) if args.hyperparams else None
    result = check_gradient(net, args.param, args.formula, batched=args.batched, seed=args.seed, layers=layers,
                            convention=args.convention, hyperparams=hyper)
    _print(result)
    return 0 if result.ok else 1  # a wrong formula is a verdict (1), not an error (2)


def cmd_demo(args) -> int:
    from .examples import two_layer

    outdir = Path(args.outdir)
    if outdir.exists() and not outdir.is_dir():
        raise OutputError(f"{outdir} exists and is not a directory")
    derivation = two_layer().derive()
    _print(derivation)
    stem = outdir / "two_layer"
    tex = derivation.latex(standalone=True)
    outputs = [
        (stem.with_suffix(".tex"), tex),
        (stem.with_suffix(".md"), derivation.markdown()),
        (outdir / "two_layer_train.py", derivation.numpy()),
    ]
    if shutil.which("pdflatex"):
        from .pdf import pdf_bytes

        outputs.append((stem.with_suffix(".pdf"), pdf_bytes(tex.encode("utf-8"), str(stem.with_suffix(".pdf")))))
    else:
        print("pdflatex not found: skipping the PDF", file=sys.stderr)
    created = _make_directory(outdir)  # only now that everything is made
    try:
        written = _write_all(outputs, args.force)
    except BaseException:
        for directory in reversed(created):  # nothing is left behind, not even the directory
            try:
                directory.rmdir()
            except OSError:
                pass
        raise
    _report(written)
    return 0


def _make_directory(path: Path) -> list:
    """Create ``path`` and its missing parents; return the directories created, outermost first."""
    missing = []
    for p in (path, *path.parents):
        if p.exists():
            break
        missing.append(p)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the directory {path}: {exc.strerror or exc}") from None
    return list(reversed(missing))


def cmd_preamble(args) -> int:
    from .render import preamble

    sys.stdout.write(preamble())
    return 0


COMMANDS = {"derive": cmd_derive, "emit": cmd_emit, "check": cmd_check, "demo": cmd_demo, "preamble": cmd_preamble}


def _error(message: str) -> int:
    print(f"symprop: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _stdout_gone() -> None:
    """The reader of our output went away (``symprop derive ... | head``): stop writing to it.

    Later prints and the flush at exit go to /dev/null instead of raising
    BrokenPipeError again; the files the command writes are still written.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (captured output): drop further output
        sys.stdout = open(os.devnull, "w")
    finally:
        os.close(devnull)


def _print(*args, **kwargs) -> None:
    """print to stdout, surviving a closed pipe (see _stdout_gone)."""
    try:
        print(*args, **kwargs, flush=True)
    except BrokenPipeError:
        _stdout_gone()


def main(argv=None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()
        return code
    except SympropError as exc:
        return _error(describe(exc))
    except BrokenPipeError:  # a write to stdout outside _print
        _stdout_gone()
        return 0
    except KeyboardInterrupt:
        print("symprop: interrupted", file=sys.stderr)
        return 130
    except RecursionError:
        return _error("the input is nested too deeply to process")
    except MemoryError:
        return _error("out of memory (the input is too large)")
    except Exception as exc:  # a bug in symprop: still one line, and a way to see the traceback
        if os.environ.get("SYMPROP_DEBUG"):
            raise
        print(f"symprop: internal error: {type(exc).__name__}: {describe(exc)} "
              "(please report it; SYMPROP_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
