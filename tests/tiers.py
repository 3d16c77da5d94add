"""The two tiers of the test suite.

The default run is the fast one (a few minutes on 2 cores with ``-n auto``):
smaller fuzzing budgets, a selection of the layer checks, no training runs.
``SYMPROP_FULL=1`` is the full tier that ``.ci/run`` runs: every budget at
its full size. A budget's own variable (``SYMPROP_FUZZ_EXAMPLES=3000``)
overrides either tier.
"""

import os

FULL = os.environ.get("SYMPROP_FULL") == "1"


def budget(variable: str, fast: int, full: int) -> int:
    """The number the variable says, else the tier's."""
    return int(os.environ.get(variable) or (full if FULL else fast))


def enabled(variable: str) -> bool:
    """A slow part of the suite: on in the full tier, or where its own variable is 1."""
    return FULL or os.environ.get(variable) == "1"
