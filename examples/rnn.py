"""A tanh RNN through time: lecture notes of backpropagation through time, and its training code.

h_t = tanh(W h_{t-1} + U x_t + b), yhat_t = V h_t + c, over T = 12 steps, the
loss (MSE) at the last step.  The notes state the recursion
delta_t = (W^T delta_{t+1}) * (1 - h_t * h_t) once for every t, sum the
gradients over t, and measure how ||delta_t|| shrinks or grows back through
time with small and large recurrent weights (a table and a plot); the update
rule clips the gradient by its global norm.

    python examples/rnn.py [--outdir DIR] [--force]

Writes rnn.tex, rnn.md, rnn.pdf (with pdflatex) and rnn_train.py, the
generated NumPy training module, into examples/out (or DIR).
"""

import argparse
import shutil
import sys
from pathlib import Path

try:
    import symprop
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import symprop

from symprop import examples
from symprop.outputs import check_writable, write_atomic
from symprop.render import write_notes

net = examples.rnn()  # `symprop.rnn(2, 3, 1, T=12, loss_at="last")`
VALUES = examples.RNN_VALUES


def main(argv=None) -> list:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", default=str(Path(__file__).resolve().parent / "out"), help="default: examples/out")
    parser.add_argument("--force", action="store_true", help="replace files that symprop did not generate")
    args = parser.parse_args(argv)
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    try:
        d = net.derive()
        module = outdir / "rnn_train.py"
        check_writable(module, args.force)
        written = write_notes(d, outdir, "rnn", VALUES, learning_rate=0.1, force=args.force)
        written.append(write_atomic(module, d.numpy(), args.force))
    except symprop.SympropError as exc:
        print(f"rnn: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    for path in written:
        print(f"wrote {path}")
    if not shutil.which("pdflatex"):
        print("pdflatex not found: no PDF (apt-get install texlive-latex-base texlive-latex-recommended texlive-pictures)")
    return written


if __name__ == "__main__":
    main()
