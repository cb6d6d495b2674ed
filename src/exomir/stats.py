"""Small statistical helpers shared by the clinical stages.

Functions here take plain numbers or arrays and return plain numbers, so that
they can be checked against hand calculations (see tests/unit/test_stats.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
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


def mann_whitney_auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """AUC as the Mann-Whitney probability P(X+ > X-) + 0.5 P(X+ = X-).

    Parameters
    ----------
    positives, negatives
        Scores of the condition-positive and condition-negative units (higher
        score = more likely positive).

    Returns
    -------
    float
        The area under the empirical ROC curve.
    """
    psi = _placement_kernel(np.asarray(positives, float), np.asarray(negatives, float))
    return float(psi.mean())


def _placement_kernel(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Matrix of the Mann-Whitney kernel: 1 if pos > neg, 0.5 if tied, else 0."""
    diff = pos[:, None] - neg[None, :]
    return (diff > 0).astype(float) + 0.5 * (diff == 0)


def delong_auc(
    positives: np.ndarray, negatives: np.ndarray, level: float = 0.95
) -> tuple[float, float, float, float]:
    """AUC with the DeLong (1988) variance and a Wald confidence interval.

    With the kernel ``psi(x, y) = 1[x > y] + 0.5 * 1[x = y]`` the structural
    components are ``V10_i = mean_j psi(x_i, y_j)`` for each positive and
    ``V01_j = mean_i psi(x_i, y_j)`` for each negative, and::

        var(AUC) = var(V10) / m + var(V01) / n

    (sample variances with divisor ``m - 1`` and ``n - 1``). The interval is
    ``AUC +/- z * sqrt(var)``, clipped to [0, 1].

    Parameters
    ----------
    positives, negatives
        Scores of positives (``m`` values) and negatives (``n`` values).
    level
        Confidence level.

    Returns
    -------
    tuple of float
        ``(auc, variance, ci_low, ci_high)``.

    Raises
    ------
    ValueError
        If a group has fewer than two values (the variance is undefined).
    """
    pos = np.asarray(positives, dtype=float)
    neg = np.asarray(negatives, dtype=float)
    if len(pos) < 2 or len(neg) < 2:
        raise ValueError(
            "DeLong's variance needs at least two positives and two negatives"
        )
    psi = _placement_kernel(pos, neg)
    auc = float(psi.mean())
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    var = float(v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg))
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    half = z * math.sqrt(var)
    return (auc, var, max(0.0, auc - half), min(1.0, auc + half))


def drop_collinear(
    x: pd.DataFrame, protect: Sequence[str], notes: list[str]
) -> pd.DataFrame:
    """Drop design columns that are constant or collinear with earlier ones.

    Columns are tried in order; one that does not raise the rank is dropped
    and a note says so. A protected column (the tested effect) that would be
    dropped is an error instead.

    Parameters
    ----------
    x
        Design matrix (intercept first).
    protect
        Columns that must stay.
    notes
        Receives one note per dropped column.

    Returns
    -------
    pandas.DataFrame
        ``x`` restricted to a full-rank set of columns.

    Raises
    ------
    ValueError
        If a protected column is collinear with the columns before it.
    """
    keep: list[str] = []
    for c in x.columns:
        trial = [*keep, c]
        if np.linalg.matrix_rank(x[trial].to_numpy(dtype=float)) == len(trial):
            keep.append(c)
        elif c in protect:
            raise ValueError(
                f"the tested column {c} is collinear with {', '.join(keep)}"
            )
        else:
            notes.append(f"column {c} dropped (constant or collinear)")
    return x[keep]
