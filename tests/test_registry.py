"""Every rule of the op registry against SymPy's own differentiation.

Each row builds a small instance of one op, asks symprop for its
vector-Jacobian product with a random upstream G, and compares it with
sum_ij G_ij d op_ij / d X_kl computed by ``sympy.diff`` of the explicit,
entry-by-entry expansion of the op's *definition*.  Activations and losses are
read from the registry, so a new op is tested without touching this file;
structural ops are one row each.
"""

import numpy as np
import pytest
import sympy as sp

from symprop import algebra as alg
from symprop import ops
from symprop.derive import local_vjp
from tests.scalar_oracle import entry_symbols, explicit

N = 3
X = sp.MatrixSymbol("X", N, 1)
Y = sp.MatrixSymbol("Y", N, 1)
A = sp.MatrixSymbol("A", 2, N)
B = sp.MatrixSymbol("B", N, 2)
S = sp.MatrixSymbol("S", N, N)
s = sp.Symbol("s")
t = sp.Symbol("t")
TOKENS = sp.MatrixSymbol("Xt", 2, 2)  # two tokens of two features: attention's expansion stays small
WQ, WK, WV = (sp.MatrixSymbol(n, 1, 2) for n in ("WQ", "WK", "WV"))
IMAGE = ops.image("Img", 2, 4, 4)  # two channels of 4 x 4
KERNEL = ops.kernel("Ker", 2, 2, 3)  # two 3 x 3 kernels over two channels


def check_vjp(expr, wrt, rng, positive=(), away_from_zero=(), tol=1e-10):
    """Compare symprop's VJP of ``expr`` with respect to each of ``wrt`` with the oracle."""
    shape = alg.shape_of(expr)
    G = sp.MatrixSymbol("G", *shape) if shape else sp.Symbol("G")
    shares = local_vjp(expr, G, lambda e: bool(getattr(e, "free_symbols", set()) & set(wrt)))

    env_values = {}
    symbols_in = {a for a in expr.free_symbols if isinstance(a, (sp.Symbol, sp.MatrixSymbol))} | {G}
    for sym in sorted(symbols_in, key=lambda q: q.name):
        low = 0.2 if sym in positive else None
        if isinstance(sym, sp.MatrixSymbol):
            value = rng.normal(size=tuple(int(d) for d in sym.shape))
            if low is not None:
                value = rng.uniform(low, 0.9, size=value.shape)
            if sym in away_from_zero:
                value = np.where(np.abs(value) < 0.1, 0.5, value)
            env_values[sym] = sp.Matrix(value)
        else:
            value = rng.normal() if low is None else rng.uniform(low, 0.9)
            env_values[sym] = sp.Float(value) if sym not in away_from_zero or abs(value) > 0.1 else sp.Float(0.5)

    # oracle: d/dX of sum_ij G_ij op_ij, on the explicit expansion
    expanded = explicit(expr, {})
    g_entries = entry_symbols(G)
    if isinstance(expanded, sp.MatrixBase):
        contracted = sum(g_entries[i, j] * expanded[i, j] for i in range(expanded.rows) for j in range(expanded.cols))
    else:
        contracted = g_entries * expanded
    subs = {}
    for sym, value in env_values.items():
        entries = entry_symbols(sym)
        if isinstance(entries, sp.MatrixBase):
            subs.update({entries[i, j]: value[i, j] for i in range(entries.rows) for j in range(entries.cols)})
        else:
            subs[entries] = value
    for var in wrt:
        entries = entry_symbols(var)
        if isinstance(entries, sp.MatrixBase):
            want = np.array([[float(sp.diff(contracted, e).evalf(subs=subs)) for e in row] for row in entries.tolist()])
        else:
            want = float(sp.diff(contracted, entries).evalf(subs=subs))
        got_expr = shares[var]
        if got_expr.atoms(*BACKWARD_OPS):
            # backward ops (a convolution's adjoint, pooling's routing) have no SymPy definition:
            # their value comes from symprop's own NumPy spelling, at the same point
            got = _numeric(got_expr, env_values)
        else:
            got_value = explicit(got_expr, {}, {})
            got_value = got_value.subs(subs) if hasattr(got_value, "subs") else got_value
            got = np.array(sp.Matrix(got_value).evalf(), dtype=float) if isinstance(got_value, sp.MatrixBase) else float(sp.N(got_value))
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=f"d/d{var} of {expr}: got {got_expr}")


BACKWARD_OPS = (ops.ConvInputGrad, ops.ConvKernelGrad, ops.PoolGrad, ops.Unflatten)


def _numeric(expr, env_values):
    from symprop.printing import NumPyPrinter, helper_namespace

    printer = NumPyPrinter()
    code = printer.doprint(expr)
    namespace = helper_namespace(printer.helpers_used)
    for sym, value in env_values.items():
        namespace[sym.name] = np.array(value.tolist(), dtype=float) if isinstance(value, sp.MatrixBase) else float(value)
    return np.asarray(eval(code, namespace), dtype=float)  # our own printed code


# ---------------------------------------------------------------------------
# registry-driven rows: every activation and helper function, every loss
# ---------------------------------------------------------------------------

KINKED = {"relu", "leaky_relu", "step"}


@pytest.mark.parametrize("name", sorted(ops.FUNCTIONS))
def test_function_entrywise(name):
    rule = ops.FUNCTIONS[name]
    rng = np.random.default_rng(sorted(ops.FUNCTIONS).index(name))
    away = (X,) if name in KINKED else ()
    check_vjp(rule(X), [X], rng, away_from_zero=away)


@pytest.mark.parametrize("name", sorted(ops.FUNCTIONS))
def test_function_scalar(name):
    rule = ops.FUNCTIONS[name]
    rng = np.random.default_rng(100 + sorted(ops.FUNCTIONS).index(name))
    away = (t,) if name in KINKED else ()
    check_vjp(rule(t), [t], rng, away_from_zero=away)


def test_softmax():
    check_vjp(ops.softmax(X), [X], np.random.default_rng(1))


@pytest.mark.parametrize("name", sorted(ops.LOSSES))
def test_loss_matrix(name):
    rule = ops.LOSSES[name]
    check_vjp(rule(X, Y), [X], np.random.default_rng(2), positive=(X, Y))


@pytest.mark.parametrize("name", sorted(ops.LOSSES))
def test_loss_of_matrices(name):
    """A loss of two matrices is the mean over their columns (examples of a batch, tokens of a sequence)."""
    rule = ops.LOSSES[name]
    C, D = sp.MatrixSymbol("C", N, 2), sp.MatrixSymbol("D", N, 2)
    check_vjp(rule(C, D), [C], np.random.default_rng(5), positive=(C, D))


@pytest.mark.parametrize("name", sorted(ops.LOSSES))
def test_loss_scalar(name):
    rule = ops.LOSSES[name]
    y = sp.Symbol("y")
    check_vjp(rule(t, y), [t], np.random.default_rng(3), positive=(t, y))


def test_custom_activation_is_derived_by_sympy():
    z = sp.Symbol("z")
    swish2 = ops.activation("test_swish2", sp.Lambda(z, z / (1 + sp.exp(-z))))
    assert swish2 is ops.activation("test_swish2", sp.Lambda(z, z / (1 + sp.exp(-z))))  # idempotent
    check_vjp(swish2(X), [X], np.random.default_rng(4))


# ---------------------------------------------------------------------------
# structural ops: one row each (expression builder, variables, options)
# ---------------------------------------------------------------------------

STRUCTURAL = {
    "matmul": (lambda: A * X, [A, X], {}),
    "matmul3": (lambda: A * S * X, [A, S, X], {}),
    "matmul_scalar_coefficient": (lambda: 3 * A * X, [A, X], {}),
    "matmul_scalar_param": (lambda: s * A * X, [A, X, s], {}),
    "matadd": (lambda: X + Y + S * X, [X, Y, S], {}),
    "subtract": (lambda: X - Y, [X, Y], {}),
    "hadamard": (lambda: sp.HadamardProduct(X, Y, X), [X, Y], {}),
    "hadamard_power": (lambda: sp.HadamardPower(X, 3), [X], {}),
    "hadamard_inverse": (lambda: sp.HadamardPower(X, -1), [X], {"positive": (X,)}),
    "transpose": (lambda: B.T * X, [B, X], {}),
    "outer_product": (lambda: X * Y.T, [X, Y], {}),
    "inner_product": (lambda: X.T * Y, [X, Y], {}),
    "trace": (lambda: sp.Trace(S * S.T), [S], {}),
    "matrix_power": (lambda: (S**3) * X, [S, X], {}),
    "matrix_element_1x1": (lambda: (X.T * Y)[0, 0], [X, Y], {}),
    "exp_entrywise": (lambda: X.applyfunc(sp.exp), [X], {}),
    "log_entrywise": (lambda: X.applyfunc(sp.log), [X], {"positive": (X,)}),
    "cosh_entrywise": (lambda: X.applyfunc(sp.cosh), [X], {}),
    "lambda_entrywise": (lambda: X.applyfunc(sp.Lambda(t, t**3 + sp.sin(t))), [X], {}),
    "scalar_add_mul_pow": (lambda: (s * t + 2) ** 3, [s, t], {}),
    "scalar_functions": (lambda: sp.exp(s) * sp.log(t) + sp.sin(s * t), [s, t], {"positive": (t,)}),
    "scalar_division": (lambda: s / (1 + t**2), [s, t], {}),
    # reductions and broadcasts (ops/reductions.py): products with ones vectors
    "sum_rows": (lambda: ops.sum_along(B, 0), [B], {}),
    "sum_columns": (lambda: ops.sum_along(B, 1), [B], {}),
    "mean_columns": (lambda: ops.mean(B, 1), [B], {}),
    "var_rows": (lambda: ops.var(B, 0), [B], {}),
    "broadcast_column": (lambda: ops.broadcast(X, 2, 1), [X], {}),
    "broadcast_row": (lambda: ops.broadcast(X.T, 2, 0), [X], {}),
    "sqrt_divide": (lambda: ops.divide(X, ops.sqrt(Y)), [X, Y], {"positive": (Y,)}),
    # softmax of a matrix along either axis
    "softmax_columns": (lambda: ops.softmax(B), [B], {}),
    "softmax_rows": (lambda: ops.softmax(B, axis=1), [B], {}),
    # markers: a named value and an initialisation hint pass the adjoint through
    "named": (lambda: ops.Named(A * X, "u"), [A, X], {}),
    "init_hint": (lambda: ops.Init(A, "ones") * X, [A, X], {}),
    # attention's mask: the adjoint passes where the mask is 1
    "masked": (lambda: ops.softmax(ops.Masked(S, sp.MatrixSymbol("Mask", N, N))), [S], {}),
    # whole layers, node by node (their closed form is tested in test_layers.py)
    "batch_norm": (lambda: ops.batch_norm(B, sp.MatrixSymbol("g", N, 1), sp.MatrixSymbol("c", N, 1)),
                   [B, sp.MatrixSymbol("g", N, 1), sp.MatrixSymbol("c", N, 1)], {}),
    "layer_norm": (lambda: ops.layer_norm(B), [B], {}),
    "attention": (lambda: ops.attention(TOKENS, WQ, WK, WV), [WQ, WK, WV, TOKENS], {}),
    # convolution, pooling and flattening (ops/convolution.py), on tiny images
    "conv2d_padded": (lambda: ops.conv2d(IMAGE, KERNEL, padding=1), [IMAGE, KERNEL], {}),
    "conv2d_stride2": (lambda: ops.conv2d(IMAGE, ops.kernel("Ker2", 3, 2, 2), stride=2), [IMAGE, ops.kernel("Ker2", 3, 2, 2)], {}),
    "conv1d": (lambda: ops.conv1d(B.T, ops.kernel("K1d", 2, 2, (2,))), [B], {}),
    "max_pool": (lambda: ops.max_pool2d(IMAGE, 2), [IMAGE], {"away_from_zero": ()}),
    "avg_pool_stride1": (lambda: ops.avg_pool2d(IMAGE, 2, stride=1), [IMAGE], {}),
    "flatten": (lambda: A * ops.flatten(ops.image("I3", 1, 1, 3)), [A], {}),
    "dropout": (lambda: ops.dropout(A * X, sp.MatrixSymbol("Mdrop", 2, 1), 0.5), [A, X], {}),
}


@pytest.mark.parametrize("name", sorted(STRUCTURAL))
def test_structural(name):
    build, wrt, options = STRUCTURAL[name]
    check_vjp(build(), wrt, np.random.default_rng(sorted(STRUCTURAL).index(name)), **options)


def test_every_vjp_rule_class_has_a_row():
    """A rule added to VJP_RULES without a test row fails here."""
    covered = {sp.MatAdd, sp.MatMul, sp.MatPow, sp.HadamardProduct, sp.HadamardPower, sp.Transpose, sp.Trace}
    covered |= {ops.Softmax, ops.LossExpr, ops.Named, ops.Hint, ops.Masked, ops.Conv, ops.Pool, ops.Flatten}
    from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
    from sympy.matrices.expressions.matexpr import MatrixElement

    covered |= {ElementwiseApplyFunction, MatrixElement}
    assert set(ops.VJP_RULES) <= covered, set(ops.VJP_RULES) - covered
