"""The networks and data of the export tests (tests/test_export_torch.py, tests/test_export_jax.py).

Names: the structured networks of emit_netgen, ``random<seed>`` (the
fuzzer's MLPs) and ``layer_<name>`` (layer_nets builders, each built alone:
layer_nets.table() builds forty).  ``generated(target)``: the generated
module of a named network for "numpy" (test_emit.py), "torch" or "jax",
each source and module built once per session.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from emit_netgen import load_module, random_data, random_mlp, random_params, special_networks

import layer_nets
import symprop

LAYER_BUILDERS = {
    "bn_mlp": layer_nets.bn_mlp,
    "bn_numeric_batch": lambda: layer_nets.bn_mlp(batch=6, loss=symprop.mse),
    "ln_column": layer_nets.ln_column,
    "ln_sequence": layer_nets.ln_sequence,
    "softmax_rows": layer_nets.softmax_rows,
    "attention_masked": lambda: layer_nets.attention(masked=True),
    "transformer_block": layer_nets.transformer_block,
    "cnn_max": lambda: layer_nets.cnn("max"),
    "cnn_avg": lambda: layer_nets.cnn("avg"),
    "conv1d": layer_nets.conv1d_sequence,
    "conv_random1": lambda: layer_nets.conv_random(1),
    "conv_random2": lambda: layer_nets.conv_random(2),
    "dropout_mlp": layer_nets.dropout_mlp,
}


@cache
def network(name: str):
    if name.startswith("random"):
        return random_mlp(int(name[len("random") :]))
    if name.startswith("layer_"):
        return LAYER_BUILDERS[name[len("layer_") :]]()
    return special_networks()[name]


def generated(target: str) -> tuple:
    """(source, module) for ``target``: source(name) is the module's text, module(name, tmp_path_factory) it loaded."""

    @cache
    def source(name: str) -> str:
        return getattr(network(name).derive(), target)()

    modules: dict = {}

    def module(name: str, tmp_path_factory):
        if name not in modules:
            modules[name] = load_module(source(name), tmp_path_factory.mktemp(f"generated_{target}"))
        return modules[name]

    return source, module


def numpy_batch(name: str, mod, seed: int) -> tuple:
    """(data, params) as float64 NumPy arrays: a batch the loss is defined on, every parameter entry random."""
    net = network(name)
    rng = np.random.default_rng(seed)
    if name.startswith("layer_"):
        data, params = layer_nets.data_for(net, 4, rng), layer_nets.params_for(net, rng)
    else:
        data, params = random_data(net, 5, seed=seed), random_params(mod, seed=seed + 1, scale=0.7)
    as_float = {k: np.asarray(v, dtype=np.float64) for k, v in data.items()}
    return as_float, {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
