"""The usual mistakes in the backward pass of the layers beyond the MLP: repairs for rows of ``mistakes.MISTAKES``.

Batch and layer norm: a path through the mean or the variance forgotten (the
repair adds that path's share, in the derivation's own adjoints: 1/m dμ 1ᵀ,
2/m (dσ² 1ᵀ) ⊙ Z_c).  Sums along the wrong axis: 1 1ᵀ X for X 1 1ᵀ (the
softmax Jacobian along the wrong axis), 1 X for X 1.  Convolution: the flip
of the kernels forgotten or extra, ⋆ and ∗full or their operands confused.
Pooling: max routing and average spreading confused, the 1/k² forgotten.
Dropout: the mask forgotten; a constant of a layer (1/p_keep, 1/√d_k)
forgotten or extra; a sum over the positions or examples forgotten.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from .. import formula as fm
from ..formula import name_node, text


def _num(value) -> tuple:
    return ("num", Fraction(value))


ONES = ("ones", None)


def _is_ones(node) -> bool:
    return node == ONES or (node[0] == "T" and _is_ones(node[1]))


def _is_number(node) -> bool:
    """2, 1/4, \\frac{1}{4}, -1/2: a number written as one."""
    if node[0] == "num":
        return True
    return (node[0] == "div" and _is_number(node[1]) and _is_number(node[2])) or (node[0] == "neg" and _is_number(node[1]))


def _is_product(node) -> bool:
    return node[0] == "mul" and node[1] in ("matmul", "juxt")


def mirror(tree):
    """The tree that computes the transpose (the row convention): products reversed, reductions over the other axis."""
    op = tree[0]
    if _is_product(tree) and "num" not in (tree[2][0], tree[3][0]):
        return ("mul", tree[1], mirror(tree[3]), mirror(tree[2]))
    if op == "reduce":
        return ("reduce", tree[1], None if tree[2] is None else 1 - tree[2], tree[3], mirror(tree[4]))
    out = tree
    for i, child in fm.children(tree):
        out = fm.replace(out, (i,), mirror(child))
    return out


def _oriented(tree, ctx):
    return mirror(tree) if ctx.namespace.convention.rows else tree


def _shape_of(ctx, name):
    value = ctx.env.get(name)
    return np.shape(value) if value is not None else None


# --------------------------------------------------------------------------
# Batch and layer norm: a path forgotten
# --------------------------------------------------------------------------


def _path_shares(ctx):
    """(standardization, which, share tree, what it is) for the paths through the mean and the variance."""
    ns = ctx.namespace
    if ctx.batched:
        return
    for st in ns.standardizations:
        n = name_node("m") if st.length == "m" else _num(st.length)
        dmu, dvar = ns.adjoints.get(st.mu), ns.adjoints.get(st.var)

        def spread(v):  # a statistic's adjoint broadcast back along the axis
            return ("mul", "juxt", v, ("T", ONES)) if st.axis == 1 else ("mul", "juxt", ONES, v)

        if dmu in ns.names:
            share = ("div", spread(name_node(dmu)), n)
            yield st, "mean", share, f"the path through the mean {st.mu}"
        if dvar in ns.names:
            share = ("mul", "hadamard", ("div", ("mul", "juxt", _num(2), spread(name_node(dvar))), n), name_node(st.centred))
            yield st, "variance", share, f"the path through the variance {st.var}"


def _places(tree, ctx, name):
    """The root, then every other subtree of the shape of ``name``'s value (outside sums)."""
    yield ()
    shape = _shape_of(ctx, name)
    for path, node in fm.subtrees(tree):
        if path and ctx.shapes.get(path) == shape and path not in ctx.inside_sum and node[0] != "name":
            yield path


def _missing_path(which):
    def repairs(tree, ctx):
        for st, kind, share, what in _path_shares(ctx):
            if kind != which:
                continue
            share = _oriented(share, ctx)
            for path in _places(tree, ctx, st.z):
                node = fm.at(tree, path)
                repaired = fm.replace(tree, path, ("add", node, share))
                where = "" if not path else f" in {text(node)}"
                yield repaired, (f"{what} is missing{where}: every entry of {st.z} moves "
                                 f"{st.mu if kind == 'mean' else st.var}, which adds {text(share)} to d{st.z}")

    return repairs


missing_mean_path = _missing_path("mean")
missing_variance_path = _missing_path("variance")


# --------------------------------------------------------------------------
# Sums along the wrong axis
# --------------------------------------------------------------------------


def _plain(node):
    """A product with its ones vectors written without transposes (their orientation comes from the product)."""
    if _is_ones(node):
        return ONES
    if _is_product(node):
        return ("mul", node[1], _plain(node[2]), _plain(node[3]))
    return node


def _axis_swaps(tree, double: bool):
    """(path, node, swapped): a product with ones moved to the other side (1 1ᵀ X <-> X 1 1ᵀ; X 1 <-> 1 X)."""
    for path, node in fm.subtrees(tree):
        if not _is_product(node):
            continue
        left, right = node[2], node[3]
        pair_left = _is_product(left) and _is_ones(left[2]) and _is_ones(left[3])
        pair_right = _is_product(right) and _is_ones(right[2]) and _is_ones(right[3])
        chained = _is_product(left) and not _is_ones(left[2]) and _is_ones(left[3]) and _is_ones(right)  # (X 1) 1ᵀ
        if double and (pair_left or pair_right) and not (pair_left and pair_right):
            yield path, node, _plain(("mul", node[1], right, left))
        elif double and chained:
            yield path, node, _plain(("mul", node[1], ("mul", left[1], left[3], right), left[2]))
        elif not double and not (pair_left or pair_right or chained) and (_is_ones(left) != _is_ones(right)):
            if not (_is_product(left) and (_is_ones(left[2]) or _is_ones(left[3]))):
                yield path, node, _plain(("mul", node[1], right, left))


def _softmax_outputs(ns) -> set:
    return {ns.layered.get(("a", layer)) for layer, (act, _) in ns.layers.items() if act == "softmax"} - {None}


def mentions_softmax(tree, ctx) -> bool:
    outputs = _softmax_outputs(ctx.namespace)
    return any(n[0] == "name" and n[1] in outputs for _, n in fm.subtrees(tree))


def softmax_axis(tree, ctx):
    """P ⊙ (dP - (P ⊙ dP) 1 1ᵀ) where softmax normalises columns (or the other way round)."""
    if not mentions_softmax(tree, ctx):
        return
    for path, node, swapped in _axis_swaps(tree, double=True):
        columns = _is_ones(swapped[2]) or (_is_product(swapped[2]) and _is_ones(swapped[2][2]))  # 1 1ᵀ X: column sums
        yield fm.replace(tree, path, swapped), (
            f"the softmax Jacobian is applied along the wrong axis: {text(node)} should be {text(swapped)} (where "
            f"softmax normalises each {'column' if columns else 'row'}, its Jacobian sums each "
            f"{'column: 1 1ᵀ X' if columns else 'row: X 1 1ᵀ'})")


def ones_axis(tree, ctx):
    for double in (True, False):
        for path, node, swapped in _axis_swaps(tree, double):
            yield fm.replace(tree, path, swapped), (
                f"a sum over the wrong axis: {text(node)} should be {text(swapped)} (X 1 sums the columns of X, "
                "1ᵀ X its rows)")


def missing_sum(tree, ctx):
    """A parameter shared by every column (a bias, gamma, beta) gets the sum of their shares."""
    shape = ctx.shapes.get(())
    if shape is None or len(shape) != 2 or 1 in shape:
        return
    yield ("mul", "juxt", tree, ONES), ("the sum over the columns is missing (a parameter shared by every column - "
                                        "a bias, gamma, beta - gets the sum of their shares: X 1)")
    yield ("mul", "juxt", ONES, tree), "the sum over the rows is missing (1ᵀ X)"


# --------------------------------------------------------------------------
# Convolution and pooling
# --------------------------------------------------------------------------


def _conv_nodes(tree):
    for path, node in fm.subtrees(tree):
        if node[0] == "op" and node[1] in ("corr", "full"):
            yield path, node


def _rot(node):
    return node[3] if node[0] == "op" and node[1] == "rot180" else ("op", "rot180", None, node)


def conv_flip(tree, ctx):
    for path, node in fm.subtrees(tree):
        if node[0] == "op" and node[1] == "rot180" and fm.at(tree, path[:-1])[1:2] not in (("corr",), ("full",)):
            yield fm.replace(tree, path, node[3]), f"{text(node)} should be {text(node[3])}: the flip is extra here"
    for path, node in _conv_nodes(tree):
        for slot in (3, 4):
            operand = node[slot]
            flipped = _rot(operand)
            repaired = fm.replace(tree, path + (slot,), flipped)
            if operand[0] == "op" and operand[1] == "rot180":
                yield repaired, f"{text(operand)} should be {text(flipped)}: the flip is extra here"
            elif node[1] == "full":
                yield repaired, (f"{text(operand)} should be {text(flipped)}: the kernels must be flipped (the input's "
                                 "adjoint is the full convolution of δ with rot180(K), as the forward pass correlates)")
            else:
                yield repaired, f"{text(operand)} should be {text(flipped)}"


def conv_order(tree, ctx):
    for path, node in _conv_nodes(tree):
        swapped = ("op", node[1], None, node[4], node[3])
        yield fm.replace(tree, path, swapped), (
            f"the operands are in the wrong order: {text(node)} should be {text(swapped)} (dL/dK = X ⋆ δ: the input "
            "correlated with the output's adjoint; dL/dX = rot180(K) ∗full δ)")
        other = ("op", "full" if node[1] == "corr" else "corr", None, node[3], node[4])
        for candidate in (other, ("op", other[1], None, node[4], node[3])):
            yield fm.replace(tree, path, candidate), (
                f"{text(node)} should be {text(candidate)}: the input's adjoint is a full convolution (∗full, the "
                "output padded by the kernel size), the kernels' adjoint a correlation (⋆)")


def pooling(tree, ctx):
    ops_ = ctx.namespace.ops
    if not ops_ or not ops_.pools:
        return
    for path, node in fm.subtrees(tree):
        if node[0] != "op" or node[1] not in ("up", "route_max"):
            continue
        parent = fm.at(tree, path[:-1]) if path else None
        if parent is not None and _is_product(parent) and _is_number(parent[2]) and path[-1] == 3:
            path, node = path[:-1], parent  # 1/4 up2(g): the factor belongs to the op
        g = node[3] if node[0] == "op" else node[3][3]
        shape = ctx.shapes.get(path + (3,)) if node[0] == "op" else ctx.shapes.get(path + (3, 3))
        for pool in ops_.pools:
            if shape is not None and tuple(shape) != pool.output_shape:
                continue
            taps = pool.geometry[3] * pool.geometry[4]
            spread = ("mul", "juxt", ("num", Fraction(1, taps)), ("op", "up", pool.window, g))
            if node[1] == "route_max":
                yield fm.replace(tree, path, spread), (
                    f"{text(node)} should be {text(spread)}: average pooling spreads each entry evenly over its window")
                continue
            if node[0] == "mul":  # a factor and up_k
                yield fm.replace(tree, path, ("op", "route_max", None, g, name_node(pool.input))), (
                    f"{text(node)} should be route_max({text(g)}; {pool.input}): max pooling passes each entry to "
                    "its window's largest input only")
                continue
            routed = ("op", "route_max", None, g, name_node(pool.input))
            yield fm.replace(tree, path, routed), (
                f"{text(node)} should be {text(routed)}: max pooling passes each entry to its window's largest input only")
            if node[2] == pool.window:
                yield fm.replace(tree, path, ("mul", "juxt", ("num", Fraction(1, taps)), node)), (
                    f"{text(node)} should be {text(spread)}: each of the {taps} inputs of a window gets 1/{taps} "
                    "of the average's adjoint")
                yield fm.replace(tree, path, ("mul", "juxt", _num(taps), node)), f"an extra factor 1/{taps} on {text(node)}"


# --------------------------------------------------------------------------
# Dropout and the constants of the layers
# --------------------------------------------------------------------------


def dropout_mask(tree, ctx):
    ns = ctx.namespace
    for mask in ns.masks:
        if mask not in ns.names:
            continue
        shape = _shape_of(ctx, mask)
        written = name_node(mask)
        for path, node in fm.subtrees(tree):
            if ctx.shapes.get(path) == shape and path not in ctx.inside_sum and node != written:
                masked = ("mul", "hadamard", node, written)
                yield fm.replace(tree, path, masked), (f"the dropout mask {mask} is missing: {text(node)} should be "
                                                       f"{text(masked)} (a dropped unit passes no gradient back)")


_WHY = {"p_keep": "inverted dropout divides the kept units by p_keep", "d_k": "the scores are divided by √d_k"}


def constant_factor(tree, ctx):
    ns = ctx.namespace
    for name in sorted(n for n, e in ns.names.items() if e.kind == "constant" and n != "epsilon"):
        c = name_node(name)
        why = _WHY.get(name, f"{name} is a factor of the layer")
        for factor, shown in ((("call", "sqrt", 0, c), f"√{name}"), (c, name)):
            yield ("div", tree, factor), f"a factor 1/{shown} is missing ({why})"
            yield ("mul", "juxt", factor, tree), f"an extra factor 1/{shown} ({why} once)"


__all__ = ["conv_flip", "conv_order", "constant_factor", "dropout_mask", "mentions_softmax", "missing_mean_path", "missing_sum",
           "missing_variance_path", "mirror", "ones_axis", "pooling", "softmax_axis"]
