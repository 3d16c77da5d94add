"""Property-based fuzzing of the whole pipeline on networks nobody typed in.

Hypothesis draws a network spec (depth 1-5, widths 1-4, an activation per
layer from the registry or an entrywise function of a compound argument
(X.applyfunc(Lambda)) or none at all (stacked linear maps), every loss,
residual paths, gates, tied weights, missing biases, a scalar parameter in a
matrix network, a second output head, scalar networks with every
activation).  For each: derive; check the derived gradients against central
differences of evaluate(); emit the NumPy module and check its gradients
against central differences of its own loss and its loss against
evaluate().  Rendering the notes of the same networks (and compiling them)
is fuzzed separately, on this generator (tests/netgen.py).

    SYMPROP_FUZZ_EXAMPLES=3000 python -m pytest tests/test_fuzz.py -s

draws 3000 networks up to depth 8.  CI runs the default (150 networks); the
counts are printed at the end of the session.
"""


import numpy as np
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

import symprop
from symprop import ops
from tests.tiers import budget
from tests.netgen import (
    PSEUDO,
    Spec,
    build_network,
    central_difference,
    finite_difference_errors,
    hidden_activations,
    near_kink,
    random_values,
    relative_error,
    valid_spec,
)

EXAMPLES = budget("SYMPROP_FUZZ_EXAMPLES", fast=50, full=150)
MAX_DEPTH = 5 if EXAMPLES <= 300 else 8
STATS = {"generated": 0, "failed": 0, "refused": [], "at a kink": 0}


@st.composite
def specs(draw):
    depth = draw(st.integers(1, MAX_DEPTH))
    scalar = draw(st.booleans().map(lambda b: b and draw(st.integers(0, 3)) == 0))  # about 1 in 8
    names = hidden_activations()
    hidden_choices = names + PSEUDO
    activations = tuple(draw(st.sampled_from(hidden_choices)) for _ in range(depth - 1)) + (
        draw(st.sampled_from(names + ["softmax"] + PSEUDO)),
    )
    losses = sorted(ops.LOSSES) + (["squared"] if scalar else [])
    return valid_spec(
        Spec(
            widths=tuple(draw(st.integers(1, 4)) for _ in range(depth + 1)),
            activations=activations,
            loss=draw(st.sampled_from(losses)),
            residual=draw(st.booleans()),
            gated=draw(st.booleans()),
            tied=draw(st.booleans()),
            bias=draw(st.booleans()),
            scalar=scalar,
            scaled=draw(st.booleans()),
            heads=draw(st.sampled_from([1, 1, 2])),
        )
    )


def check_module_gradients(d, rng, examples=3):
    """The emitted module's gradients against central differences of its own loss."""
    namespace = {}
    exec(compile(d.numpy(), "<generated>", "exec"), namespace)  # our generated code
    net = d.network
    samples = kink_free_batch(d, rng, examples)
    params = {p.name: np.array(samples[0][p.name], dtype=float) for p in net.params}
    data = {}
    for sym in net.inputs + net.targets:
        rows = [np.asarray(s[sym.name], dtype=float).reshape(-1) for s in samples]
        data[sym.name] = np.array(rows) if not net.is_scalar else np.array([r[0] for r in rows])
    loss, grads = namespace["gradients"](params, **data)
    assert np.isfinite(loss)
    # the module's batch-mean loss is the mean of evaluate()'s per-example losses
    per_example = [d.evaluate(sample)["L"] for sample in samples]
    assert relative_error(loss, np.mean(per_example)) < 1e-9, (loss, per_example)
    assert relative_error(namespace["loss"](params, **data), loss) < 1e-12
    worst = 0.0
    for name, value in params.items():
        numeric = central_difference(lambda v: namespace["loss"]({**params, name: v}, **data), value)
        worst = max(worst, relative_error(np.asarray(grads[name]).reshape(numeric.shape), numeric))
    return worst


FD_STEP = 1e-3  # central_difference's step


class AtAKink(Exception):
    """No point away from the kinks was found: the finite differences would straddle one."""


def kink_free_batch(d, rng, examples):
    """``examples`` points sharing one set of parameters, all away from ReLU kinks
    (parameters are redrawn when some layer sits on its kink whatever the input)."""
    names = {p.name for p in d.network.params}
    for _ in range(20):
        try:
            first = kink_free_values(d, rng)
            params = {k: v for k, v in first.items() if k in names}
            return [first] + [kink_free_values(d, rng, fixed=params, tries=20) for _ in range(examples - 1)]
        except AtAKink:
            continue
    raise AtAKink()


def kink_free_values(d, rng, fixed=None, tries=50):
    """Random values (``fixed`` overrides some, e.g. shared parameters) away from ReLU kinks."""
    for _ in range(tries):
        values = {**random_values(d.network, rng), **(fixed or {})}
        if not near_kink(d, values, step=FD_STEP):
            return values
    raise AtAKink()


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(spec=specs(), seed=st.integers(0, 2**31 - 1))
def test_pipeline_on_generated_networks(spec, seed):
    STATS["generated"] += 1
    try:
        net = build_network(spec)
        d = net.derive()
        rng = np.random.default_rng(seed)
        errors = finite_difference_errors(d, kink_free_values(d, rng))
        assert max(errors.values()) < 1e-6, f"{spec}: derived gradients vs finite differences: {errors}"
        worst = check_module_gradients(d, rng)
        assert worst < 1e-6, f"{spec}: generated module vs finite differences: {worst:.2e}"
    except AtAKink:  # no reliable finite differences here: counted, and the draw discarded
        STATS["at a kink"] += 1
        reject()
    except BaseException as exc:  # a refusal of a valid network is a failure too (issue 11)
        STATS["failed"] += 1
        if isinstance(exc, symprop.SympropError):
            STATS["refused"].append(f"{spec}: {exc}")
        raise
