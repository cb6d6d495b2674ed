"""Tests of exomir.primary: the primary ANCOVA and its sensitivity analyses."""

from __future__ import annotations

import copy
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from exomir import primary
from exomir.errors import ValidationError
from exomir.stats import imputation

REPO = Path(__file__).parents[2]
CFG = {
    "trial": {"primary_mirna": "hsa-miR-126-3p"},
    "design": {
        "arms": ["placebo", "exosome"],
        "timepoints": ["baseline", "week1"],
        "strata": ["stratum"],
    },
    "reference": {"species": "hsa"},
}
OTHER = [
    "hsa-miR-451a",
    "hsa-miR-23a-3p",
    "hsa-miR-223-3p",
    "hsa-miR-197-3p",
    "hsa-miR-24-3p",
]


def make_trial(
    n_per_arm: int = 40, effect: float = 0.58, seed: int = 1, dropout: float = 0.1
) -> tuple[ad.AnnData, pd.DataFrame]:
    """log2 levels with known truth: y = b_i + drift + effect * treated + e (log2).

    ``normed_counts`` are ``2**y - 1`` so that log2(normed + 1) is exactly y.
    """
    rng = np.random.default_rng(seed)
    n = 2 * n_per_arm
    pids = [f"P{i + 1:03d}" for i in range(n)]
    arms = np.where(np.arange(n) % 2 == 0, "placebo", "exosome")
    strata = rng.choice(["severe", "mild"], n)
    b = rng.normal(11.0, 0.5, n)
    rows, values = [], []
    for i, pid in enumerate(pids):
        for tp in ("baseline", "week1"):
            if tp == "week1" and rng.random() < dropout:
                continue
            treated = arms[i] == "exosome" and tp == "week1"
            y = b[i] + 0.15 * (tp == "week1") + effect * treated + rng.normal(0, 0.6)
            others = rng.normal([16, 9, 12, 8, 10], 0.5)
            values.append([y, *others])
            rows.append(
                {
                    "sample_id": f"{pid}_{'BL' if tp == 'baseline' else 'W1'}",
                    "participant_id": pid,
                    "arm": arms[i],
                    "timepoint": tp,
                }
            )
    normed = 2.0 ** np.array(values) - 1
    obs = pd.DataFrame(rows)
    obs.index = obs["sample_id"].to_numpy()
    adata = ad.AnnData(
        X=np.round(normed).astype(np.int64),
        obs=obs,
        var=pd.DataFrame(index=["hsa-miR-126-3p", *OTHER]),
        layers={"normed_counts": normed},
    )
    parts = pd.DataFrame({"participant_id": pids, "arm": arms, "stratum": strata})
    return adata, parts


@pytest.fixture(scope="module")
def trial() -> tuple[ad.AnnData, pd.DataFrame]:
    return make_trial()


def test_settings_follow_the_design() -> None:
    s = primary.primary_settings(CFG)
    assert (s.arm, s.reference_arm, s.timepoint, s.reference_timepoint) == (
        "exosome",
        "placebo",
        "week1",
        "baseline",
    )
    assert s.hemolysis_marker == "hsa-miR-451a"
    cfg = copy.deepcopy(CFG)
    cfg["primary"] = {"arm": "exosme"}
    with pytest.raises(ValidationError, match="arm 'exosme' is not a level"):
        primary.primary_settings(cfg)
    cfg["design"]["timepoints"] = ["baseline"]
    cfg["primary"] = {}
    with pytest.raises(ValidationError, match="needs two timepoints"):
        primary.primary_settings(cfg)


def test_ancova_matches_least_squares_and_hc3_by_hand(trial) -> None:
    adata, parts = trial
    cfg = copy.deepcopy(CFG)
    cfg["design"]["strata"] = []
    s = primary.primary_settings(cfg)
    data = primary.participant_table(primary.sample_values(adata, s), parts, s)
    row = primary.ancova(data, s)
    d = data.dropna(subset=[primary.BASELINE, primary.FOLLOWUP])
    x = np.column_stack([np.ones(len(d)), d[primary.TREATED], d[primary.BASELINE]])
    y = d[primary.FOLLOWUP].to_numpy()
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    xtx_inv = np.linalg.inv(x.T @ x)
    h = np.einsum("ij,jk,ik->i", x, xtx_inv, x)
    e = y - x @ beta
    meat = x.T @ (x * (e**2 / (1 - h) ** 2)[:, None])
    se_hc3 = np.sqrt((xtx_inv @ meat @ xtx_inv)[1, 1])
    assert row["estimate_log2"] == pytest.approx(beta[1], rel=1e-10)
    assert row["se_log2"] == pytest.approx(se_hc3, rel=1e-10)
    assert row["ratio"] == pytest.approx(2 ** beta[1])
    assert row["n"] == len(d)
    assert row["model"].startswith("OLS, HC3")


def test_planted_effect_lies_inside_its_confidence_interval(trial) -> None:
    adata, parts = trial
    res, _data = primary.run_primary(adata, parts, CFG)
    pa = res.set_index("analysis").loc["primary_ancova"]
    assert pa["ci_low_log2"] < 0.58 < pa["ci_high_log2"]
    assert pa["ratio_ci_low"] < 2**0.58 < pa["ratio_ci_high"]
    assert pa["ratio"] == pytest.approx(2 ** pa["estimate_log2"])
    assert pa["pvalue"] < 0.05
    assert "stratum[T." in pa["covariates"]
    assert pa["n_treated"] + pa["n_reference"] == pa["n"]


def test_all_rows_in_order_with_reasons_when_inputs_are_missing(trial) -> None:
    adata, parts = trial
    res, _ = primary.run_primary(adata, parts, CFG)
    assert list(res["analysis"]) == [a for a, _ in primary.ANALYSES]
    assert list(res.columns) == primary.RESULT_COLUMNS
    r = res.set_index("analysis")
    assert np.isnan(r.at["platelet_count_adjusted", "estimate_log2"])
    assert "no clinical parameter PLAT" in r.at["platelet_count_adjusted", "note"]
    assert "no in_pp" in r.at["per_protocol", "note"]
    for a in ("hemolysis_adjusted", "platelet_mirna_adjusted", "clda_mixed"):
        assert r.at[a, "ci_low_log2"] < 0.58 < r.at[a, "ci_high_log2"], a
    assert "hemolysis_bl" in r.at["hemolysis_adjusted", "covariates"]


def test_clda_keeps_participants_with_one_visit(trial) -> None:
    adata, parts = trial
    res, data = primary.run_primary(adata, parts, CFG)
    r = res.set_index("analysis")
    complete = data[primary.FOLLOWUP].notna().sum()
    assert (
        r.at["clda_mixed", "n"] == len(data) > complete == r.at["primary_ancova", "n"]
    )
    assert "one visit included (MAR)" in r.at["clda_mixed", "note"]


def test_platelet_count_and_per_protocol_use_clinical_and_disposition(trial) -> None:
    adata, parts = trial
    rng = np.random.default_rng(3)
    clin = pd.DataFrame(
        [
            {
                "participant_id": pid,
                "visit": visit,
                "param": "PLAT",
                "value_num": float(rng.normal(220, 50)),
                "replicate": rep,
            }
            for pid in parts["participant_id"]
            for visit in ("baseline", "week1")
            for rep in (1, 2)
        ]
    )
    disp = pd.DataFrame(
        {
            "participant_id": parts["participant_id"],
            "in_pp": [i % 10 != 0 for i in range(len(parts))],
        }
    )
    res, data = primary.run_primary(adata, parts, CFG, clin, disp)
    r = res.set_index("analysis")
    assert "platelet_count_fu" in r.at["platelet_count_adjusted", "covariates"]
    assert r.at["per_protocol", "n"] < r.at["primary_ancova", "n"]
    means = clin.groupby(["participant_id", "visit"])["value_num"].mean()
    first = data.iloc[0]
    assert first["platelet_count_bl"] == pytest.approx(
        means[(first["participant_id"], "baseline")]
    )


@pytest.mark.parametrize("level", ["rare", "aaa"])
def test_singleton_stratum_is_pooled_with_a_note(trial, level: str) -> None:
    adata, parts = trial
    parts = parts.copy()
    parts.loc[0, "stratum"] = level  # "aaa" sorts first: must not be the reference
    res, _ = primary.run_primary(adata, parts, CFG)
    pa = res.set_index("analysis").loc["primary_ancova"]
    assert f"{level} with one participant pooled" in pa["note"]
    assert np.isfinite(pa["se_log2"])
    assert "HC3 SE" in pa["model"]


def test_hc3_falls_back_to_hc1_at_leverage_one(trial) -> None:
    adata, parts = trial
    parts = parts.assign(marker=[1.0] + [0.0] * (len(parts) - 1))
    cfg = copy.deepcopy(CFG)
    cfg["primary"] = {"covariates": ["marker"]}
    res, _ = primary.run_primary(adata, parts, cfg)
    pa = res.set_index("analysis").loc["primary_ancova"]
    assert "HC1 used" in pa["note"]
    assert pa["model"].startswith("OLS, HC1")
    assert np.isfinite(pa["se_log2"])


def test_missing_primary_mirna_is_a_clear_error(trial) -> None:
    adata, parts = trial
    cfg = copy.deepcopy(CFG)
    cfg["trial"]["primary_mirna"] = "hsa-miR-9999-3p"
    with pytest.raises(ValidationError, match="hsa-miR-9999-3p"):
        primary.run_primary(adata, parts, cfg)


def test_too_few_participants_give_an_empty_row() -> None:
    adata, parts = make_trial(n_per_arm=1, dropout=0.0)
    res, _ = primary.run_primary(adata, parts, CFG)
    pa = res.set_index("analysis").loc["primary_ancova"]
    assert np.isnan(pa["estimate_log2"])
    assert "too few participants" in pa["note"]


def test_primary_step(trial, tmp_path: Path) -> None:
    """The rule's step reads the declared sheet and writes the three tables."""
    adata, parts = trial
    parts.to_csv(tmp_path / "participants.tsv", sep="\t", index=False)
    adata.write_h5ad(tmp_path / "m.h5ad")
    out, data = tmp_path / "p" / "res.tsv", tmp_path / "p" / "data.tsv"
    tip = tmp_path / "p" / "tipping_point.tsv"
    res = primary.primary_step(
        h5ad=tmp_path / "m.h5ad",
        participants=tmp_path / "participants.tsv",
        results=out,
        data=data,
        tipping=tip,
        settings=primary.primary_settings(CFG),
    )
    t = pd.read_csv(tip, sep="\t")
    assert list(t.columns) == primary.TIPPING_COLUMNS
    assert t["row_type"].iloc[-1] == "tipping_point"
    back = pd.read_csv(out, sep="\t")
    assert list(back["analysis"]) == list(res["analysis"])
    assert back.loc[0, "ratio"] == pytest.approx(res.loc[0, "ratio"], rel=1e-5)
    assert pd.read_csv(data, sep="\t").shape[0] == len(parts)


def test_dose_adjusted_row_matches_least_squares_by_hand(trial) -> None:
    """Dose enters as log10 dose centred in the treated arm (0 for placebo)."""
    adata, parts = trial
    cfg = copy.deepcopy(CFG)
    cfg["design"]["strata"] = []
    s = primary.primary_settings(cfg)
    rng = np.random.default_rng(5)
    parts = parts.assign(
        dose_particles=np.where(
            parts["arm"] == "exosome", 10 ** rng.uniform(10.5, 11.5, len(parts)), 0.0
        )
    )
    data = primary.participant_table(primary.sample_values(adata, s), parts, s)
    row = primary.ancova(data, s, ["dose_log10_centred"], "dose_adjusted")
    d = data.dropna(subset=[primary.BASELINE, primary.FOLLOWUP])
    treated = d[primary.TREATED].to_numpy() == 1
    dose = parts.set_index("participant_id").loc[d["participant_id"], "dose_particles"]
    log_dose = np.log10(dose.to_numpy(dtype=float), where=treated, out=np.zeros(len(d)))
    centred = np.where(treated, log_dose - log_dose[treated].mean(), 0.0)
    x = np.column_stack(
        [np.ones(len(d)), d[primary.TREATED], d[primary.BASELINE], centred]
    )
    beta, *_ = np.linalg.lstsq(x, d[primary.FOLLOWUP].to_numpy(), rcond=None)
    assert row["estimate_log2"] == pytest.approx(beta[1], rel=1e-10)
    res, _ = primary.run_primary(adata, parts, cfg)
    assert res.set_index("analysis").loc["dose_adjusted", "estimate_log2"] == (
        pytest.approx(beta[1], rel=1e-10)
    )
    # One dose for everybody treated: not estimable, with the reason.
    same = parts.assign(dose_particles=np.where(parts["arm"] == "exosome", 1e11, 0.0))
    res, _ = primary.run_primary(adata, same, cfg)
    note = res.set_index("analysis").loc["dose_adjusted", "note"]
    assert "the dose does not vary among treated participants" in note


# --------------------------------------------------------------------------- #
# Delta-adjusted multiple imputation (tipping point)
# --------------------------------------------------------------------------- #


def test_rubin_rules_by_hand() -> None:
    """est 1, 2, 3 with variance 0.5 each, complete-data df 10 (worked by hand)."""
    q, t, df = imputation.rubin(np.array([1.0, 2.0, 3.0]), np.full(3, 0.5), 10.0)
    w, b, m = 0.5, 1.0, 3
    total = w + (1 + 1 / m) * b  # 1.8333
    lam = (1 + 1 / m) * b / total
    nu_old = (m - 1) / lam**2
    nu_obs = 11 / 13 * 10 * (1 - lam)
    assert q == 2.0
    assert t == pytest.approx(total)
    assert df == pytest.approx(1 / (1 / nu_old + 1 / nu_obs))
    assert df == pytest.approx(1.4331, abs=1e-4)


@pytest.mark.parametrize("cov_type", ["HC3", "HC1", "nonrobust"])
def test_vectorised_ols_matches_statsmodels(cov_type: str) -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(2)
    x = np.column_stack([np.ones(30), rng.integers(0, 2, 30), rng.normal(size=30)])
    y = rng.normal(size=(3, 30))
    est, var, used = imputation.coef_var(x, y, 1, cov_type)
    assert used == cov_type
    for i in range(3):
        fit = sm.OLS(y[i], x).fit(cov_type=cov_type)
        assert est[i] == pytest.approx(fit.params[1], rel=1e-10)
        assert np.sqrt(var[i]) == pytest.approx(fit.bse[1], rel=1e-10)


def test_tipping_point_moves_the_estimate_linearly_and_crosses_alpha() -> None:
    adata, parts = make_trial(n_per_arm=40, dropout=0.2, seed=4)
    s = primary.primary_settings(CFG)
    data = primary.participant_table(primary.sample_values(adata, s), parts, s)
    row, table = primary.tipping_point(data, s)
    grid = table[table["row_type"] == "grid"]
    tip = table[table["row_type"] == "tipping_point"].iloc[0]
    n_t = int((data[primary.TREATED] == 1).sum())
    n_mis_t = int(((data[primary.TREATED] == 1) & data[primary.FOLLOWUP].isna()).sum())
    assert tip["n_imputed_treated"] == n_mis_t > 0
    # MAR row = delta 0; close to the complete-case ANCOVA.
    cc = primary.ancova(data, s)
    assert row["estimate_log2"] == pytest.approx(grid.iloc[0]["estimate_log2"])
    assert abs(row["estimate_log2"] - cc["estimate_log2"]) < 0.15
    assert row["pvalue"] < 0.05 and tip["delta_log2"] < 0  # towards the null
    # Shifting the imputed treated values by delta moves the estimate by
    # delta x (their share of the treated arm), up to the baseline adjustment.
    slope = np.polyfit(grid["delta_log2"], grid["estimate_log2"], 1)[0]
    resid = grid["estimate_log2"] - np.polyval(
        np.polyfit(grid["delta_log2"], grid["estimate_log2"], 1), grid["delta_log2"]
    )
    assert np.abs(resid).max() < 1e-10  # exactly linear (same imputations)
    assert slope == pytest.approx(n_mis_t / n_t, rel=0.3)
    assert tip["pvalue"] == pytest.approx(0.05, abs=1e-3)
    assert (np.diff(grid["pvalue"]) > 0).all()
    assert f"delta = {tip['delta_log2']:+.3f}" in row["note"]
    # Deterministic (fixed seed).
    _row2, table2 = primary.tipping_point(data, s)
    pd.testing.assert_frame_equal(table, table2)


def test_tipping_point_without_missing_values_says_so(trial) -> None:
    adata, parts = make_trial(n_per_arm=10, dropout=0.0, seed=3)
    s = primary.primary_settings(CFG)
    data = primary.participant_table(primary.sample_values(adata, s), parts, s)
    row, table = primary.tipping_point(data, s)
    assert table.empty and np.isnan(row["estimate_log2"])
    assert row["note"].endswith("not estimable: nothing to impute")
    assert "0 of 10 exosome and 0 of 10 placebo participants lack" in row["note"]
