"""One exception hierarchy: every problem symprop reports is a SympropError.

The CLI turns any SympropError into a one-line message and exit code 2; a
traceback reaching the user is a bug.
"""


class SympropError(Exception):
    """Base class of every error symprop raises on purpose."""


class DeclarationError(SympropError):
    """The network declaration is malformed (undeclared symbol, unused parameter, ...)."""


class ShapeError(DeclarationError):
    """Two operands of an operation have shapes that do not fit together."""


class InvalidNameError(DeclarationError):
    """A name is not a valid identifier, is reserved, or is used twice."""


class UnsupportedOperationError(SympropError):
    """The expression contains something symprop cannot differentiate."""


class FormulaError(SympropError):
    """A hand-written formula could not be parsed or names something unknown."""


class ModelFileError(SympropError):
    """A model file could not be read or does not define a network."""


class OutputError(SympropError):
    """An output file cannot be written without losing something the user had."""


class EvaluationError(SympropError):
    """Numeric values given for a worked example are missing, malformed or non-finite."""


class LatexError(SympropError):
    """pdflatex is missing, or it could not compile the generated notes."""


def describe(exc: BaseException) -> str:
    """An exception's message on one line, even when its ``__str__`` fails or spans lines."""
    try:
        text = str(exc)
    except Exception:  # a user's exception class whose __str__ raises
        text = f"{type(exc).__name__} (its message cannot be shown)"
    return " ".join(text.split())
