"""Time-to-event analysis: agreement with R's survival package, planted hazard
ratios, censoring rules and arms without events."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exomir.survival import cox_arm_effect, logrank
from exomir.survival.analysis import cumulative_incidence, kaplan_meier, km_steps
from exomir.survival.data import SurvivalSettings, time_to_event_data
from exomir.survival.results import analyse_endpoint
from exomir.survival.stage import run_time_to_event

FIX = Path(__file__).resolve().parents[1] / "data" / "survival"
ARMS = ("placebo", "exosome")


@pytest.fixture(scope="module")
def rdata() -> pd.DataFrame:
    """The data the R script analysed (tests/data/survival/make_fixtures.R)."""
    return pd.read_csv(FIX / "data.tsv", sep="\t")


def _r(name: str) -> pd.DataFrame:
    return pd.read_csv(FIX / name, sep="\t")


def test_kaplan_meier_matches_r_survfit(rdata: pd.DataFrame) -> None:
    """Every KM step, at-risk count and log-log CI equals survfit's."""
    ref = _r("r_km.tsv")
    for arm in ARMS:
        sub = rdata[rdata["arm"] == arm]
        ours = km_steps(kaplan_meier(sub["time"], sub["status"]))
        ours = ours[ours["time_days"] > 0].reset_index(drop=True)  # R has no t=0 row
        r = ref[ref["arm"] == arm].reset_index(drop=True)
        assert len(ours) == len(r) > 20
        for col in ("time_days", "at_risk", "events", "censored"):
            np.testing.assert_array_equal(ours[col].to_numpy(), r[col].to_numpy())
        for col in ("survival", "ci_low", "ci_high"):
            np.testing.assert_allclose(ours[col], r[col], atol=1e-4, rtol=0)


def test_numbers_at_risk_match_r(rdata: pd.DataFrame) -> None:
    """The at-risk table at 0-24 months equals summary(survfit, times=)."""
    s = SurvivalSettings(endpoints=(("E", "E"),), arms=ARMS, data_cut="2030-01-01")
    res = analyse_endpoint("E", "E", rdata, s)
    ref = _r("r_at_risk.tsv")
    assert list(res.at_risk["time_days"].unique()) == [0, 91, 182, 365, 547, 730]
    np.testing.assert_array_equal(
        res.at_risk["at_risk"].to_numpy(), ref["at_risk"].to_numpy()
    )


def test_logrank_matches_r_survdiff(rdata: pd.DataFrame) -> None:
    """Unstratified and stratified log-rank chi-square equal survdiff's."""
    ref = _r("r_logrank.tsv").set_index("test")
    kw = {"duration": "time", "event": "status", "arm": "arm", "treated": "exosome"}
    chi, p = logrank(rdata, **kw)
    assert chi == pytest.approx(ref.loc["unstratified", "chisq"], abs=1e-4)
    assert p == pytest.approx(ref.loc["unstratified", "p_value"], abs=1e-4)
    chi, p = logrank(rdata, strata=["stratum"], **kw)
    assert chi == pytest.approx(ref.loc["stratified", "chisq"], abs=1e-4)
    assert p == pytest.approx(ref.loc["stratified", "p_value"], abs=1e-4)
    # the strata matter here: stratified and unstratified differ clearly
    assert abs(ref.loc["stratified", "chisq"] - ref.loc["unstratified", "chisq"]) > 0.5


@pytest.mark.parametrize("model", ["stratified", "unstratified"])
def test_cox_matches_r_coxph(rdata: pd.DataFrame, model: str) -> None:
    """Coefficient, SE, HR, CI and Wald p equal coxph(ties = "efron")."""
    ref = _r("r_cox.tsv").set_index("model").loc[model]
    strata = ["stratum"] if model == "stratified" else []
    res = cox_arm_effect(
        rdata, duration="time", event="status", arm="arm", treated="exosome",
        strata=strata,
    )  # fmt: skip
    for field in ("coef", "se", "hazard_ratio", "ci_low", "ci_high", "p_value"):
        assert getattr(res, field) == pytest.approx(ref[field], abs=1e-4), field
    assert (res.n, res.events) == (ref["n"], ref["events"])
    assert 0 <= res.ph_p_value <= 1 and res.note == ""


def test_aalen_johansen_matches_r(rdata: pd.DataFrame) -> None:
    """The cumulative incidence with deaths competing equals R's multi-state survfit.

    lifelines breaks tied times by a jitter of at most 1e-4 day, so the
    agreement is to 1e-3 rather than 1e-4.
    """
    ref = _r("r_cif.tsv")
    for arm in ARMS:
        sub = rdata[rdata["arm"] == arm]
        r = ref[ref["arm"] == arm]
        ours = cumulative_incidence(
            sub["time"].to_numpy(), sub["status"].to_numpy(), list(r["time_days"]), 1
        )
        np.testing.assert_allclose(ours, r["cif"], atol=1e-3, rtol=0)
        # the competing deaths make 1 - KM overestimate the incidence
        kmf = kaplan_meier(sub["time"], sub["status"])
        one_minus_km = 1 - float(kmf.survival_function_at_times(730).iloc[0])
        assert ours[-1] < one_minus_km


def _trial(n: int, hr: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A trial with exponential event times (treated hazard = hr x control),
    staggered randomisation, loss to follow-up and competing deaths."""
    rng = np.random.default_rng(seed)
    start = date(2025, 1, 1)
    arm = np.where(np.arange(n) % 2 == 0, "placebo", "exosome")
    stratum = rng.choice(["S1", "S2"], n)
    base = np.where(stratum == "S1", 1 / 900, 1 / 450)
    t_event = rng.exponential(1 / (base * np.where(arm == "exosome", hr, 1.0)))
    t_death = rng.exponential(6000, n)
    rand = [start + timedelta(days=int(x)) for x in rng.integers(0, 300, n)]
    loss = rng.uniform(200, 1200, n)
    parts, events = [], []
    for i in range(n):
        pid = f"P{i:04d}"
        contact = rand[i] + timedelta(days=int(loss[i]))
        parts.append(
            (pid, arm[i], stratum[i], rand[i].isoformat(), contact.isoformat())
        )
        for code, t in (("MACE", t_event[i]), ("death", t_death[i])):
            if t < loss[i]:
                events.append(
                    (pid, code, (rand[i] + timedelta(days=int(t))).isoformat())
                )
    cols = [
        "participant_id",
        "arm",
        "stratum",
        "randomization_date",
        "last_contact_date",
    ]
    return (
        pd.DataFrame(parts, columns=cols),
        pd.DataFrame(events, columns=["participant_id", "endpoint", "event_date"]),
    )


def test_planted_hazard_ratio_is_recovered() -> None:
    """400 participants, planted HR 0.5: the stratified Cox CI covers it."""
    parts, events = _trial(400, 0.5, seed=11)
    s = SurvivalSettings(
        endpoints=(("MACE", "Major adverse cardiovascular event"),),
        data_cut="2028-06-30", arms=ARMS, strata=("stratum",),
    )  # fmt: skip
    tabs = run_time_to_event(parts, events, s)
    cox = tabs["cox"].iloc[0]
    assert cox["events"] > 100
    assert cox["ci_low"] < 0.5 < cox["ci_high"]
    # SE of log HR ~0.15 with ~185 events: within 2.5 SE of the truth
    assert abs(math.log(cox["hazard_ratio"]) - math.log(0.5)) < 0.375
    assert cox["logrank_p"] < 0.01 and cox["ph_flag"] == "false"
    summ = tabs["summary"].set_index("arm")
    assert summ.loc["exosome", "surv_24m"] > summ.loc["placebo", "surv_24m"]
    assert (summ["competing_deaths"] > 0).all() and summ["cif_24m"].notna().all()
    assert int(summ["n"].sum()) == 400
    assert tabs["pooled"].iloc[0]["events"] == cox["events"]


def test_planted_hazard_ratio_over_replicates() -> None:
    """Ten trials of 400: the mean log HR is unbiased and the CIs cover 0.5.

    (Over 100 seeds, measured once: mean log HR -0.706 vs -0.693, SD 0.160,
    coverage 93/100.)
    """
    s = SurvivalSettings(
        endpoints=(("MACE", "MACE"),), data_cut="2028-06-30", arms=ARMS,
        strata=("stratum",),
    )  # fmt: skip
    logs, covered = [], 0
    for seed in range(100, 110):
        cox = run_time_to_event(*_trial(400, 0.5, seed), s)["cox"].iloc[0]
        logs.append(math.log(cox["hazard_ratio"]))
        covered += int(cox["ci_low"] < 0.5 < cox["ci_high"])
    assert abs(float(np.mean(logs)) - math.log(0.5)) < 0.15  # 3 SD of the mean
    assert covered >= 8


def test_null_effect_is_not_significant() -> None:
    """Under HR 1 the CI covers 1 (one fixed seed)."""
    parts, events = _trial(400, 1.0, seed=12)
    s = SurvivalSettings(
        endpoints=(("MACE", "MACE"),), data_cut="2028-06-30", arms=ARMS,
        strata=("stratum",),
    )  # fmt: skip
    cox = run_time_to_event(parts, events, s)["cox"].iloc[0]
    assert cox["ci_low"] < 1 < cox["ci_high"]


def test_non_proportional_hazards_are_flagged() -> None:
    """Crossing hazards (Weibull shape 0.5 vs 2, same median): PH flagged."""
    rng = np.random.default_rng(3)
    n = 400
    arm = np.where(np.arange(n) % 2 == 0, "placebo", "exosome")
    shape = np.where(arm == "exosome", 0.5, 2.0)
    t = 300 * rng.weibull(shape)
    frame = pd.DataFrame(
        {
            "time": np.ceil(np.minimum(t, 730)),
            "status": (t < 730).astype(int),
            "arm": arm,
        }
    )
    s = SurvivalSettings(endpoints=(("E", "E"),), data_cut="2030-01-01", arms=ARMS)
    cox = analyse_endpoint("E", "E", frame, s).cox.iloc[0]
    assert cox["ph_p_value"] < 1e-4 and cox["ph_flag"] == "true"


def test_censoring_rules_by_hand() -> None:
    """Last contact, visit-date fallback, data cut, horizon and competing death."""
    parts = pd.DataFrame(
        {
            "participant_id": ["A", "B", "C", "D", "E", "F"],
            "arm": ["placebo", "exosome", "placebo", "exosome", "placebo", "exosome"],
            "randomization_date": ["2025-01-01"] * 5 + ["2023-01-01"],
            "last_contact_date": ["2025-04-11", None, None, "2026-01-01", None, None],
        }
    )
    events = pd.DataFrame(
        {
            "participant_id": ["A", "D", "D", "E", "E"],
            "endpoint": ["CHTN", "death", "CHTN", "death", "CHTN"],
            "event_date": [
                "2025-03-02",  # A: CHTN on day 60
                "2025-07-20",  # D: death on day 200 ...
                "2025-10-28",  # D: ... before CHTN on day 300
                "2025-05-01",  # E: death and CHTN on the same day 120
                "2025-05-01",
            ],
        }
    )
    clinical = pd.DataFrame(
        {"participant_id": ["B", "B"], "visit_date": ["2025-02-01", "2025-06-30"]}
    )
    s = SurvivalSettings(
        endpoints=(("CHTN", "CHTN"),), data_cut="2025-12-31", arms=ARMS,
        horizon_days=730,
    )  # fmt: skip
    d = time_to_event_data(parts, events, s, clinical).set_index("participant_id")
    assert (d.loc["A", "time"], d.loc["A", "status"]) == (60, 1)  # event
    assert (d.loc["B", "time"], d.loc["B", "status"]) == (180, 0)  # last visit date
    assert (d.loc["C", "time"], d.loc["C", "status"]) == (364, 0)  # data cut
    assert (d.loc["D", "time"], d.loc["D", "status"]) == (200, 2)  # death first
    assert (d.loc["E", "time"], d.loc["E", "status"]) == (120, 1)  # same day: event
    assert (d.loc["F", "time"], d.loc["F", "status"]) == (730, 0)  # horizon


def test_arm_without_events_is_reported_not_estimable() -> None:
    """No event in the treated arm: no crash, HR NaN with the reason."""
    frame = pd.DataFrame(
        {
            "time": [10, 20, 30, 40, 50, 60, 70, 80],
            "status": [1, 1, 0, 1, 0, 0, 0, 0],
            "arm": ["placebo"] * 4 + ["exosome"] * 4,
            "stratum": ["S1", "S2"] * 4,
        }
    )
    res = cox_arm_effect(
        frame, duration="time", event="status", arm="arm", treated="exosome",
        strata=["stratum"],
    )  # fmt: skip
    assert math.isnan(res.hazard_ratio) and math.isnan(res.ph_p_value)
    assert res.note == "hazard ratio not estimable: an arm has no events"
    assert (res.n, res.events) == (8, 3)
    s = SurvivalSettings(endpoints=(("E", "E"),), data_cut="2030-01-01", arms=ARMS)
    out = analyse_endpoint("E", "E", frame, s)
    assert out.cox.iloc[0]["note"] == res.note and out.cox.iloc[0]["ph_flag"] == ""
    summ = out.summary.set_index("arm")
    assert summ.loc["exosome", "events"] == 0 and summ.loc["exosome", "surv_12m"] == 1
    # no event at all: the log-rank test is not computed either
    assert all(math.isnan(x) for x in logrank(frame.assign(status=0), duration="time",
               event="status", arm="arm", treated="exosome"))  # fmt: skip


def test_endpoint_without_any_event_writes_every_output(tmp_path: Path) -> None:
    """An endpoint nobody reached and an empty stratum: all outputs, no crash."""
    from exomir.survival.stage import time_to_event_step

    parts, events = _trial(40, 0.5, seed=4)
    parts.loc[0, "stratum"] = ""
    parts.to_csv(tmp_path / "p.tsv", sep="\t", index=False)
    events.to_csv(tmp_path / "e.tsv", sep="\t", index=False)
    s = SurvivalSettings(
        endpoints=(("MACE", "MACE"), ("REHOSP", "Re-hospitalisation")),
        data_cut="2028-06-30", arms=ARMS, strata=("stratum",),
    )  # fmt: skip
    outs = {
        k: tmp_path / f"{k}.tsv" for k in ("summary", "km", "at_risk", "cox", "pooled")
    }
    figs = [tmp_path / "km_MACE.png", tmp_path / "km_REHOSP.png"]
    time_to_event_step(
        participants=tmp_path / "p.tsv", events=tmp_path / "e.tsv", clinical=None,
        outputs=outs, figures=figs, settings=s,
    )  # fmt: skip
    cox = pd.read_csv(outs["cox"], sep="\t", keep_default_na=False).set_index(
        "endpoint"
    )
    assert cox.loc["REHOSP", "events"] == 0 and cox.loc["REHOSP", "hazard_ratio"] == ""
    assert cox.loc["REHOSP", "note"].startswith("hazard ratio not estimable")
    assert cox.loc["MACE", "hazard_ratio"] != ""
    summ = pd.read_csv(outs["summary"], sep="\t", keep_default_na=False)
    rehosp = summ[summ["endpoint"] == "REHOSP"]
    assert (rehosp["median_days"] == "").all() and (rehosp["surv_24m"] == 1).all()
    assert all(f.read_bytes()[:4] == b"\x89PNG" for f in figs)


def test_monotone_likelihood_is_not_estimable_instead_of_overflowing() -> None:
    """Events in one arm only within each stratum: the Cox estimate diverges.

    Before the guard, exp() of the diverged CI bound raised OverflowError (seen
    in the calibration benchmark on a simulated trial with few events).
    """
    import pandas as pd

    from exomir.survival.analysis import cox_arm_effect

    rows = [dict(t=10 + i, e=1, arm="exosome", s="A") for i in range(10)]
    rows += [dict(t=100, e=0, arm="placebo", s="A") for _ in range(10)]
    rows += [dict(t=5 + i, e=1, arm="placebo", s="B") for i in range(5)]
    rows += [dict(t=100, e=0, arm="placebo", s="B") for _ in range(5)]
    res = cox_arm_effect(
        pd.DataFrame(rows),
        duration="t",
        event="e",
        arm="arm",
        treated="exosome",
        strata=("s",),
    )
    assert res.events == 15 and res.n == 30
    assert res.hazard_ratio != res.hazard_ratio  # NaN
    assert "monotone likelihood" in res.note
