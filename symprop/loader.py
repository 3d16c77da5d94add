"""Loading a network from a model file.

A Python model file is the user's own code and is executed as such (like
``python FILE``); it must define a ``symprop.Network`` named ``net`` or exactly
one Network.  Any error while running it is reported as a ModelFileError that
names the file and line, never as a traceback.
"""

from __future__ import annotations

import os
import runpy
import stat
import traceback
from pathlib import Path

import sympy as sp

from .errors import ModelFileError, ShapeError, SympropError, describe
from .network import Network
from .outputs import file_kind
from .recurrent import RecurrentNetwork


def load_network(path) -> Network:
    path = Path(path)
    check_model_path(path)
    if path.suffix in (".toml",):
        from .modelfile import load_toml

        return load_toml(path)
    if path.suffix != ".py":
        raise ModelFileError(f"model file {path}: expected a .py (or .toml) file")
    try:
        namespace = runpy.run_path(str(path), run_name="__symprop_model__")
    except SympropError as exc:
        raise _same_kind(exc, f"{path}{_line_of(exc, path)}: {describe(exc)}") from None
    except SyntaxError as exc:
        raise ModelFileError(f"{path}, line {exc.lineno}: syntax error: {describe(exc.msg)}") from None
    except OSError as exc:
        # runpy names the model by its absolute path; anything else is what the model's own code failed to open
        if exc.filename is None or os.path.abspath(exc.filename) != os.path.abspath(path):
            raise ModelFileError(f"{path}{_line_of(exc, path)}: {type(exc).__name__}: {describe(exc)}") from None
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror or describe(exc)}") from None
    except SystemExit as exc:
        raise ModelFileError(f"{path} called exit({exc.code}) while being loaded") from None
    except sp.matrices.exceptions.ShapeError as exc:
        raise ShapeError(f"{path}{_line_of(exc, path)}: {explain_shape_error(exc)}") from None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the user's code failed: say where and what, no traceback
        raise ModelFileError(f"{path}{_line_of(exc, path)}: {type(exc).__name__}: {describe(exc)}") from None
    kinds = (Network, RecurrentNetwork)
    nets = {k: v for k, v in namespace.items() if isinstance(v, kinds)}
    if isinstance(namespace.get("net"), kinds):
        return namespace["net"]
    if len(nets) == 1:
        return next(iter(nets.values()))
    if not nets:
        raise ModelFileError(f"{path} defines no symprop.Network (name it `net`)")
    raise ModelFileError(f"{path} defines several networks ({', '.join(sorted(nets))}); name the one to use `net`")


def _same_kind(exc: SympropError, message: str) -> SympropError:
    """``exc``'s class with ``message`` (a user's subclass may not take one argument: then a ModelFileError)."""
    try:
        return type(exc)(message)
    except Exception:
        return ModelFileError(message)


def check_model_path(path: Path) -> None:
    """A model file must be a regular file: a FIFO would hang the read, a device never end it."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ModelFileError(f"model file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"cannot read model file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not stat.S_ISREG(mode):
        raise ModelFileError(f"model file {path} is {file_kind(mode)}, not a .py or .toml file")


def read_model_bytes(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (never blocks, never reads more)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"cannot read model file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise ModelFileError(f"model file {path} is {file_kind(mode)}, not a .py or .toml file")
        try:
            raw = f.read(limit + 1)
        except OSError as exc:
            raise ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise ModelFileError(f"{path}: a model file is at most {limit} bytes")
    return raw


def _shape_text(m) -> str:
    return f"{sp.sstr(m)} ({m.shape[0]}x{m.shape[1]})" if hasattr(m, "shape") else sp.sstr(m)


def explain_shape_error(exc) -> str:
    """Name the operands of a SymPy shape error (SymPy's own message names only numbers).

    SymPy checks shapes while building an expression; the operands are the
    locals of the innermost frame of its check.
    """
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    local = tb.tb_frame.f_locals if tb is not None else {}
    if "A" in local and "B" in local:
        a, b = local["A"], local["B"]
        return (
            f"shapes do not match in a matrix product: {_shape_text(a)} times {_shape_text(b)} "
            f"({a.shape[1]} columns against {b.shape[0]} rows)"
        )
    args = local.get("args")
    if isinstance(args, (tuple, list)) and args:
        return "shapes do not match in a sum or entrywise product of " + ", ".join(_shape_text(a) for a in args)
    return f"shapes do not match: {exc}"


def _line_of(exc: BaseException, path: Path) -> str:
    """", line N" of the deepest frame inside the model file, if any."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == path.resolve():
            line = frame.lineno
    return f", line {line}" if line else ""
