"""exomir.stats against hand calculations and published values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from exomir.stats import delong_auc, mann_whitney_auc, newcombe_diff_ci, wilson_ci

# Tiny fixture: positives score 3, 5, 7; negatives 1, 5, 6.
POS = np.array([3.0, 5.0, 7.0])
NEG = np.array([1.0, 5.0, 6.0])


def test_auc_hand_counted_pairs() -> None:
    """9 pairs: 3>1; 5>1, 5=5 (1/2); 7 beats all three -> 5.5 / 9."""
    assert mann_whitney_auc(POS, NEG) == pytest.approx(5.5 / 9)
    y = np.r_[np.ones(3), np.zeros(3)]
    assert roc_auc_score(y, np.r_[POS, NEG]) == pytest.approx(5.5 / 9)


def test_delong_variance_by_hand() -> None:
    """Structural components by hand.

    V10 (per positive, share of negatives beaten): 3 -> 1/3, 5 -> 1.5/3, 7 -> 1.
    V01 (per negative, share of positives above it): 1 -> 1, 5 -> 1.5/3, 6 -> 1/3.
    Both have mean 11/18 and squared deviations (5/18)^2 + (2/18)^2 + (7/18)^2 =
    78/324, so the sample variance is 39/324 and
    var(AUC) = 39/324 / 3 + 39/324 / 3 = 78/972.
    """
    auc, var, lo, hi = delong_auc(POS, NEG)
    assert auc == pytest.approx(11 / 18)
    assert var == pytest.approx(78 / 972)
    half = 1.959964 * math.sqrt(78 / 972)
    assert lo == pytest.approx(max(0.0, 11 / 18 - half), abs=1e-6)
    assert hi == pytest.approx(min(1.0, 11 / 18 + half), abs=1e-6)


def test_delong_needs_two_per_group() -> None:
    with pytest.raises(ValueError, match="at least two"):
        delong_auc(np.array([1.0]), NEG)


def test_wilson_known_values() -> None:
    """0/10: upper limit 0.2775 (z^2 / (n + z^2)); 6/7 by the closed formula."""
    lo, hi = wilson_ci(0, 10)
    z2 = 1.959964**2
    assert lo == pytest.approx(0.0, abs=1e-12)
    assert hi == pytest.approx(z2 / (10 + z2), abs=1e-6)
    assert hi == pytest.approx(0.2775, abs=1e-4)
    n, x = 7, 6
    p = x / n
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = math.sqrt(z2) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    assert wilson_ci(x, n) == pytest.approx((centre - half, centre + half), abs=1e-6)


def test_newcombe_published_examples() -> None:
    """Newcombe (Stat Med 1998;17:873), Table II, method 10 (hybrid score).

    56/70 - 48/80 = 0.2, 95% CI 0.0524 to 0.3339;
    9/10 - 3/10 = 0.6, 95% CI 0.1705 to 0.8090.
    """
    d, lo, hi = newcombe_diff_ci(56, 70, 48, 80)
    assert (d, lo, hi) == pytest.approx((0.2, 0.0524, 0.3339), abs=5e-4)
    d, lo, hi = newcombe_diff_ci(9, 10, 3, 10)
    assert (d, lo, hi) == pytest.approx((0.6, 0.1705, 0.8090), abs=5e-4)


def test_newcombe_empty_group() -> None:
    assert all(math.isnan(v) for v in newcombe_diff_ci(1, 0, 1, 5))


def test_drop_collinear_keeps_full_rank_and_protects_the_tested_column():
    """A constant and a duplicated column go (with notes); a collinear arm is an error."""
    import pandas as pd

    from exomir.stats import drop_collinear

    x = pd.DataFrame(
        {
            "Intercept": [1.0, 1, 1, 1],
            "treated": [0.0, 0, 1, 1],
            "const": [1.0, 1, 1, 1],
            "copy": [0.0, 0, 1, 1],
            "age": [30.0, 25, 41, 33],
        }
    )
    notes: list[str] = []
    kept = drop_collinear(x, ["treated"], notes)
    assert list(kept.columns) == ["Intercept", "treated", "age"]
    assert notes == [
        "column const dropped (constant or collinear)",
        "column copy dropped (constant or collinear)",
    ]
    with pytest.raises(ValueError, match="tested column copy is collinear"):
        drop_collinear(x, ["copy"], [])
