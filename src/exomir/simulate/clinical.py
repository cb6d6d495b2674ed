"""Clinical measurements and the ED reference standard.

Continuous endpoints follow a bivariate normal model per participant (on the
natural-log scale for ``scale: log`` endpoints)::

    y_bl  = m + sd * z0
    y_wk1 = m + drift + arm_effect * [exosome] + sd * (rho * z0 + sqrt(1 - rho^2) * z1)
    rho   = 1 - change_sd^2 / (2 sd^2)        so that sd(y_wk1 - y_bl) = change_sd

so the ANCOVA ``y_wk1 ~ arm + y_bl`` estimates ``arm_effect`` without bias.
For SBP in the exosome arm, ``z1`` is partly replaced by the standardised true
change in miR-126-3p so that the *measured* changes correlate by
``clinical.mir126_sbp_rho`` (attenuation by read noise and BP reading noise is
corrected for). The ED reference label shifts the participant's miR-126-3p
level (both timepoints) so that the measured baseline level is lower by
``ed.mir126_shift_sd`` within-group SDs in ED-positive women.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from exomir.tables import schema_columns

#: Domain, UCUM unit and method per parameter code (analysis_spec §3.1).
PARAM_INFO: dict[str, tuple[str, str, str]] = {
    "HGB": ("LB", "g/dL", "automated haematology analyser"),
    "MCV": ("LB", "fL", "automated haematology analyser"),
    "MCHC": ("LB", "g/dL", "automated haematology analyser"),
    "HCT": ("LB", "%", "automated haematology analyser"),
    "WBC": ("LB", "10*9/L", "automated haematology analyser"),
    "PLAT": ("LB", "10*9/L", "automated haematology analyser"),
    "SYSBP": ("VS", "mm[Hg]", "oscillometric, seated, after 5 min rest"),
    "DIABP": ("VS", "mm[Hg]", "oscillometric, seated, after 5 min rest"),
    "PULSE": ("VS", "/min", "oscillometric"),
    "RESP": ("VS", "/min", "counted over 60 s"),
    "EDEMA_UE": ("EDEMA", "1", "clinical examination"),
    "EDEMA_LE": ("EDEMA", "1", "clinical examination"),
    "EDEMA_LE_GRADE": ("EDEMA", "1", "pitting scale 0-4"),
    "EDEMA_FACE": ("EDEMA", "1", "clinical examination"),
    "PROT_DIP": ("UR", "1", "urine dipstick"),
    "UPCR": ("UR", "mg/mmol", "spot urine protein/creatinine"),
    "UTA_PI_L": ("IMG", "1", "transabdominal Doppler ultrasound"),
    "UTA_PI_R": ("IMG", "1", "transabdominal Doppler ultrasound"),
    "UTA_RI_L": ("IMG", "1", "transabdominal Doppler ultrasound"),
    "UTA_RI_R": ("IMG", "1", "transabdominal Doppler ultrasound"),
    "UTERUS_VOL_ML": (
        "IMG",
        "mL",
        "transabdominal ultrasound, ellipsoid L x AP x T x 0.523",
    ),
    "FUNDAL_HEIGHT_CM": ("IMG", "cm", "tape measure above symphysis"),
}
PROT_LEVELS = ["neg", "trace", "1+", "2+", "3+", "4+"]
VITALS = ["SYSBP", "DIABP", "PULSE", "RESP"]
LABS = ["HGB", "MCV", "MCHC", "HCT", "WBC", "PLAT"]
IMAGING = ["UTA_PI", "UTA_RI", "UTERUS_VOL_ML", "FUNDAL_HEIGHT_CM"]


# ---------------------------------------------------------------------------
# ED reference and miR-126-3p coupling


def simulate_ed_labels(
    roster: pd.DataFrame, params: Mapping[str, Any], rng: np.random.Generator
) -> pd.DataFrame:
    """Draw the endothelial-dysfunction reference label and value.

    Parameters
    ----------
    roster
        Participants (``site_id``).
    params
        Resolved parameters (``ed`` section).
    rng
        Random generator.

    Returns
    -------
    pandas.DataFrame
        The roster with ``ed_true`` (latent 0/1, always set), and the public
        ``ed_reference`` (0/1 or missing if not assessed), ``ed_method`` and
        ``ed_value``.
    """
    ed = params["ed"]
    n = len(roster)
    out = roster.copy()
    truth = (rng.random(n) < float(ed["prevalence"])).astype(int)
    assessed = rng.random(n) < float(ed["assessed_frac"])
    fmd = out["site_id"].isin(list(ed["fmd_sites"])).to_numpy()
    z = np.abs(rng.normal(0, 1, n))
    rhi_cut = float(ed["rhi_cutoff"])
    fmd_cut = float(ed["fmd_cutoff"])
    rhi = np.where(
        truth == 1, rhi_cut * np.exp(-0.12 * z), rhi_cut * np.exp(0.01 + 0.2 * z)
    )
    fmdv = np.where(
        truth == 1, fmd_cut * np.exp(-0.05 - 0.3 * z), fmd_cut * np.exp(0.05 + 0.25 * z)
    )
    out["ed_true"] = truth
    out["ed_reference"] = pd.array(np.where(assessed, truth, -1), dtype="Int64")
    out.loc[~assessed, "ed_reference"] = pd.NA
    out["ed_method"] = np.where(fmd, "FMD", "EndoPAT_RHI")
    out.loc[~assessed, "ed_method"] = None
    out["ed_value"] = np.where(fmd, np.round(fmdv, 1), np.round(rhi, 2))
    out.loc[~assessed, "ed_value"] = np.nan
    return out


def sbp_coupling(
    target_rho: float,
    noise_var_delta: float,
    latent_delta_var: float,
    spec: Mapping[str, float],
    bp_reading_sd: float,
    bp_readings: int,
) -> float:
    """Coefficient on the standardised miR-126 change in the SBP week-1 noise.

    Parameters
    ----------
    target_rho
        Target correlation of the measured changes.
    noise_var_delta
        Measurement-noise variance of the miR-126 change (log2).
    latent_delta_var
        Variance of the true miR-126 change within the exosome arm (log2).
    spec
        SBP endpoint parameters (``baseline_sd``, ``change_sd``).
    bp_reading_sd
        Within-visit reading SD.
    bp_readings
        Readings averaged per visit.

    Returns
    -------
    float
        The weight ``c`` with ``z1 = c * zm + sqrt(1 - c^2) * e``, clipped to
        [-0.99, 0.99].
    """
    if target_rho == 0 or latent_delta_var <= 0:
        return 0.0
    att_mir = math.sqrt(latent_delta_var / (latent_delta_var + noise_var_delta))
    cs = float(spec["change_sd"])
    att_bp = cs / math.sqrt(cs**2 + 2 * bp_reading_sd**2 / bp_readings)
    sd = float(spec["baseline_sd"])
    rho = 1 - cs**2 / (2 * sd**2)
    latent_rho = target_rho / (att_mir * att_bp)
    c = latent_rho * cs / (sd * math.sqrt(1 - rho**2))
    return float(np.clip(c, -0.99, 0.99))


# ---------------------------------------------------------------------------
# Measurements


def _rho(spec: Mapping[str, float]) -> float:
    return 1 - float(spec["change_sd"]) ** 2 / (2 * float(spec["baseline_sd"]) ** 2)


def _latent_pair(
    spec: Mapping[str, float],
    exo: np.ndarray,
    z0: np.ndarray,
    z1: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    m = float(spec["baseline_mean"])
    sd = float(spec["baseline_sd"])
    rho = _rho(spec)
    bl = m + sd * z0
    wk = (
        m
        + float(spec["drift"])
        + float(spec["arm_effect"]) * exo
        + sd * (rho * z0 + math.sqrt(1 - rho**2) * z1)
    )
    return bl, wk


def _finish(spec: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    v = np.exp(x) if spec["scale"] == "log" else x
    v = np.clip(v, float(spec["min"]), float(spec["max"]))
    return np.round(v, int(spec["decimals"]))


def _latent_endpoints(
    roster: pd.DataFrame,
    params: Mapping[str, Any],
    rng: np.random.Generator,
    mir126_z: pd.Series | None,
    sbp_coupling_weight: float,
    site_shift: Mapping[str, np.ndarray] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Draw the true baseline and week-1 values of every continuous endpoint.

    SBP and DBP are correlated; SBP week-1 noise carries the miR-126-3p
    coupling; DBP stays 15 mmHg below SBP. ``site_shift`` (endpoint -> shift
    per participant) is added to both visits; it draws no random number.
    """
    clin = params["clinical"]
    n = len(roster)
    pids = roster["participant_id"].to_numpy()
    exo = (roster["arm"] == params["trial"]["arms"][1]).to_numpy().astype(float)
    eps = clin["endpoints"]
    latent: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    z = {name: (rng.normal(size=n), rng.normal(size=n)) for name in eps}
    # Correlated SBP/DBP.
    if "SYSBP" in eps and "DIABP" in eps:
        r = float(clin["rho_sbp_dbp"])
        for k in (0, 1):
            z["DIABP"][k][:] = r * z["SYSBP"][k] + math.sqrt(1 - r**2) * z["DIABP"][k]
    c = float(sbp_coupling_weight)
    if mir126_z is not None and c != 0 and "SYSBP" in eps:
        zm = mir126_z.reindex(pids).to_numpy(dtype=float)
        sel = (exo == 1) & np.isfinite(zm)
        e = z["SYSBP"][1][sel]
        z["SYSBP"][1][sel] = c * zm[sel] + math.sqrt(1 - c**2) * e
    for name, spec in eps.items():
        latent[name] = _latent_pair(spec, exo, *z[name])
        if site_shift is not None and name in site_shift:
            bl, wk = latent[name]
            latent[name] = (bl + site_shift[name], wk + site_shift[name])
    # Guard a physiological pulse pressure.
    if "SYSBP" in latent and "DIABP" in latent:
        for k in (0, 1):
            latent["DIABP"][k][:] = np.minimum(
                latent["DIABP"][k], latent["SYSBP"][k] - 15
            )
    return latent


def _latent_edema(
    clin: Mapping[str, Any], exo: np.ndarray, rng: np.random.Generator
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Presence at baseline and week 1 of every binary (edema) endpoint."""
    n = exo.size
    edema: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, b in clin["binary"].items():
        bl = rng.random(n) < float(b["p_baseline"])
        a = _logit(float(b["p_new"]))
        slope = _logit(float(b["p_persist"])) - a
        p = _expit(a + slope * bl + float(b["arm_log_or"]) * exo)
        wk = rng.random(n) < p
        edema[name] = (bl, wk)
    return edema


@dataclass
class _Visits:
    """What the per-participant measurement loop reads, and the rows it writes."""

    roster: pd.DataFrame
    clin: Mapping[str, Any]
    latent: dict[str, tuple[np.ndarray, np.ndarray]]
    edema: dict[str, tuple[np.ndarray, np.ndarray]]
    upcr_measured: np.ndarray
    img_missing: np.ndarray
    rng: np.random.Generator
    rows: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Unpack the settings used at every visit."""
        clin = self.clin
        self.pids = self.roster["participant_id"].to_numpy()
        self.eps = clin["endpoints"]
        self.blinded_sites = set(clin["sonographer_blinded_sites"])
        self.bp_n = int(clin["bp_readings"])
        self.bp_sd = float(clin["bp_reading_sd"])
        self.side_sd = clin["uta_side_sd"]
        self.gp_bl = np.asarray(clin["edema_le_grade_probs_baseline"], dtype=float)
        self.gp_wk = np.asarray(clin["edema_le_grade_probs_week1"], dtype=float)
        self.cuts = np.log(np.asarray(clin["prot_dip_cuts_mg_mmol"], dtype=float))
        self.lloq = float(clin["upcr_lloq"])
        self.dose_dates = self.roster["dose_date"].tolist()
        self.site_ids = self.roster["site_id"].tolist()

    def add(
        self,
        i: int,
        visit: str,
        day: int,
        param: str,
        value: float | None = None,
        cat: str | None = None,
        lat: str | None = None,
        rep: int | None = 1,
        lloq: bool = False,
    ) -> None:
        """Append one measurement row of participant ``i``."""
        dom, unit, method = PARAM_INFO[param]
        date = self.dose_dates[i] + dt.timedelta(days=day)
        if dom == "IMG":
            blind = self.site_ids[i] in self.blinded_sites
        elif dom == "LB" or dom == "UR":
            blind = True
        else:
            blind = False
        self.rows.append(
            {
                "participant_id": self.pids[i],
                "visit": visit,
                "visit_date": date.isoformat(),
                "days_since_dose": day,
                "domain": dom,
                "param": param,
                "value_num": value,
                "value_cat": cat,
                "unit": unit,
                "laterality": lat,
                "replicate": rep,
                "method": method,
                "assessor_blinded": blind,
                "lloq_flag": lloq,
            }
        )

    def value(self, param: str, x: float) -> float:
        """Return the reported value of latent ``x`` (back-transformed, rounded).

        The scalar form of :func:`_finish` (same operations, same result).
        """
        spec = self.eps[param]
        v = np.exp(x) if spec["scale"] == "log" else x
        v = min(max(v, float(spec["min"])), float(spec["max"]))
        return float(np.round(v, int(spec["decimals"])))


def _screening_bp(v: _Visits, i: int) -> None:
    """Screening SBP/DBP readings of participant ``i``."""
    roster = v.roster
    sday = (roster["screening_date"].iloc[i] - roster["dose_date"].iloc[i]).days
    for k in range(v.bp_n):
        for param in ("SYSBP", "DIABP"):
            if param in v.latent:
                x = v.latent[param][0][i] + v.rng.normal(2.0, 6.0)
                v.add(
                    i, "screening", sday, param, _round_bp(x, v.eps[param]), rep=k + 1
                )


def _labs_and_vitals(v: _Visits, i: int, visit: str, day: int, k: int) -> None:
    """Laboratory values and vital signs at one visit (``k``: 0 baseline, 1 week 1)."""
    for param in LABS:
        if param in v.latent:
            v.add(i, visit, day, param, v.value(param, v.latent[param][k][i]))
    for param in VITALS:
        if param not in v.latent:
            continue
        reps = v.bp_n if param in ("SYSBP", "DIABP") else 1
        for r in range(reps):
            noise = v.rng.normal(0, v.bp_sd) if param in ("SYSBP", "DIABP") else 0.0
            x = v.latent[param][k][i] + noise
            v.add(i, visit, day, param, v.value(param, x), rep=r + 1)


def _edema_and_urine(v: _Visits, i: int, visit: str, day: int, k: int) -> None:
    """Edema, LE grade, dipstick protein and UPCR at one visit."""
    for name, (bl, wk) in v.edema.items():
        present = bool((bl, wk)[k][i])
        v.add(i, visit, day, name, cat="present" if present else "absent")
        if name == "EDEMA_LE":
            probs = v.gp_bl if k == 0 else v.gp_wk
            grade = int(v.rng.choice(4, p=probs / probs.sum())) + 1 if present else 0
            v.add(i, visit, day, "EDEMA_LE_GRADE", cat=str(grade))
    if "UPCR" in v.latent:
        true_log = v.latent["UPCR"][k][i]
        noise_sd = float(v.clin["prot_dip_noise_sd"])
        dip = int(np.searchsorted(v.cuts, true_log + v.rng.normal(0, noise_sd)))
        v.add(i, visit, day, "PROT_DIP", cat=PROT_LEVELS[dip])
        if v.upcr_measured[i]:
            x = v.value("UPCR", true_log)
            below = x < v.lloq
            v.add(i, visit, day, "UPCR", v.lloq if below else x, lloq=bool(below))


def _imaging(v: _Visits, i: int, visit: str, day: int, k: int) -> None:
    """Uterine artery Doppler (both sides), uterus volume and fundal height."""
    if v.img_missing[i, k]:
        return
    for base in ("UTA_PI", "UTA_RI"):
        if base not in v.latent:
            continue
        for side in ("L", "R"):
            x = v.latent[base][k][i] + v.rng.normal(0, float(v.side_sd[base]))
            v.add(i, visit, day, f"{base}_{side}", v.value(base, x), lat=side)
    for param in ("UTERUS_VOL_ML", "FUNDAL_HEIGHT_CM"):
        if param in v.latent:
            v.add(i, visit, day, param, v.value(param, v.latent[param][k][i]))


def _day1_vitals(v: _Visits, i: int) -> None:
    """Day-1 vital signs, between the baseline and week-1 values."""
    for param in VITALS:
        if param not in v.latent:
            continue
        reps = v.bp_n if param in ("SYSBP", "DIABP") else 1
        mid = 0.8 * v.latent[param][0][i] + 0.2 * v.latent[param][1][i]
        for r in range(reps):
            sd = v.bp_sd if reps > 1 else 0.5 * float(v.eps[param]["change_sd"])
            x = mid + v.rng.normal(0, sd)
            v.add(i, "day1", 1, param, v.value(param, x), rep=r + 1)


#: Visit order of the two-visit trial (later visits go before ``unscheduled``).
VISIT_ORDER = ("screening", "baseline", "day1", "week1", "unscheduled")


def _measurement_table(
    rows: list[dict[str, Any]], later: Sequence[str] = ()
) -> pd.DataFrame:
    """Rows sorted by participant, visit, domain, parameter, side and replicate."""
    meas = pd.DataFrame(rows, columns=schema_columns("clinical_measurements"))
    visits = [*VISIT_ORDER[:-1], *later, VISIT_ORDER[-1]]
    order = {v: j for j, v in enumerate(visits)}
    meas["_v"] = meas["visit"].map(order)
    meas = meas.sort_values(
        ["participant_id", "_v", "domain", "param", "laterality", "replicate"],
        kind="mergesort",
        na_position="first",
    ).drop(columns="_v")
    return _diastolic_below_systolic(meas).reset_index(drop=True)


def _latent_table(
    pids: np.ndarray,
    latent: dict[str, tuple[np.ndarray, np.ndarray]],
    edema: dict[str, tuple[np.ndarray, np.ndarray]],
) -> pd.DataFrame:
    """Long table of true baseline and week-1 values per participant."""
    rows = []
    for name, (bl, wk) in latent.items():
        for i in range(len(pids)):
            rows.append(
                {"participant_id": pids[i], "param": name, "bl": bl[i], "wk1": wk[i]}
            )
    for name, (bl, wk) in edema.items():
        for i in range(len(pids)):
            rows.append(
                {
                    "participant_id": pids[i],
                    "param": name,
                    "bl": float(bl[i]),
                    "wk1": float(wk[i]),
                }
            )
    return pd.DataFrame(rows)


def simulate_clinical(
    roster: pd.DataFrame,
    params: Mapping[str, Any],
    rng: np.random.Generator,
    mir126_z: pd.Series | None = None,
    sbp_coupling_weight: float = 0.0,
    *,
    site_shift: Mapping[str, np.ndarray] | None = None,
    followup: Callable[[_Visits], None] | None = None,
    later_visits: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate every clinical measurement at every visit.

    Parameters
    ----------
    roster
        Participants with ``arm``, ``dose_date``, ``baseline_day``,
        ``week1_day``, ``dosed``, ``completed_week1``, ``site_id``,
        ``screening_date``.
    params
        Resolved parameters.
    rng
        Random generator.
    mir126_z
        Standardised true change of miR-126-3p per exosome-arm participant
        (index ``participant_id``); participants absent from it are not
        coupled.
    sbp_coupling_weight
        Weight of ``mir126_z`` in the SBP week-1 noise (see
        :func:`sbp_coupling`); 0 switches the coupling off.
    site_shift
        Endpoint -> per-participant shift of the latent values (site effects);
        ``None`` = none.
    followup
        Called with the visit state after the baseline, day-1 and week-1 rows
        are drawn, to append the later visits of a long trial (it must draw
        from its own generator, so the earlier rows do not change).
    later_visits
        Codes of those later visits, in order (for sorting the rows).

    Returns
    -------
    measurements : pandas.DataFrame
        ``clinical_measurements.tsv`` (columns in the sheet schema's order).
    latent : pandas.DataFrame
        Per participant and endpoint the true baseline and week-1 values
        (``participant_id``, ``param``, ``bl``, ``wk1``) for checks.
    """
    clin = params["clinical"]
    n = len(roster)
    exo = (roster["arm"] == params["trial"]["arms"][1]).to_numpy().astype(float)
    latent = _latent_endpoints(
        roster, params, rng, mir126_z, sbp_coupling_weight, site_shift
    )
    upcr_measured = rng.random(n) < float(clin["upcr_measured_frac"])
    img_missing = rng.random((n, 2)) < float(clin["imaging_missing_frac"])
    edema = _latent_edema(clin, exo, rng)
    v = _Visits(roster, clin, latent, edema, upcr_measured, img_missing, rng)
    for i in range(n):
        visits: list[tuple[str, int, int]] = [
            ("baseline", int(roster["baseline_day"].iloc[i]), 0)
        ]
        if roster["completed_week1"].iloc[i]:
            visits.append(("week1", int(roster["week1_day"].iloc[i]), 1))
        if clin["screening_bp"]:
            _screening_bp(v, i)
        for visit, day, k in visits:
            _labs_and_vitals(v, i, visit, day, k)
            _edema_and_urine(v, i, visit, day, k)
            _imaging(v, i, visit, day, k)
        if clin["day1_vitals"] and roster["dosed"].iloc[i]:
            _day1_vitals(v, i)
    if followup is not None:
        followup(v)
    meas = _measurement_table(v.rows, later_visits)
    return meas, _latent_table(v.pids, latent, edema)


def _diastolic_below_systolic(meas: pd.DataFrame) -> pd.DataFrame:
    """Keep every simulated reading possible: DBP at most SBP - 1 mmHg.

    Independent noise on SBP and DBP could (very rarely, about 1 in 10^6
    readings) put DBP at or above SBP, which ``exomir validate`` refuses as
    impossible (clinical.ordered_pairs). No random number is drawn here, so
    every other value stays as it was.
    """
    if not {"SYSBP", "DIABP"} <= set(meas["param"]):
        return meas
    key = ["participant_id", "visit", "replicate"]
    sbp = meas[meas["param"] == "SYSBP"].set_index(key)["value_num"]
    dbp_rows = meas.index[meas["param"] == "DIABP"]
    sbp_of = pd.MultiIndex.from_frame(meas.loc[dbp_rows, key]).map(sbp.get)
    cap = pd.Series(list(sbp_of), index=dbp_rows, dtype=float) - 1.0
    over = meas.loc[dbp_rows, "value_num"].astype(float) > cap
    if over.any():
        meas = meas.copy()
        meas.loc[over[over].index, "value_num"] = cap[over]
    return meas


def _round_bp(v: float, spec: Mapping[str, Any]) -> float:
    return float(np.round(np.clip(v, spec["min"], spec["max"]), int(spec["decimals"])))


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def clinical_truth_table(params: Mapping[str, Any]) -> pd.DataFrame:
    """Tabulate the planted clinical effects (``truth/clinical_effects.tsv``).

    Parameters
    ----------
    params
        Resolved parameters.

    Returns
    -------
    pandas.DataFrame
        One row per registered endpoint code: ``param``, ``kind``, ``scale``,
        ``baseline_mean``, ``baseline_sd``, ``drift``, ``change_sd``,
        ``arm_effect``, ``rho_bl_wk1``, ``analysis`` and ``note``.
    """
    clin = params["clinical"]
    rows = []
    side = {"UTA_PI": ["UTA_PI_L", "UTA_PI_R"], "UTA_RI": ["UTA_RI_L", "UTA_RI_R"]}
    for name, spec in clin["endpoints"].items():
        for code in side.get(name, [name]):
            note = ""
            if code in ("SYSBP", "DIABP"):
                note = (
                    f"visit value = mean of {clin['bp_readings']} readings "
                    f"(reading SD {clin['bp_reading_sd']})"
                )
            if code == "SYSBP" and clin["mir126_sbp_rho"]:
                note += (
                    f"; corr(delta miR-126-3p, delta SBP) = {clin['mir126_sbp_rho']} "
                    "in the exosome arm (measured scale)"
                )
            if name in side:
                note = (
                    f"side value = participant value + N(0, {clin['uta_side_sd'][name]}); "
                    f"analyse {name}_MEAN = mean of L and R"
                )
            if code == "UPCR":
                note = (
                    f"measured in {clin['upcr_measured_frac']:.0%} of participants; "
                    f"values < {clin['upcr_lloq']} reported at the LLOQ with lloq_flag"
                )
            rows.append(
                {
                    "param": code,
                    "kind": "continuous",
                    "scale": spec["scale"],
                    "baseline_mean": spec["baseline_mean"],
                    "baseline_sd": spec["baseline_sd"],
                    "drift": spec["drift"],
                    "change_sd": spec["change_sd"],
                    "arm_effect": spec["arm_effect"],
                    "rho_bl_wk1": round(_rho(spec), 4),
                    "analysis": "ANCOVA y_wk1 ~ arm + y_bl"
                    + (" on log values" if spec["scale"] == "log" else ""),
                    "note": note.strip("; "),
                }
            )
    for name, b in clin["binary"].items():
        rows.append(
            {
                "param": name,
                "kind": "binary",
                "scale": "logit",
                "baseline_mean": b["p_baseline"],
                "baseline_sd": None,
                "drift": b["p_persist"],
                "change_sd": None,
                "arm_effect": b["arm_log_or"],
                "rho_bl_wk1": None,
                "analysis": "logistic present_wk1 ~ arm + present_bl",
                "note": (
                    f"baseline_mean = P(present at baseline); drift = P(present at week 1 "
                    f"| present at baseline, placebo); P(new | absent) = {b['p_new']}; "
                    "arm_effect = log odds ratio of presence at week 1"
                ),
            }
        )
    up = clin["endpoints"].get("UPCR")
    if up is not None:
        rows.append(
            {
                "param": "PROT_DIP",
                "kind": "ordinal",
                "scale": "log UPCR",
                "baseline_mean": up["baseline_mean"],
                "baseline_sd": up["baseline_sd"],
                "drift": up["drift"],
                "change_sd": up["change_sd"],
                "arm_effect": up["arm_effect"],
                "rho_bl_wk1": round(_rho(up), 4),
                "analysis": "proportional odds PROT_DIP_wk1 ~ arm + PROT_DIP_bl",
                "note": (
                    "category = cut of true log UPCR + N(0, "
                    f"{clin['prot_dip_noise_sd']}) at {clin['prot_dip_cuts_mg_mmol']} mg/mmol; "
                    "effect on the latent log-UPCR scale (lower = less proteinuria)"
                ),
            }
        )
    return pd.DataFrame(rows)
