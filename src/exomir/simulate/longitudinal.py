"""Truth of the long trial and a fast in-memory entry point for benchmarks.

:func:`simulate_outcomes` simulates the participants, clinical measurements,
long-term events and their truth of one trial without miRNA expression or
reads (well under a second for 80 participants), for calibration benchmarks
of the repeated-measures and time-to-event analyses. The truth tables follow
the session conventions (``truth/longitudinal_effects.tsv``,
``truth/hazard_ratios.tsv``, ``truth/site_effects.tsv``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exomir.simulate import clinical as clin_mod
from exomir.simulate import followup as fu_mod
from exomir.simulate import trial as trial_mod
from exomir.simulate.study import STREAMS

__all__ = [
    "LONG_README_ROWS",
    "hazard_ratio_table",
    "longitudinal_effects_table",
    "simulate_outcomes",
    "write_long_truth",
]


def _post_dose_visits(params: Mapping[str, Any]) -> list[tuple[str, int]]:
    """Scheduled post-dose visits and planned days (two-visit trial: the primary)."""
    sched = fu_mod.schedule_of(params)
    t = params["trial"]
    if not sched:
        return [(str(t["timepoints"][1]), int(t["week1_day"]))]
    return [(v, d) for v, (d, _) in sched.items()]


def longitudinal_effects_table(
    params: Mapping[str, Any], mirna_effects: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Planted arm differences (treated - control) per endpoint and visit.

    Continuous endpoints: ``arm_effect x effect multiple`` on the analysis
    scale (natural log for ``scale: log``); day 1 only for vital signs (0.2);
    imaging only up to ``followup.imaging_max_day``. Edema: log odds ratio
    (``arm_log_or x`` the multiple). miRNAs: the arm difference of the log2
    level at each post-dose blood draw (no baseline difference), for the
    primary miRNA and every miRNA with a planted interaction.

    Parameters
    ----------
    params
        Resolved parameters.
    mirna_effects
        ``mirna_info`` of the expression truth (``interaction_log2``), or
        ``None`` for no miRNA rows.

    Returns
    -------
    pandas.DataFrame
        ``endpoint``, ``visit``, ``day``, ``true_difference``, ``scale``.
    """
    clin = params["clinical"]
    max_img = float(params["followup"]["imaging_max_day"])
    primary = str(params["trial"]["timepoints"][1])
    rows = []
    for visit, day in _post_dose_visits(params):
        for name, spec in clin["endpoints"].items():
            if visit == fu_mod.DAY1 and name not in clin_mod.VITALS:
                continue
            if name in clin_mod.IMAGING and day > max_img and visit != primary:
                continue
            rows.append(
                {
                    "endpoint": name,
                    "visit": visit,
                    "day": day,
                    "true_difference": round(
                        float(spec["arm_effect"])
                        * fu_mod.effect_multiple(params, name, visit),
                        9,
                    ),
                    "scale": "log" if spec["scale"] == "log" else "linear",
                }
            )
        if visit == fu_mod.DAY1:
            continue
        for name, b in clin["binary"].items():
            rows.append(
                {
                    "endpoint": name,
                    "visit": visit,
                    "day": day,
                    "true_difference": round(
                        float(b["arm_log_or"])
                        * fu_mod.effect_multiple(params, name, visit),
                        9,
                    ),
                    "scale": "log_odds_ratio",
                }
            )
    if mirna_effects is not None:
        rows.extend(_mirna_rows(params, mirna_effects))
    return pd.DataFrame(
        rows, columns=["endpoint", "visit", "day", "true_difference", "scale"]
    )


def _mirna_rows(params: Mapping[str, Any], info: pd.DataFrame) -> list[dict[str, Any]]:
    """Arm differences of the log2 miRNA levels at every post-dose timepoint."""
    tps = list(params["trial"]["timepoints"])
    sched = fu_mod.schedule_of(params) or {}
    prim = params["reference"]["primary_mirna"]
    inter = info["interaction_log2"]
    names = sorted(set(inter.index[inter != 0]) | ({prim} & set(inter.index)))
    prof = params["followup"]["mirna_effect_profile"]
    rows = []
    for k, tp in enumerate(tps[1:], start=1):
        mult = 1.0 if k == 1 else float(prof[tp])
        day = sched[tp][0] if tp in sched else int(params["trial"]["week1_day"])
        for m in names:
            rows.append(
                {
                    "endpoint": m,
                    "visit": tp,
                    "day": day,
                    "true_difference": round(float(inter[m]) * mult, 9),
                    "scale": "log2",
                }
            )
    return rows


def hazard_ratio_table(
    params: Mapping[str, Any], event_times: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Planted hazard ratios and the model behind them (``truth/hazard_ratios.tsv``).

    Returns
    -------
    pandas.DataFrame
        ``endpoint``, ``hazard_ratio`` (treated vs control, conditional on the
        stratum's severe-features factor), ``log_hr``, ``label``,
        ``control_risk`` (control-arm cumulative incidence over the horizon
        without censoring or death), ``weibull_shape``, ``severe_log_hr``,
        ``horizon_days`` and, with ``event_times``, ``n_events`` recorded.
        Death is listed with hazard ratio 1.
    """
    ev = params["events"]
    recorded = None
    if event_times is not None:
        recorded = event_times[event_times["recorded"]].groupby("endpoint").size()
    rows = []
    for code, spec in ev["endpoints"].items():
        hr = float(spec["hazard_ratio"])
        rows.append(
            {
                "endpoint": code,
                "hazard_ratio": hr,
                "log_hr": round(math.log(hr), 9),
                "label": spec["label"],
                "control_risk": float(spec["control_risk"]),
                "weibull_shape": float(spec["weibull_shape"]),
                "severe_log_hr": float(spec.get("severe_log_hr", 0.0)),
                "horizon_days": int(ev["horizon_days"]),
            }
        )
    rows.append(
        {
            "endpoint": str(ev["death_code"]),
            "hazard_ratio": 1.0,
            "log_hr": 0.0,
            "label": "Death (competing event)",
            "control_risk": float(ev["death_risk"]),
            "weibull_shape": 1.0,
            "severe_log_hr": 0.0,
            "horizon_days": int(ev["horizon_days"]),
        }
    )
    out = pd.DataFrame(rows)
    if recorded is not None:
        out["n_events"] = [int(recorded.get(c, 0)) for c in out["endpoint"]]
    return out


LONG_README_ROWS = """| `longitudinal_effects.tsv` | Long trial: planted arm difference (exosome - placebo) per endpoint and post-dose visit (`endpoint`, `visit`, `day` = planned day since dosing, `true_difference`, `scale`): continuous endpoints on the analysis scale (`log` = natural log), edema as log odds ratios, miRNAs as log2 level differences at each blood draw. |
| `site_effects.tsv` | Planted site shift (`site_id`, `endpoint`, `effect`, `scale`) of every continuous endpoint and of the primary miRNA (log2), the same at every visit. |
| `hazard_ratios.tsv` | Long-term events: planted hazard ratio per endpoint (conditional on severe features), the Weibull model (`control_risk` over `horizon_days`, `weibull_shape`, `severe_log_hr`) and the events recorded (`n_events`). |
| `event_times.tsv` | Latent days from randomisation to every endpoint and death per participant (`inf` = none), the day follow-up ended (`censor_day`) and whether the event is in events.tsv (`recorded`). |
| `visits.tsv` | Later visits per participant: planned day, actual day since dosing (empty if not attended) and `attended`. |
| `clinical_latent_visits.tsv` | True values of every endpoint at the later visits (analysis scale; edema 0/1), before reading noise, rounding and missingness. |
"""


def write_long_truth(tdir: Path, sim: Any) -> list[str]:
    """Write the long trial's truth files into ``tdir``.

    Returns
    -------
    list of str
        Names of the files written.
    """
    from exomir.simulate.truth import write_frame

    written = []
    fu = sim.followup
    params = sim.params
    info = sim.expression.mirna_info if sim.expression is not None else None
    if fu is not None:
        write_frame(
            longitudinal_effects_table(params, info), tdir / "longitudinal_effects.tsv"
        )
        written.append("longitudinal_effects.tsv")
        if params["events"]["enabled"]:
            write_frame(
                hazard_ratio_table(params, fu.event_times), tdir / "hazard_ratios.tsv"
            )
            et = fu.event_times.assign(time=fu.event_times["time"].round(3))
            write_frame(et, tdir / "event_times.tsv")
            written += ["hazard_ratios.tsv", "event_times.tsv"]
        if len(fu.visits):
            write_frame(fu.visits, tdir / "visits.tsv")
            written.append("visits.tsv")
    if sim.site_effects is not None:
        write_frame(sim.site_effects, tdir / "site_effects.tsv")
        written.append("site_effects.tsv")
    if sim.later_latent is not None:
        write_frame(sim.later_latent, tdir / "clinical_latent_visits.tsv")
        written.append("clinical_latent_visits.tsv")
    return written


# ---------------------------------------------------------------------------
# Fast entry point


def simulate_outcomes(params: Mapping[str, Any], seed: int) -> dict[str, pd.DataFrame]:
    """Simulate one trial's clinical data, events and truth in memory (no reads).

    The roster, clinical measurements, later visits, events and site effects
    are those :func:`exomir.simulate.study.simulate_trial` makes for the same
    parameters and seed, except that SBP is not coupled to miR-126-3p (no
    expression is simulated) and ``participants`` lacks the dose and ED
    columns. The long-trial parts are simulated whatever ``events.enabled``
    says when ``trial.schedule`` is set.

    Parameters
    ----------
    params
        Resolved parameters (:func:`exomir.simulate.params.resolve_params`;
        ``null=True`` zeroes every arm effect and log hazard ratio).
    seed
        Seed.

    Returns
    -------
    dict of pandas.DataFrame
        ``participants`` (``participant_id``, ``site_id``, ``randomization_date``,
        ``arm``, ``stratum``, ``pe_severe_features``, ``last_contact_date``),
        ``clinical_measurements``, ``events``, ``visits``, ``event_times``,
        ``longitudinal_effects``, ``hazard_ratios``, ``site_effects`` and
        ``data_cut`` (one row: the trial's data cut, as ``exomir simulate``
        writes it to ``trial.data_cut``).
    """
    params = dict(params)
    root = np.random.SeedSequence(int(seed))
    streams = dict(zip(STREAMS, root.spawn(len(STREAMS)), strict=True))
    roster = trial_mod.simulate_roster(params, np.random.default_rng(streams["trial"]))
    fu = fu_mod.simulate_followup(roster, params, seed)
    site_fx = fu_mod.site_effects(params, seed)
    shifts = None
    if float(params["sites"]["endpoint_shift_sd"]) > 0:
        shifts = fu_mod.participant_shifts(roster, site_fx, params)
    store: dict[str, Any] = {}
    later = [v for v, _, _ in fu_mod.later_visits(params)]
    hook = (
        fu_mod.later_clinical_hook(params, fu, shifts, seed, store) if later else None
    )
    clinical, _ = clin_mod.simulate_clinical(
        roster,
        params,
        np.random.default_rng(streams["clinical"]),
        site_shift=shifts,
        followup=hook,
        later_visits=later,
    )
    part = roster[
        [
            "participant_id",
            "site_id",
            "randomization_date",
            "arm",
            "stratum",
            "pe_severe_features",
        ]
    ].copy()
    part["randomization_date"] = [d.isoformat() for d in part["randomization_date"]]
    part["last_contact_date"] = [
        fu.last_contact[p].isoformat() for p in part["participant_id"]
    ]
    return {
        "participants": part,
        "clinical_measurements": clinical,
        "events": fu.events,
        "visits": fu.visits,
        "event_times": fu.event_times,
        "longitudinal_effects": longitudinal_effects_table(params),
        "hazard_ratios": hazard_ratio_table(params, fu.event_times),
        "site_effects": site_fx,
        "data_cut": pd.DataFrame({"data_cut": [fu.data_cut.isoformat()]}),
    }
