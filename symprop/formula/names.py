"""The names a formula may use: the network's vocabulary (parameters, data, forward values, adjoints)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

import sympy as sp

from .. import algebra as alg


# ==========================================================================
# The names a formula may use: the network's vocabulary
# ==========================================================================


@dataclass(frozen=True)
class Name:
    name: str  # the network's identifier: W1, x, z1, delta1, yhat, m
    kind: str  # parameter | input | target | forward | adjoint | count
    shape: tuple  # () for scalars
    layer: Optional[int] = None
    symbol: object = None
    per_example: bool = False  # has one value per example (a batch matrix in batched formulas)
    role: str = ""  # of forward values and adjoints: pre-activation | activation | prediction | loss


@dataclass
class Namespace:
    names: dict  # canonical name -> Name
    aliases: dict = field(default_factory=dict)  # other spelling -> canonical name
    batch_aliases: dict = field(default_factory=dict)  # batch-matrix name (X, Delta1) -> canonical name
    layers: dict = field(default_factory=dict)  # layer -> (activation registry name, pre-activation name)
    numbered: bool = True  # names carry layer numbers (z1, a1) rather than z, a

    def lookup(self, word: str):
        """(canonical name, written in batch notation) or None."""
        if word in self.names and word != "m":
            return word, False
        if word == "m" and "m" in self.names:
            return "m", True
        if word in self.aliases:
            return self.aliases[word], False
        if word in self.batch_aliases:
            return self.batch_aliases[word], True
        return None

    def known(self) -> str:
        shown = sorted(n for n in self.names if n != "m")
        text = ", ".join(shown)
        if "m" in self.names:
            text += "; batch matrices " + ", ".join(sorted(self.batch_aliases)) + " and m"
        return text

    def layer_of(self, name: str) -> Optional[int]:
        for layer, (_, z) in self.layers.items():
            if z == name:
                return layer
        return None


def namespace(derivation, exclude=()) -> Namespace:
    """The names a formula about ``derivation``'s network may use.

    Parameters, inputs and targets; every forward value (z1, a1, yhat, L);
    every adjoint (delta1, da1, dyhat) except those in ``exclude`` (the one
    being checked and the ones computed from it); ``m``.
    """
    from ..batch import batch_name

    net = derivation.network
    names = {}
    for group, kind in ((net.params, "parameter"), (net.inputs, "input"), (net.targets, "target")):
        for s in group:
            names[s.name] = Name(s.name, kind, alg.shape_of(s), None, s, kind != "parameter")
    layers = {}
    for step in derivation.steps:
        if step.kind in ("forward", "loss"):
            names[step.name] = Name(step.name, "forward", step.shape, step.layer, step.symbol, True, step.role)
        elif step.kind == "adjoint" and step.name not in exclude:
            names[step.name] = Name(step.name, "adjoint", step.shape, step.layer, step.symbol, True, step.role)
    for node in net.nodes:
        if node.role == "pre-activation":
            act = next((n for n in net.nodes if n.layer == node.layer and n.activation), None)
            if act is not None:
                layers[node.layer] = (act.activation, node.name)
    numbered = any(re.search(r"\d$", n.name) for n in net.nodes if n.layer is not None)
    aliases = {}
    for name, entry in list(names.items()):
        if entry.kind == "adjoint" and name.startswith("delta"):
            aliases["dz" + name[5:]] = name
        if entry.kind == "forward" and name.startswith("yhat") and entry.layer is not None:
            aliases[f"a{entry.layer}" if numbered else "a"] = name
    if len(net.inputs) == 1 and net.inputs[0].name != "a0":
        aliases["a0"] = net.inputs[0].name
    for alias in list(aliases):
        if alias in names:
            del aliases[alias]
    names["m"] = Name("m", "count", (), None, sp.Symbol("m", integer=True, positive=True), False)
    batch_aliases = {}
    for name, entry in names.items():
        if entry.per_example:
            batch = batch_name(name)
            if batch not in names and batch not in aliases:
                batch_aliases[batch] = name
    for alias, name in list(aliases.items()):
        if names[name].per_example:
            batch = batch_name(alias)
            if batch not in names and batch not in batch_aliases:
                batch_aliases[batch] = name
    return Namespace(names, aliases, batch_aliases, layers, numbered)
