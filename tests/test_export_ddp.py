"""examples/ddp_digits.py: the exported torch module trained with DistributedDataParallel (2 CPU processes, gloo).

Gated with the training examples (the full tier, SYMPROP_FULL=1, which ``.ci/run`` runs; or
SYMPROP_TRAIN_EXAMPLES=1): it trains two networks for 30 epochs; and
torch.compile of an exported model (seconds of compiling).
"""

import sys
from pathlib import Path

import pytest

from tests.tiers import enabled

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "examples") not in sys.path:
    sys.path.insert(0, str(ROOT / "examples"))

pytestmark = pytest.mark.skipif(
    not enabled("SYMPROP_TRAIN_EXAMPLES"), reason="training examples run in the full tier (SYMPROP_FULL=1, CI)"
)


def test_ddp_replicas_end_identical_and_match_the_numpy_module(torch, tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the spawned processes import this checkout's symprop
    import ddp_digits
    import digits

    result = ddp_digits.main(["--outdir", str(tmp_path / "ddp"), "--quiet"])
    assert result["processes"] == 2
    assert result["max_parameter_difference"] == 0.0  # DDP's averaged gradients: the same steps on both replicas
    numpy_accuracy = digits.main(["--outdir", str(tmp_path / "numpy")])  # the NumPy module, same split, same epochs
    assert result["accuracy"] >= 0.95
    assert abs(result["accuracy"] - numpy_accuracy) <= 0.03, (result["accuracy"], numpy_accuracy)


def test_torch_compile_of_the_exported_model_gives_the_eager_gradients(torch, tmp_path):
    """torch.compile traces DerivedLoss (a few seconds of compiling: gated with the training examples)."""
    import symprop

    net = symprop.mlp([5, 7, 3], hidden=symprop.gelu, loss=symprop.cross_entropy)
    namespace = {}
    exec(compile(net.derive().torch(), "model.py", "exec"), namespace)
    model = namespace["Model"](seed=0, dtype=torch.float64)
    x = torch.randn(9, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.eye(3, dtype=torch.float64)[torch.arange(9) % 3]
    model.loss(x, y).backward()
    eager = {k: p.grad.clone() for k, p in model.params.items()}
    model.zero_grad()
    compiled = torch.compile(lambda a, b: model.loss(a, b))
    compiled(x, y).backward()
    for k, p in model.params.items():
        assert torch.allclose(p.grad, eager[k], rtol=1e-12, atol=1e-14), k
