"""The long trial of ``exomir simulate``: visits to 24 months, dropout, sites, events.

Planted effects are checked against the parameters (the truth) with simple
independent estimates on large simulated samples; the invariance tests check
that switching the long trial on leaves the two-visit trial's data unchanged.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from exomir.simulate import params as P
from exomir.simulate.followup import (
    conditional_residuals,
    serial_parameters,
    site_effects,
)
from exomir.simulate.longitudinal import simulate_outcomes
from exomir.simulate.study import simulate_trial

#: Switches the long trial on (besides the preset's sites and events).
LONG = [
    "trial.timepoints=[baseline, week1, month3]",
    "trial.schedule={day1: {day: 1}, week1: {day: 7, window: 2}, "
    "month1: {day: 30, window: 7}, month3: {day: 91, window: 14}, "
    "month6: {day: 182, window: 14}, month12: {day: 365, window: 30}, "
    "month24: {day: 730, window: 30}}",
    "events.enabled=true",
]
EARLY = ["screening", "baseline", "day1", "week1"]


def _long(n: int, *sets: str, null: bool = False) -> dict:
    return P.resolve_params(participants=n, sets=[*LONG, *sets], null=null)


# ---------------------------------------------------------------------------
# Invariance: the long trial adds data, it never changes the two-visit data


def test_long_trial_keeps_the_two_visit_data() -> None:
    short = simulate_trial(P.resolve_params(participants=60), 17, expression=False)
    long = simulate_trial(_long(60), 17, expression=False)
    early = long.clinical[long.clinical["visit"].isin(EARLY)].reset_index(drop=True)
    pd.testing.assert_frame_equal(early, short.clinical)
    assert set(long.clinical["visit"]) - set(EARLY) == {
        "month1",
        "month3",
        "month6",
        "month12",
        "month24",
    }
    cols = list(short.participants.columns)
    pd.testing.assert_frame_equal(long.participants[cols], short.participants)
    assert "last_contact_date" in long.participants
    base = long.samples[long.samples["timepoint"].isin(["baseline", "week1"])]
    pd.testing.assert_frame_equal(base.reset_index(drop=True), short.samples)
    for name in ("disposition", "adverse_events"):
        pd.testing.assert_frame_equal(getattr(long, name), getattr(short, name))


def test_long_trial_keeps_the_two_visit_expression() -> None:
    """The first two timepoints' miRNA composition is unchanged (same draws)."""
    short = simulate_trial(P.resolve_params(participants=6), 4)
    long = simulate_trial(_long(6), 4)
    assert short.probs is not None and long.probs is not None
    extra = [c for c in long.probs.columns if c not in short.probs.columns]
    assert extra and all(c.endswith("_M3") for c in extra)
    pd.testing.assert_frame_equal(long.probs[short.probs.columns], short.probs)
    pd.testing.assert_frame_equal(
        long.clinical[long.clinical["visit"].isin(EARLY)].reset_index(drop=True),
        short.clinical,
    )


# ---------------------------------------------------------------------------
# Visits, windows, dropout


@pytest.fixture(scope="module")
def big() -> dict[str, pd.DataFrame]:
    """A large long trial with larger arm effects (for recovery checks)."""
    params = _long(
        700,
        "clinical.endpoints.SYSBP.arm_effect=-8.0",
        "clinical.endpoints.HGB.arm_effect=0.5",
        "clinical.endpoints.UPCR.arm_effect=-0.4",
        "events.endpoints.CHTN.severe_log_hr=0.0",
        "events.endpoints.CHTN.weibull_shape=1.0",
        "events.endpoints.CHTN.control_risk=0.5",
    )
    out = simulate_outcomes(params, 3)
    out["_params"] = params  # type: ignore[assignment]
    return out


def _visit_values(out: dict, param: str) -> pd.DataFrame:
    """One value per participant and visit (mean of replicates), with the arm."""
    m = out["clinical_measurements"]
    m = m[m["param"] == param]
    v = m.groupby(["participant_id", "visit"])["value_num"].mean().unstack()
    arm = out["participants"].set_index("participant_id")["arm"]
    return v.join(arm)


@pytest.mark.parametrize(
    ("param", "log"), [("SYSBP", False), ("HGB", False), ("UPCR", True)]
)
def test_per_visit_arm_differences_match_the_truth(
    big: dict, param: str, log: bool
) -> None:
    v = _visit_values(big, param)
    truth = big["longitudinal_effects"]
    truth = truth[truth["endpoint"] == param].set_index("visit")["true_difference"]
    checked = 0
    for visit, true_diff in truth.items():
        if visit not in v or visit == "day1":
            continue
        y = np.log(v[visit]) if log else v[visit]
        y = y - (np.log(v["baseline"]) if log else v["baseline"])  # change: less noise
        a = y[v["arm"] == "exosome"].dropna()
        b = y[v["arm"] == "placebo"].dropna()
        est = a.mean() - b.mean()
        se = math.sqrt(a.var() / len(a) + b.var() / len(b))
        assert abs(est - true_diff) < 4 * se, (visit, est, true_diff, se)
        checked += 1
    assert checked == 6
    # The planted effect peaks at week 1 and decays.
    assert abs(truth["week1"]) > abs(truth["month3"]) > abs(truth["month24"]) > 0


def test_within_participant_correlation_model() -> None:
    """Later residuals drawn conditionally have the documented correlation."""
    rng = np.random.default_rng(1)
    n, rho, share = 40_000, 0.5, 0.6
    z0, z1 = rng.normal(size=(2, n))
    e01 = np.column_stack([z0, rho * z0 + math.sqrt(1 - rho**2) * z1])
    days = np.array([30.0, 91.0, 365.0])
    e = conditional_residuals(e01, days, rho, 7.0, share, rng.normal(size=(n, 3)))
    full = np.column_stack([e01, e])
    lam, tau = serial_parameters(rho, 7.0, share)
    t = np.array([0.0, 7.0, *days])
    want = lam + (1 - lam) * np.exp(-np.abs(t[:, None] - t[None, :]) / tau)
    np.fill_diagonal(want, 1.0)
    assert np.allclose(np.corrcoef(full.T), want, atol=0.02)
    assert abs(lam - 0.3) < 1e-12 and abs(want[0, 1] - rho) < 1e-9


def test_dropout_grows_with_time(big: dict) -> None:
    params = big["_params"]
    visits = big["visits"]
    share = visits.groupby("visit", sort=False)["attended"].mean()
    order = ["month1", "month3", "month6", "month12", "month24"]
    assert list(share.index) == order
    assert all(share[a] > share[b] for a, b in itertools.pairwise(order))
    # Expected attendance at month 24: in the trial after week 1, no dropout over
    # 723 days, not missing the visit.
    h = params["followup"]["dropout_hazard_per_year"] / 365.25
    t = params["trial"]
    p_wk1 = (1 - t["not_dosed_frac"]) * (1 - t["dropout_frac"])
    want = (
        p_wk1 * math.exp(-h * (730 - 7)) * (1 - params["followup"]["missed_visit_frac"])
    )
    assert abs(share["month24"] - want) < 0.05


def test_visit_days_mostly_inside_their_windows(big: dict) -> None:
    params = big["_params"]
    sched = params["trial"]["schedule"]
    v = big["visits"][big["visits"]["attended"]]
    dev = (v["day"] - v["visit"].map(lambda x: sched[x]["day"])).abs()
    win = v["visit"].map(lambda x: sched[x]["window"])
    outside = (dev > win).mean()
    assert 0.02 < outside < 0.09  # followup.outside_window_frac = 0.05
    assert (dev <= win + 3).all()
    m = big["clinical_measurements"]
    later = m[m["visit"] == "month12"]
    assert later["days_since_dose"].between(365 - 33, 365 + 33).all()


def test_last_contact_and_events_are_consistent(big: dict) -> None:
    part = big["participants"].set_index("participant_id")
    ev = big["events"]
    assert not ev.duplicated(["participant_id", "endpoint"]).any()
    rand = pd.to_datetime(ev["participant_id"].map(part["randomization_date"]))
    last = pd.to_datetime(ev["participant_id"].map(part["last_contact_date"]))
    when = pd.to_datetime(ev["event_date"])
    assert (when > rand).all() and (when <= last).all()
    assert set(ev["endpoint"]) <= {"CHTN", "MACE", "REHOSP", "death"}
    # A death ends follow-up: last contact is the death date.
    deaths = ev[ev["endpoint"] == "death"]
    for r in deaths.itertuples():
        assert part.loc[r.participant_id, "last_contact_date"] == r.event_date
    # Nobody attends a visit after last contact.
    m = big["clinical_measurements"]
    lc = pd.to_datetime(m["participant_id"].map(part["last_contact_date"]))
    assert (pd.to_datetime(m["visit_date"]) <= lc).all()


def _durations(out: dict, endpoint: str) -> pd.DataFrame:
    part = out["participants"].set_index("participant_id")
    ev = out["events"]
    ev = ev[ev["endpoint"] == endpoint].set_index("participant_id")["event_date"]
    rand = pd.to_datetime(part["randomization_date"])
    end = pd.to_datetime(part["last_contact_date"])
    when = pd.to_datetime(ev.reindex(part.index))
    event = when.notna()
    days = (when.where(event, end) - rand).dt.days.astype(float)
    return pd.DataFrame({"days": days, "event": event, "arm": part["arm"]})


def test_hazard_ratio_recovered_by_the_rate_ratio(big: dict) -> None:
    """CHTN made exponential without covariate: events / person-time per arm."""
    d = _durations(big, "CHTN")
    rate = {
        a: g["event"].sum() / g["days"].clip(lower=0.5).sum()
        for a, g in d.groupby("arm")
    }
    n_ev = d.groupby("arm")["event"].sum()
    log_rr = math.log(rate["exosome"] / rate["placebo"])
    se = math.sqrt(1 / n_ev["exosome"] + 1 / n_ev["placebo"])
    truth = big["hazard_ratios"].set_index("endpoint")["hazard_ratio"]
    assert abs(log_rr - math.log(truth["CHTN"])) < 3 * se, (log_rr, se)
    assert n_ev.sum() > 100


def test_cox_recovers_the_weibull_hazard_ratio() -> None:
    """Default CHTN (Weibull, severe features): Cox stratified by the stratum."""
    from lifelines import CoxPHFitter

    out = simulate_outcomes(_long(600, "events.endpoints.CHTN.control_risk=0.6"), 8)
    d = _durations(out, "CHTN")
    d["treated"] = (d["arm"] == "exosome").astype(float)
    sev = out["participants"].set_index("participant_id")["pe_severe_features"]
    d["severe"] = sev.astype(int)
    d["days"] = d["days"].clip(lower=0.5)
    d["event"] = d["event"].astype(int)
    cph = CoxPHFitter().fit(
        d[["days", "event", "treated", "severe"]].reset_index(drop=True),
        duration_col="days",
        event_col="event",
        strata=["severe"],
    )
    lo, hi = np.exp(cph.confidence_intervals_.loc["treated"].to_numpy())
    assert lo < 0.6 < hi, (lo, hi)


def test_event_counts_are_realistic() -> None:
    out = simulate_outcomes(_long(400), 5)
    hr = out["hazard_ratios"].set_index("endpoint")
    per = hr["n_events"] / 400
    assert 0.12 < per["CHTN"] < 0.35  # control 30 %, HR 0.6, censoring
    assert per["MACE"] < 0.06 and per["death"] < 0.02
    assert hr.loc["death", "hazard_ratio"] == 1.0


# ---------------------------------------------------------------------------
# Sites


def test_site_shifts_are_planted_and_recorded() -> None:
    params = _long(500, "sites.endpoint_shift_sd=0.5", "sites.mirna_shift_log2_sd=0.4")
    out = simulate_outcomes(params, 6)
    fx = out["site_effects"]
    assert set(fx["site_id"]) == {"S01", "S02", "S03"}
    assert (fx.loc[fx["endpoint"] == "hsa-miR-126-3p", "scale"] == "log2").all()
    v = _visit_values(out, "HGB")
    site = out["participants"].set_index("participant_id")["site_id"]
    means = v["baseline"].groupby(site).mean()
    truth = fx[fx["endpoint"] == "HGB"].set_index("site_id")["effect"]
    diff_est = means["S01"] - means["S02"]
    diff_true = truth["S01"] - truth["S02"]
    n1, n2 = (site == "S01").sum(), (site == "S02").sum()
    se = 1.3 * math.sqrt(1 / n1 + 1 / n2)
    assert abs(diff_est - diff_true) < 4 * se
    assert fx["effect"].abs().max() > 0
    # Same draws whatever the number of participants (a per-site table).
    assert site_effects(params, 6).equals(fx)


def test_batches_confounded_with_site_only_when_asked() -> None:
    conf = simulate_trial(
        _long(48, "sites.batch_confounded_with_site=true"), 2, expression=False
    )
    plain = simulate_trial(_long(48), 2, expression=False)
    for sim, confounded in ((conf, True), (plain, False)):
        s = sim.samples.merge(sim.participants[["participant_id", "site_id"]])
        for unit in ("library_batch", "sequencing_run"):
            per_unit = s.groupby(unit)["site_id"].nunique()
            assert (per_unit == 1).all() == confounded, unit


# ---------------------------------------------------------------------------
# Null mode and speed


def test_null_zeroes_every_arm_effect_and_log_hr() -> None:
    out = simulate_outcomes(_long(80, null=True), 1)
    assert (out["longitudinal_effects"]["true_difference"] == 0).all()
    assert (out["hazard_ratios"]["hazard_ratio"] == 1).all()


def test_outcomes_fast_enough_for_calibration() -> None:
    params = P.resolve_params(preset="demo", participants=80)
    simulate_outcomes(params, 0)
    t0 = time.perf_counter()
    for seed in (1, 2, 3):
        simulate_outcomes(params, seed)
    assert (time.perf_counter() - t0) / 3 < 2.0  # ~0.7 s on an idle core


def test_long_params_are_checked() -> None:
    with pytest.raises(P.ParamError, match=r"not in trial\.schedule"):
        P.resolve_params(sets=["trial.timepoints=[baseline, week1, month9]", LONG[1]])
    with pytest.raises(P.ParamError, match=r"must equal trial\.week1_day"):
        P.resolve_params(sets=["trial.schedule={week1: {day: 8, window: 2}}"])
    with pytest.raises(P.ParamError, match="effect_profile has no entry"):
        P.resolve_params(
            sets=["trial.schedule={week1: {day: 7, window: 2}, month9: {day: 270}}"]
        )
    with pytest.raises(P.ParamError, match=r"sites\.names"):
        P.resolve_params(sets=["sites.names={S01: Bandung}"])


def test_dates_are_iso_and_inside_the_data_cut() -> None:
    sim = simulate_trial(_long(30), 12, expression=False)
    assert sim.followup is not None
    cut = sim.followup.data_cut
    for d in sim.participants["last_contact_date"]:
        assert dt.date.fromisoformat(d) <= cut
    assert (pd.to_datetime(sim.clinical["visit_date"]).dt.date <= cut).all()


# ---------------------------------------------------------------------------
# The written scenario (tiny demo)


def test_long_scenario_is_written_and_valid(tmp_path: Path) -> None:
    from exomir import validate
    from exomir.simulate.scenario import run_simulation

    params = P.resolve_params(
        preset="demo",
        sets=[
            "trial.n_participants=6",
            "library.reads_per_library=3000",
            "library.participants_per_batch=2",
        ],
    )
    out = tmp_path / "s"
    run_simulation(out, params, 11)
    result = validate.validate_scenario(out)
    smp = result.tables["samples"]
    assert set(smp["timepoint"]) == {"baseline", "week1", "month3"}
    for fq in smp["fastq"]:
        assert (out / fq).is_file()
    cfg = yaml.safe_load((out / "config" / "config.yaml").read_text())
    design = cfg["design"]
    assert list(design["schedule"]) == list(P.PROTOCOL_SCHEDULE)
    assert design["primary_visit"] == "week1"
    assert design["sites"] == {"S01": "Bandung", "S02": "Jakarta", "S03": "Yogyakarta"}
    assert cfg["sheets"]["events"] == "config/events.tsv"
    assert set(cfg["time_to_event"]["endpoints"]) == {"CHTN", "MACE", "REHOSP"}
    cut = dt.date.fromisoformat(cfg["trial"]["data_cut"])
    ev = pd.read_csv(out / "config" / "events.tsv", sep="\t", dtype=str)
    assert list(ev.columns) == [
        "participant_id",
        "endpoint",
        "event_date",
        "description",
    ]
    assert all(dt.date.fromisoformat(d) <= cut for d in ev["event_date"])
    truth = out / "truth"
    readme = (truth / "README.md").read_text()
    for name in (
        "longitudinal_effects.tsv",
        "hazard_ratios.tsv",
        "site_effects.tsv",
        "event_times.tsv",
        "visits.tsv",
        "clinical_latent_visits.tsv",
    ):
        assert (truth / name).is_file() and f"`{name}`" in readme
    eff = pd.read_csv(truth / "longitudinal_effects.tsv", sep="\t")
    assert list(eff.columns) == ["endpoint", "visit", "day", "true_difference", "scale"]
    mir = eff[eff["endpoint"] == "hsa-miR-126-3p"].set_index("visit")
    assert mir.loc["week1", "true_difference"] == pytest.approx(0.58)
    assert mir.loc["month3", "true_difference"] == pytest.approx(0.58 * 0.6)
    hr = pd.read_csv(truth / "hazard_ratios.tsv", sep="\t")
    assert list(hr.columns[:2]) == ["endpoint", "hazard_ratio"]
    meta = yaml.safe_load((truth / "params.yaml").read_text())
    assert meta["params"]["events"]["enabled"] is True
    # truth/params.yaml reproduces the long trial's parameters.
    assert P.resolve_params(params_file=truth / "params.yaml") == params


def test_outcomes_equal_the_full_simulation() -> None:
    """simulate_outcomes gives the scenario's clinical data and events."""
    params = _long(40, "sites.endpoint_shift_sd=0.3")
    fast = simulate_outcomes(params, 21)
    full = simulate_trial(params, 21, expression=False)
    assert full.followup is not None
    pd.testing.assert_frame_equal(fast["clinical_measurements"], full.clinical)
    pd.testing.assert_frame_equal(fast["events"], full.followup.events)
    cols = ["participant_id", "site_id", "arm", "last_contact_date"]
    pd.testing.assert_frame_equal(
        fast["participants"][cols].reset_index(drop=True), full.participants[cols]
    )
