"""The textbook table: every correct formula in its source's notation judged right, every mistaken variant
judged wrong with the named diagnosis (tests/textbook_formulas.py; counts: python benchmarks/checker_counts.py)."""

import pytest

from symprop.verify import MISTAKES
from textbook_formulas import ROWS, all_networks, cases, judge

NETS = all_networks()
CASES = list(cases())


@pytest.mark.parametrize("row, formula, options, expected", CASES,
                         ids=[f"{row.network}-{row.target}-{expected or 'right'}-{i}" for i, (row, _, _, expected) in enumerate(CASES)])
def test_textbook_formula(row, formula, options, expected):
    right_verdict, right_diagnosis, result = judge(NETS, row, formula, options, expected)
    assert right_verdict, f"[{row.source}] {formula}\n{result}"
    assert right_diagnosis, f"[{row.source}] {formula}: expected [{expected}]\n{result}"
    if expected is not None:
        assert f"[{expected}]" in str(result) and result.counterexample is not None


def test_the_table_is_what_the_issue_asks_for():
    assert len(ROWS) >= 60
    assert all(1 <= len(row.mistakes) <= 3 for row in ROWS)
    sources = {row.source.split(",")[0].split()[0] for row in ROWS}
    assert sources == {"Nielsen", "CS231n", "d2l", "Goodfellow", "Ng", "UFLDL", "matrixcalculus.org"}
    assert all(row.network in NETS for row in ROWS)
    keys = {m[1] for row in ROWS for m in row.mistakes}
    assert {"fprime_at_activation", "regularisation", "numbering", "indices", "axis", "transpose"} <= keys
    assert keys <= {m.key for m in MISTAKES}
