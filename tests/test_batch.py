"""The batch forms, evaluated numerically, against the mean of per-example gradients.

Columns are examples; the loss is the batch mean.  Each step's batch form is
printed as NumPy (column layout) and run on m examples at once; every batched
parameter gradient must equal the average of the per-example gradients.
"""

import numpy as np
import pytest
import sympy as sp

from symprop import examples
from symprop.batch import M
from symprop.printing import NumPyPrinter, helper_sources
from tests.netgen import random_network, random_values

EXAMPLES = 5


def run_batch_forms(d, batch_values):
    printer = NumPyPrinter()
    lines = []
    for step in d.steps:
        if step.batched is None or step.kind in ("loss", "update") or isinstance(step.batched, (sp.Sum, sp.Mul)) and step.batched.has(sp.Sum):
            continue
        lines.append(f"{step.batched_symbol.name if hasattr(step.batched_symbol, 'name') else step.name} = {printer.doprint(step.batched)}")
    source = helper_sources(printer.helpers_used) + "\n" + "\n".join(lines)
    namespace = {"np": np, "m": EXAMPLES, **batch_values}
    exec(compile(source, "<batch forms>", "exec"), namespace)
    return namespace


def check_batch(net, seed):
    d = net.derive()
    rng = np.random.default_rng(seed)
    samples = [random_values(net, rng) for _ in range(EXAMPLES)]
    for s in samples[1:]:  # one set of parameters, m examples
        for p in net.params:
            s[p.name] = samples[0][p.name]
    per_example = [d.evaluate(s) for s in samples]
    batch_values = {p.name: samples[0][p.name] for p in net.params}
    for sym in net.inputs + net.targets:
        columns = np.hstack([np.asarray(s[sym.name]).reshape(-1, 1) for s in samples])
        batch_values[sym.name[0].upper() + sym.name[1:]] = columns
    namespace = run_batch_forms(d, batch_values)
    checked = 0
    for step in d.steps:
        if step.kind == "gradient" and step.role == "parameter" and not step.batched.has(sp.Sum):
            want = np.mean([np.asarray(pe[step.key]) for pe in per_example], axis=0)
            got = np.asarray(namespace[step.name], dtype=float).reshape(np.shape(want))
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=f"{step.name}: {step.batched}")
            checked += 1
    return checked


@pytest.mark.parametrize("name", ["two_layer", "residual", "tied_autoencoder", "gated"])
def test_named_architectures_batch(name):
    assert check_batch(examples.BUILTIN[name](), 0) > 0


@pytest.mark.parametrize("seed", range(30))
def test_random_networks_batch(seed):
    net, recipe = random_network(seed, scalar=False)
    assert check_batch(net, seed) > 0, recipe


def test_textbook_batch_forms():
    d = examples.two_layer().derive()
    W1, b1 = d.network.params[0], d.network.params[1]
    assert str(d.gradient(W1, batched=True)) == "1/m*Delta1*X.T"
    assert str(d.gradient(b1, batched=True)) == "1/m*Delta1*1"
    assert str(d.delta(2, batched=True)) in ("-Y + Yhat", "Yhat - Y")
    assert d.gradient(W1, batched=True).shape == W1.shape
    assert d.gradient(b1, batched=True).args[-1] == sp.OneMatrix(M, 1)


def test_scalar_network_batch_forms_are_sums():
    d = examples.relu_neuron().derive()
    w = d.network.params[0]
    batched = d.gradient(w, batched=True)
    assert batched.has(sp.Sum) and batched.has(M)
