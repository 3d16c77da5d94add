"""The examples in the public docstrings run and print what they say (doctest).

Every docstring of an object defined in a public module is collected (the
reference site is built from the same docstrings): an example that stops
matching the code fails here.
"""

import doctest
import importlib
import inspect

import pytest

import symprop

PUBLIC_MODULES = [
    "symprop", "symprop.derivation", "symprop.network", "symprop.recurrent", "symprop.algebra",
    "symprop.ops.scalar", "symprop.ops.losses", "symprop.ops.softmax", "symprop.ops.reductions",
    "symprop.ops.normalization", "symprop.ops.attention", "symprop.ops.convolution", "symprop.ops.dropout",
    "symprop.ops.structural", "symprop.ops.markers", "symprop.verify.formulas", "symprop.verify.gradcheck",
]


def _examples():
    finder = doctest.DocTestFinder(exclude_empty=True)
    seen = set()
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        for test in finder.find(module, name, module=module):
            if test.examples and (test.filename, test.lineno) not in seen:
                seen.add((test.filename, test.lineno))
                yield pytest.param(test, id=test.name)


EXAMPLES = list(_examples())


def _public_callables():
    for name in symprop.__all__:
        obj = getattr(symprop, name)
        if callable(obj) and not (isinstance(obj, type) and issubclass(obj, Exception)):
            yield name, obj


@pytest.mark.parametrize("name, obj", list(_public_callables()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_public_name_has_a_documented_example(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert ">>>" in doc, f"symprop.{name} has no example in its docstring"


@pytest.mark.parametrize("test", EXAMPLES)
def test_docstring_example(test):
    failures = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test, out=failures.append)
    assert result.failed == 0, "".join(failures)
