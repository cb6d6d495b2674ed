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


def test_ols_effect_hc3_matches_the_sandwich_by_hand():
    """HC3 SE = sqrt of (X'X)^-1 X' diag(e^2 / (1 - h)^2) X (X'X)^-1, t(n - k) CI."""
    import pandas as pd
    from scipy import stats as sps

    from exomir.stats.models import ols_effect

    rng = np.random.default_rng(3)
    n = 14
    x = pd.DataFrame(
        {
            "Intercept": 1.0,
            "treated": np.repeat([0.0, 1.0], n // 2),
            "baseline": rng.normal(size=n),
        }
    )
    y = pd.Series(0.5 * x["treated"] + x["baseline"] + rng.normal(size=n))
    xv = x.to_numpy()
    bread = np.linalg.inv(xv.T @ xv)
    beta = bread @ xv.T @ y.to_numpy()
    e = y.to_numpy() - xv @ beta
    h = np.einsum("ij,jk,ik->i", xv, bread, xv)
    meat = xv.T @ np.diag(e**2 / (1 - h) ** 2) @ xv
    se = math.sqrt((bread @ meat @ bread)[1, 1])
    q = sps.t.ppf(0.975, n - 3)
    notes: list[str] = []
    eff = ols_effect(y, x, "treated", "HC3", 0.95, notes)
    assert eff.estimate == pytest.approx(beta[1], rel=1e-12)
    assert eff.se == pytest.approx(se, rel=1e-10)
    assert eff.ci_low == pytest.approx(beta[1] - q * se, rel=1e-10)
    assert eff.pvalue == pytest.approx(2 * sps.t.sf(abs(beta[1] / se), n - 3))
    assert eff.df == n - 3 and eff.cov_type == "HC3" and notes == []


def test_ols_effect_falls_back_to_hc1_at_leverage_one():
    """A design column only one row has gives that row leverage 1: HC1, with a note."""
    import pandas as pd

    from exomir.stats.models import ols_effect

    x = pd.DataFrame(
        {
            "Intercept": 1.0,
            "treated": [0.0, 0, 0, 1, 1, 1],
            "only_one": [0.0, 0, 0, 0, 0, 1],
        }
    )
    y = pd.Series([1.0, 2, 1.5, 3, 2.5, 9])
    notes: list[str] = []
    eff = ols_effect(y, x, "treated", "HC3", 0.95, notes)
    assert eff.cov_type == "HC1"
    assert notes == ["HC3 undefined (a participant has leverage 1); HC1 used"]


def test_level_dummies_pool_singletons_with_the_largest_level():
    """Reference = most frequent level; a one-row level gets no dummy."""
    import pandas as pd

    from exomir.stats.models import level_dummies

    text = pd.Series(["b", "a", "b", "c", "a", "b"])
    cols, ref, small = level_dummies(text, "site")
    assert ref == "b" and small == ["c"]
    assert list(cols) == ["site[T.a]"]
    assert cols["site[T.a]"].tolist() == [0.0, 1, 0, 0, 1, 0]
