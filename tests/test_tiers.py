"""The test tiers: a budget's own variable wins, and CI runs the README's test command in the full tier."""

import re
from pathlib import Path

from tests import tiers

ROOT = Path(__file__).resolve().parent.parent


def test_a_budgets_own_variable_overrides_the_tier(monkeypatch):
    monkeypatch.delenv("SYMPROP_TEST_BUDGET", raising=False)
    assert tiers.budget("SYMPROP_TEST_BUDGET", fast=3, full=30) == (30 if tiers.FULL else 3)
    monkeypatch.setenv("SYMPROP_TEST_BUDGET", "7")
    assert tiers.budget("SYMPROP_TEST_BUDGET", fast=3, full=30) == 7


def test_ci_runs_the_readmes_test_command_in_the_full_tier():
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1).splitlines()
    install, test_command = first_block[1].split(" && ")
    assert install.startswith("pip install -e '.[test") and test_command.startswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^export SYMPROP_FULL=1$", ci, re.M)
    assert re.search(rf"^{re.escape(test_command)}$", ci, re.M), f"{test_command!r} is not a line of .ci/run"
    assert "[test,torch" in ci  # CI installs the PyTorch oracle, which the test extra leaves out
