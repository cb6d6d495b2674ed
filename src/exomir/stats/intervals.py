"""Confidence intervals of proportions (Wilson, Newcombe).

Plain numbers in, plain numbers out, so they can be checked against hand
calculations (tests/unit/test_stats.py).
"""

from __future__ import annotations

import math

from statsmodels.stats.proportion import proportion_confint


def wilson_ci(count: int, nobs: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion.

    Parameters
    ----------
    count
        Successes.
    nobs
        Trials; ``0`` gives ``(nan, nan)``.
    level
        Confidence level.

    Returns
    -------
    tuple of float
        Lower and upper limit.
    """
    if nobs <= 0:
        return (math.nan, math.nan)
    lo, hi = proportion_confint(count, nobs, alpha=1.0 - level, method="wilson")
    return (float(lo), float(hi))


def newcombe_diff_ci(
    x1: int, n1: int, x2: int, n2: int, level: float = 0.95
) -> tuple[float, float, float]:
    """Difference of two independent proportions with Newcombe's hybrid score CI.

    Newcombe (Stat Med 1998;17:873, method 10) combines the Wilson intervals
    ``(l1, u1)`` and ``(l2, u2)`` of ``p1 = x1/n1`` and ``p2 = x2/n2``::

        d = p1 - p2
        lower = d - sqrt((p1 - l1)**2 + (u2 - p2)**2)
        upper = d + sqrt((u1 - p1)**2 + (p2 - l2)**2)

    Parameters
    ----------
    x1, n1
        Events and participants of the first group (e.g. the treated arm).
    x2, n2
        Events and participants of the second group (the reference arm).
    level
        Confidence level.

    Returns
    -------
    tuple of float
        ``(p1 - p2, lower, upper)``; all NaN when a group is empty.
    """
    if n1 <= 0 or n2 <= 0:
        return (math.nan, math.nan, math.nan)
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_ci(x1, n1, level)
    l2, u2 = wilson_ci(x2, n2, level)
    d = p1 - p2
    lower = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return (d, max(-1.0, lower), min(1.0, upper))
