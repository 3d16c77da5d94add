"""Loading a network from a model file.

A Python model file is the user's own code and is executed as such (like
``python FILE``); it must define a ``symprop.Network`` named ``net`` or exactly
one Network.  Any error while running it is reported as a ModelFileError that
names the file and line, never as a traceback.
"""

from __future__ import annotations

import runpy
import traceback
from pathlib import Path

from .errors import ModelFileError, SympropError
from .network import Network


def load_network(path) -> Network:
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    if path.is_dir():
        raise ModelFileError(f"model file {path} is a directory")
    if path.suffix in (".toml",):
        from .modelfile import load_toml

        return load_toml(path)
    if path.suffix != ".py":
        raise ModelFileError(f"model file {path}: expected a .py (or .toml) file")
    try:
        namespace = runpy.run_path(str(path), run_name="__symprop_model__")
    except SympropError as exc:
        raise type(exc)(f"{path}{_line_of(exc, path)}: {exc}") from None
    except SyntaxError as exc:
        raise ModelFileError(f"{path}, line {exc.lineno}: syntax error: {exc.msg}") from None
    except SystemExit as exc:
        raise ModelFileError(f"{path} called exit({exc.code}) while being loaded") from None
    except Exception as exc:  # the user's code failed: say where and what, no traceback
        raise ModelFileError(f"{path}{_line_of(exc, path)}: {type(exc).__name__}: {exc}") from None
    nets = {k: v for k, v in namespace.items() if isinstance(v, Network)}
    if isinstance(namespace.get("net"), Network):
        return namespace["net"]
    if len(nets) == 1:
        return next(iter(nets.values()))
    if not nets:
        raise ModelFileError(f"{path} defines no symprop.Network (name it `net`)")
    raise ModelFileError(f"{path} defines several networks ({', '.join(sorted(nets))}); name the one to use `net`")


def _line_of(exc: BaseException, path: Path) -> str:
    """", line N" of the deepest frame inside the model file, if any."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == path.resolve():
            line = frame.lineno
    return f", line {line}" if line else ""
