"""Checking gradients people derived or coded by hand.

``check_gradient(net, W1, "delta^{[1]} x^T")`` - a hand-derived formula
    The formula (a string, read by ``symprop.formula``, or a SymPy expression) is
    evaluated at random sample points beside the gradient symprop derives, and
    a symbolic comparison is tried where it is quick.  When they differ, the
    result carries a counterexample and, when one of the usual mistakes
    explains the difference, its diagnosis: every row of ``MISTAKES`` proposes
    repairs of the formula, and a repair that matches the derived gradient at
    every sample point names the mistake.

``gradcheck(my_backward, params, data, loss=my_loss | net=net)`` - hand-written code
    Fast mode: central differences of the loss along a few random directions
    that move all parameters at once, against the inner products of the
    claimed gradients with the same directions.  Only when such a test fails
    are parameters tested one by one, and the failing ones entry by entry.
    With ``net=`` the reference is the network's own derived gradients,
    compared entry by entry (no differences needed).

The package: ``sampling`` (targets, sample points, comparisons), ``mistakes``
(the table of usual mistakes and the diagnosis), ``formulas``
(``check_gradient`` and its result), ``gradcheck`` (the directional and
entry-wise tests, the report) and ``reference`` (a network's derived
gradients as the reference).
"""

from .formulas import Counterexample, FormulaCheck, check_gradient
from .gradcheck import EntryCheck, GradcheckReport, ParamCheck, gradcheck
from .mistakes import MISTAKES, Diagnosis, Mistake, diagnose
from .reference import network_loss_and_gradients
from .sampling import BATCH_SIZE, EXACT_POINTS, FLOAT_POINTS, _derivation

__all__ = [
    "Counterexample", "Diagnosis", "EntryCheck", "FormulaCheck", "GradcheckReport", "MISTAKES", "Mistake",
    "ParamCheck", "check_gradient", "diagnose", "gradcheck", "network_loss_and_gradients",
    "BATCH_SIZE", "EXACT_POINTS", "FLOAT_POINTS", "_derivation",
]
