"""The long trial: visits after week 1, dropout over time, deaths and site effects.

Switched on by ``trial.schedule`` (and ``events.enabled`` for the long-term
events without more visits). Everything here draws from its own generators
(:func:`stream`), never from the streams of :mod:`exomir.simulate.study`, so
the baseline, day-1 and week-1 data of a long trial equal those of the same
seed's two-visit trial.

Later visits of the continuous endpoints (``clinical.endpoints``) follow::

    y_k = m + site + drift * drift_profile[k] + arm_effect * effect_profile[k] * [exosome]
          + sd * e_k

where the standardised residuals ``e`` of one participant over the visits
(baseline at day 0, week 1 at its planned day, the later visits at theirs)
are jointly normal with ``corr(e_i, e_j) = lam + (1 - lam) exp(-|t_i - t_j| / tau)``
(a random intercept plus an exponential serial correlation);
``lam = followup.random_intercept_share * rho`` and ``tau`` is chosen so that
the baseline/week-1 correlation stays the endpoint's ``rho``. The later
residuals are drawn from their normal distribution conditional on the
participant's baseline and week-1 residuals, so the two-visit model is left as
it was. SBP and DBP innovations are correlated by ``clinical.rho_sbp_dbp``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from exomir.simulate import clinical as clin_mod

__all__ = [
    "EXTRA_STREAMS",
    "FollowUp",
    "check_long_params",
    "later_visits",
    "schedule_of",
    "simulate_followup",
    "site_effects",
    "stream",
]

#: Generators of the long trial: ``default_rng([seed, code])``, independent of
#: the two-visit trial's ``SeedSequence(seed).spawn`` streams.
EXTRA_STREAMS = {
    "attendance": 2026_1,
    "measure": 2026_2,
    "sites": 2026_3,
    "events": 2026_4,
    "samples": 2026_5,
    "libraries": 2026_6,
}

#: Binary visits: the edema endpoints are drawn at later visits too.
DAY1 = "day1"


def stream(seed: int, name: str) -> np.random.Generator:
    """Return the long trial's generator ``name`` for ``seed``."""
    return np.random.default_rng([int(seed), EXTRA_STREAMS[name]])


def seed_sequence(seed: int, name: str) -> np.random.SeedSequence:
    """Return the seed sequence behind :func:`stream` (to spawn children)."""
    return np.random.SeedSequence([int(seed), EXTRA_STREAMS[name]])


def schedule_of(params: Mapping[str, Any]) -> dict[str, tuple[int, int]] | None:
    """Return ``trial.schedule`` as visit -> (planned day, window), or ``None``."""
    sched = params["trial"].get("schedule")
    if not sched:
        return None
    return {
        str(v): (int(s["day"]), int(s.get("window", 0) or 0)) for v, s in sched.items()
    }


def later_visits(params: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """Scheduled visits drawn by this module: all but day 1 and the primary visit.

    Returns
    -------
    list of (visit, planned day, window)
        In schedule order (chronological).
    """
    sched = schedule_of(params) or {}
    primary = params["trial"]["timepoints"][1]
    return [(v, d, w) for v, (d, w) in sched.items() if v not in (DAY1, primary)]


def is_long(params: Mapping[str, Any]) -> bool:
    """Whether the trial has a visit schedule or long-term events."""
    return bool(schedule_of(params)) or bool(params["events"]["enabled"])


def _profile(
    params: Mapping[str, Any], kind: str, endpoint: str | None, visit: str
) -> float:
    """Multiple of the week-1 arm effect (``effect``) or drift (``drift``)."""
    fu = params["followup"]
    per = fu[f"endpoint_{kind}_profiles"].get(endpoint, {}) if endpoint else {}
    if visit in per:
        return float(per[visit])
    return float(fu[f"{kind}_profile"][visit])


def effect_multiple(params: Mapping[str, Any], endpoint: str, visit: str) -> float:
    """Arm effect at ``visit`` as a multiple of ``clinical.endpoints.<e>.arm_effect``."""
    if visit == params["trial"]["timepoints"][1]:
        return 1.0
    if visit == DAY1:
        return 0.2
    return _profile(params, "effect", endpoint, visit)


def check_long_params(params: Mapping[str, Any]) -> list[str]:
    """Consistency rules of ``trial.schedule`` and the followup/sites/events sections.

    Returns
    -------
    list of str
        Problems found (empty if none).
    """
    t = params["trial"]
    tps = list(t["timepoints"])
    problems: list[str] = []
    sched = t.get("schedule")
    if sched is not None:
        if not isinstance(sched, dict) or not sched:
            return ["trial.schedule must map visit -> {day, window}"]
        days = []
        for v, s in sched.items():
            if not isinstance(s, dict) or "day" not in s:
                problems.append(f"trial.schedule.{v} needs a planned day: {{day: N}}")
                continue
            if set(s) - {"day", "window"}:
                problems.append(f"trial.schedule.{v}: only day and window are allowed")
            days.append(float(s["day"]))
            if float(s.get("window", 0) or 0) < 0:
                problems.append(f"trial.schedule.{v}.window must be >= 0")
        if len(set(days)) != len(days) or (days and min(days) < 1):
            problems.append("trial.schedule visits need distinct planned days >= 1")
        if len(tps) < 2:
            problems.append("trial.timepoints needs a baseline and the primary visit")
            return problems
        bad = [v for v in sched if v in (tps[0], "screening", "unscheduled")]
        if bad:
            problems.append(f"trial.schedule must not name {bad} (not post-dose)")
        prim = sched.get(tps[1])
        if prim is None:
            problems.append(f"trial.schedule must include the primary visit '{tps[1]}'")
        elif int(prim["day"]) != int(t["week1_day"]) or int(
            prim.get("window", 0) or 0
        ) != int(t["week1_window_days"]):
            problems.append(
                f"trial.schedule.{tps[1]} must equal trial.week1_day and "
                "trial.week1_window_days"
            )
        if DAY1 in sched and int(sched[DAY1]["day"]) != 1:
            problems.append("trial.schedule.day1 must be on day 1")
        missing = [tp for tp in tps[2:] if tp not in sched]
        if missing:
            problems.append(f"trial.timepoints {missing} are not in trial.schedule")
        if problems:
            return problems
        fu = params["followup"]
        for v, _, _ in later_visits(params):
            for key in ("effect_profile", "drift_profile"):
                if v not in fu[key]:
                    problems.append(f"followup.{key} has no entry for visit '{v}'")
        for tp in tps[2:]:
            for key in ("mirna_time_profile", "mirna_effect_profile"):
                if tp not in fu[key]:
                    problems.append(f"followup.{key} has no entry for timepoint '{tp}'")
        for key in (
            "outside_window_frac",
            "missed_visit_frac",
            "random_intercept_share",
        ):
            if not 0 <= float(fu[key]) <= 1:
                problems.append(f"followup.{key} must be in [0, 1]")
        if float(fu["dropout_hazard_per_year"]) < 0:
            problems.append("followup.dropout_hazard_per_year must be >= 0")
    problems.extend(check_sites_events(params))
    return problems


def check_sites_events(params: Mapping[str, Any]) -> list[str]:
    """Consistency rules of the ``sites`` and ``events`` sections."""
    problems: list[str] = []
    names = params["sites"]["names"]
    if names is not None and set(names) != set(params["trial"]["sites"]):
        problems.append("sites.names must name exactly the codes of trial.sites")
    for key in ("endpoint_shift_sd", "mirna_shift_log2_sd"):
        if float(params["sites"][key]) < 0:
            problems.append(f"sites.{key} must be >= 0")
    ev = params["events"]
    for code, spec in ev["endpoints"].items():
        need = {"label", "control_risk", "weibull_shape", "hazard_ratio"}
        if not isinstance(spec, dict) or need - set(spec):
            problems.append(f"events.endpoints.{code} needs {sorted(need)}")
            continue
        if not 0 < float(spec["control_risk"]) < 1:
            problems.append(f"events.endpoints.{code}.control_risk must be in (0, 1)")
        if float(spec["weibull_shape"]) <= 0 or float(spec["hazard_ratio"]) <= 0:
            problems.append(
                f"events.endpoints.{code}: weibull_shape and hazard_ratio must be > 0"
            )
    if not 0 <= float(ev["death_risk"]) < 1:
        problems.append("events.death_risk must be in [0, 1)")
    if float(ev["horizon_days"]) <= 0:
        problems.append("events.horizon_days must be > 0")
    return problems


# ---------------------------------------------------------------------------
# Attendance, dropout and deaths


@dataclass
class FollowUp:
    """What the long trial adds to the roster.

    Attributes
    ----------
    visits
        One row per participant and later visit: ``participant_id``, ``visit``,
        ``planned_day``, ``day`` (days since dosing; NaN if not attended) and
        ``attended``.
    last_contact
        Per participant (index ``participant_id``) the date of last contact.
    events
        ``events.tsv`` rows (``participant_id``, ``endpoint``, ``event_date``,
        ``description``), sorted.
    event_times
        Per participant and endpoint (incl. death) the latent time in days
        from randomisation (``inf`` = none), the time at which follow-up ends
        (``censor_day``) and whether the event was recorded.
    data_cut
        The data cut (date).
    """

    visits: pd.DataFrame
    last_contact: pd.Series
    events: pd.DataFrame
    event_times: pd.DataFrame
    data_cut: dt.date


def _offset(
    window: int, u_out: float, u_size: float, u_sign: float, frac: float
) -> int:
    """Visit-day deviation from the planned day: inside or just outside the window."""
    if u_out < frac:
        return (1 if u_sign < 0.5 else -1) * (window + 1 + int(u_size * 3))
    return int(u_size * (2 * window + 1)) - window


def _contacts(params: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """Later visits, or one end-of-follow-up contact (events without a schedule)."""
    visits = later_visits(params)
    if visits:
        return visits
    return [("_end", int(params["events"]["horizon_days"]), 0)]


def default_data_cut(roster: pd.DataFrame, params: Mapping[str, Any]) -> dt.date:
    """Return the day after the last planned contact window of the last participant."""
    contacts = _contacts(params)
    last = max(d + w for _, d, w in contacts) + 4
    horizon = int(params["events"]["horizon_days"])
    ends = [
        max(dose + dt.timedelta(days=last), rand + dt.timedelta(days=horizon))
        for dose, rand in zip(
            roster["dose_date"], roster["randomization_date"], strict=True
        )
    ]
    return max(ends) + dt.timedelta(days=1)


def _attendance(
    roster: pd.DataFrame, params: Mapping[str, Any], rng: np.random.Generator
) -> tuple[list[dict[str, Any]], list[int]]:
    """Later visits and the day of last contact (since dosing) per participant."""
    t = params["trial"]
    fu = params["followup"]
    hazard = float(fu["dropout_hazard_per_year"]) / 365.25
    miss = float(fu["missed_visit_frac"])
    out_frac = float(fu["outside_window_frac"])
    contacts = _contacts(params)
    wk_planned = int(t["week1_day"])
    early_span = max(1, wk_planned - int(t["week1_window_days"]) - 2)
    rows: list[dict[str, Any]] = []
    last: list[int] = []
    for r in roster.itertuples(index=False):
        # A fixed number of draws per participant: (drop, miss, outside, size,
        # sign) per contact and one for the early leavers' last contact.
        u = rng.random((len(contacts), 5))
        u_early = float(rng.random())
        attending = bool(r.completed_week1)
        if not r.dosed:
            contact = 0
        elif not attending:
            contact = 1 + int(u_early * early_span)
        else:
            contact = int(r.week1_day)
        prev_planned, prev_day = wk_planned, contact
        for k, (visit, planned, window) in enumerate(contacts):
            day, came = float("nan"), False
            p_drop = 1 - math.exp(-hazard * (planned - prev_planned))
            if attending and u[k, 0] < p_drop:
                attending = False
                gap = max(1, (planned - prev_planned) // 2)
                contact = prev_day + int(u[k, 3] * gap)
            elif attending and u[k, 1] >= miss:
                off = _offset(window, u[k, 2], u[k, 3], u[k, 4], out_frac)
                day = float(max(planned + off, prev_day + 1))
                came = True
                prev_day = contact = int(day)
            elif attending:
                contact = max(contact, planned)
            prev_planned = planned
            if visit != "_end":
                rows.append(
                    {
                        "participant_id": r.participant_id,
                        "visit": visit,
                        "planned_day": planned,
                        "day": day,
                        "attended": came,
                    }
                )
        last.append(contact)
    return rows, last


def _event_times(
    roster: pd.DataFrame, params: Mapping[str, Any], rng: np.random.Generator
) -> pd.DataFrame:
    """Latent days from randomisation to each endpoint and to death."""
    ev = params["events"]
    h = float(ev["horizon_days"])
    exo = (roster["arm"] == params["trial"]["arms"][1]).to_numpy().astype(float)
    severe = roster["pe_severe_features"].to_numpy().astype(float)
    p_sev = float(params["trial"]["p_severe_features"])
    n = len(roster)
    out = {"participant_id": roster["participant_id"].to_numpy()}
    for code, spec in ev["endpoints"].items():
        e = rng.exponential(1.0, n)
        h0 = -math.log1p(-float(spec["control_risk"]))
        mult = np.exp(
            math.log(float(spec["hazard_ratio"])) * exo
            + float(spec.get("severe_log_hr", 0.0)) * (severe - p_sev)
        )
        out[code] = h * (e / (h0 * mult)) ** (1.0 / float(spec["weibull_shape"]))
    e = rng.exponential(1.0, n)
    risk = float(ev["death_risk"])
    out[str(ev["death_code"])] = (
        h * e / -math.log1p(-risk) if risk > 0 else np.full(n, np.inf)
    )
    return pd.DataFrame(out)


def simulate_followup(
    roster: pd.DataFrame, params: Mapping[str, Any], seed: int
) -> FollowUp:
    """Simulate attendance of the later visits, last contact, deaths and events.

    Dropout after week 1 is a per-interval hazard (``followup.dropout_hazard_per_year``):
    a participant still in the trial leaves between two planned visits with
    probability ``1 - exp(-h * gap)``; her last contact falls in the first half
    of that gap. Attending participants miss a visit with
    ``followup.missed_visit_frac`` and come inside the window except for
    ``followup.outside_window_frac``. Early leavers (no week-1 visit) were
    last seen between day 1 and the week-1 window; undosed participants on the
    dosing day. Event times are Weibull from randomisation (see
    ``events.endpoints``); a death ends follow-up (later visits are removed;
    deaths before the week-1 visit are not simulated, they would change the
    two-visit trial). Follow-up also ends at the data cut.

    Parameters
    ----------
    roster
        Participants (:func:`exomir.simulate.trial.simulate_roster`).
    params
        Resolved parameters.
    seed
        Seed of the scenario (the generators are :func:`stream`'s).

    Returns
    -------
    FollowUp
    """
    rows, last = _attendance(roster, params, stream(seed, "attendance"))
    visits = pd.DataFrame(
        rows, columns=["participant_id", "visit", "planned_day", "day", "attended"]
    )
    cut_param = params["followup"].get("data_cut")
    cut = (
        dt.date.fromisoformat(str(cut_param))
        if cut_param
        else default_data_cut(roster, params)
    )
    times = _event_times(roster, params, stream(seed, "events"))
    death = str(params["events"]["death_code"])
    rand = dict(
        zip(roster["participant_id"], roster["randomization_date"], strict=True)
    )
    dose = dict(zip(roster["participant_id"], roster["dose_date"], strict=True))
    wk = dict(zip(roster["participant_id"], roster["week1_day"], strict=True))
    death_time = dict(zip(times["participant_id"], times[death], strict=True))
    last_contact: dict[str, dt.date] = {}
    censor: dict[str, float] = {}
    for pid, day in zip(roster["participant_id"], last, strict=True):
        end = min(dose[pid] + dt.timedelta(days=int(day)), cut)
        d_days = float(death_time[pid])
        first_ok = (dose[pid] - rand[pid]).days + (
            int(wk[pid]) if np.isfinite(wk[pid]) else 1
        )
        if np.isfinite(d_days) and d_days > first_ok:
            d_date = rand[pid] + dt.timedelta(days=math.ceil(d_days))
            if d_date <= end:
                end = d_date
        last_contact[pid] = end
        censor[pid] = float((end - rand[pid]).days)
    # Visits after last contact (death, data cut) did not happen.
    lc_day = visits["participant_id"].map(
        {p: (last_contact[p] - dose[p]).days for p in last_contact}
    )
    gone = visits["attended"] & (visits["day"] > lc_day)
    visits.loc[gone, "attended"] = False
    visits.loc[~visits["attended"], "day"] = float("nan")
    events = _events_table(times, rand, censor, params)
    tt = times.melt(id_vars="participant_id", var_name="endpoint", value_name="time")
    tt["censor_day"] = tt["participant_id"].map(censor)
    tt["recorded"] = np.ceil(tt["time"]) <= tt["censor_day"]
    return FollowUp(
        visits=visits,
        last_contact=pd.Series(last_contact, name="last_contact_date"),
        events=events,
        event_times=tt,
        data_cut=cut,
    )


def _events_table(
    times: pd.DataFrame,
    rand: Mapping[str, dt.date],
    censor: Mapping[str, float],
    params: Mapping[str, Any],
) -> pd.DataFrame:
    """First occurrence of each endpoint (and death) before the end of follow-up."""
    ev = params["events"]
    labels = {c: str(s["label"]) for c, s in ev["endpoints"].items()}
    labels[str(ev["death_code"])] = "Death"
    rows = []
    for rec in times.to_dict("records"):
        pid = str(rec["participant_id"])
        for code in labels:
            x = float(rec[code])
            if not np.isfinite(x):
                continue
            day = max(1, math.ceil(x))
            if day <= censor[pid]:
                rows.append(
                    {
                        "participant_id": pid,
                        "endpoint": code,
                        "event_date": (rand[pid] + dt.timedelta(days=day)).isoformat(),
                        "description": labels[code],
                    }
                )
    cols = ["participant_id", "endpoint", "event_date", "description"]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["participant_id", "event_date", "endpoint"]).reset_index(
        drop=True
    )


# ---------------------------------------------------------------------------
# Site effects


def site_effects(params: Mapping[str, Any], seed: int) -> pd.DataFrame:
    """Draw the site shifts of the continuous endpoints and the primary miRNA.

    Returns
    -------
    pandas.DataFrame
        ``site_id``, ``endpoint``, ``effect`` (on the endpoint's analysis
        scale: natural log for ``scale: log``, log2 for the miRNA), ``scale``.
        Zero effects when ``sites.*_sd`` are 0.
    """
    rng = stream(seed, "sites")
    sd_ep = float(params["sites"]["endpoint_shift_sd"])
    sd_mir = float(params["sites"]["mirna_shift_log2_sd"])
    eps = params["clinical"]["endpoints"]
    prim = params["reference"]["primary_mirna"]
    rows = []
    for site in params["trial"]["sites"]:
        z = rng.normal(size=len(eps) + 1)
        for j, (name, spec) in enumerate(eps.items()):
            rows.append(
                {
                    "site_id": site,
                    "endpoint": name,
                    "effect": round(sd_ep * float(spec["baseline_sd"]) * z[j], 6),
                    "scale": "log" if spec["scale"] == "log" else "linear",
                }
            )
        rows.append(
            {
                "site_id": site,
                "endpoint": prim,
                "effect": round(sd_mir * z[-1], 6),
                "scale": "log2",
            }
        )
    return pd.DataFrame(rows)


def participant_shifts(
    roster: pd.DataFrame, effects: pd.DataFrame, params: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """Endpoint -> site shift of each participant (roster order)."""
    out = {}
    sites = roster["site_id"].to_numpy()
    for name in params["clinical"]["endpoints"]:
        sel = effects[effects["endpoint"] == name].set_index("site_id")["effect"]
        out[name] = np.array([float(sel.get(s, 0.0)) for s in sites])
    return out


def has_site_effects(params: Mapping[str, Any]) -> bool:
    """Whether any site shift is planted."""
    s = params["sites"]
    return float(s["endpoint_shift_sd"]) > 0 or float(s["mirna_shift_log2_sd"]) > 0


# ---------------------------------------------------------------------------
# Clinical measurements at the later visits


def _corr(t_a: np.ndarray, t_b: np.ndarray, lam: float, tau: float) -> np.ndarray:
    d = np.abs(t_a[:, None] - t_b[None, :])
    return lam + (1 - lam) * np.exp(-d / tau)


def serial_parameters(
    rho: float, week1_day: float, share: float
) -> tuple[float, float]:
    """Random-intercept share ``lam`` and serial range ``tau`` (days) for ``rho``."""
    rho = min(max(rho, 1e-3), 0.999)
    lam = share * rho
    tau = -week1_day / math.log((rho - lam) / (1 - lam))
    return lam, tau


def conditional_residuals(
    e01: np.ndarray,
    days: np.ndarray,
    rho: float,
    week1_day: float,
    share: float,
    w: np.ndarray,
) -> np.ndarray:
    """Later standardised residuals given baseline and week-1 residuals.

    Parameters
    ----------
    e01
        ``(n, 2)`` residuals at baseline (day 0) and week 1.
    days
        Planned days of the later visits.
    rho, week1_day, share
        Baseline/week-1 correlation, the week-1 day and the random-intercept share.
    w
        ``(n, len(days))`` standard normal innovations.

    Returns
    -------
    numpy.ndarray
        ``(n, len(days))`` residuals with the correlation described in the
        module docstring.
    """
    lam, tau = serial_parameters(rho, week1_day, share)
    t01 = np.array([0.0, float(week1_day)])
    s11 = _corr(t01, t01, lam, tau)
    np.fill_diagonal(s11, 1.0)
    s11[0, 1] = s11[1, 0] = rho
    s21 = _corr(days, t01, lam, tau)
    s22 = _corr(days, days, lam, tau)
    np.fill_diagonal(s22, 1.0)
    a = s21 @ np.linalg.inv(s11)
    cond = s22 - a @ s21.T
    chol = np.linalg.cholesky(cond + 1e-12 * np.eye(len(days)))
    return e01 @ a.T + w @ chol.T


def later_latent(
    v: clin_mod._Visits,
    params: Mapping[str, Any],
    visits: list[tuple[str, int, int]],
    site_shift: Mapping[str, np.ndarray] | None,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Draw the true values of every continuous endpoint at the later visits.

    Returns
    -------
    dict
        Endpoint -> ``(n, len(visits))`` latent values (analysis scale).
    """
    clin = params["clinical"]
    eps = clin["endpoints"]
    roster = v.roster
    n = len(roster)
    exo = (roster["arm"] == params["trial"]["arms"][1]).to_numpy().astype(float)
    days = np.array([d for _, d, _ in visits], dtype=float)
    wk_day = float(params["trial"]["week1_day"])
    share = float(params["followup"]["random_intercept_share"])
    w = {name: rng.normal(size=(n, len(days))) for name in eps}
    if "SYSBP" in w and "DIABP" in w:
        r = float(clin["rho_sbp_dbp"])
        w["DIABP"] = r * w["SYSBP"] + math.sqrt(1 - r**2) * w["DIABP"]
    out: dict[str, np.ndarray] = {}
    for name, spec in eps.items():
        m = float(spec["baseline_mean"])
        sd = float(spec["baseline_sd"])
        drift = float(spec["drift"])
        eff = float(spec["arm_effect"])
        shift = site_shift[name] if site_shift is not None else np.zeros(n)
        bl, wk = v.latent[name]
        e0 = (bl - m - shift) / sd
        e1 = (wk - m - shift - drift - eff * exo) / sd
        rho = 1 - float(spec["change_sd"]) ** 2 / (2 * sd**2)
        e = conditional_residuals(
            np.column_stack([e0, e1]), days, rho, wk_day, share, w[name]
        )
        d_prof = np.array(
            [_profile(params, "drift", name, vis) for vis, _, _ in visits]
        )
        e_prof = np.array(
            [_profile(params, "effect", name, vis) for vis, _, _ in visits]
        )
        mean = m + drift * d_prof[None, :] + (eff * e_prof)[None, :] * exo[:, None]
        out[name] = mean + shift[:, None] + sd * e
    if "SYSBP" in out and "DIABP" in out:
        out["DIABP"] = np.minimum(out["DIABP"], out["SYSBP"] - 15)
    return out


def later_clinical_hook(
    params: Mapping[str, Any],
    fu: FollowUp,
    site_shift: Mapping[str, np.ndarray] | None,
    seed: int,
    store: dict[str, Any],
) -> Any:
    """Return the hook of :func:`exomir.simulate.clinical.simulate_clinical`.

    The hook draws the later-visit latent values (stored in ``store["latent"]``
    as a long table) and appends the measurement rows of the attended later
    visits: laboratory values and vital signs, edema (``P(present) = p_new``
    with log odds ratio ``arm_log_or x effect_profile``), dipstick and UPCR,
    and imaging up to ``followup.imaging_max_day``.
    """
    visits = later_visits(params)

    def hook(v: clin_mod._Visits) -> None:
        rng = stream(seed, "measure")
        n = len(v.roster)
        lat = later_latent(v, params, visits, site_shift, rng)
        exo = (v.roster["arm"] == params["trial"]["arms"][1]).to_numpy().astype(float)
        edema: dict[str, np.ndarray] = {}
        for name, b in params["clinical"]["binary"].items():
            a = clin_mod._logit(float(b["p_new"]))
            prof = np.array(
                [_profile(params, "effect", name, vis) for vis, _, _ in visits]
            )
            p = clin_mod._expit(
                a + float(b["arm_log_or"]) * exo[:, None] * prof[None, :]
            )
            edema[name] = rng.random(p.shape) < p
        img_missing = rng.random((n, len(visits))) < float(
            params["clinical"]["imaging_missing_frac"]
        )
        att = {
            (p, vis): d
            for p, vis, d, a in fu.visits[
                ["participant_id", "visit", "day", "attended"]
            ].itertuples(index=False)
            if a
        }
        max_img = float(params["followup"]["imaging_max_day"])
        for k, (visit, planned, _) in enumerate(visits):
            w = dataclasses.replace(
                v,
                latent={nm: (x[0], lat[nm][:, k]) for nm, x in v.latent.items()},
                edema={nm: (x[0], edema[nm][:, k]) for nm, x in v.edema.items()},
                img_missing=np.column_stack([img_missing[:, k], img_missing[:, k]]),
                rng=rng,
                rows=v.rows,
            )
            for i in range(n):
                if (v.pids[i], visit) not in att:
                    continue
                day = int(att[(v.pids[i], visit)])
                clin_mod._labs_and_vitals(w, i, visit, day, 1)
                clin_mod._edema_and_urine(w, i, visit, day, 1)
                if planned <= max_img:
                    clin_mod._imaging(w, i, visit, day, 1)
        rows = []
        for name, x in lat.items():
            for k, (visit, _, _) in enumerate(visits):
                rows.append(
                    pd.DataFrame(
                        {
                            "participant_id": v.pids,
                            "param": name,
                            "visit": visit,
                            "value": x[:, k].round(6),
                        }
                    )
                )
        for name, x in edema.items():
            for k, (visit, _, _) in enumerate(visits):
                rows.append(
                    pd.DataFrame(
                        {
                            "participant_id": v.pids,
                            "param": name,
                            "visit": visit,
                            "value": x[:, k].astype(float),
                        }
                    )
                )
        store["latent"] = pd.concat(rows, ignore_index=True) if rows else None

    return hook
