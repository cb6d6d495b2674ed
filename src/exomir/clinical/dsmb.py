"""DSMB listings: adverse events, enrolment, protocol deviations, batch balance.

Four tables a data-monitoring committee expects beside the summary tables
(analysis_spec §3.4-3.5; docs/safety.md "DSMB listings"):

``results/clinical/ae_listing.tsv``
    One row per adverse event with the participant's arm, MedDRA SOC/PT,
    onset, grade, seriousness, relatedness, action taken with the study
    product (e.g. infusion interrupted) and outcome. Arm-level: closed report.
``results/clinical/enrolment.tsv``
    Participants randomised per calendar month (with the cumulative count
    and, when ``enrolment.target_randomised`` is set, the planned cumulative
    count under linear accrual) and per site. No arm: both reports.
``results/clinical/deviations.tsv``
    Every recorded major protocol deviation, every follow-up visit outside
    the per-protocol window, and a consistency check of each against the
    other sheets: a reason contradicted by the recorded data (e.g. "visit out
    of window" for a visit inside the window, an eligibility breach the
    participants sheet does not show, a withdrawal reason for a participant
    marked completed) gets ``status`` = ``contradiction``. Closed report.
``results/clinical/batch_balance.tsv``
    Libraries per extraction / library-preparation / sequencing batch and
    arm, flagging a batch whose libraries all come from one arm (batch and
    arm confounded). Closed report.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from exomir.clinical.safety_settings import SafetySettings
from exomir.config import load_schema
from exomir.errors import Issue, ValidationError
from exomir.tables import write_table

log = logging.getLogger(__name__)

#: adverse_events.tsv columns, in schema order (src/exomir/schemas).
AE_SHEET_COLUMNS = list(load_schema("adverse_events")["properties"])
#: Sheet column -> its name in the AE listing.
LISTING_NAMES = {"meddra_soc": "soc", "meddra_pt": "pt", "ae_verbatim": "verbatim"}
AE_LISTING_COLUMNS = [
    "participant_id",
    "arm",
    "ae_id",
    *LISTING_NAMES.values(),
    *(
        c
        for c in AE_SHEET_COLUMNS
        if c not in {"participant_id", "ae_id", *LISTING_NAMES}
    ),
    "in_safety_population",
]
ENROLMENT_COLUMNS = [
    "table",
    "period",
    "site",
    "n_randomised",
    "cumulative",
    "planned_cumulative",
    "target",
    "percent",
    "first_randomised",
    "last_randomised",
]
DEVIATION_COLUMNS = [
    "participant_id",
    "arm",
    "kind",
    "deviation",
    "check",
    "status",
    "evidence",
]
BATCH_COLUMNS = [
    "batch_type",
    "batch",
    "arm",
    "n_libraries",
    "batch_total",
    "single_arm",
]
#: Sample-sheet columns checked for batch-by-arm balance, in report order.
BATCH_TYPES = ("extraction_batch", "library_batch", "sequencing_run")

#: Deviation wording -> participants.tsv column whose value should show it,
#: e.g. "eligibility criterion not met (postpartum day > 14)".
LIMIT_PHRASES = {
    "postpartum day": "postpartum_day_at_dose",
    "age": "age_years",
    "bmi": "bmi_kg_m2",
    "gestational age": "ga_delivery_weeks",
}
WINDOW_PATTERN = re.compile(r"(?i)window")
INFUSION_PATTERN = re.compile(r"(?i)infusion")
_OPS = {
    ">": lambda v, x: v > x,
    ">=": lambda v, x: v >= x,
    "<": lambda v, x: v < x,
    "<=": lambda v, x: v <= x,
}


def _given(v: Any) -> bool:
    return (
        v is not None
        and not (isinstance(v, float) and math.isnan(v))
        and str(v).strip() not in ("", "nan", "None")
    )


def _true(v: Any) -> bool:
    return _given(v) and str(v).strip().lower() in ("true", "1", "yes", "y")


def _false(v: Any) -> bool:
    return _given(v) and str(v).strip().lower() in ("false", "0", "no", "n")


def _fmt(v: float) -> str:
    return f"{v:g}"


def ae_listing(
    ae: pd.DataFrame,
    participants: pd.DataFrame,
    population: pd.DataFrame,
    arms: list[str],
) -> pd.DataFrame:
    """Participant-level listing of every adverse event.

    Parameters
    ----------
    ae
        adverse_events.tsv.
    participants
        participants.tsv (``participant_id``, ``arm``).
    population
        Safety population (dosed participants); events of others are listed
        with ``in_safety_population`` false rather than dropped.
    arms
        ``design.arms`` (listing order).

    Returns
    -------
    pandas.DataFrame
        ``AE_LISTING_COLUMNS``, sorted by arm, participant, onset day, event.
    """
    arm_of = dict(zip(participants["participant_id"], participants["arm"], strict=True))
    pop = set(population["participant_id"])
    data = {
        LISTING_NAMES.get(c, c): ae[c] if c in ae else pd.Series(None, index=ae.index)
        for c in AE_SHEET_COLUMNS
    }
    data["arm"] = ae["participant_id"].map(arm_of)
    data["soc"] = data["soc"].fillna("SOC not coded")
    data["ctcae_grade"] = pd.to_numeric(ae["ctcae_grade"]).astype(int)
    data["in_safety_population"] = ae["participant_id"].isin(pop)
    out = pd.DataFrame(data)
    rank = {a: i for i, a in enumerate(arms)}
    key = out.assign(
        _a=out["arm"].map(rank).fillna(len(arms)),
        _d=pd.to_numeric(out["onset_day"], errors="coerce").fillna(np.inf),
    )
    key = key.sort_values(["_a", "participant_id", "_d", "ae_id"], kind="stable")
    return key[AE_LISTING_COLUMNS].reset_index(drop=True)


def _month(d: pd.Timestamp) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def enrolment_table(
    participants: pd.DataFrame,
    target: int | None = None,
    start: str | None = None,
    months: int | None = None,
) -> pd.DataFrame:
    """Randomisations per calendar month (cumulative, vs plan) and per site.

    Parameters
    ----------
    participants
        participants.tsv (``randomization_date``, ``site_id`` optional).
    target
        Planned number randomised (``enrolment.target_randomised``); None: no
        plan column.
    start
        First month of the planned accrual (``YYYY-MM-DD``); None: the month
        of the first randomisation.
    months
        Planned accrual length in months; with ``target`` the plan is linear,
        ``round(target * m / months)`` by the end of month ``m`` (capped at the
        target). None: only the target is shown.

    Returns
    -------
    pandas.DataFrame
        ``ENROLMENT_COLUMNS``; ``table`` is ``month`` or ``site``. Missing
        dates or sites give one row ``not recorded`` so counts add up.
    """
    n = len(participants)
    rows: list[dict[str, Any]] = []
    dates = pd.to_datetime(
        participants.get(
            "randomization_date", pd.Series(None, index=participants.index)
        ),
        errors="coerce",
    )
    have = dates.dropna()
    if len(have):
        first = have.min().to_period("M")
        plan0 = pd.Timestamp(start).to_period("M") if start else first
        last = have.max().to_period("M")
        if months and target:
            last = max(last, plan0 + (int(months) - 1))
        per = dates.dt.to_period("M")
        cum = 0
        for p in pd.period_range(min(first, plan0), last, freq="M"):
            k = int((per == p).sum())
            cum += k
            planned: float | int = np.nan
            if target and months:
                m = (p - plan0).n + 1
                planned = min(int(target), max(0, round(int(target) * m / int(months))))
            rows.append(
                {
                    "table": "month",
                    "period": str(p),
                    "n_randomised": k,
                    "cumulative": cum,
                    "planned_cumulative": planned,
                    "target": target if target else np.nan,
                }
            )
    if len(have) < n:
        rows.append(
            {
                "table": "month",
                "period": "not recorded",
                "n_randomised": n - len(have),
                "cumulative": n,
                "target": target if target else np.nan,
            }
        )
    site = participants.get("site_id", pd.Series(None, index=participants.index))
    site = site.where(site.map(_given), "not recorded")
    for s in sorted(set(site), key=lambda x: (x == "not recorded", str(x))):
        m = site == s
        d = dates[m].dropna()
        rows.append(
            {
                "table": "site",
                "site": s,
                "n_randomised": int(m.sum()),
                "percent": round(100.0 * m.sum() / n, 1) if n else np.nan,
                "first_randomised": d.min().date().isoformat() if len(d) else None,
                "last_randomised": d.max().date().isoformat() if len(d) else None,
            }
        )
    return pd.DataFrame(rows, columns=ENROLMENT_COLUMNS)


def followup_days(
    measurements: pd.DataFrame | None,
    samples: pd.DataFrame | None,
    visit: str,
) -> dict[str, float]:
    """Day of the follow-up visit per participant (``days_since_dose``).

    The clinical measurements' median day at ``visit`` is used, else the
    samples sheet's day at the same timepoint; participants without either
    are absent.
    """
    out: dict[str, float] = {}
    for df, vcol in ((samples, "timepoint"), (measurements, "visit")):
        if df is None or "days_since_dose" not in df or vcol not in df:
            continue
        d = df[df[vcol] == visit].assign(
            _d=lambda x: pd.to_numeric(x["days_since_dose"], errors="coerce")
        )
        out.update(d.dropna(subset=["_d"]).groupby("participant_id")["_d"].median())
    return {k: float(v) for k, v in out.items()}


def _limit_check(
    text: str, prow: Mapping[str, Any] | None
) -> tuple[str, str, str] | None:
    low = text.lower()
    for phrase, column in sorted(LIMIT_PHRASES.items(), key=lambda kv: -len(kv[0])):
        m = re.search(
            r"\b" + re.escape(phrase) + r"\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)", low
        )
        if not m:
            continue
        op, x = m.group(1), float(m.group(2))
        check = f"participants.{column} {op} {_fmt(x)}"
        v = None if prow is None else prow.get(column)
        if v is None or not _given(v):
            return check, "not checkable", f"{column} not recorded"
        val = float(v)
        if _OPS[op](val, x):
            return check, "consistent", f"{column} = {_fmt(val)}"
        return (
            check,
            "contradiction",
            f"{column} = {_fmt(val)} does not meet '{phrase} {op} {_fmt(x)}'",
        )
    return None


def _major_deviation_checks(
    text: str,
    r: Mapping[str, Any],
    prow: Mapping[str, Any] | None,
    interrupted: list[str] | None,
    window: tuple[bool | None, str],
) -> list[tuple[str, str, str]]:
    """(check, status, evidence) of one recorded major deviation."""
    dosed = r.get("dosed")
    checks: list[tuple[str, str, str]] = []
    if WINDOW_PATTERN.search(text):
        inside, ev = window
        status = "not checkable" if inside is None else "consistent"
        checks.append(
            ("follow-up visit day", "contradiction" if inside else status, ev)
        )
    lim = _limit_check(text, prow)
    if lim:
        checks.append(lim)
    if INFUSION_PATTERN.search(text):
        route = (prow or {}).get("route")
        if _false(dosed):
            checks.append(("disposition.dosed", "contradiction", "not dosed"))
        elif _given(route) and str(route) == "IM":
            checks.append(
                ("participants.route", "contradiction", "given IM, not infused")
            )
        elif interrupted:
            ev = "infusion interrupted: " + "; ".join(interrupted)
            checks.append(("adverse_events.action", "consistent", ev))
        else:
            ev = "no AE records an interrupted infusion"
            checks.append(("adverse_events.action", "not checkable", ev))
    if _true(r.get("in_pp")):
        ev = "in the per-protocol set despite a major deviation"
        checks.append(("disposition.in_pp", "contradiction", ev))
    if not checks:
        checks.append(("none", "not checkable", "no recorded field to check"))
    return checks


def _disposition_checks(
    r: Mapping[str, Any], arm: Any
) -> list[tuple[str, str, str, str]]:
    """(deviation, check, status, evidence) of a disposition row contradicting itself."""
    out: list[tuple[str, str, str, str]] = []
    reason = r.get("discontinued_reason")
    if _true(r.get("completed_week1")) and _given(reason):
        out.append(
            (
                f"discontinued: {reason}",
                "disposition.completed_week1",
                "contradiction",
                "marked completed_week1 = true",
            )
        )
    if _false(r.get("dosed")):
        for c in ("completed_week1", "in_mitt"):
            if _true(r.get(c)):
                ev = f"{c} = true for a participant not dosed"
                out.append(("not dosed", f"disposition.{c}", "contradiction", ev))
    darm = r.get("arm")
    if _given(darm) and arm is not None and str(darm) != str(arm):
        ev = f"participants.tsv gives arm {arm}"
        out.append((f"arm {darm}", "participants.arm", "contradiction", ev))
    return out


def deviation_listing(
    disposition: pd.DataFrame,
    participants: pd.DataFrame,
    fu_day: Mapping[str, float],
    target_day: int,
    window: int,
    ae: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Protocol deviations and their consistency with the other sheets.

    Rows (``kind``):

    ``major_deviation``
        Each ``disposition.major_deviation``, checked where its wording
        names something recorded: a visit window (the follow-up day against
        ``target_day`` +/- ``window``), an eligibility limit such as
        "postpartum day > 14" (against participants.tsv), an infusion
        problem (against dosing, route and AE actions), and ``in_pp`` (a
        major deviation excludes from the per-protocol set).
    ``visit_window``
        A follow-up visit outside the window with no visit-window deviation
        recorded (another deviation may be).
    ``disposition``
        A disposition row contradicting itself or participants.tsv: a
        discontinuation reason while ``completed_week1`` is true, completed
        or in mITT while not dosed, a different arm than participants.tsv.

    Returns
    -------
    pandas.DataFrame
        ``DEVIATION_COLUMNS``; ``status`` is ``consistent``,
        ``contradiction``, ``not checkable`` or ``not recorded`` (a derived
        deviation absent from the disposition sheet). Sorted by participant.
    """
    arm_of = dict(zip(participants["participant_id"], participants["arm"], strict=True))
    prow = {r["participant_id"]: r for r in participants.to_dict("records")}
    interrupted: dict[str, list[str]] = {}
    if ae is not None and "action" in ae:
        for r in ae[ae["action"] == "interrupted"].itertuples():
            interrupted.setdefault(r.participant_id, []).append(
                f"AE {r.ae_id} ({r.meddra_pt})"
            )
    rows: list[dict[str, Any]] = []

    def add(pid: str, kind: str, dev: str, check: str, status: str, ev: str) -> None:
        rows.append(
            {
                "participant_id": pid,
                "arm": arm_of.get(pid),
                "kind": kind,
                "deviation": dev,
                "check": check,
                "status": status,
                "evidence": ev,
            }
        )

    def window_ev(pid: str) -> tuple[bool | None, str]:
        day = fu_day.get(pid)
        if day is None:
            return None, "no follow-up visit day recorded"
        inside = abs(day - target_day) <= window
        return inside, (
            f"follow-up on day {_fmt(day)}, window day {target_day} +/- {window}"
        )

    d = disposition[disposition["participant_id"].map(_given)]
    for r in d.to_dict("records"):
        pid = str(r["participant_id"])
        dev = r.get("major_deviation")
        if _given(dev):
            for check, status, ev in _major_deviation_checks(
                str(dev), r, prow.get(pid), interrupted.get(pid), window_ev(pid)
            ):
                add(pid, "major_deviation", str(dev), check, status, ev)
        if not (_given(dev) and WINDOW_PATTERN.search(str(dev))):
            inside, ev = window_ev(pid)
            if inside is False and _true(r.get("completed_week1")):
                add(
                    pid,
                    "visit_window",
                    "follow-up visit out of window",
                    "follow-up visit day",
                    "not recorded",
                    ev + "; no visit-window deviation recorded",
                )
                if _true(r.get("in_pp")):
                    add(
                        pid,
                        "visit_window",
                        "follow-up visit out of window",
                        "disposition.in_pp",
                        "contradiction",
                        "in the per-protocol set with the visit out of window",
                    )
        for dev_text, check, status, ev in _disposition_checks(r, arm_of.get(pid)):
            add(pid, "disposition", dev_text, check, status, ev)
    out = pd.DataFrame(rows, columns=DEVIATION_COLUMNS)
    return out.sort_values(["participant_id", "kind"], kind="stable").reset_index(
        drop=True
    )


def batch_balance(
    samples: pd.DataFrame, participants: pd.DataFrame, arms: list[str]
) -> pd.DataFrame:
    """Libraries per batch and arm; flag batches confounded with one arm.

    Every batch column of :data:`BATCH_TYPES` present in the samples sheet
    is tabulated (zeros included) with a pooled ``all`` row per batch.
    ``single_arm`` is true when a batch of two or more libraries holds
    libraries of one arm only (a one-library batch is trivially one arm and
    is not flagged). Libraries with no batch recorded form the batch
    ``not recorded``.
    """
    arm_of = dict(zip(participants["participant_id"], participants["arm"], strict=True))
    s = samples.assign(arm=samples["participant_id"].map(arm_of))
    rows: list[dict[str, Any]] = []
    for bt in BATCH_TYPES:
        if bt not in s or not s[bt].map(_given).any():
            continue
        b = s[bt].where(s[bt].map(_given), "not recorded").astype(str)
        for batch in sorted(set(b), key=lambda x: (x == "not recorded", x)):
            sub = s[b == batch]
            counts = {a: int((sub["arm"] == a).sum()) for a in arms}
            total = len(sub)
            one = total >= 2 and sum(v > 0 for v in counts.values()) == 1
            for a in [*arms, "all"]:
                rows.append(
                    {
                        "batch_type": bt,
                        "batch": batch,
                        "arm": a,
                        "n_libraries": total if a == "all" else counts[a],
                        "batch_total": total,
                        "single_arm": one,
                    }
                )
    return pd.DataFrame(rows, columns=BATCH_COLUMNS)


def _sheet(
    path: str | os.PathLike[str] | None, kind: str, settings: SafetySettings
) -> pd.DataFrame | None:
    """One declared sheet, typed, without the ``_line`` column (``None`` if absent)."""
    from exomir.tables import read_table

    if not path:
        return None
    return read_table(path, kind, settings.label(kind)).drop(
        columns=["_line"], errors="ignore"
    )


def _needs(sheet: pd.DataFrame | None, name: str, kind: str) -> pd.DataFrame:
    """Return the sheet a listing needs, or raise a clear error."""
    if sheet is None:
        raise ValidationError(
            [
                Issue(
                    "config/config.yaml",
                    f"{name} needs the {kind} sheet, which is not configured",
                    column=f"sheets.{kind}",
                )
            ]
        )
    return sheet


def ae_listing_from_files(
    *,
    adverse_events: str | os.PathLike[str] | None,
    participants: str | os.PathLike[str],
    disposition: str | os.PathLike[str] | None,
    table: str | os.PathLike[str],
    settings: SafetySettings,
) -> pd.DataFrame:
    """Read the declared sheets and write ``ae_listing.tsv``."""
    from exomir.clinical.adverse_events import safety_population

    ae = _needs(
        _sheet(adverse_events, "adverse_events", settings),
        "ae_listing",
        "adverse_events",
    )
    part = _needs(
        _sheet(participants, "participants", settings), "ae_listing", "participants"
    )
    pop = safety_population(part, _sheet(disposition, "disposition", settings))
    out = ae_listing(ae, part, pop, list(settings.arms))
    write_table(out, table)
    return out


def enrolment_from_files(
    *,
    participants: str | os.PathLike[str],
    table: str | os.PathLike[str],
    settings: SafetySettings,
) -> pd.DataFrame:
    """Read participants.tsv and write ``enrolment.tsv``."""
    part = _needs(
        _sheet(participants, "participants", settings), "enrolment", "participants"
    )
    out = enrolment_table(
        part, settings.target_randomised, settings.start_date, settings.planned_months
    )
    write_table(out, table)
    return out


def deviations_from_files(
    *,
    disposition: str | os.PathLike[str] | None,
    participants: str | os.PathLike[str],
    samples: str | os.PathLike[str] | None,
    clinical_measurements: str | os.PathLike[str] | None,
    adverse_events: str | os.PathLike[str] | None,
    table: str | os.PathLike[str],
    settings: SafetySettings,
) -> pd.DataFrame:
    """Read the declared sheets and write ``deviations.tsv`` (contradictions logged)."""
    disp = _needs(
        _sheet(disposition, "disposition", settings), "deviations", "disposition"
    )
    part = _needs(
        _sheet(participants, "participants", settings), "deviations", "participants"
    )
    days = followup_days(
        _sheet(clinical_measurements, "clinical_measurements", settings),
        _sheet(samples, "samples", settings),
        settings.followup_visit,
    )
    out = deviation_listing(
        disp,
        part,
        days,
        settings.followup_target_day,
        settings.pp_window_days,
        _sheet(adverse_events, "adverse_events", settings),
    )
    for r in out[out["status"] == "contradiction"].itertuples():
        log.warning(
            "deviation check: participant %s: %s contradicts %s (%s)",
            r.participant_id,
            r.deviation,
            r.check,
            r.evidence,
        )
    write_table(out, table)
    return out


def batch_balance_from_files(
    *,
    samples: str | os.PathLike[str],
    participants: str | os.PathLike[str],
    table: str | os.PathLike[str],
    settings: SafetySettings,
) -> pd.DataFrame:
    """Read the sample and participant sheets and write ``batch_balance.tsv``."""
    smp = _needs(_sheet(samples, "samples", settings), "batch_balance", "samples")
    part = _needs(
        _sheet(participants, "participants", settings), "batch_balance", "participants"
    )
    out = batch_balance(smp, part, list(settings.arms))
    for r in out.query("single_arm and arm == 'all'").itertuples():
        log.warning(
            "%s %s: all %d libraries from one arm (batch confounded with arm)",
            r.batch_type,
            r.batch,
            r.n_libraries,
        )
    write_table(out, table)
    return out
