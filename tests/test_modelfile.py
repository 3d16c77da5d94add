"""The declarative TOML model format: loaded without running code."""

import pytest

import symprop
from symprop.loader import load_network

GOOD = """
name = "toml classifier"
[network]
sizes = [3, 4, 2]
hidden = "swish_toml"
loss = "cross_entropy"
[activations.swish_toml]
definition = "z / (1 + exp(-z))"
"""


def test_toml_model_derives_like_the_python_one(tmp_path):
    path = tmp_path / "model.toml"
    path.write_text(GOOD)
    net = load_network(path)
    assert net.name == "toml classifier"
    assert [p.name for p in net.params] == ["W1", "b1", "W2", "b2"]
    d = net.derive()
    assert str(d.delta(2)) in ("-y + yhat", "yhat - y")
    assert "swish_toml" in symprop.ops.activations()


def test_toml_defaults_match_mlp(tmp_path):
    path = tmp_path / "model.toml"
    path.write_text('[network]\nsizes = [2, 3, 1]\nloss = "binary_cross_entropy"\n')
    net = load_network(path)
    reference = symprop.mlp([2, 3, 1], loss=symprop.binary_cross_entropy)
    assert str(net.derive()) == str(reference.derive())


BAD = {
    "not toml": ("[network\nsizes = 3", "not valid TOML"),
    "unknown top key": ('[network]\nsizes=[2,1]\n[extra]\na=1\n', "unknown key(s) ['extra']"),
    "unknown network key": ('[network]\nsizes=[2,1]\nlayers=3\n', "unknown key(s) ['layers']"),
    "no network": ('name = "x"\n', "[network] table is required"),
    "sizes not a list": ('[network]\nsizes = 3\n', "network.sizes"),
    "sizes with a zero": ('[network]\nsizes = [2, 0, 1]\n', "sizes"),
    "unknown activation": ('[network]\nsizes=[2,1]\nhidden="wiggle"\n', "'wiggle' is not an activation"),
    "unknown loss": ('[network]\nsizes=[2,1]\nloss="hinge"\n', "'hinge' is not a loss"),
    "python in a definition": ('[network]\nsizes=[2,2,1]\nhidden="f_evil"\n[activations.f_evil]\n'
                               'definition = "__import__(\'os\').system(\'touch /tmp/pwned\')"\n', "definition"),
    "unknown name in a definition": ('[network]\nsizes=[2,2,1]\nhidden="f_q"\n[activations.f_q]\ndefinition = "q * z"\n',
                                     "unknown name 'q'"),
    "bias not a bool": ('[network]\nsizes=[2,1]\nbias="yes"\n', "network.bias"),
    "not utf-8": (b"\xff\xfe[network]", "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_toml_is_a_clear_error(case, tmp_path):
    content, words = BAD[case]
    path = tmp_path / "model.toml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(symprop.SympropError) as info:
        load_network(path)
    assert words in str(info.value) and str(path) in str(info.value)


def test_toml_custom_activation_with_trigonometric_functions(tmp_path):
    import numpy as np

    from tests.netgen import finite_difference_errors, random_values

    path = tmp_path / "model.toml"
    path.write_text('[network]\nsizes = [2, 3, 1]\nhidden = "wave_toml"\n[activations.wave_toml]\n'
                    'definition = "sin(z) + cosh(z) / 4 + arctan(z)"\n')
    d = load_network(path).derive()
    errors = finite_difference_errors(d, random_values(d.network, np.random.default_rng(0)))
    assert max(errors.values()) < 1e-6


def test_an_unknown_activation_lists_each_known_one_once(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[network]\nsizes=[2,2,1]\nhidden="wiggle"\n[activations.swish_once]\ndefinition = "z / (1 + exp(-z))"\n')
    with pytest.raises(symprop.ModelFileError) as info:
        load_network(path)
    known = str(info.value).split("known: ", 1)[1].split(", ")
    assert "swish_once" in known and "relu" in known and "softmax" in known
    assert len(known) == len(set(known)), known
