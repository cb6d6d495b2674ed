"""Clinical endpoint models against hand-computed and published values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from exomir.clinical.association import bh_adjust, bootstrap_spearman
from exomir.clinical.endpoints import (
    ancova,
    logistic,
    proportional_odds,
)
from exomir.clinical.settings import ClinicalSettings, ParamSpec
from exomir.stats import newcombe_diff_ci, wilson_ci


def _settings(**kw: object) -> ClinicalSettings:
    return ClinicalSettings(
        arm="exosome",
        reference_arm="placebo",
        baseline_visit="baseline",
        followup_visit="week1",
        **kw,  # type: ignore[arg-type]
    )


CONT = ParamSpec("SYSBP", "SBP", "VS", "mm[Hg]", "continuous", "ancova")
BIN = ParamSpec(
    "EDEMA_LE",
    "LE",
    "EDEMA",
    "1",
    "binary",
    "logistic",
    categories=("absent", "present"),
)
ORD = ParamSpec(
    "PROT_DIP",
    "dip",
    "UR",
    "1",
    "ordinal",
    "proportional_odds",
    categories=("neg", "1+"),
)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Newcombe RG (1998) Stat Med 17:873, Table II, method 10 (hybrid score).
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
        ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ],
)
def test_newcombe_matches_published_examples(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    d, lo, hi = newcombe_diff_ci(*counts)
    assert d == pytest.approx(counts[0] / counts[1] - counts[2] / counts[3])
    assert (round(lo, 4), round(hi, 4)) == expected


def test_wilson_zero_events() -> None:
    # Closed form for x = 0: upper = z^2 / (n + z^2).
    z = 1.959963984540054
    lo, hi = wilson_ci(0, 10)
    assert lo == 0.0
    assert hi == pytest.approx(z**2 / (10 + z**2))


def _ancova_fixture() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 12
    bl = rng.normal(140, 10, n)
    treated = np.array([0, 1] * (n // 2), dtype=float)
    wk1 = 20 + 0.8 * bl - 5 * treated + rng.normal(0, 4, n)
    return pd.DataFrame(
        {
            "participant_id": [f"P{i:02d}" for i in range(n)],
            "treated": treated,
            "bl": bl,
            "wk1": wk1,
        }
    )


def test_ancova_equals_lstsq_with_hand_hc3() -> None:
    d = _ancova_fixture()
    row = ancova(d, CONT, _settings(), "mITT")
    x = np.column_stack([np.ones(len(d)), d["treated"], d["bl"]])
    y = d["wk1"].to_numpy()
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    assert row["estimate"] == pytest.approx(beta[1], rel=1e-10)
    # HC3 by hand: (X'X)^-1 X' diag(e^2 / (1 - h)^2) X (X'X)^-1.
    xtx_inv = np.linalg.inv(x.T @ x)
    h = np.einsum("ij,jk,ik->i", x, xtx_inv, x)
    e = y - x @ beta
    meat = x.T @ np.diag(e**2 / (1 - h) ** 2) @ x
    se = math.sqrt((xtx_inv @ meat @ xtx_inv)[1, 1])
    assert row["se_model_scale"] == pytest.approx(se, rel=1e-10)
    from scipy import stats

    t = stats.t.ppf(0.975, len(d) - 3)
    assert row["ci_low"] == pytest.approx(beta[1] - t * se, rel=1e-8)
    assert row["ci_high"] == pytest.approx(beta[1] + t * se, rel=1e-8)
    assert row["effect_measure"] == "mean difference"
    assert (row["n_treatment"], row["n_control"]) == (6, 6)


def test_ancova_log_transform_reports_ratio_of_geometric_means() -> None:
    d = _ancova_fixture()
    d["bl"] = np.exp(d["bl"] / 50)
    d["wk1"] = np.exp(d["wk1"] / 50)
    spec = ParamSpec("UPCR", "UPCR", "UR", "mg/mmol", "continuous", "ancova", "log")
    row = ancova(d, spec, _settings(), "mITT")
    x = np.column_stack([np.ones(len(d)), d["treated"], np.log(d["bl"])])
    beta, *_ = np.linalg.lstsq(x, np.log(d["wk1"].to_numpy()), rcond=None)
    assert row["effect_measure"] == "ratio of geometric means"
    assert row["estimate"] == pytest.approx(math.exp(beta[1]), rel=1e-10)
    assert row["ci_low"] < row["estimate"] < row["ci_high"]


def _two_by_two(
    a: int, b: int, c: int, dd: int, bl: float | None = 0.0
) -> pd.DataFrame:
    """a/b: treated present/absent at week 1; c/dd: control present/absent."""
    rows = [(1.0, 1.0)] * a + [(1.0, 0.0)] * b + [(0.0, 1.0)] * c + [(0.0, 0.0)] * dd
    return pd.DataFrame(
        {
            "participant_id": [f"P{i:03d}" for i in range(len(rows))],
            "treated": [r[0] for r in rows],
            "wk1": [r[1] for r in rows],
            "bl": bl,
        }
    )


def test_logistic_odds_ratio_is_the_cross_product_ratio() -> None:
    # Baseline constant (dropped): the logistic OR is (a d) / (b c) exactly.
    d = _two_by_two(6, 14, 12, 8)
    primary, rd = logistic(d, BIN, _settings(), "mITT")
    assert primary["model"].startswith("logistic")
    assert primary["estimate"] == pytest.approx((6 * 8) / (14 * 12), rel=1e-6)
    # Wald SE of the log OR: sqrt(1/a + 1/b + 1/c + 1/d).
    se = math.sqrt(1 / 6 + 1 / 14 + 1 / 12 + 1 / 8)
    assert primary["se_model_scale"] == pytest.approx(se, rel=1e-5)
    assert rd["effect_measure"] == "risk difference"
    assert rd["estimate"] == pytest.approx(6 / 20 - 12 / 20)
    _, lo, hi = newcombe_diff_ci(6, 20, 12, 20)
    assert (rd["ci_low"], rd["ci_high"]) == (lo, hi)


def test_logistic_separation_falls_back_to_mantel_haenszel() -> None:
    # Baseline absent -> never present at week 1 (quasi-separation on baseline).
    s0 = _two_by_two(0, 10, 0, 10, bl=0.0)
    s1 = _two_by_two(3, 7, 6, 4, bl=1.0)
    d = pd.concat([s0, s1], ignore_index=True)
    d["participant_id"] = [f"P{i:03d}" for i in range(len(d))]
    primary, _ = logistic(d, BIN, _settings(), "mITT")
    assert "Mantel-Haenszel" in primary["model"]
    assert "separation" in primary["note"]
    # Only the baseline-present stratum is informative: OR_MH = (3*4)/(7*6).
    assert primary["estimate"] == pytest.approx((3 * 4 / 20) / (7 * 6 / 20))


def test_proportional_odds_two_levels_equals_logistic_cross_ratio() -> None:
    d = _two_by_two(6, 14, 12, 8)
    row = proportional_odds(d, ORD, _settings(), "mITT")
    # Two categories: proportional odds = logistic; OR of the higher category.
    assert row["estimate"] == pytest.approx((6 * 8) / (14 * 12), rel=1e-4)
    assert row["effect_measure"] == "odds ratio (higher category)"


def test_bh_adjust_by_hand() -> None:
    p = pd.Series([0.01, 0.04, 0.03, 0.2, np.nan])
    adj = bh_adjust(p)
    # Sorted 0.01, 0.03, 0.04, 0.2 -> 0.04, 0.06->0.0533, 0.0533, 0.2.
    assert adj.iloc[:4].tolist() == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert np.isnan(adj.iloc[4])


def test_spearman_bootstrap_is_seeded_and_covers_rho() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=60)
    y = 0.6 * x + rng.normal(size=60)
    a = bootstrap_spearman(x, y, 2000, np.random.default_rng(7), 0.95)
    b = bootstrap_spearman(x, y, 2000, np.random.default_rng(7), 0.95)
    from scipy import stats

    rho = stats.spearmanr(x, y).statistic
    assert a == b
    assert a[0] < rho < a[1]


def test_tie_share_and_ties_sensitivity_row() -> None:
    from exomir.clinical.endpoints import tie_share, ties_sensitivity

    # Values 16, 16, 18, 20: two of four tie -> 0.5.
    assert tie_share(pd.DataFrame({"wk1": [16.0, 16.0, 18.0, 20.0]})) == 0.5
    d = _two_by_two(6, 14, 12, 8)
    d["wk1"] = d["wk1"] + 16.0  # two distinct follow-up values: 16 and 17
    spec = ParamSpec("RESP", "RR", "VS", "/min", "continuous", "ancova")
    row = ties_sensitivity(d, spec, _settings(), "mITT", tie_share(d))
    assert row["analysis"] == "sensitivity_proportional_odds"
    assert row["note"].startswith("100% of follow-up values tied")
    # Two distinct values: the proportional-odds OR is the cross-product ratio.
    assert row["estimate"] == pytest.approx((6 * 8) / (14 * 12), rel=1e-4)
