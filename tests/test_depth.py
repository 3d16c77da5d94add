"""Deep networks work at all: nothing walks the graph recursively (issue 11).

By default a 300-layer MLP and a 300-block residual tower (400 in the full
tier, SYMPROP_FULL=1) are declared, derived, rendered and emitted with
Python's recursion limit lowered to 250 frames, so any recursion over the
layers fails here.  SYMPROP_DEEP=1 (run by
.ci/run) takes both to 1000 layers at the default limit.  Nothing is timed:
benchmarks/bench_depth.py prints the times.
"""

import os
import sys

import numpy as np
import pytest
from sympy.core.cache import clear_cache

import symprop
from symprop import examples
from tests.tiers import FULL

DEEP = os.environ.get("SYMPROP_DEEP") == "1"
DEPTH = 1000 if DEEP else 400 if FULL else 300  # 300 layers are 50 frames more than the limit leaves
RECURSION_LIMIT = 1000 if DEEP else 250  # well below the depth: a walk over the layers would overflow
WIDTH = 3


def mlp(depth):
    return symprop.mlp([WIDTH] * (depth + 1), hidden=symprop.relu, loss=symprop.mse)


def residual(depth):
    return examples.residual_tower(depth, width=WIDTH, classes=2)


@pytest.fixture
def low_recursion_limit():
    clear_cache()  # an equal network from another test would make SymPy's cache compare two deep DAGs
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(RECURSION_LIMIT, len(_stack_depth()) + 150))
    yield
    sys.setrecursionlimit(old)


def _stack_depth():
    frame, frames = sys._getframe(), []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames


@pytest.mark.parametrize("build", [mlp, residual], ids=["mlp", "residual"])
def test_a_deep_network_declares_derives_renders_and_emits(build, low_recursion_limit):
    net = build(DEPTH)
    d = net.derive()
    assert len([s for s in d.steps if s.kind == "gradient" and s.role == "parameter"]) == len(net.params)
    tex, md = d.latex(standalone=True), d.markdown()
    assert tex.rstrip().endswith(r"\end{document}") and md
    source = d.numpy()
    sys.setrecursionlimit(1000)  # running the generated code is plain NumPy
    namespace = {"__name__": "generated"}
    exec(compile(source, "<generated>", "exec"), namespace)  # the module under test
    params = namespace["init_params"](seed=0)
    rng = np.random.default_rng(0)
    data = {s.name: rng.standard_normal((4, int(s.shape[0]))) for s in net.inputs}
    for s in net.targets:
        data[s.name] = np.eye(int(s.shape[0]))[rng.integers(int(s.shape[0]), size=4)]
    loss, grads = namespace["gradients"](params, **data)
    assert np.isfinite(loss) and set(grads) == set(params)
    assert all(np.all(np.isfinite(g)) for g in grads.values())
