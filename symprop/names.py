"""Every user string that reaches generated code or notes passes through here.

* Names (declared symbols, custom activations, TOML keys) become Python
  identifiers in the generated module and in ``evaluate``: ``check_name``
  refuses anything that is not a plain identifier or that the generated code
  defines itself (``GENERATED``, the one table of those names; a test parses
  generated modules and checks the table is complete).
* Free text (a network's name) goes into generated Python only through
  ``python_text``, which makes it inert inside a docstring or a comment.
* A user's LaTeX spelling of an activation (``activation(..., latex=...)``,
  TOML ``latex =``) must pass ``check_latex_spelling``: letters, digits, one
  subscript and a short allow-list of harmless commands, nothing that can
  read files, end the document, or carry HTML into the Markdown.
"""

from __future__ import annotations

import builtins
import keyword
import re

from .errors import InvalidNameError

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

# --------------------------------------------------------------------------
# The names generated code defines (templates/module.py.j2, emit.py,
# numeric.py); a user name equal to one of them would be shadowed by it or
# shadow it.  tests/test_names.py checks this table against generated modules.
# --------------------------------------------------------------------------
GENERATED = frozenset({
    # module level of the generated training module (user names become
    # module-level too, in the demo under `if __name__ == "__main__"`)
    "np", "PARAMS", "INPUTS", "TARGETS", "MASKS", "init_params", "forward", "loss", "gradients", "train",
    "Optimizer", "SGD", "RMSprop", "AdaGrad", "Adam", "AdamW",
    # NumPy helpers that are not scalar ops (those are checked against the registry)
    "softmax", "logsumexp", "log1m_softmax", "bce_softmax_backward", "erf",
    "rng", "teacher", "data", "validation",  # the demo's own variables
    # locals of forward / loss / gradients, where the user's names are locals too
    "params", "grads", "inv_m",
    # evaluate(): the learning rate and the result dict
    "eta", "out",
    # names the derivation and its notes give (the loss, the batch size, batch forms)
    "L", "dL", "m", "Yhat",
    # reserved since the first release (kept so no name that was refused becomes valid)
    "cache", "seed", "dtype", "epochs", "batch_size", "optimizer", "self", "numpy", "lr",
    # the PyTorch module (templates/module_torch.py.j2, export_torch.py): its imports, classes, and the
    # locals of DerivedLoss and _backward_pass, where the user's names are arguments and locals too
    "torch", "math", "Model", "DerivedLoss", "ctx", "param_values", "tensors", "numbers",
})

# What a recurrent network's module (templates/recurrent_module.py.j2) defines
# besides: refused for the names of a recurrent network (recurrent.py).
GENERATED_RECURRENT = {"T": "the number of steps", "k": "the step index", "STEPS": "a constant", "SEQUENCES": "a constant"}

# Prefixes and suffixes of names the generated code makes from a user's name.
_DERIVED_PATTERNS = (
    ("lse_", "the log-sum-exp of {}"),  # emit: lse_z2
    ("teacher_", "the demo's target {}"),  # emit: teacher_yhat
)


def reserved_reason(name: str):
    """Why ``name`` may not be a user's name, or None."""
    from . import ops

    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "is a Python keyword"
    if hasattr(builtins, name):
        return "is a Python builtin the generated code may call"
    if name in GENERATED:
        return "is a name the generated code defines itself"
    if name in ops.FUNCTIONS or name in ops.LOSSES or name in ops.OP_NAMES:
        return "is the name of an op (its NumPy helper has that name)"
    if name in ops.NUMPY_HELPERS:
        return "is the name of a NumPy helper the generated code defines"
    for prefix, what in _DERIVED_PATTERNS:
        if name.startswith(prefix):
            return f"starts with {prefix!r}, which the generated code uses for {what.format('...')}"
    return None


def check_name(name, what: str, ops_allowed: bool = False) -> str:
    """``name`` if it may name a user's symbol (or, with ``ops_allowed``, an op); else InvalidNameError."""
    if not isinstance(name, str) or not IDENTIFIER.match(name) or keyword.iskeyword(name):
        raise InvalidNameError(
            f"{what} {repr(name)} is not a valid name: use letters, digits and '_', starting with a letter "
            "(names become Python identifiers and LaTeX symbols)"
        )
    if "__" in name:
        raise InvalidNameError(f"{what} {name!r}: names may not contain '__' (symprop marks examples with it)")
    reason = reserved_reason(name)
    if reason is not None and not (ops_allowed and reason.startswith("is the name of an op")):
        raise InvalidNameError(f"{what} {name!r} clashes with a name symprop uses itself ({name!r} {reason}); rename it")
    return name


# --------------------------------------------------------------------------
# Free text into generated Python
# --------------------------------------------------------------------------


def python_text(text) -> str:
    """``text`` on one line, safe inside a docstring ``\"\"\"...\"\"\"`` or a ``#`` comment.

    Backslashes, double quotes and every unprintable character are written as
    escapes, so nothing in it can end the string or the line, and the
    docstring's value reads as the text itself (C:\\\\Users stays C:\\Users).
    """
    out = []
    for ch in " ".join(str(text).split()):
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


# --------------------------------------------------------------------------
# LaTeX spellings of custom activations
# --------------------------------------------------------------------------

_GREEK = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi varpi rho "
    "varrho sigma varsigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega"
).split()
_FUNCTION_WORDS = "sin cos tan sinh cosh tanh arcsin arccos arctan log ln exp max min".split()
_ACCENTS = "hat tilde bar check breve vec".split()
# commands whose argument is a word: \operatorname{ReLU}
_WORD_COMMANDS = "operatorname mathrm mathit mathsf mathbf mathcal text".split()
ALLOWED_COMMANDS = frozenset(_GREEK + _FUNCTION_WORDS + _ACCENTS + _WORD_COMMANDS)
MAX_LATEX_SPELLING = 64
_TOKEN = re.compile(r"\\([A-Za-z]+)|([A-Za-z0-9 \-]+)|([{}_])|(.)", re.DOTALL)
_WORD_ARGUMENT = re.compile(r"\{[A-Za-z0-9 \-]+\}")


def check_latex_spelling(tex, what: str) -> str:
    """``tex`` if it is a safe LaTeX spelling of a function name, else InvalidNameError.

    Allowed: letters, digits, spaces and '-'; Greek letters and \\sin, \\log,
    ...; accents (\\hat, \\tilde, ...); \\operatorname{word}, \\mathrm{word}
    (and \\mathit, \\mathsf, \\mathbf, \\mathcal, \\text); one subscript
    '_x' or '_{...}'; balanced braces.  No '^' or prime (the notes write
    f' and f^2 after it), no other command or character.
    """
    def refuse(why):
        shown = repr(tex)[:80]
        return InvalidNameError(
            f"{what}: the LaTeX spelling {shown} is not allowed ({why}); use letters, a Greek letter, "
            r"\operatorname{name} or \mathrm{name}, with at most one subscript"
        )

    if not isinstance(tex, str):
        raise refuse("it is not a string")
    if not tex.strip():
        raise refuse("it is empty")
    if len(tex) > MAX_LATEX_SPELLING:
        raise refuse(f"longer than {MAX_LATEX_SPELLING} characters")
    depth = 0
    subscripts = 0
    pos = 0
    while pos < len(tex):
        match = _TOKEN.match(tex, pos)
        command, _plain, special, other = match.groups()
        pos = match.end()
        if other is not None:
            raise refuse(f"the character {repr(other)}")
        if command is not None:
            if command not in ALLOWED_COMMANDS:
                raise refuse(f"the command \\{command}")
            if command in _WORD_COMMANDS:
                argument = _WORD_ARGUMENT.match(tex, pos)
                if argument is None:
                    raise refuse(f"\\{command} takes a word in braces")
                pos = argument.end()
        elif special == "{":
            depth += 1
        elif special == "}":
            depth -= 1
            if depth < 0:
                raise refuse("unbalanced braces")
        elif special == "_":
            subscripts += 1
            if subscripts > 1 or depth:
                raise refuse("more than one subscript")
            if pos >= len(tex) or tex[pos] in " _}":
                raise refuse("a subscript needs something after '_'")
    if depth:
        raise refuse("unbalanced braces")
    return tex


__all__ = ["ALLOWED_COMMANDS", "GENERATED", "GENERATED_RECURRENT", "IDENTIFIER", "check_latex_spelling", "check_name", "python_text",
           "reserved_reason"]
