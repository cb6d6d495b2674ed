"""Trial-level simulation: screening, randomisation, disposition and samples.

The central object is the *roster*, one row per randomised participant with the
internal state the other simulators need (dates, dosing, dropout, visit days).
The public tables of analysis_spec §5 (``participants.tsv``, ``disposition.tsv``,
``samples.tsv``) are derived from it, with exactly the §5 column names.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from exomir.reads.protocols import PRESETS

#: Column order of config/samples.tsv (analysis_spec §5.1 plus ``protocol``).
SAMPLE_COLUMNS = [
    "sample_id",
    "participant_id",
    "timepoint",
    "collection_datetime",
    "days_since_dose",
    "fastq",
    "protocol",
    "library_kit",
    "adapter_3p",
    "umi_scheme",
    "library_batch",
    "extraction_batch",
    "sequencing_run",
    "plasma_volume_ul",
    "anticoagulant",
    "processing",
    "minutes_to_spin",
    "hemolysis_a414",
    "spikein_kit",
    "spikein_amount_amol",
    "lmwh_24h",
    "exclude",
    "exclude_reason",
]

#: Column order of config/participants.tsv (analysis_spec §5.2).
PARTICIPANT_COLUMNS = [
    "participant_id",
    "site_id",
    "randomization_date",
    "arm",
    "route",
    "stratum",
    "ev_lot_id",
    "dose_particles",
    "dose_volume_ml",
    "infusion_minutes",
    "age_years",
    "bmi_kg_m2",
    "parity",
    "ga_delivery_weeks",
    "mode_of_delivery",
    "postpartum_day_at_dose",
    "pe_severe_features",
    "pe_early_onset",
    "antihypertensive_bl",
    "antihypertensive_class",
    "mgso4",
    "aspirin_in_pregnancy",
    "ed_reference",
    "ed_method",
    "ed_value",
]

#: Column order of config/disposition.tsv (analysis_spec §5.5).
DISPOSITION_COLUMNS = [
    "screening_id",
    "participant_id",
    "eligible",
    "exclusion_reason",
    "randomized",
    "arm",
    "dosed",
    "not_dosed_reason",
    "completed_week1",
    "discontinued_reason",
    "in_mitt",
    "in_pp",
    "major_deviation",
]

#: Library kits: kit name, 3' adapter and UMI scheme per protocol.
PROTOCOLS: dict[str, dict[str, str]] = {
    "truseq": {
        "library_kit": "Illumina TruSeq Small RNA Library Prep",
        "adapter_3p": PRESETS["truseq"].adapter_3p,
        "umi_scheme": PRESETS["truseq"].umi,
    },
    "qiaseq": {
        "library_kit": "QIAGEN QIAseq miRNA Library Kit",
        "adapter_3p": PRESETS["qiaseq"].adapter_3p,
        "umi_scheme": PRESETS["qiaseq"].umi,
    },
}

SCREEN_FAIL_REASONS = [
    ("more than 14 days postpartum", 0.3),
    ("chronic kidney disease", 0.15),
    ("active infection at screening", 0.2),
    ("HELLP syndrome requiring intensive care", 0.15),
    ("autoimmune disease on immunosuppression", 0.1),
    ("unable to attend week-1 visit", 0.1),
]
DROPOUT_REASONS = [
    ("lost to follow-up", 0.4),
    ("withdrew consent", 0.3),
    ("relocated", 0.1),
    ("adverse event", 0.1),
    ("readmitted to another hospital", 0.1),
]
DEVIATIONS = [
    "incomplete infusion (< 80% of volume)",
    "eligibility criterion not met (postpartum day > 14)",
    "prohibited medication before week-1 visit",
]


def _choice(rng: np.random.Generator, items: list[tuple[str, float]]) -> str:
    labels = [a for a, _ in items]
    p = np.array([w for _, w in items], dtype=float)
    return labels[int(rng.choice(len(labels), p=p / p.sum()))]


def stratum_label(severe: bool, early: bool) -> str:
    """Return the randomisation stratum name.

    Parameters
    ----------
    severe
        Preeclampsia with severe features.
    early
        Early-onset preeclampsia (< 34 weeks).

    Returns
    -------
    str
        ``"severe_early"``, ``"severe_late"``, ``"nonsevere_early"`` or
        ``"nonsevere_late"``.
    """
    return f"{'severe' if severe else 'nonsevere'}_{'early' if early else 'late'}"


def stratified_block_randomisation(
    strata: list[str],
    arms: list[str],
    block_sizes: list[int],
    rng: np.random.Generator,
) -> list[str]:
    """Allocate participants 1:1 with permuted blocks within each stratum.

    Participants are allocated in order of arrival; each stratum has its own
    sequence of blocks whose size is drawn from ``block_sizes``.

    Parameters
    ----------
    strata
        Stratum of each participant in order of randomisation.
    arms
        The two arms.
    block_sizes
        Even block sizes to draw from.
    rng
        Random generator.

    Returns
    -------
    list[str]
        Arm of each participant.
    """
    queues: dict[str, list[str]] = {}
    out = []
    for s in strata:
        queue = queues.setdefault(s, [])
        if not queue:
            size = int(rng.choice(block_sizes))
            block = [arms[0]] * (size // 2) + [arms[1]] * (size // 2)
            queue.extend(block[i] for i in rng.permutation(size))
        out.append(queue.pop(0))
    return out


def _iso(d: dt.date) -> str:
    return d.isoformat()


def _enrolment(
    t: Mapping[str, Any], n: int, rng: np.random.Generator
) -> tuple[list[dt.date], list[str], np.ndarray, np.ndarray, list[str], list[str]]:
    """Draw randomisation dates, sites, strata and the randomised arms."""
    arms = list(t["arms"])
    start = dt.date.fromisoformat(str(t["start_date"]))
    days = np.sort(rng.integers(0, int(t["enrolment_days"]), size=n))
    rand_dates = [start + dt.timedelta(days=int(d)) for d in days]
    w = np.asarray(t["site_weights"], dtype=float)
    sites = [t["sites"][i] for i in rng.choice(len(t["sites"]), size=n, p=w / w.sum())]
    severe = rng.random(n) < t["p_severe_features"]
    p_early = np.where(
        severe, t["p_early_onset_if_severe"], t["p_early_onset_if_not_severe"]
    )
    early = rng.random(n) < p_early
    strata = [
        stratum_label(bool(s), bool(e)) for s, e in zip(severe, early, strict=True)
    ]
    arm = stratified_block_randomisation(strata, arms, list(t["block_sizes"]), rng)
    return rand_dates, sites, severe, early, strata, arm


def _covariates(
    t: Mapping[str, Any],
    severe: np.ndarray,
    early: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Draw the baseline covariates (modelling assumptions for postpartum PE)."""
    n = severe.size
    cov: dict[str, np.ndarray] = {}
    cov["age"] = np.clip(rng.normal(31.0, 5.5, n), 18, 45).round(0)
    cov["bmi"] = np.clip(rng.lognormal(np.log(28.5), 0.17, n), 18, 55).round(1)
    cov["parity"] = rng.choice([1, 2, 3, 4], size=n, p=[0.55, 0.28, 0.12, 0.05])
    cov["ga"] = np.where(
        early, rng.uniform(27.0, 34.0, n), rng.uniform(34.0, 40.5, n)
    ).round(1)
    p_cs = np.clip(0.45 + 0.15 * severe + 0.2 * early, 0, 0.95)
    cov["cesarean"] = rng.random(n) < p_cs
    lo, hi = t["postpartum_day_range"]
    cov["pp_day"] = rng.integers(int(lo), int(hi) + 1, size=n)
    cov["antihyp"] = rng.random(n) < np.where(severe, 0.75, 0.45)
    classes = np.array(
        ["calcium_channel_blocker", "beta_blocker", "central_alpha_agonist"]
    )
    cov["antihyp_class"] = classes[rng.choice(3, size=n, p=[0.5, 0.35, 0.15])]
    cov["mgso4"] = rng.random(n) < np.where(severe, 0.8, 0.1)
    cov["aspirin"] = rng.random(n) < 0.3
    cov["route"] = np.where(rng.random(n) < t["route_im_frac"], "IM", "IV")
    return cov


def _dosing(
    t: Mapping[str, Any], n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, set[int], set[int]]:
    """Draw next-day dosing, who is dosed, who drops out and who deviates."""
    dose_next = rng.random(n) < t["dose_next_day_frac"]
    n_not_dosed = round(t["not_dosed_frac"] * n)
    not_dosed_idx = set(rng.choice(n, size=n_not_dosed, replace=False).tolist())
    dosed = np.array([i not in not_dosed_idx for i in range(n)])
    dosed_idx = np.flatnonzero(dosed)
    n_drop = round(t["dropout_frac"] * len(dosed_idx))
    drop_idx = set(rng.choice(dosed_idx, size=n_drop, replace=False).tolist())
    n_dev = round(t["major_deviation_frac"] * len(dosed_idx))
    dev_idx = set(rng.choice(dosed_idx, size=n_dev, replace=False).tolist())
    return dose_next, dosed, drop_idx, dev_idx


def simulate_roster(
    params: Mapping[str, Any], rng: np.random.Generator
) -> pd.DataFrame:
    """Simulate randomised participants with their internal trial state.

    Parameters
    ----------
    params
        Resolved parameters (sections ``trial`` and ``ev``).
    rng
        Random generator.

    Returns
    -------
    pandas.DataFrame
        One row per participant, in randomisation order. Besides the public
        covariates it holds ``dose_date``, ``baseline_day`` (days from dose,
        <= 0), ``week1_day`` (NaN if no week-1 visit), ``dosed``,
        ``completed_week1``, ``discontinued_reason``, ``not_dosed_reason``,
        ``major_deviation`` and ``screening_date``.
    """
    t = params["trial"]
    n = int(t["n_participants"])
    rand_dates, sites, severe, early, strata, arm = _enrolment(t, n, rng)
    cov = _covariates(t, severe, early, rng)
    dose_next, dosed, drop_idx, dev_idx = _dosing(t, n, rng)
    win = int(t["week1_window_days"])
    width = max(3, len(str(n)))
    rows = []
    for i in range(n):
        pid = f"P{i + 1:0{width}d}"
        dose_date = rand_dates[i] + dt.timedelta(days=int(dose_next[i]))
        baseline_day = -1 if dose_next[i] else 0
        completed = bool(dosed[i] and i not in drop_idx)
        week1_day = float("nan")
        if completed:
            if rng.random() < t["week1_outside_window_frac"]:
                off = int(rng.choice([-1, 1])) * int(rng.integers(win + 1, win + 3))
            else:
                off = int(rng.integers(-win, win + 1))
            week1_day = float(int(t["week1_day"]) + off)
        drop_reason = _choice(rng, DROPOUT_REASONS) if i in drop_idx else None
        rows.append(
            {
                "participant_id": pid,
                "site_id": sites[i],
                "randomization_date": rand_dates[i],
                "screening_date": rand_dates[i]
                - dt.timedelta(days=int(rng.integers(0, 3))),
                "arm": arm[i],
                "route": str(cov["route"][i]),
                "stratum": strata[i],
                "age_years": float(cov["age"][i]),
                "bmi_kg_m2": float(cov["bmi"][i]),
                "parity": int(cov["parity"][i]),
                "ga_delivery_weeks": float(cov["ga"][i]),
                "mode_of_delivery": "cesarean" if cov["cesarean"][i] else "vaginal",
                "postpartum_day_at_dose": int(cov["pp_day"][i]),
                "pe_severe_features": bool(severe[i]),
                "pe_early_onset": bool(early[i]),
                "antihypertensive_bl": bool(cov["antihyp"][i]),
                "antihypertensive_class": str(cov["antihyp_class"][i])
                if cov["antihyp"][i]
                else None,
                "mgso4": bool(cov["mgso4"][i]),
                "aspirin_in_pregnancy": bool(cov["aspirin"][i]),
                "dose_date": dose_date,
                "baseline_day": baseline_day,
                "dosed": bool(dosed[i]),
                "not_dosed_reason": (
                    "withdrew consent before dosing" if not dosed[i] else None
                ),
                "completed_week1": completed,
                "discontinued_reason": drop_reason
                if drop_reason
                else ("withdrew consent before dosing" if not dosed[i] else None),
                "week1_day": week1_day,
                "major_deviation": (
                    DEVIATIONS[int(rng.integers(len(DEVIATIONS)))]
                    if i in dev_idx
                    else None
                ),
            }
        )
    roster = pd.DataFrame(rows)
    # Participants who had the day-1 check (all dosed ones) are in mITT; the
    # clinical simulator confirms it from the measurements it writes.
    roster["in_mitt"] = roster["dosed"]
    in_window = (roster["week1_day"] - int(t["week1_day"])).abs() <= win
    roster["in_pp"] = (
        roster["in_mitt"]
        & roster["completed_week1"]
        & in_window.fillna(False)
        & roster["major_deviation"].isna()
    )
    return roster


def simulate_disposition(
    roster: pd.DataFrame, params: Mapping[str, Any], rng: np.random.Generator
) -> pd.DataFrame:
    """Build the CONSORT disposition table, including screen failures.

    Parameters
    ----------
    roster
        Output of :func:`simulate_roster` (``in_mitt`` may have been updated).
    params
        Resolved parameters.
    rng
        Random generator.

    Returns
    -------
    pandas.DataFrame
        ``disposition.tsv`` with :data:`DISPOSITION_COLUMNS`, ordered by
        screening date (screening IDs follow that order).
    """
    t = params["trial"]
    n = len(roster)
    n_fail = round(n * t["screen_fail_frac"] / (1 - t["screen_fail_frac"]))
    recs = []
    for r in roster.itertuples(index=False):
        recs.append(
            {
                "_date": r.screening_date,
                "_key": r.participant_id,
                "participant_id": r.participant_id,
                "eligible": True,
                "exclusion_reason": None,
                "randomized": True,
                "arm": r.arm,
                "dosed": bool(r.dosed),
                "not_dosed_reason": r.not_dosed_reason,
                "completed_week1": bool(r.completed_week1),
                "discontinued_reason": r.discontinued_reason,
                "in_mitt": bool(r.in_mitt),
                "in_pp": bool(r.in_pp),
                "major_deviation": r.major_deviation,
            }
        )
    start = dt.date.fromisoformat(str(t["start_date"]))
    fail_days = np.sort(rng.integers(0, int(t["enrolment_days"]), size=n_fail))
    for j, d in enumerate(fail_days):
        declined = rng.random() < t["declined_frac"]
        recs.append(
            {
                "_date": start + dt.timedelta(days=int(d)),
                "_key": f"~{j:05d}",
                "participant_id": None,
                "eligible": bool(declined),
                "exclusion_reason": (
                    "declined to participate"
                    if declined
                    else _choice(rng, SCREEN_FAIL_REASONS)
                ),
                "randomized": False,
                "arm": None,
                "dosed": False,
                "not_dosed_reason": None,
                "completed_week1": False,
                "discontinued_reason": None,
                "in_mitt": False,
                "in_pp": False,
                "major_deviation": None,
            }
        )
    df = pd.DataFrame(recs).sort_values(["_date", "_key"], kind="mergesort")
    df.insert(0, "screening_id", [f"SCR{i + 1:04d}" for i in range(len(df))])
    return df[DISPOSITION_COLUMNS].reset_index(drop=True)


def _largest_remainder(shares: Mapping[str, float], total: int) -> dict[str, int]:
    keys = list(shares)
    w = np.array([shares[k] for k in keys], dtype=float)
    w = w / w.sum() * total
    base = np.floor(w).astype(int)
    rest = total - int(base.sum())
    order = np.argsort(-(w - base), kind="stable")
    for i in order[:rest]:
        base[i] += 1
    return {k: int(b) for k, b in zip(keys, base, strict=True)}


def _balanced_batches(
    roster: pd.DataFrame, arms: list[str], n_batches: int, rng: np.random.Generator
) -> dict[str, int]:
    """Batch of each participant: arms dealt round-robin over all batches."""
    batch_of: dict[str, int] = {}
    offset = 0
    for a in arms:
        ids = roster.loc[roster["arm"] == a, "participant_id"].to_numpy()
        ids = ids[rng.permutation(len(ids))]
        for j, pid in enumerate(ids):
            batch_of[str(pid)] = (offset + j) % n_batches
        offset += len(ids)
    return batch_of


def _batches_within_sites(
    roster: pd.DataFrame, params: Mapping[str, Any], rng: np.random.Generator
) -> tuple[dict[str, int], int, list[int]]:
    """Batches formed within each site (``sites.batch_confounded_with_site``).

    Each site's participants fill their own batches (arms balanced within the
    site), so library batch (and sequencing run) and site are confounded.
    Also returns the first batch index of each site.
    """
    per = int(params["library"]["participants_per_batch"])
    batch_of: dict[str, int] = {}
    first = 0
    starts: list[int] = []
    for site in params["trial"]["sites"]:
        sub = roster[roster["site_id"] == site]
        if sub.empty:
            continue
        starts.append(first)
        k = max(1, math.ceil(len(sub) / per))
        for pid, b in _balanced_batches(sub, params["trial"]["arms"], k, rng).items():
            batch_of[pid] = first + b
        first += k
    return batch_of, max(1, first), starts or [0]


def assign_batches(
    roster: pd.DataFrame, params: Mapping[str, Any], rng: np.random.Generator
) -> pd.DataFrame:
    """Assign participants to library batches, protocols and sequencing runs.

    Arms are balanced across batches (round-robin within arm) and all
    libraries of a participant share a batch. With
    ``sites.batch_confounded_with_site`` batches are formed within sites. Each batch uses one kit; kits are
    shared between batches by ``library.protocol_mix`` (largest remainder).

    Parameters
    ----------
    roster
        Participants.
    params
        Resolved parameters.
    rng
        Random generator.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``participant_id`` with ``library_batch``, ``protocol``,
        ``extraction_batch`` and ``sequencing_run``.
    """
    lib = params["library"]
    n = len(roster)
    if params.get("sites", {}).get("batch_confounded_with_site"):
        batch_of, n_batches, site_first = _batches_within_sites(roster, params, rng)
    else:
        n_batches = max(1, math.ceil(n / int(lib["participants_per_batch"])))
        batch_of = _balanced_batches(roster, params["trial"]["arms"], n_batches, rng)
        site_first = [0]
    counts = _largest_remainder(lib["protocol_mix"], n_batches)
    protos = [p for p, c in counts.items() for _ in range(c)]
    protos = [protos[i] for i in rng.permutation(len(protos))]
    per_run = int(lib["batches_per_run"])
    # Runs pool consecutive batches, never across the sites' first batches
    # (one group unless batches are formed within sites).
    ends = [*site_first[1:], n_batches]
    run_of: dict[int, int] = {}
    for lo, hi in zip(site_first, ends, strict=True):
        first_run = len(set(run_of.values()))
        for b in range(lo, hi):
            run_of[b] = first_run + (b - lo) // per_run
    n_runs = len(set(run_of.values()))
    run_names = []
    first = dt.date.fromisoformat(str(params["trial"]["start_date"])) + dt.timedelta(
        days=int(params["trial"]["enrolment_days"]) + 30
    )
    letters = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"))
    for r in range(n_runs):
        day = first + dt.timedelta(days=7 * r)
        fc = "".join(letters[rng.integers(len(letters), size=7)])
        run_names.append(f"{day:%y%m%d}_NB501365_{101 + r:04d}_AH{fc}BGX")
    out = []
    for pid in roster["participant_id"]:
        b = batch_of[str(pid)]
        half = "a" if int(str(pid)[1:]) % 2 else "b"
        out.append(
            {
                "participant_id": pid,
                "library_batch": f"LB{b + 1:02d}",
                "protocol": protos[b],
                "extraction_batch": f"EX{b + 1:02d}{half}",
                "sequencing_run": run_names[run_of[b]],
            }
        )
    return pd.DataFrame(out).set_index("participant_id")


def _sample_rows(
    roster: pd.DataFrame,
    batches: pd.DataFrame,
    timepoints: tuple[str, str],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One row per library (baseline; week 1 for completers), by ``sample_id``."""
    tp_bl, tp_w1 = timepoints
    rows = []
    for r in roster.itertuples(index=False):
        visits = [(tp_bl, int(r.baseline_day), "BL")]
        if r.completed_week1:
            visits.append((tp_w1, int(r.week1_day), "W1"))
        b = batches.loc[r.participant_id]
        for tp, day, suffix in visits:
            when = dt.datetime.combine(r.dose_date, dt.time(8, 0)) + dt.timedelta(
                days=day, minutes=int(rng.integers(0, 240))
            )
            rows.append(
                {
                    "sample_id": f"{r.participant_id}_{suffix}",
                    "participant_id": r.participant_id,
                    "timepoint": tp,
                    "collection_datetime": when.isoformat(timespec="seconds"),
                    "days_since_dose": day,
                    "site_id": r.site_id,
                    "mode_of_delivery": r.mode_of_delivery,
                    **b.to_dict(),
                }
            )
    return (
        pd.DataFrame(rows)
        .sort_values("sample_id", kind="mergesort")
        .reset_index(drop=True)
    )


def _depths(
    lib: Mapping[str, Any], n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw raw depths (log-normal, clipped) and the planted low-yield libraries."""
    mean = float(lib["reads_per_library"])
    cv = float(lib["depth_cv"])
    sig = math.sqrt(math.log1p(cv**2))
    depth = mean * np.exp(rng.normal(-0.5 * sig**2, sig, n))
    lo, hi = lib["depth_clip"]
    depth = np.clip(depth, lo * mean, hi * mean)
    n_low = round(lib["low_yield_frac"] * n)
    low_idx = rng.choice(n, size=n_low, replace=False)
    low = np.zeros(n, dtype=bool)
    low[low_idx] = True
    f_lo, f_hi = lib["low_yield_factor"]
    depth[low_idx] = mean * rng.uniform(f_lo, f_hi, size=n_low)
    return np.maximum(np.round(depth), 100).astype(int), low


def _hemolysis(
    lib: Mapping[str, Any], n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw haemolysis factors (1 = none) and the plasma A414 they imply."""
    n_hem = round(lib["hemolysis_frac"] * n)
    hem_idx = rng.choice(n, size=n_hem, replace=False)
    hem = np.ones(n)
    h_lo, h_hi = lib["hemolysis_factor_range"]
    hem[hem_idx] = rng.uniform(h_lo, h_hi, size=n_hem)
    a414_clean = np.clip(
        rng.normal(lib["a414_clean_mean"], lib["a414_clean_sd"], n), 0.01, None
    )
    a414_hem = lib["a414_hemolysed_base"] + lib["a414_hemolysed_slope"] * hem
    a414_hem = a414_hem * rng.uniform(0.9, 1.1, n)
    return hem, np.where(hem > 1.0, a414_hem, a414_clean).round(3)


def simulate_samples(
    roster: pd.DataFrame, params: Mapping[str, Any], rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the sample sheet and the per-library truth for the read simulator.

    Every randomised participant has a baseline library; dosed completers also
    have a week-1 library (dropouts and undosed participants have none).

    Parameters
    ----------
    roster
        Participants (from :func:`simulate_roster`).
    params
        Resolved parameters.
    rng
        Random generator.

    Returns
    -------
    samples : pandas.DataFrame
        ``samples.tsv`` with :data:`SAMPLE_COLUMNS`, sorted by ``sample_id``.
    library_info : pandas.DataFrame
        Per library: ``sample_id``, ``participant_id``, ``timepoint``,
        ``depth`` (raw reads), ``protocol``, ``hemolysis_factor`` (1.0 if
        none), ``library_batch``, ``low_yield`` (bool), ``hemolysed`` (bool).
    """
    lib = params["library"]
    batches = assign_batches(roster, params, rng)
    tps = params["trial"]["timepoints"]
    s = _sample_rows(roster, batches, (tps[0], tps[1]), rng)
    n = len(s)
    depth, low = _depths(lib, n, rng)
    hem, a414 = _hemolysis(lib, n, rng)
    a414_site = s["site_id"].isin(list(lib["a414_sites"])).to_numpy()
    spin = rng.gamma(4.0, float(lib["minutes_to_spin_mean"]) / 4.0, n).round(0)
    lmwh = (
        rng.random(n)
        < np.where(s["mode_of_delivery"] == "cesarean", 1.4, 0.6) * lib["lmwh_frac"]
    )
    citrate = s["site_id"].isin(list(lib["citrate_sites"])).to_numpy()
    proto = s["protocol"].to_numpy()
    samples = pd.DataFrame(
        {
            "sample_id": s["sample_id"],
            "participant_id": s["participant_id"],
            "timepoint": s["timepoint"],
            "collection_datetime": s["collection_datetime"],
            "days_since_dose": s["days_since_dose"].astype(int),
            "fastq": [f"data/fastq/{x}.fastq.gz" for x in s["sample_id"]],
            "protocol": proto,
            "library_kit": [PROTOCOLS[p]["library_kit"] for p in proto],
            "adapter_3p": [PROTOCOLS[p]["adapter_3p"] for p in proto],
            "umi_scheme": [PROTOCOLS[p]["umi_scheme"] for p in proto],
            "library_batch": s["library_batch"],
            "extraction_batch": s["extraction_batch"],
            "sequencing_run": s["sequencing_run"],
            "plasma_volume_ul": [float(lib["plasma_volume_ul"][p]) for p in proto],
            "anticoagulant": np.where(citrate, "citrate", "EDTA"),
            "processing": np.where(
                citrate, "1x1900g_10min+1x16000g_10min", "2x2500g_15min"
            ),
            "minutes_to_spin": spin,
            "hemolysis_a414": np.where(a414_site, a414, np.nan),
            "spikein_kit": "none",
            "spikein_amount_amol": np.nan,
            "lmwh_24h": lmwh,
            "exclude": False,
            "exclude_reason": None,
        }
    )[SAMPLE_COLUMNS]
    info = pd.DataFrame(
        {
            "sample_id": s["sample_id"],
            "participant_id": s["participant_id"],
            "timepoint": s["timepoint"],
            "depth": depth,
            "protocol": proto,
            "hemolysis_factor": hem.round(3),
            "library_batch": s["library_batch"],
            "low_yield": low,
            "hemolysed": hem > 1.0,
        }
    )
    return samples, info


def participants_table(roster: pd.DataFrame) -> pd.DataFrame:
    """Select the public ``participants.tsv`` columns from the roster.

    Parameters
    ----------
    roster
        Roster with the dose (``ev_lot_id``, ``dose_particles``,
        ``dose_volume_ml``, ``infusion_minutes``) and ED columns filled in.

    Returns
    -------
    pandas.DataFrame
        With :data:`PARTICIPANT_COLUMNS`, sorted by ``participant_id``.
    """
    out = roster.copy()
    out["randomization_date"] = [_iso(d) for d in out["randomization_date"]]
    return (
        out[PARTICIPANT_COLUMNS]
        .sort_values("participant_id", kind="mergesort")
        .reset_index(drop=True)
    )
