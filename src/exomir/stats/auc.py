"""Area under the ROC curve: Mann-Whitney estimate and DeLong variance."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


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
