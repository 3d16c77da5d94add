"""The names a formula may use: the network's vocabulary (parameters, data, forward values, adjoints)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

import sympy as sp

from .. import algebra as alg
from .conventions import Convention
from .layers import LayerOps


# ==========================================================================
# The names a formula may use: the network's vocabulary
# ==========================================================================


@dataclass(frozen=True)
class Name:
    name: str  # the network's identifier: W1, x, z1, delta1, yhat, m
    kind: str  # parameter | input | target | hyper | constant | forward | adjoint | count
    shape: tuple  # () for scalars
    layer: Optional[int] = None
    symbol: object = None
    per_example: bool = False  # has one value per example (a batch matrix in batched formulas)
    role: str = ""  # of forward values and adjoints: pre-activation | activation | prediction | loss


@dataclass(frozen=True)
class Standardization:
    """One batch or layer norm: the names of its values, its axis and the length of the statistics."""

    axis: int  # 1: statistics over the columns (batch norm); 0: over the rows (layer norm)
    length: object  # how many values a statistic runs over: a number, or "m"
    z: str  # the input
    mu: str
    centred: str
    var: str
    sigma: str
    zhat: str


@dataclass
class Namespace:
    names: dict  # canonical name -> Name
    aliases: dict = field(default_factory=dict)  # other spelling -> canonical name
    batch_aliases: dict = field(default_factory=dict)  # batch-matrix name (X, Delta1) -> canonical name
    layers: dict = field(default_factory=dict)  # layer -> (activation registry name, pre-activation name)
    numbered: bool = True  # names carry layer numbers (z1, a1) rather than z, a
    layered: dict = field(default_factory=dict)  # (group w|b|z|a|delta|da, layer) -> canonical name (a0 = x)
    adjoints: dict = field(default_factory=dict)  # canonical name -> the name of its adjoint (z1 -> delta1, a1 -> da1)
    excluded: frozenset = frozenset()  # adjoints the formula may not use (the target and those computed from it)
    convention: Convention = field(default_factory=Convention)
    ops: object = None  # the network's convolutions, pools and flattenings (layers.LayerOps)
    over_batch: bool = False  # the network is declared over a batch: X, Z1 are its own names, m its batch size
    standardizations: tuple = ()  # the batch and layer norms (Standardization), for their mistakes
    masks: tuple = ()  # names of the dropout masks

    def lookup(self, word: str):
        """(canonical name, written in batch notation) or None."""
        mapped = dict(self.convention.names).get(word)
        if mapped is not None and mapped != word:
            return self.lookup(mapped)
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
        if self.over_batch:
            text += "; m (the batch size)"
        elif "m" in self.names:
            text += "; batch matrices " + ", ".join(sorted(self.batch_aliases)) + " and m"
        return text

    def layer_of(self, name: str) -> Optional[int]:
        for layer, (_, z) in self.layers.items():
            if z == name:
                return layer
        return None

    def group_of(self, name: str):
        """(group, layer) of a layered name, or None."""
        return next((key for key, n in self.layered.items() if n == name), None)

    def depth(self) -> int:
        return max((layer for _, layer in self.layered), default=0)


def namespace(derivation, exclude=(), convention: Optional[Convention] = None) -> Namespace:
    """The names a formula about ``derivation``'s network may use.

    Parameters, inputs and targets; every forward value (z1, a1, yhat, L);
    every adjoint (delta1, da1, dyhat) except those in ``exclude`` (the one
    being checked and the ones computed from it); ``m``.
    """
    from ..batch import batch_name

    net = derivation.network
    names = {}
    for group, kind in ((net.params, "parameter"), (net.inputs, "input"), (net.targets, "target"),
                        (net.hyperparams, "hyper")):
        for s in group:
            names[s.name] = Name(s.name, kind, alg.shape_of(s), None, s, kind in ("input", "target"))
    layers, adjoints = {}, {}
    for step in derivation.steps:
        if step.kind in ("forward", "loss"):
            names[step.name] = Name(step.name, "forward", step.shape, step.layer, step.symbol, True, step.role)
        elif step.kind == "adjoint":
            adjoints[step.of] = step.name
            if step.name not in exclude:
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
    for name, entry in names.items():  # Greek hyper-parameters: \lambda for lamda (or lam, lmbda)
        if entry.kind == "hyper":
            for word in _greek_words(name):
                aliases.setdefault(word, name)
    for c in network_constants(net):  # epsilon, d_k, p_keep: named numbers of the layers
        names.setdefault(c.name, Name(c.name, "constant", (), None, c, False))
        for alias in _CONSTANT_ALIASES.get(c.name, ()):
            aliases.setdefault(alias, c.name)
    for alias in list(aliases):
        if alias in names:
            del aliases[alias]
    over_batch = net.batch is not None
    names["m"] = Name("m", "count", (), None, sp.Symbol("m", integer=True, positive=True), False)
    batch_aliases = {}
    for name, entry in (() if over_batch else names.items()):
        if entry.per_example:
            batch = batch_name(name)
            if batch in names:
                batch += "_B"  # a capital name of one example (a dropout mask M): its batch is M_B, as the notes print
            if batch not in names and batch not in aliases:
                batch_aliases[batch] = name
    for alias, name in (() if over_batch else list(aliases.items())):
        if names[name].per_example:
            batch = batch_name(alias)
            if batch not in names and batch not in batch_aliases:
                batch_aliases[batch] = name
    layered = _layered_names(net, names, adjoints)
    masks = tuple(s.name for s in net.inputs if "dropout" in net.hints.get(s, {}))
    return Namespace(names, aliases, batch_aliases, layers, numbered, layered, adjoints, frozenset(exclude),
                     convention or Convention(), LayerOps.of(net), over_batch, _standardizations(net), masks)


_CONSTANT_ALIASES = {"p_keep": ("p",), "epsilon": ("eps",)}  # dropout's p, the eps of code


def _standardizations(net) -> tuple:
    from ..ops.normalization import _region

    found = []
    for node in net.nodes:
        if not node.closed_form.startswith("standardize"):
            continue
        region = _region(net, node)
        if region is None:
            continue
        z, mu, centred, var, sigma = region
        axis = int(node.closed_form[-1])
        length = node.symbol.shape[axis]
        length = int(length) if sp.sympify(length).is_Integer else "m"
        found.append(Standardization(axis, length, z.name, mu.name, centred.name, var.name, sigma.name, node.name))
    return tuple(found)


def network_constants(net) -> list:
    """The named numbers of the network's layers (ops.Constant: epsilon, d_k, p_keep), by name."""
    from .. import ops

    found = {}
    for node in net.nodes:
        for c in node.definition.atoms(ops.Constant):
            found.setdefault(c.name, c)
    return [found[k] for k in sorted(found)]


# Short spellings of Greek letters in identifiers (lambda is a Python keyword).
_GREEK_SPELLINGS = {"lambda": ("lam", "lamda", "lmbda", "lambd", "lambda_", "reg"), "epsilon": ("eps",),
                    "alpha": ("alp",), "gamma": ("gam",), "beta": ("bet",)}


def _greek_words(name: str) -> list:
    """The Greek words a hyper-parameter's name stands for: lamda -> lambda, tau -> tau."""
    from .tokens import _GREEK

    words = [g for g, spellings in _GREEK_SPELLINGS.items() if name in spellings]
    latex = sp.latex(sp.Symbol(name))
    if latex.startswith("\\") and latex[1:] in _GREEK:
        words.append(latex[1:])
    return words


def _layered_names(net, names: dict, adjoints: dict) -> dict:
    """(group, layer) -> canonical name: W/b by the layer whose pre-activation uses them, z, a (a0 = x), delta, da."""
    layered = {}
    depth = 0
    for node in net.nodes:
        if node.layer is None:
            continue
        depth = max(depth, node.layer)
        if node.role == "pre-activation":
            layered[("z", node.layer)] = node.name
            for p in net.params:
                if p in node.definition.free_symbols and not p.name.startswith("_"):
                    group = "b" if alg.shape_of(p)[1:] == (1,) or (alg.shape_of(p) == () and p.name[:1].lower() == "b") else "w"
                    layered.setdefault((group, node.layer), p.name)
        elif node.activation is not None:
            layered[("a", node.layer)] = node.name
    if len(net.inputs) == 1:
        layered[("a", 0)] = net.inputs[0].name
    for (group, layer), name in list(layered.items()):
        if group in ("z", "a") and name in adjoints:
            layered[("delta" if group == "z" else "da", layer)] = adjoints[name]
    return layered
