"""Lan-DeMets boundaries and the DSMB interim table (exomir.clinical.interim)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from exomir.clinical import interim

# Published Lan-DeMets O'Brien-Fleming-type boundaries, K = 4 equally spaced
# looks, two-sided alpha = 0.05 split as 0.025 per side (the per_side convention):
# 4.3326, 2.9631, 2.3590, 2.0141. Printed in the gsDesign documentation
# (gsDesign(k = 4, test.type = 2, sfu = sfLDOF)), in the ldbounds documentation
# (bounds(t = c(.25, .5, .75, 1), iuse = c(1, 1), alpha = c(.025, .025))), and in
# DeMets & Lan, Stat Med 1994;13:1341 (Table I, rounded to 2 decimals: 4.33, 2.96,
# 2.36, 2.01). Values recalled from those sources; they could not be re-fetched
# while writing this test, but the independent multivariate-normal check below
# confirms them.
PUBLISHED_K4 = [4.3326, 2.9631, 2.3590, 2.0141]


def test_published_four_look_boundaries() -> None:
    b = interim.boundaries([0.25, 0.5, 0.75, 1.0], 0.05, "obf", "per_side")
    assert b["z_boundary"].to_numpy() == pytest.approx(PUBLISHED_K4, abs=5e-4)
    assert b["alpha_spent"].iloc[-1] == pytest.approx(0.05)


def test_spec_two_look_boundaries() -> None:
    """analysis_spec §3.5 (scipy bivariate normal, corr sqrt(0.5)): 2.772 and 1.979."""
    b = interim.boundaries([0.5, 1.0], 0.05, "obf", "total")
    assert b["z_boundary"].to_numpy() == pytest.approx([2.772, 1.979], abs=5e-4)
    assert b["alpha_spent"].iloc[0] == pytest.approx(0.00557, abs=1e-5)
    assert b["nominal_p"].to_numpy() == pytest.approx([0.0056, 0.0478], abs=1e-4)


def test_first_look_is_closed_form() -> None:
    """At the first look the boundary is z_{1-alpha(t)/2}: 1.96 / sqrt(t) (total)."""
    for t in (0.1, 0.3, 0.62):
        b = interim.boundaries([t, 1.0])
        assert b["z_boundary"].iloc[0] == pytest.approx(
            1.959964 / math.sqrt(t), abs=1e-5
        )


@pytest.mark.parametrize("split", ["total", "per_side"])
def test_recursion_agrees_with_multivariate_normal(split: str) -> None:
    """Cumulative crossing probability under H0 from scipy's multivariate normal.

    Z_k = B(t_k) / sqrt(t_k) has corr(Z_j, Z_k) = sqrt(t_j / t_k); the chance of
    staying inside the first k boundaries must be 1 - alpha(t_k).
    """
    ts = np.array([0.25, 0.5, 0.75, 1.0])
    b = interim.boundaries(ts, 0.05, "obf", split)
    c = b["z_boundary"].to_numpy()
    for k in (2, 3, 4):
        t = ts[:k]
        cov = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
        mvn = stats.multivariate_normal(mean=np.zeros(k), cov=cov, seed=1)
        inside = mvn.cdf(c[:k], lower_limit=-c[:k])
        assert 1 - inside == pytest.approx(b["alpha_spent"].iloc[k - 1], abs=2e-4)


def test_pocock_type_and_power() -> None:
    """Pocock-type spending ends at alpha; one look with drift 2.8016 gives 80% power."""
    b = interim.boundaries([0.5, 1.0], 0.05, "pocock")
    assert b["alpha_spent"].to_numpy() == pytest.approx(
        [0.05 * math.log(1 + (math.e - 1) * 0.5), 0.05]
    )
    up, lo = interim.exit_probabilities([1.0], [1.959964], theta=1.959964 + 0.841621)
    assert up[0] + lo[0] == pytest.approx(0.80, abs=1e-4)


def test_bad_fractions() -> None:
    with pytest.raises(ValueError, match="increase strictly"):
        interim.boundaries([0.5, 0.4, 1.0])


def test_conditional_power_by_hand() -> None:
    """Current trend: CP = Phi((z / sqrt(t) - c) / sqrt(1 - t))."""
    z, t, c = 1.5, 0.4, 1.979
    cp = interim.conditional_power(z, t, c, z / math.sqrt(t))
    assert cp == pytest.approx(
        stats.norm.cdf((z / math.sqrt(t) - c) / math.sqrt(1 - t))
    )


def _settings(**kw: object) -> interim.InterimSettings:
    return interim.interim_settings({"interim": kw})


def test_run_interim_actual_fraction() -> None:
    """30 of 72 evaluable: t = 0.4167, boundary 1.96/sqrt(t), final close to 1.979."""
    tab = interim.run_interim(_settings(), 30, 2.0)
    act = tab[tab["schedule"] == "actual"].reset_index(drop=True)
    t = 30 / 72
    assert act["information_fraction"].tolist()[0] == pytest.approx(t)
    assert act["information_fraction"].tolist()[1:] == [0.5, 1.0]
    assert act.loc[0, "z_boundary"] == pytest.approx(1.959964 / math.sqrt(t), abs=1e-5)
    assert act.loc[0, "crossed"] == "false"
    assert act.loc[0, "n_evaluable"] == 30
    cp = stats.norm.cdf(
        (2.0 / math.sqrt(t) - act.loc[2, "z_boundary"]) / math.sqrt(1 - t)
    )
    assert act.loc[0, "conditional_power"] == pytest.approx(cp)
    plan = tab[tab["schedule"] == "planned"]
    assert plan["z_boundary"].to_numpy() == pytest.approx([2.772, 1.979], abs=5e-4)


def test_run_interim_crossing_and_futility() -> None:
    tab = interim.run_interim(_settings(), 36, 3.1)
    row = tab[(tab["schedule"] == "actual") & (tab["look"] == 1)].iloc[0]
    assert row["crossed"] == "true"
    assert "crossed" in row["decision_note"]
    tab = interim.run_interim(_settings(), 36, -0.5)
    row = tab[(tab["schedule"] == "actual") & (tab["look"] == 1)].iloc[0]
    assert row["futility_flag"] == "true"


def test_interim_step(tmp_path: Path) -> None:
    anc = tmp_path / "anc.tsv"
    pd.DataFrame(
        {
            "analysis": ["primary_ancova"],
            "estimate_log2": [0.6],
            "se_log2": [0.3],
            "n": [36],
        }
    ).to_csv(anc, sep="\t", index=False)
    vals = tmp_path / "vals.tsv"
    pd.DataFrame(
        {
            "participant_id": [f"P{i}" for i in range(40)],
            "y_followup": [1.0] * 36 + [None] * 4,
        }
    ).to_csv(vals, sep="\t", index=False)
    out = tmp_path / "interim.tsv"
    cfg = yaml.safe_load(
        (Path(__file__).parents[2] / "config" / "config.yaml").read_text()
    )
    interim.interim_step(
        ancova=anc,
        values=vals,
        table=out,
        plot=tmp_path / "b.png",
        settings=interim.interim_settings(cfg),
    )
    tab = pd.read_csv(out, sep="\t")
    row = tab[(tab["schedule"] == "actual") & (tab["look"] == 1)].iloc[0]
    assert row["information_fraction"] == pytest.approx(0.5)
    assert row["observed_z"] == pytest.approx(2.0)
    assert row["z_boundary"] == pytest.approx(2.772, abs=5e-4)
    assert (tmp_path / "b.png").stat().st_size > 0


def test_open_report_is_pooled() -> None:
    """The open-session table has no arm split and counts by hand."""
    disp = pd.DataFrame(
        {
            "screening_id": ["S1", "S2", "S3"],
            "randomized": [True, True, False],
            "dosed": [True, False, False],
        }
    )
    vals = pd.DataFrame({"y_baseline": [1.0, 2.0], "y_followup": [1.0, None]})
    ae = pd.DataFrame(
        {
            "participant_id": ["P1", "P1", "P2"],
            "ctcae_grade": [1, 3, 2],
            "related": ["not", "possible", "not"],
            "serious": ["N", "Y", "N"],
        }
    )
    tab = interim.open_report(disp, vals, None, ae, _settings(planned_evaluable=10))
    assert "arm" not in tab.columns
    v = dict(zip(tab["item"], tab["value"], strict=True))
    assert v["screened"] == 3 and v["randomised"] == 2 and v["dosed"] == 1
    assert v["follow-up primary value (evaluable)"] == 1
    assert v["information fraction"] == pytest.approx(0.1)
    assert v["participants with any AE"] == 2 and v["events: any AE"] == 3
    assert v["participants with serious AE"] == 1


# --- issue 19: futility, planned vs actual look, t-to-z, both alpha conventions ---


def test_futility_boundary_by_hand() -> None:
    """t = 0.5, c_K = 1.979, gamma = 0.1: z_f = sqrt(.5) * (1.979 - sqrt(.5) * 1.2816).

    By hand: 0.70711 * (1.979 - 0.90619) = 0.7586. At z_f the conditional power
    under the trend, computed here with scipy from its definition, is gamma.
    """
    zf = interim.futility_boundary(0.5, 1.979, 0.1, 0.0)
    assert zf == pytest.approx(0.7586, abs=5e-4)
    cp = stats.norm.sf((1.979 - zf / math.sqrt(0.5)) / math.sqrt(0.5))
    assert cp == pytest.approx(0.1, abs=1e-9)
    # the z rule wins when it is stricter; no futility boundary at the end
    assert interim.futility_boundary(0.5, 1.979, 0.1, 1.0) == 1.0
    assert math.isnan(interim.futility_boundary(1.0, 1.979, 0.1, 0.0))
    # early with a lax CP threshold (1%): sqrt(.95) * 2.326 > 1.979, the CP
    # rule's z is negative, so z < 0 (the plan's second rule) decides
    assert interim.futility_boundary(0.05, 1.979, 0.01, 0.0) == 0.0


def test_t_to_z_matches_scipy() -> None:
    """t(14) = 3.0: p = 2 P(T14 > 3) = 0.00956; z with that p = 2.590."""
    z, p = interim.t_to_z(3.0, 14)
    p_ref = 2 * stats.t.sf(3.0, 14)
    assert p == pytest.approx(p_ref, rel=1e-12)
    assert p == pytest.approx(0.00956, abs=5e-5)
    assert z == pytest.approx(stats.norm.isf(p_ref / 2), rel=1e-12)
    assert z == pytest.approx(2.590, abs=2e-3)
    z_neg, _ = interim.t_to_z(-3.0, 14)
    assert z_neg == pytest.approx(-z)
    assert interim.t_to_z(2.0, None) == pytest.approx((2.0, 2 * stats.norm.sf(2.0)))


def test_unplanned_early_look_roles_and_both_conventions() -> None:
    """18 of 72 evaluable: the actual look is at t = 0.25 (plan: 0.5, 1.0).

    First-look boundaries in closed form from the O'Brien-Fleming spending
    function: total alpha, z_{0.975} / sqrt(.25) = 3.920; per side, the
    one-sided spend 2 * (1 - Phi(z_{0.9875} / sqrt(.25))) = 2 * (1 - Phi(4.483))
    is the upper-tail probability, so c = Phi^{-1}(1 - 2 * (1 - Phi(4.483))) =
    4.333 (the published K = 4 first look). Later looks: scipy multivariate normal.
    """
    tab = interim.run_interim(_settings(), 18, 1.0)
    plan = tab[tab["schedule"] == "planned"]
    act = tab[tab["schedule"] == "actual"].reset_index(drop=True)
    assert plan["look_role"].tolist() == ["planned", "planned"]
    assert plan["information_fraction"].tolist() == [0.5, 1.0]
    assert act["look_role"].tolist() == ["current", "remaining", "final"]
    assert act["information_fraction"].tolist() == [0.25, 0.5, 1.0]
    assert act.loc[0, "n_evaluable"] == 18
    assert act.loc[0, "z_boundary_total"] == pytest.approx(3.9199, abs=1e-3)
    assert act.loc[0, "z_boundary_per_side"] == pytest.approx(
        stats.norm.isf(2 * stats.norm.sf(stats.norm.isf(0.0125) / 0.5)), abs=1e-5
    )
    assert act.loc[0, "z_boundary_per_side"] == pytest.approx(4.3326, abs=5e-4)
    assert (act["z_boundary"] == act["z_boundary_total"]).all()
    ts = np.array([0.25, 0.5, 1.0])
    cov = np.sqrt(np.minimum.outer(ts, ts) / np.maximum.outer(ts, ts))
    for split, alpha_side in (("total", None), ("per_side", 0.025)):
        c = act[f"z_boundary_{split}"].to_numpy()
        for k in (2, 3):
            mvn = stats.multivariate_normal(np.zeros(k), cov[:k, :k], seed=3)
            spent = 1 - mvn.cdf(c[:k], lower_limit=-c[:k])
            t = ts[k - 1]
            if alpha_side is None:
                expect = 2 * stats.norm.sf(stats.norm.isf(0.025) / math.sqrt(t))
            else:
                expect = 4 * stats.norm.sf(stats.norm.isf(0.0125) / math.sqrt(t))
            assert spent == pytest.approx(expect, abs=2e-4), (split, k)
    # planned schedule: both conventions at every look (2.772/1.979; 2.963/1.969)
    assert plan["z_boundary_total"].to_numpy() == pytest.approx(
        [2.772, 1.979], abs=5e-4
    )
    assert plan["z_boundary_per_side"].to_numpy() == pytest.approx(
        [2.963, 1.969], abs=5e-4
    )
    # futility boundary at every look but the last, from the schedule's own final
    c_fin = act.loc[2, "z_boundary"]
    for k, t in ((0, 0.25), (1, 0.5)):
        assert act.loc[k, "futility_z_boundary"] == pytest.approx(
            max(0.0, math.sqrt(t) * (c_fin + math.sqrt(1 - t) * -1.2815516)),
            abs=1e-6,
        )
    assert np.isnan(act.loc[2, "futility_z_boundary"])


def test_t_statistic_is_converted_before_the_boundary() -> None:
    """t(14) = 2.9 looks past 2.772 but its z-equivalent (2.523) does not cross."""
    tab = interim.run_interim(_settings(), 36, 2.9, df=14)
    row = tab[tab["look_role"] == "current"].iloc[0]
    z_ref = stats.norm.isf(stats.t.sf(2.9, 14))
    assert z_ref == pytest.approx(2.523, abs=1e-3)
    assert row["observed_t"] == 2.9 and row["observed_df"] == 14
    assert row["observed_z"] == pytest.approx(z_ref)
    assert row["observed_p"] == pytest.approx(2 * stats.t.sf(2.9, 14))
    assert row["crossed"] == "false"
    assert "t(14) = 2.900" in row["decision_note"]
    t = 0.5
    c_fin = tab[tab["look_role"] == "final"]["z_boundary"].iloc[0]
    assert row["conditional_power"] == pytest.approx(
        stats.norm.cdf((z_ref / math.sqrt(t) - c_fin) / math.sqrt(1 - t))
    )


def test_conditional_power_is_in_the_expected_direction() -> None:
    """A trend against the expected direction has (near) zero conditional power."""
    tab = interim.run_interim(_settings(expected_direction="decrease"), 36, 2.0)
    row = tab[tab["look_role"] == "current"].iloc[0]
    theta = -2.0 / math.sqrt(0.5)
    c_fin = tab[tab["look_role"] == "final"]["z_boundary"].iloc[0]
    expect = stats.norm.sf(
        (c_fin + 2.0 * math.sqrt(0.5) - theta * 0.5) / math.sqrt(0.5)
    )
    assert row["conditional_power"] == pytest.approx(expect)
    assert row["conditional_power"] < 1e-3
    assert row["futility_flag"] == "true"


def test_interim_step_reads_df(tmp_path: Path) -> None:
    """With a df column the t(df) statistic is kept and converted to z."""
    anc = tmp_path / "anc.tsv"
    pd.DataFrame(
        {
            "analysis": ["primary_ancova"],
            "estimate_log2": [0.6],
            "se_log2": [0.2],
            "n": [18],
            "df": [14.0],
        }
    ).to_csv(anc, sep="\t", index=False)
    vals = tmp_path / "vals.tsv"
    pd.DataFrame(
        {"participant_id": [f"P{i}" for i in range(18)], "y_followup": [1.0] * 18}
    ).to_csv(vals, sep="\t", index=False)
    out = tmp_path / "interim.tsv"
    cfg = yaml.safe_load(
        (Path(__file__).parents[2] / "config" / "config.yaml").read_text()
    )
    interim.interim_step(
        ancova=anc,
        values=vals,
        table=out,
        plot=tmp_path / "b.png",
        settings=interim.interim_settings(cfg),
    )
    tab = pd.read_csv(out, sep="\t")
    row = tab[tab["look_role"] == "current"].iloc[0]
    assert row["information_fraction"] == pytest.approx(0.25)
    assert row["observed_t"] == pytest.approx(3.0)
    assert row["observed_df"] == 14
    assert row["observed_z"] == pytest.approx(
        stats.norm.isf(stats.t.sf(3.0, 14)), abs=1e-4
    )
    assert row["z_boundary"] == pytest.approx(3.920, abs=1e-3)
    assert not row["crossed"]
    assert list(tab["look_role"]) == [
        "planned",
        "planned",
        "current",
        "remaining",
        "final",
    ]


def test_previous_look_is_kept_in_the_actual_schedule() -> None:
    """Second look after an unplanned one at 0.25: roles previous/current/final.

    The boundary at t = 0.5 after a look at 0.25 spends alpha(0.5) - alpha(0.25);
    checked with scipy's bivariate normal (corr sqrt(.25/.5)).
    """
    tab = interim.run_interim(_settings(previous_fractions=[0.25]), 36, 1.0)
    act = tab[tab["schedule"] == "actual"].reset_index(drop=True)
    assert act["look_role"].tolist() == ["previous", "current", "final"]
    assert act["information_fraction"].tolist() == [0.25, 0.5, 1.0]
    c = act["z_boundary"].to_numpy()[:2]
    cov = np.array([[1.0, math.sqrt(0.5)], [math.sqrt(0.5), 1.0]])
    inside = stats.multivariate_normal(np.zeros(2), cov, seed=5).cdf(c, lower_limit=-c)
    assert 1 - inside == pytest.approx(
        2 * stats.norm.sf(stats.norm.isf(0.025) / math.sqrt(0.5)), abs=2e-4
    )
    assert act.loc[0, "observed_z"] != act.loc[0, "observed_z"]  # NaN: done before
    assert act.loc[1, "observed_z"] == pytest.approx(1.0)
