"""Batch-first NumPy code for per-example expressions (the generated modules).

The derivation is written for one example in column vectors; the generated
code works on a batch, one example per row.  ``BatchPrinter`` prints a
per-example expression as the code of its batch:

* a per-example column (or row) of length n is an (m, n) array whose row i is
  example i: the transpose of the column layout of the batch matrix;
* a per-example 1x1 matrix is an (m, 1) array; in a scalar network every
  per-example scalar is an (m,) array;
* parameters and everything computed from them alone keep the declared
  (mathematical) layout and print with the parent printer.

So ``W1 x`` prints as ``x @ W1.T``, ``W2^T delta2`` as ``delta2 @ W2``, ``+ b1``
as ``+ b1.T`` (a broadcast row), ``u * v`` stays ``u * v``, an inner product
``u^T v`` of two per-example columns becomes ``(u * v).sum(axis=1,
keepdims=True)`` and ``softmax(z)`` the row-wise ``softmax(z)``.

Three entry points differ in what they compute from a per-example expression
e(i): ``example`` gives the batch of e(i); ``total`` gives sum_i e(i) (a
parameter gradient: outer products delta a^T become ``delta.T @ a``, columns
become column sums); ``mean`` gives (1/m) sum_i e(i) (the loss).
"""

from __future__ import annotations

import ast
import re
from contextlib import contextmanager

import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, OneMatrix, Transpose
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from . import algebra as alg
from . import ops
from .algebra import T
from .errors import UnsupportedOperationError
from .printing import NumPyPrinter

INV_M = sp.Symbol("inv_m", positive=True)  # 1/m, the batch mean's factor
_ARG = sp.Symbol("_ARG_")  # where an elementwise body's argument goes


# ==========================================================================
# Parenthesising printed code
# ==========================================================================


def _top_level(code: str) -> str:
    """``code`` with everything inside brackets removed (what binds at the top)."""
    depth, out = 0, []
    for ch in code:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def is_atomic(code: str) -> bool:
    """A name, attribute, call or bracketed expression: safe anywhere."""
    top = _top_level(code)
    return all(ch.isalnum() or ch in "_." for ch in top) and not code.startswith("-")


def paren(code: str) -> str:
    return code if is_atomic(code) else f"({code})"


_SIMPLE = re.compile(r"-?(?:[A-Za-z_][A-Za-z0-9_.]*|[0-9.]+(?:e[-+]?[0-9]+)?)")


def power(base: str, exp: str) -> str:
    """``base ** exp`` spaced as ruff format spaces it (``a**2``, ``(a - b) ** 2``)."""
    base = base if is_atomic(base) else f"({base})"
    exp = exp if is_atomic(exp) or _SIMPLE.fullmatch(exp) else f"({exp})"
    if _SIMPLE.fullmatch(base) and _SIMPLE.fullmatch(exp) and not base.startswith("-"):
        return f"{base}**{exp}"
    return f"{base} ** {exp}"


def _is_sum(code: str) -> bool:
    top = _top_level(code).lstrip("-")
    return " + " in top or " - " in top


# ==========================================================================
# The printer
# ==========================================================================


class _Vector:
    """A per-example vector in a product chain, printed batch-first: (m, n)."""

    def __init__(self, kind: str, code: str, chain: bool = False, length: int = 0):
        self.kind = kind  # "col" (n, 1) per example, or "row" (1, n)
        self.code = code
        self.chain = chain  # a bare ``a @ B @ C`` chain: no parentheses needed left of ``@``
        self.length = length  # n: 1 makes it a per-example scalar, (m, 1)

    def left(self) -> str:
        return self.code if self.chain else paren(self.code)


class BatchPrinter(NumPyPrinter):
    """Batch-first NumPy code; see the module docstring for the layout.

    ``per_example``: the symbols that hold one example's value (inputs,
    targets, forward intermediates, adjoints).  ``indicators``: for
    sign-preserving activations a = f(z), {z: a}, so that 1[z > 0] is printed
    as ``(a > 0)`` and z need not be kept.  ``producers``: {node symbol:
    definition}, to fuse a loss with the activation of its prediction.
    """

    def __init__(self, per_example, scalar_network: bool, indicators=None, producers=None, dtype_of=None):
        super().__init__()
        self.dtype_of = dtype_of  # an array whose dtype explicit constant matrices take
        self.shared_lse: dict = {}  # {z: name of its log-sum-exp, computed once for softmax and loss}
        self.per_example = frozenset(per_example)
        self.scalar_network = scalar_network
        self.indicators = dict(indicators or {})
        self.producers = dict(producers or {})
        self._mode = "const"
        self._allow_narrow = False  # a broadcast (m, 1) may stand for (m, n) here
        self._memo: dict = {}
        self._not_supported = set()  # filled by the parent for functions NumPy lacks
        self._number_symbols = set()

    # ------------------------------------------------------------------
    # public entry points
    # ------------------------------------------------------------------
    def is_pe(self, expr) -> bool:
        """Does ``expr`` hold a per-example value (depends on an example's data)?"""
        if expr not in self._memo:
            self._memo[expr] = isinstance(expr, sp.Basic) and bool(expr.free_symbols & self.per_example)
        return self._memo[expr]

    def const(self, expr) -> str:
        """Code of a batch-independent expression, in the declared layout."""
        with self._in("const"):
            return self._print(expr)

    def example(self, expr) -> str:
        """Code of the batch of ``expr``: (m, n) for per-example vectors."""
        if not self.is_pe(expr):
            return self.const(expr)
        with self._in("pe"):
            return self._print(expr)

    def total(self, expr, shape=None) -> str:
        """Code of sum_i expr(example i), shaped as ``shape`` (default: expr's)."""
        shape = alg.shape_of(expr) if shape is None else tuple(shape)
        return self._join([(sign, self._total_term(term, shape)) for sign, term in self.terms(expr)])

    def mean(self, expr) -> str:
        """Code of (1/m) sum_i expr(example i) as a scalar (the batch-mean loss)."""
        parts = []
        for sign, term in self.terms(expr):
            parts.append((sign, self._mean_term(term)))
        return self._join(parts)

    def terms(self, expr):
        """(sign, term) pairs of a sum, negative terms as "-" with the term negated."""
        args = expr.args if isinstance(expr, (MatAdd, sp.Add)) else (expr,)
        out = []
        for a in args:
            c = alg.coefficient_split(a)[0] if alg.is_matrix(a) else a.as_coeff_Mul()[0]
            if c.is_number and c.is_negative:
                out.append(("-", alg.neg(a) if alg.is_matrix(a) else -a))
            else:
                out.append(("+", a))
        out.sort(key=lambda p: p[0] == "-")  # a - b: positive terms first
        return out

    @staticmethod
    def _join(parts) -> str:
        code = ""
        for i, (sign, text) in enumerate(parts):
            if sign == "-":
                text = paren(text) if _is_sum(text) or text.startswith("-") else text
                code = f"-{text}" if i == 0 else f"{code} - {text}"
            else:
                code = text if i == 0 else f"{code} + {text}"
        return code

    # ------------------------------------------------------------------
    # mode switching: per-example ("pe") or declared layout ("const")
    # ------------------------------------------------------------------
    @contextmanager
    def _in(self, mode, allow_narrow=False):
        saved = self._mode, self._allow_narrow
        self._mode, self._allow_narrow = mode, allow_narrow
        try:
            yield
        finally:
            self._mode, self._allow_narrow = saved

    def _print(self, expr, **kwargs):
        if self._mode == "pe" and not self.is_pe(expr):
            with self._in("const"):
                return super()._print(expr, **kwargs)
        return super()._print(expr, **kwargs)

    def _pe(self) -> bool:
        return self._mode == "pe"

    def _operand(self, e) -> str:
        """An operand of an entrywise operation in per-example layout."""
        if self.is_pe(e):
            return self._print(e)
        if isinstance(e, OneMatrix):
            return "1.0"
        if alg.is_matrix(e):
            c, rest = alg.coefficient_split(e)
            if isinstance(rest, OneMatrix):
                return self.const(c)
            if e.shape[1] == 1 and e.shape[0] != 1:
                return self.const(alg.transpose(e))  # a column becomes a broadcast row
        return self.const(e)

    # ------------------------------------------------------------------
    # entrywise operations
    # ------------------------------------------------------------------
    def _print_MatAdd(self, expr):
        if not self._pe():
            return super()._print_MatAdd(expr)
        narrow_ok = any(not self._is_broadcast_column(a) for a in expr.args if self.is_pe(a))
        with self._in("pe", allow_narrow=narrow_ok or self._allow_narrow):
            parts = [(sign, self._operand(term)) for sign, term in self.terms(expr)]
        return self._join(parts)

    def _print_HadamardProduct(self, expr):
        if not self._pe():
            return super()._print_HadamardProduct(expr)
        # Indicators (bool arrays) last: a float array first keeps the dtype.
        factors = sorted(expr.args, key=self._is_indicator)
        narrow_ok = any(not self._is_broadcast_column(a) for a in factors if self.is_pe(a))
        with self._in("pe", allow_narrow=narrow_ok or self._allow_narrow):
            codes = []
            for i, f in enumerate(factors):
                if self._is_indicator(f) and i > 0:
                    codes.append(self._indicator(f))
                else:
                    codes.append(self._mul_operand(self._operand(f)))
        return " * ".join(codes)

    @staticmethod
    def _mul_operand(code: str) -> str:
        top = _top_level(code)
        if is_atomic(code):
            return code
        if code.startswith("-") or any(op in top for op in (" + ", " - ", " @ ", " / ", " > ", " * ", " ** ")):
            return paren(code)
        return code

    def _print_HadamardPower(self, expr):
        if not self._pe():
            return super()._print_HadamardPower(expr)
        base = self._operand(expr.base)
        if expr.exp == -1:
            return f"1.0 / {paren(base)}"
        return power(base, self._exponent(expr.exp))

    def _exponent(self, e) -> str:
        return str(int(e)) if e.is_Integer else self.const(e)

    def _is_indicator(self, e) -> bool:
        """1[t > 0] of a per-example t (printed as a bool array where allowed)."""
        if isinstance(e, ElementwiseApplyFunction):
            body = alg.applied_function(e)
            return body == ops.step.function(T) and self.is_pe(e)
        return isinstance(e, (ops.step.function, sp.Heaviside)) and self.is_pe(e)

    def _indicator(self, e) -> str:
        arg = e.expr if isinstance(e, ElementwiseApplyFunction) else e.args[0]
        arg = self.indicators.get(arg, arg)
        return f"({self._operand(arg)} > 0)"

    def _step_call(self, arg) -> str:
        arg = self.indicators.get(arg, arg)
        return self._call("step", self._operand(arg))

    def _print_ElementwiseApplyFunction(self, expr):
        if not self._pe():
            return super()._print_ElementwiseApplyFunction(expr)
        body = alg.applied_function(expr)
        if isinstance(body, ops.ScalarFunctionBase) and body.args == (T,):
            if body.rule is ops.step:
                return self._step_call(expr.expr)
            return self._call(body.rule.name, self._operand(expr.expr))
        with self._in("const"):
            code = self._print(body.xreplace({T: _ARG}))
        with self._in("pe"):
            arg = self._operand(expr.expr)
        # a call's own parentheses suffice: f(arg), f(arg, 2); elsewhere (arg)
        code = re.sub(r"(?<=[(,] )_ARG_(?=[,)])|(?<=\()_ARG_(?=[,)])", lambda _: arg, code)
        return code.replace("_ARG_", paren(arg))

    def _print_Softmax(self, expr):
        if not self._pe():
            return super()._print_Softmax(expr)
        if expr.arg in self.shared_lse:  # softmax(z) = exp(z - logsumexp(z)), the lse computed once
            return f"np.exp({self._operand(expr.arg)} - {self.shared_lse[expr.arg]})"
        return self._call("softmax", self._operand(expr.arg))  # row-wise: axis=-1

    def _print_Transpose(self, expr):
        if not self._pe():
            return super()._print_Transpose(expr)
        if 1 in expr.arg.shape:
            return self._print(expr.arg)  # a per-example vector is one row either way
        raise self._unsupported(expr, "a transposed per-example matrix")

    def _print_MatrixElement(self, expr):
        if not self._pe():
            return super()._print_MatrixElement(expr)
        parent, i, j = expr.args
        k = int(i) if parent.shape[1] == 1 else int(j)
        return f"{paren(self._print(parent))}[:, {k}:{k + 1}]"

    def _print_MatPow(self, expr):
        # SymPy writes an entrywise function of a 1x1 matrix as its matrix power
        # ((W x).applyfunc(z**2) is (W x)**2): for 1x1 the two agree, and a batch
        # of them is an (m, 1) array, so the power is entrywise.
        if self._pe() and expr.base.shape == (1, 1) and expr.exp.is_Integer:
            return power(self._operand(expr.base), self._exponent(expr.exp))
        if self._pe():
            raise self._unsupported(expr, "the matrix power of a per-example matrix")
        return super()._print_MatPow(expr)

    def _print_Trace(self, expr):
        if not self._pe():
            return super()._print_Trace(expr)
        if expr.arg.shape == (1, 1):
            return self._print(expr.arg)
        raise self._unsupported(expr, "the trace of a per-example matrix")

    def _print_LossExpr(self, expr):
        if not self._pe():
            return super()._print_LossExpr(expr)
        return self._print(expr.rule.value(expr.prediction, expr.target))

    # scalar algebra ------------------------------------------------------
    def _print_ScalarFunctionBase(self, expr):
        if self._pe() and expr.rule is ops.step:
            return self._step_call(expr.args[0])
        return super()._print_ScalarFunctionBase(expr)

    def _print_Heaviside(self, expr):
        if self._pe():
            return self._step_call(expr.args[0])
        return super()._print_Heaviside(expr)

    def _print_ImmutableDenseMatrix(self, expr):
        code = super()._print_ImmutableDenseMatrix(expr)
        return f"{code[:-1]}, dtype={self.dtype_of}.dtype)" if self.dtype_of else code  # float32 stays float32

    def _print_Rational(self, expr):
        # 2 / 3 reads like the derivation; CPython folds it to the float constant
        return f"{expr.p} / {expr.q}" if expr.q != 1 else str(expr.p)

    def _print_Add(self, expr):
        parts = [(sign, self._print(term)) for sign, term in self.terms(expr)]
        return self._join(parts)

    def _print_Mul(self, expr):
        """Batch-independent factors first (one scalar product, then one pass per
        array), divisions last; indicators after a float array (a bool times a
        Python float would be float64)."""
        c, rest = expr.as_coeff_Mul()
        factors = list(sp.Mul.make_args(rest))
        consts = [f for f in factors if not self.is_pe(f)] if self._pe() else factors
        varying = [f for f in factors if self.is_pe(f)] if self._pe() else []
        numer, denom = [], []
        for f in consts + varying:
            if isinstance(f, sp.Pow) and f.exp.is_number and f.exp.is_negative:
                denom.append(f.base if f.exp == -1 else sp.Pow(f.base, -f.exp))
            else:
                numer.append(f)
        numer.sort(key=lambda f: (self.is_pe(f), self._is_indicator(f)))
        codes = []
        if c != 1 and c != -1:
            codes.append(self.const(c))
        floats = [f for f in numer if self.is_pe(f) and not self._is_indicator(f)]
        for f in numer:
            if self._is_indicator(f) and floats:
                codes.append(self._indicator(f))
            else:
                codes.append(self._mul_operand(self._print(f)))
        code = " * ".join(codes) if codes else "1.0"
        if denom:
            den = " * ".join(self._mul_operand(self._print(d)) for d in denom)
            code = f"{code} / {den if is_atomic(den) else paren(den)}"
        return f"-{code}" if c == -1 else code

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.args
        if exp == -1:
            return f"1.0 / {paren(self._print(base))}"
        if exp == sp.S.Half:
            return f"np.sqrt({self._print(base)})"
        return power(self._print(base), self._exponent(exp))

    # ------------------------------------------------------------------
    # matrix products
    # ------------------------------------------------------------------
    def _is_broadcast_column(self, e) -> bool:
        """1 s: a column of ones times a per-example scalar (prints as (m, 1))."""
        if not isinstance(e, MatMul):
            return False
        _, rest = alg.coefficient_split(e)
        f = rest.args if isinstance(rest, MatMul) else (rest,)
        return isinstance(f[0], OneMatrix) and all(g.shape == (1, 1) for g in f[1:])

    def _chain(self, expr):
        """Reduce a product to per-example vectors, constants and scalars.

        Returns (coefficient code, [scalar codes], [items]): each item a
        _Vector or a constant matrix expression.  Per-example vectors absorb
        the constant factors next to them (``W x`` -> ``x @ W.T``, never a
        product of two weight matrices); a row next to a column becomes an
        inner product, a per-example scalar (m, 1); 1x1 factors commute out.
        """
        c, rest = alg.coefficient_split(expr)
        factors = list(rest.args) if isinstance(rest, MatMul) else [rest]
        scalars, items = [], []
        for f in factors:
            if f.shape == (1, 1):
                scalars.append(self._scalar_factor(f))
            elif self.is_pe(f):
                if f.shape[1] == 1:
                    items.append(_Vector("col", self._print(f), length=int(f.shape[0])))
                elif f.shape[0] == 1:
                    items.append(_Vector("row", self._print(f), length=int(f.shape[1])))
                else:
                    raise self._unsupported(expr, "a per-example matrix inside a product")
            else:
                items.append(f)
        changed = True
        while changed:
            changed = False
            for i, it in enumerate(items):
                if not isinstance(it, _Vector):
                    continue
                left = items[i - 1] if i > 0 else None
                right = items[i + 1] if i + 1 < len(items) else None
                if it.kind == "col" and left is not None and not isinstance(left, _Vector):
                    if isinstance(left, OneMatrix) and left.shape[0] == 1:  # 1^T v: sum over the entries
                        scalars.append(f"{paren(it.code)}.sum(axis=1, keepdims=True)")
                        items[i - 1 : i + 1] = []
                    else:  # K v -> v @ K^T
                        k = paren(self.const(alg.transpose(left)))
                        items[i - 1 : i + 1] = [_Vector("col", f"{it.left()} @ {k}", chain=True, length=int(left.shape[0]))]
                    changed = True
                    break
                if it.kind == "row" and right is not None and not isinstance(right, _Vector):
                    if isinstance(right, OneMatrix) and right.shape[1] == 1:
                        scalars.append(f"{paren(it.code)}.sum(axis=1, keepdims=True)")
                        items[i : i + 2] = []
                    else:  # u^T K -> u @ K
                        k = paren(self.const(right))
                        items[i : i + 2] = [_Vector("row", f"{it.left()} @ {k}", chain=True, length=int(right.shape[1]))]
                    changed = True
                    break
                if it.kind == "row" and isinstance(right, _Vector) and right.kind == "col":
                    scalars.append(
                        f"({self._mul_operand(it.code)} * {self._mul_operand(right.code)}).sum(axis=1, keepdims=True)"
                    )
                    items[i : i + 2] = []
                    changed = True
                    break
        if self.is_pe(c):  # a per-example scalar factor: (m, 1), one of the scalars
            numeric, c = c.as_coeff_Mul()
            scalars.insert(0, self._mul_operand(self._print(c)))
            c = numeric
        coefficient = "" if c == 1 else self.const(c)
        # constants no vector absorbed (the per-example factor was 1x1, a scalar): one constant;
        # a 1x1 one beside a vector is a scalar factor
        merged = _merge_constants(items)
        if len(merged) > 1:  # a vector of length 1 (W^T delta with one output) is a scalar factor too
            scalars += [self._mul_operand(it.code) for it in merged if isinstance(it, _Vector) and it.length == 1]
            merged = _merge_constants([it for it in merged if not (isinstance(it, _Vector) and it.length == 1)])
        if len(merged) > 1:
            scalars += [self._scalar_factor(it) for it in merged if not isinstance(it, _Vector) and it.shape == (1, 1)]
            merged = [it for it in merged if isinstance(it, _Vector) or it.shape != (1, 1)]
        return coefficient, scalars, merged

    def _scalar_factor(self, f) -> str:
        """A 1x1 factor: (m, 1) per example, or a (1, 1) constant."""
        code = self._print(f) if self.is_pe(f) else self.const(f)
        return self._mul_operand(code)

    @staticmethod
    def _product(*codes) -> str:
        codes = [c for c in codes if c]
        return " * ".join(codes)

    def _print_MatMul(self, expr):
        if not self._pe():
            return super()._print_MatMul(expr)
        coefficient, scalars, items = self._chain(expr)
        if coefficient == "-1":
            coefficient, sign = "", "-"
        else:
            sign = ""
            # leading factors of a product need no parentheses unless they are a sum
            coefficient = paren(coefficient) if _is_sum(coefficient) else coefficient
        if not items:
            body = ""
        elif len(items) == 1 and isinstance(items[0], _Vector):
            body = items[0].code
        elif len(items) == 1:
            k = items[0]
            if isinstance(k, OneMatrix) and k.shape[1] == 1:  # 1 s: broadcast over the entries
                s = self._product(*scalars) if scalars else "1.0"
                if k.shape[0] == 1 or self._allow_narrow:
                    return sign + self._product(coefficient, s)
                return sign + self._product(coefficient, f"np.repeat({s}, {k.shape[0]}, axis=1)")
            body = paren(self._operand(k))
        else:
            raise self._unsupported(expr, "a per-example outer product outside a sum over the batch")
        if not scalars and not coefficient:
            return sign + body
        parts = [coefficient, *scalars, self._mul_operand(body) if body else ""]
        return sign + self._product(*parts)

    # ------------------------------------------------------------------
    # sums over the batch (parameter gradients)
    # ------------------------------------------------------------------
    def _total_term(self, term, shape) -> str:
        if not self.is_pe(term):
            # the same for every example: m of them times the 1/m of the mean
            return self.const(term)
        with self._in("pe"):
            if isinstance(term, MatMul):
                return self._total_product(term, shape)
            if isinstance(term, Transpose):
                return f"{paren(self._total_term(term.arg, term.arg.shape))}.T"
            if isinstance(term, HadamardProduct):
                varying = [f for f in term.args if self.is_pe(f)]
                if len(varying) == 1:
                    fixed = [f for f in term.args if not self.is_pe(f)]
                    inner = paren(self._total_term(varying[0], shape))
                    return " * ".join([inner] + [paren(self.const(f)) for f in fixed])
            if isinstance(term, sp.Mul):
                return self._total_mul(term)
            return self._column_sum(self._print(term), shape)

    def _column_sum(self, code, shape) -> str:
        code = paren(code)
        if not shape:
            return f"{code}.sum()"
        if shape[0] == 1 and shape[1] != 1:
            return f"{code}.sum(axis=0, keepdims=True)"
        return f"{code}.sum(axis=0)[:, None]"

    def _total_mul(self, term) -> str:
        c, rest = term.as_coeff_Mul()
        factors = list(sp.Mul.make_args(rest))
        consts = [f for f in factors if not self.is_pe(f)]
        varying = [f for f in factors if self.is_pe(f)]
        prefix = []
        if c != 1:
            prefix.append(self._mul_operand(self.const(c)))
        prefix += [self._mul_operand(self.const(f)) for f in consts]
        plain = all(not isinstance(f, sp.Pow) and not self._is_indicator(f) for f in varying)
        if self.scalar_network and len(varying) == 2 and plain:
            # sum_i u_i v_i of two (m,) arrays: a dot product
            u, v = (paren(self._print(f)) for f in varying)
            body = f"{u} @ {v}"
        else:
            body = f"{paren(self._print(sp.Mul(*varying)))}.sum()"
        return self._product(*prefix, paren(body) if prefix else body)

    def _total_product(self, term, shape) -> str:
        coefficient, scalars, items = self._chain(term)
        s = self._product(*scalars) if scalars else ""
        vectors = [it for it in items if isinstance(it, _Vector)]
        if not items:
            body = f"{paren(s)}.sum()" if not shape else f"{paren(s)}.sum(axis=0, keepdims=True)"
        elif len(items) == 1 and vectors:
            v = vectors[0]
            if v.kind == "col":
                body = f"{paren(v.code)}.T @ {paren(s)}" if s else self._column_sum(v.code, (shape[0], 1))
            else:
                body = f"{paren(s)}.T @ {paren(v.code)}" if s else f"{paren(v.code)}.sum(axis=0, keepdims=True)"
        elif len(items) == 1:
            body = f"{paren(s)}.sum() * {paren(self.const(items[0]))}"
        elif len(items) == 2 and len(vectors) == 2 and items[0].kind == "col" and items[1].kind == "row":
            # sum_i u_i v_i^T: the outer products of all examples in one product
            u, v = items
            left = f"({self._mul_operand(u.code)} * {s})" if s else paren(u.code)
            body = f"{left}.T @ {paren(v.code)}"
        elif len(items) == 2 and isinstance(items[0], _Vector) and items[0].kind == "col":
            col = items[0].code
            summed = f"{paren(col)}.T @ {paren(s)}" if s else self._column_sum(col, (2, 1))
            body = f"{paren(summed)} @ {paren(self.const(items[1]))}"
        elif len(items) == 2 and isinstance(items[1], _Vector) and items[1].kind == "row":
            row = items[1].code
            summed = f"{paren(s)}.T @ {paren(row)}" if s else f"{paren(row)}.sum(axis=0, keepdims=True)"
            body = f"{paren(self.const(items[0]))} @ {paren(summed)}"
        else:
            raise self._unsupported(term, "this product in a sum over the batch")
        if not shape and alg.is_matrix(term):
            body = f"{paren(body)}.sum()"  # a scalar parameter's 1x1 gradient
        if coefficient == "-1":
            return f"-{paren(body)}" if _is_sum(body) else f"-{body}"
        return self._product(
            self._mul_operand(coefficient) if coefficient else "", paren(body) if coefficient else body
        )

    # ------------------------------------------------------------------
    # the batch mean (the loss)
    # ------------------------------------------------------------------
    def _mean_term(self, term) -> str:
        if not self.is_pe(term):
            code = self.const(term)
            return f"{paren(code)}.sum()" if alg.is_matrix(term) else code
        with self._in("pe"):
            if isinstance(term, ops.LossExpr):
                return self._mean_loss(term)
            c, rest = alg.coefficient_split(term) if alg.is_matrix(term) else term.as_coeff_Mul()
            if c != 1:
                rest_code = self._mean_term(rest)
                return f"{self._mul_operand(self.const(c))} * {paren(rest_code) if _is_sum(rest_code) else rest_code}"
            if isinstance(rest, MatMul) and isinstance(rest.args[0], OneMatrix) and len(rest.args) == 2:
                return f"inv_m * {paren(self._operand(rest.args[1]))}.sum()"
            if isinstance(rest, (MatAdd, sp.Add)):
                return paren(self.mean(rest))
            return f"{paren(self._print(rest))}.mean()"

    def _mean_loss(self, expr) -> str:
        rule = expr.rule
        fused = self._fused(expr)
        if fused is None:
            return self._mean_term(rule.value(expr.prediction, expr.target))
        factor = rule.factor(expr.prediction)
        scale = "inv_m" if factor == 1 else f"{self.const(factor)} * inv_m"
        return f"{scale} * {fused}"

    def _fused(self, expr):
        found = self.fused_activation(expr)
        if found is None:
            return None
        name, z = found
        template = expr.rule.fused[name]
        for helper in expr.rule.fused_helpers:
            if helper + "(" in template or (helper == "logsumexp" and "{lse}" in template and z not in self.shared_lse):
                self.helpers_used.add(helper)
        z_code = self._operand(z)
        lse = self.shared_lse.get(z) or f"logsumexp({z_code}, axis=-1)"
        return template.format(z=paren(z_code), y=paren(self._operand(expr.target)), axis=-1, lse=lse)

    # ------------------------------------------------------------------
    def _unsupported(self, expr, what):
        return UnsupportedOperationError(f"cannot emit batch-first NumPy code for {what}: {sp.sstr(expr)}")


def _merge_constants(items) -> list:
    """Adjacent constant matrices of a chain as one product (B^T C^T next to a row is one constant)."""
    out = []
    for it in items:
        if out and not isinstance(it, _Vector) and not isinstance(out[-1], _Vector):
            out[-1] = alg.matmul(out[-1], it)
        else:
            out.append(it)
    return out


def names_used(code: str) -> set:
    """The variable names a statement of generated code reads."""
    return {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


__all__ = ["INV_M", "BatchPrinter", "is_atomic", "names_used", "paren"]
