"""Counts for the checker: textbook formulas in their sources' notation, and injected bugs in batch-first code.

    python benchmarks/checker_counts.py [-v]

Prints: formulas tried, right verdicts, named diagnoses (tests/textbook_formulas.py, and
the layers' formulas of tests/layer_formulas.py); code variants tried, right parameters,
right patterns (tests/backprop_code.py, and the layers' backward code of tests/layer_backward.py).
-v lists every case that is not right.
"""

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import layer_backward  # noqa: E402
import layer_formulas  # noqa: E402
import layer_nets  # noqa: E402
import symprop  # noqa: E402
from backprop_code import BUGS, backward, buggy, network, problem, reported_pattern  # noqa: E402
from textbook_formulas import ROWS, all_networks, cases, judge  # noqa: E402


def formulas(verbose: bool, rows=ROWS, nets=None, label="textbook formulas"):
    nets = nets or all_networks()
    tried = right = mistaken = diagnosed = 0
    sources = {row.source.split(",")[0].split()[0] for row in rows}
    started = time.perf_counter()
    for row, formula, options, expected in cases(rows):
        tried += 1
        try:
            verdict, named, result = judge(nets, row, formula, options, expected)
        except symprop.SympropError as exc:
            verdict, named, result = False, False, f"error: {exc}"
        right += verdict
        if expected is not None:
            mistaken += 1
            diagnosed += verdict and named
        if verbose and not (verdict and named):
            print(f"  NOT RIGHT [{row.source}] {row.target}: {formula!r} expected {expected or 'CORRECT'}\n    {result}")
    seconds = time.perf_counter() - started
    origin = f" from {len(sources)} sources" if rows is ROWS else ""
    print(f"{label}: {len(rows)} correct formulas{origin}, {tried - len(rows)} mistaken variants")
    print(f"  formulas tried {tried}, right verdicts {right} ({right / tried:.0%}); "
          f"mistaken variants with the right named diagnosis {diagnosed} of {mistaken}; {seconds:.1f} s")


def code(verbose: bool):
    tried = right_params = right_pattern = 0
    options = {"layout": "in_out", "names": {"X": "x"}}
    for sizes in {b.sizes for b in BUGS}:
        params, data = problem(sizes)
        correct = symprop.gradcheck(lambda p, X, y: backward(p, X, y), params, data, net=network(sizes), **options)
        tried += 1
        right_params += correct.ok
        right_pattern += correct.ok
    for bug in BUGS:
        params, data = problem(bug.sizes, scale=bug.scale)
        report = symprop.gradcheck(buggy(bug.key), params, data, net=network(bug.sizes), **options)
        tried += 1
        params_ok = sorted(report.failed) == sorted(bug.wrong)
        pattern_ok = bug.pattern in reported_pattern(report, bug.wrong)
        right_params += params_ok
        right_pattern += params_ok and pattern_ok
        if verbose and not (params_ok and pattern_ok):
            print(f"  NOT RIGHT {bug.key}\n{report}")
    print(f"backward code (batch-first, (in, out) weights, layout='in_out'): {tried} variants tried "
          f"({tried - len(BUGS)} correct, {len(BUGS)} injected bugs)")
    print(f"  right parameters {right_params} of {tried}; right parameters and named pattern {right_pattern} of {tried}")


def layer_code(verbose: bool):
    """The hand-written NumPy backwards of the layer networks, right and with each bug: the parameters flagged."""
    table = layer_nets.table()
    tried = right = 0
    for name, (function, options, bugs) in layer_backward.BUGS.items():
        net = table[name]
        rng = np.random.default_rng(1)
        params, data = layer_nets.params_for(net, rng), layer_nets.data_for(net, 7, rng)
        for bug, wrong in [(None, set()), *bugs.items()]:
            report = symprop.gradcheck(lambda p, **d: function(p, bug=bug, **d, **options), params, data, net=net)
            tried += 1
            right += set(report.failed) == wrong
            if verbose and set(report.failed) != wrong:
                print(f"  NOT RIGHT {name}: {bug}\n{report}")
    bugs = sum(len(b) for *_, b in layer_backward.BUGS.values())
    print(f"layers' backward code (batch norm, layer norm, attention, CNN, dropout): {tried} variants tried "
          f"({tried - bugs} correct, {bugs} injected bugs); exactly the right parameters flagged in {right} of {tried}")


if __name__ == "__main__":
    verbose = "-v" in sys.argv
    formulas(verbose)
    code(verbose)
    formulas(verbose, layer_formulas.ROWS, layer_formulas.networks(), "layer formulas")
    layer_code(verbose)
