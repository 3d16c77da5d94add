"""The declarative model format: a TOML file, loaded without running any code.

    name = "two-layer classifier"

    [network]
    sizes = [3, 4, 2]          # input, hidden..., output widths
    hidden = "relu"            # a registered activation, or one defined below
    output = "softmax"         # optional: by default softmax for cross_entropy,
                               # sigmoid for binary_cross_entropy, identity for mse
    loss = "cross_entropy"     # mse | binary_cross_entropy | cross_entropy
    bias = true                # optional, default true

    [activations.swish2]       # optional custom activations
    definition = "z / (1 + exp(-z))"   # a formula in z, read by symprop's own parser

TOML is parsed by ``tomllib`` and the activation definitions by
``symprop.formula`` (no ``eval``, no ``sympify`` of the text), so a model file
from anyone is safe to load - unlike a Python model file, which is code.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import sympy as sp

from . import ops
from .errors import FormulaError, ModelFileError, SympropError
from .network import Network, mlp

TOP_KEYS = {"name", "network", "activations"}
NETWORK_KEYS = {"sizes", "hidden", "output", "loss", "bias"}
ACTIVATION_KEYS = {"definition", "latex"}
MAX_BYTES = 1_000_000
MAX_LAYERS = 5000  # a model file from anyone must not keep symprop busy for hours
MAX_WIDTH = 1_000_000


def _unknown(keys, allowed, where, path) -> None:
    extra = sorted(set(keys) - allowed)
    if extra:
        raise ModelFileError(f"{path}: unknown key(s) {extra} in {where}; allowed: {sorted(allowed)}")


def _custom_activation(name: str, table, path):
    from . import formula

    if not isinstance(table, dict):
        raise ModelFileError(f"{path}: [activations.{name}] must be a table with a 'definition'")
    _unknown(table, ACTIVATION_KEYS, f"[activations.{name}]", path)
    definition = table.get("definition")
    if not isinstance(definition, str):
        raise ModelFileError(f"{path}: [activations.{name}] needs definition = \"<formula in z>\"")
    z = sp.Symbol("z")
    names = formula.Namespace(names={"z": formula.Name("z", "input", (), None, z, False)})
    try:
        parsed = formula.parse(definition, names)
        body = formula.to_sympy(parsed.tree, names)
    except FormulaError as exc:
        raise ModelFileError(f"{path}: [activations.{name}] definition: {exc}") from None
    latex = table.get("latex")
    if latex is not None and not isinstance(latex, str):
        raise ModelFileError(f"{path}: [activations.{name}] latex must be a string")
    return ops.activation(name, sp.Lambda(z, body), latex=latex)


def _activation(value, what: str, custom: dict, path):
    if value is None:
        return None
    if not isinstance(value, str):
        raise ModelFileError(f"{path}: network.{what} must be the name of an activation, got {repr(value)[:60]}")
    if value in custom:
        return custom[value]
    if value == "softmax":
        return ops.softmax
    rule = ops.activations().get(value)
    if rule is None:
        known = sorted(set(ops.activations()) | set(custom) | {"softmax"})  # a custom one is registered too: named once
        raise ModelFileError(
            f"{path}: network.{what} = {repr(value)[:60]} is not an activation; known: {', '.join(known)}"
        )
    return rule


def load_toml(path) -> Network:
    from .loader import read_model_bytes

    path = Path(path)
    raw = read_model_bytes(path, MAX_BYTES)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ModelFileError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ModelFileError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:  # arrays or tables nested thousands deep
        raise ModelFileError(f"{path}: not a model file: values are nested too deeply") from None
    _unknown(data, TOP_KEYS, "the top level", path)
    network = data.get("network")
    if not isinstance(network, dict):
        raise ModelFileError(f"{path}: a [network] table is required (sizes, hidden, loss)")
    _unknown(network, NETWORK_KEYS, "[network]", path)

    custom = {}
    activations = data.get("activations", {})
    if not isinstance(activations, dict):
        raise ModelFileError(f"{path}: [activations] must be a table of tables")
    for name in sorted(activations):
        try:
            custom[name] = _custom_activation(name, activations[name], path)
        except ModelFileError:
            raise
        except SympropError as exc:
            raise type(exc)(f"{path}: [activations.{name}]: {exc}") from None

    sizes = network.get("sizes")
    if not isinstance(sizes, list):
        raise ModelFileError(f"{path}: network.sizes must be a list of layer widths, e.g. [3, 4, 2]")
    if len(sizes) > MAX_LAYERS + 1:
        raise ModelFileError(f"{path}: network.sizes lists {len(sizes)} widths; a model file has at most {MAX_LAYERS} layers")
    for width in sizes:
        if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= MAX_WIDTH:
            raise ModelFileError(f"{path}: network.sizes must be whole numbers from 1 to {MAX_WIDTH}, got {repr(width)[:40]}")
    loss_name = network.get("loss", "mse")
    if not isinstance(loss_name, str) or loss_name not in ops.LOSSES:
        raise ModelFileError(
            f"{path}: network.loss = {repr(loss_name)[:60]} is not a loss; known: {', '.join(sorted(ops.LOSSES))}"
        )
    bias = network.get("bias", True)
    if not isinstance(bias, bool):
        raise ModelFileError(f"{path}: network.bias must be true or false")
    name = data.get("name", path.stem)
    if not isinstance(name, str):
        raise ModelFileError(f"{path}: name must be a string")
    try:
        return mlp(
            sizes,
            hidden=_activation(network.get("hidden", "relu"), "hidden", custom, path),
            output=_activation(network.get("output"), "output", custom, path),
            loss=ops.LOSSES[loss_name],
            bias=bias,
            name=name,
        )
    except ModelFileError:
        raise
    except SympropError as exc:
        raise type(exc)(f"{path}: {exc}") from None
