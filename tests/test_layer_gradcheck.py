"""gradcheck(backward, params, data, net=...) on the layer networks: batches, sequences, images, masks.

* Backward passes written by hand in NumPy (tests/layer_backward.py: batch
  norm, layer norm, attention, a CNN with max and with average pooling,
  dropout) pass; each injected bug is caught on exactly the parameters it
  makes wrong.
* Every network of layer_nets.table() (a selection by default, all with
  SYMPROP_ALL_LAYER_CHECKS=1): torch autograd of the declared loss - an
  oracle independent of symprop's derivation - passes gradcheck(net=), and
  the same gradients with one of them scaled fail on that parameter only.
"""


import numpy as np
import pytest

import layer_backward
import layer_nets
import symprop
from symprop.errors import EvaluationError
from tests.tiers import enabled
from tests.torch_oracle import TorchOracle

TABLE = layer_nets.table()
BUGS = [(name, bug, wrong) for name, (_, _, bugs) in layer_backward.BUGS.items() for bug, wrong in bugs.items()]


def _point(name, seed=1, m=7, torch_kernels=False):
    net = TABLE[name]
    rng = np.random.default_rng(seed)
    params, data = layer_nets.params_for(net, rng), layer_nets.data_for(net, m, rng)
    if torch_kernels:  # kernels as PyTorch keeps them, (O, C, kh, kw)
        dims = {p.name: p.dims for p in net.params if getattr(p, "dims", None) is not None}
        params = {k: v.reshape(dims[k]) if k in dims else v for k, v in params.items()}
    return net, params, data


def _backward(name, bug=None):
    backward, options, _ = layer_backward.BUGS[name]
    return lambda params, **data: backward(params, bug=bug, **data, **options)


@pytest.mark.parametrize("name", sorted(layer_backward.BUGS))
def test_a_hand_written_backward_passes(name):
    net, params, data = _point(name, torch_kernels=True)
    report = symprop.gradcheck(_backward(name), params, data, net=net)
    assert report.ok, str(report)
    assert set(report) == {p.name for p in net.params}


@pytest.mark.parametrize("name, bug, wrong", BUGS, ids=[f"{n}-{b}" for n, b, _ in BUGS])
def test_an_injected_bug_is_caught_on_its_parameters(name, bug, wrong):
    net, params, data = _point(name, torch_kernels=True)
    report = symprop.gradcheck(_backward(name, bug), params, data, net=net)
    assert set(report.failed) == wrong, str(report)
    assert all(f"{p}  " in str(report) for p in wrong)


def test_images_must_come_whole():
    net, params, data = _point("cnn_max")
    flat = dict(data, X=data["X"].reshape(len(data["X"]), -1))
    with pytest.raises(EvaluationError, match=r"expected \(m,\) \+ \(1, 8, 8\)"):
        symprop.gradcheck(_backward("cnn_max"), params, flat, net=net)


SELECTION = ["bn_mlp", "bn_numeric_batch", "bn_no_affine", "ln_sequence", "softmax_rows", "attention_masked",
             "transformer_block", "cnn_avg", "conv1d", "conv_random3", "dropout_cnn"]
NAMES = sorted(TABLE) if enabled("SYMPROP_ALL_LAYER_CHECKS") else SELECTION


@pytest.mark.parametrize("name", NAMES)
def test_torch_autograd_passes_and_a_scaled_gradient_fails(name, torch):
    net, params, data = _point(name, seed=sorted(TABLE).index(name), m=5)
    _, want = TorchOracle(torch, net).loss_and_gradients(params, data)
    want = {k: np.asarray(v) for k, v in want.items()}
    report = symprop.gradcheck(lambda p, **d: want, params, data, net=net)
    assert report.ok, str(report)
    largest = max(want, key=lambda k: float(np.abs(want[k]).max()))
    scaled = dict(want, **{largest: 1.5 * want[largest]})
    report = symprop.gradcheck(lambda p, **d: scaled, params, data, net=net)
    assert report.failed == [largest], str(report)
