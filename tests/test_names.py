"""The one table of names symprop's generated code defines (symprop/names.py), checked against that code.

Every name a generated module binds or reads where the user's names live
(module level, the demo, forward / loss / gradients) and every name of
evaluate()'s compiled function is either the user's own, one the derivation
made from the user's names, or refused as a user name.
"""

import ast
import builtins

import pytest
import sympy as sp
from emit_netgen import special_networks

import symprop
from symprop import examples, names
from symprop.errors import InvalidNameError

USER_SCOPES = {"forward", "loss", "gradients"}


def _scope_names(node) -> tuple:
    """(bound, read) names of one function body or the module, nested functions left out."""
    bound, read = set(), set()
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
            bound.add(child.name)
            continue
        if isinstance(child, ast.Name):
            (read if isinstance(child.ctx, ast.Load) else bound).add(child.id)
        elif isinstance(child, ast.arg):
            bound.add(child.arg)
        elif isinstance(child, ast.alias):
            bound.add(child.asname or child.name)
        stack.extend(ast.iter_child_nodes(child))
    return bound, read


def _bound_and_read(tree) -> set:
    """Names that share a scope with the user's names: the module's (the demo's included) and those of
    forward, loss and gradients; and every global any function reads."""
    bound, read = _scope_names(tree)
    found = bound | read
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            local, loads = _scope_names(node)
            local |= {a.arg for a in node.args.args + node.args.kwonlyargs}
            if node.args.kwarg:
                local.add(node.args.kwarg.arg)
            found |= loads - local  # globals and builtins it reads
            if node.name in USER_SCOPES:
                found |= local | loads
    return found


def _made_from_user_names(d) -> set:
    net = d.network
    made = {s.name for s in net.declared} | {step.name for step in d.steps}
    made |= {"d" + s.name for s in net.declared}
    for state in getattr(net, "state_symbols", ()):  # a recurrent network: h_next, dh_next
        made |= {state.name, f"{state.name}_next", f"d{state.name}_next", f"d{state.name}"}
    if hasattr(d, "cell"):
        made |= set(names.GENERATED_RECURRENT)  # refused for recurrent networks by recurrent.py
    return made


@pytest.fixture
def registry():
    """Activations a test registers are removed afterwards (the registry is global: an activation named
    ``x`` would make every later network declaring ``x`` refuse it)."""
    from symprop import ops

    before = dict(ops.FUNCTIONS)
    yield
    ops.FUNCTIONS.clear()
    ops.FUNCTIONS.update(before)


def _layer_net(name):
    import layer_nets

    return getattr(layer_nets, name)()


NETWORKS = {
    "two_layer": lambda: examples.two_layer(),
    "relu_neuron": lambda: examples.relu_neuron(),
    "rnn": lambda: examples.rnn(),
    **{name: (lambda n=name: _layer_net(n)) for name in ("bn_mlp", "attention", "cnn", "dropout_mlp", "ln_sequence")},
    **{name: (lambda n=name: special_networks()[n]) for name in ("residual", "gated", "tied", "weight_decay", "scalar_sin_exp")
       if name in special_networks()},
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_every_name_of_a_generated_module_is_the_users_or_reserved(name):
    d = NETWORKS[name]().derive()
    made = _made_from_user_names(d)
    used = _bound_and_read(ast.parse(d.numpy()))
    unreserved = sorted(
        n for n in used
        if n not in made and names.reserved_reason(n) is None and not n.startswith(("_", "lse_", "teacher_"))
    )
    assert not unreserved, f"names the generated module defines that a user could also declare: {unreserved}"


def test_every_name_of_evaluate_is_the_users_or_reserved():
    for build in NETWORKS.values():
        d = build().derive()
        if hasattr(d, "cell"):
            continue  # a recurrent derivation evaluates its cell step by step (recurrent.py)
        d.evaluate  # noqa: B018
        from symprop.numeric import _compile

        _compile(d)
        tree = ast.parse(d._cache["evaluate_source"])
        made = _made_from_user_names(d)
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert not sorted(n for n in used if n not in made and names.reserved_reason(n) is None and not n.startswith("_"))


@pytest.mark.parametrize("clash", sorted(names.GENERATED | {"sigmoid", "erf", "len", "print", "match", "lse_z", "teacher_y"}))
def test_a_declared_name_that_generated_code_uses_is_refused(clash):
    if not names.IDENTIFIER.match(clash):
        pytest.skip("not an identifier")
    w, x, y = sp.Symbol(clash), sp.Symbol("xx"), sp.Symbol("yy")
    with pytest.raises(InvalidNameError, match="clashes with a name symprop uses"):
        symprop.Network((w * x - y) ** 2, params=[w], inputs=[x], targets=[y])


@pytest.mark.parametrize("clash", ["x", "np", "loss", "L", "erf", "train", "len", "Adam", "INPUTS", "teacher", "logsumexp"])
def test_a_custom_activation_may_not_take_a_name_generated_code_uses(clash, registry):
    z = sp.Symbol("z")
    if clash == "x":  # not reserved on its own: it clashes with the network that declares x
        act = symprop.activation("x", sp.Lambda(z, z**3))
        xs, w, y = sp.symbols("x w y")
        with pytest.raises(InvalidNameError, match="'x'"):
            symprop.Network((act(w * xs) - y) ** 2, params=[w], inputs=[xs], targets=[y])
        return
    with pytest.raises(InvalidNameError, match=repr(clash)):
        symprop.activation(clash, sp.Lambda(z, z**3))


@pytest.mark.parametrize("derived", ["a", "z", "delta", "dw", "da"])
def test_a_custom_activation_named_like_a_derived_value_is_refused_where_it_would_clash(derived, registry):
    z = sp.Symbol("z")
    act = symprop.activation(derived, sp.Lambda(z, z**3 + z))
    w, x, y = sp.symbols("w x y")
    with pytest.raises(InvalidNameError, match=f"activation '{derived}'"):
        symprop.Network((act(w * x) - y) ** 2, params=[w], inputs=[x], targets=[y])


def test_an_update_name_is_derived():
    w, w_new, x, y = sp.symbols("w w_new x y")
    with pytest.raises(InvalidNameError, match="'w_new'"):
        symprop.Network((w * w_new * x - y) ** 2, params=[w, w_new], inputs=[x], targets=[y])


def test_builtins_and_keywords_are_refused():
    for word in ("list", "sum", "match", "case", "None", "class"):
        assert names.reserved_reason(word) is not None or not names.IDENTIFIER.match(word) or word in ("None",)
    assert all(names.reserved_reason(b) for b in dir(builtins) if names.IDENTIFIER.match(b))
