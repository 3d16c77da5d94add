"""The teaching sections of the notes, each checked against an oracle that is not the section itself.

The recurrence's instances are re-checked by check_gradient (the formula
parser reads BP1-BP4 written out for the layer); the collapsed layers of a
deep network keep every numbered equation.
"""

import re

import pytest

import symprop
from symprop import examples
from symprop.notes import Notes, _Format
from symprop.notes.recurrence import RecurrenceSection
from symprop.notes.structure import dense_layers


def _instances(net):
    d = net.derive()
    notes = Notes(d, _Format("tex"))
    section = RecurrenceSection(notes)
    return d, section.instances(dense_layers(notes))


def _formula(key, step, layers, scalar):
    """BP2-BP4 for the step's layer, as a student would write it (the checker's own notation)."""
    layer = next(lnum for lnum, dense in layers.items() if step in (dense.delta,) or step.of in (
        dense.weight.name, dense.bias.name if dense.bias is not None else None))
    w = "w" if scalar else "W"
    t = "" if scalar else "^T"
    below = f"a{layer - 1}" if layer > 1 else "x"
    if key == "BP2":
        return f"({w}{layer + 1}{t} delta{layer + 1}) * {layers[layer].a.activation}_prime(z{layer})"
    if key == "BP3":
        return f"delta{layer}"
    return f"delta{layer} {below}{t}"


@pytest.mark.parametrize("make", [examples.two_layer, examples.sigmoid_111, lambda: examples.deep(symprop.tanh, depth=4),
                                  examples.residual, lambda: symprop.mlp([3, 4, 4, 2], hidden=symprop.relu, loss=symprop.mse)])
def test_every_claimed_instance_of_the_recurrence_is_right(make):
    net = make()
    d, found = _instances(net)
    notes = Notes(d, _Format("tex"))
    layers = dense_layers(notes)
    for key in ("BP2", "BP3", "BP4"):
        for step in found[key]:
            result = symprop.check_gradient(d, step.name if step.kind == "adjoint" else step.of, _formula(key, step, layers, d.network.is_scalar))
            assert result.ok, (key, step.number, str(result))
    claimed = [s.name for key in ("BP1", "BP2", "BP3", "BP4", "product", "other") for s in found[key]]
    assert sorted(claimed) == sorted(s.name for s in d.steps if s.kind in ("adjoint", "gradient"))  # each step once


def test_a_dense_network_is_all_instances_and_a_residual_one_is_not():
    _, found = _instances(examples.deep(symprop.sigmoid, depth=5))
    assert len(found["BP2"]) == 4 and len(found["BP3"]) == len(found["BP4"]) == 5 and len(found["BP1"]) == 1
    _, found = _instances(examples.residual())
    assert not found["BP1"] and not found["BP2"]  # layer 3 takes a1 + a2: no dense layer above layers 1 and 2


def test_a_deep_network_collapses_its_repeated_layers_and_keeps_every_number():
    d = examples.deep(symprop.relu, depth=8).derive()
    tex = d.latex()
    subsections = re.findall(r"\\subsection\{([^}]*)\}", tex[: tex.index(r"\section{The pattern")])
    assert subsections == ["The output layer (layer 8)", "Layer 7", "Layers 6 to 1", "The gradient with respect to the input"]
    assert sorted(map(int, re.findall(r"\\tag\{(\d+)\}", tex))) == [s.number for s in d.steps]
    assert r"\delta^{[1]} &= \left(\left(W^{[2]}\right)^{\top} \delta^{[2]}\right) \odot \mathbb{1}\left[z^{[1]} > 0\right]" in tex
