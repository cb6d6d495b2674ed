"""Adverse events of the simulated trial (``adverse_events.tsv``).

Background events occur at the same rate in both arms; infusion reactions,
early fever and hypersensitivity have arm-specific probabilities. Columns
follow the sheet's JSON schema (:func:`exomir.tables.schema_columns`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from exomir.tables import schema_columns

__all__ = ["BACKGROUND_AES", "simulate_adverse_events"]

#: Background events: (verbatim, MedDRA PT, SOC, relative weight, AESI category).
BACKGROUND_AES: list[tuple[str, str, str, float, str]] = [
    # (verbatim, PT, SOC, weight, aesi)
    ("headache", "Headache", "Nervous system disorders", 0.2, "none"),
    (
        "tiredness",
        "Fatigue",
        "General disorders and administration site conditions",
        0.12,
        "none",
    ),
    ("nausea", "Nausea", "Gastrointestinal disorders", 0.08, "none"),
    ("dizzy on standing", "Dizziness", "Nervous system disorders", 0.07, "none"),
    (
        "low haemoglobin",
        "Anaemia",
        "Blood and lymphatic system disorders",
        0.08,
        "none",
    ),
    (
        "back pain",
        "Back pain",
        "Musculoskeletal and connective tissue disorders",
        0.06,
        "none",
    ),
    ("raised blood pressure", "Hypertension", "Vascular disorders", 0.1, "none"),
    (
        "urinary tract infection",
        "Urinary tract infection",
        "Infections and infestations",
        0.08,
        "infection",
    ),
    (
        "caesarean wound infection",
        "Wound infection",
        "Infections and infestations",
        0.05,
        "infection",
    ),
    ("breast infection", "Mastitis", "Infections and infestations", 0.04, "infection"),
    (
        "uterine infection",
        "Endometritis",
        "Infections and infestations",
        0.03,
        "infection",
    ),
    ("constipation", "Constipation", "Gastrointestinal disorders", 0.06, "none"),
    ("insomnia", "Insomnia", "Psychiatric disorders", 0.03, "none"),
]


def _product_events(
    arm: str, iv: bool, params: Mapping[str, Any], rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Infusion reaction, early fever, hypersensitivity and thromboembolism."""
    s = params["safety"]
    events: list[dict[str, Any]] = []
    if rng.random() < float(s["p_infusion_reaction"][arm]):
        events.append(
            _ae(
                "chills and flushing during infusion"
                if iv
                else "pain and swelling at injection site",
                "Infusion related reaction" if iv else "Injection site reaction",
                "Injury, poisoning and procedural complications"
                if iv
                else "General disorders and administration site conditions",
                0,
                int(rng.choice([1, 2], p=[0.7, 0.3])),
                "infusion_reaction",
                rng.choice(["possible", "probable"])
                if arm != params["trial"]["arms"][0]
                else "possible",
                "interrupted" if iv and rng.random() < 0.4 else "none",
                int(rng.integers(0, 2)),
            )
        )
    if rng.random() < float(s["p_fever_48h"][arm]):
        events.append(
            _ae(
                "fever 38.2 C the evening after dosing",
                "Pyrexia",
                "General disorders and administration site conditions",
                int(rng.integers(0, 2)),
                1,
                "fever",
                str(rng.choice(["unlikely", "possible"])),
                "none",
                int(rng.integers(1, 3)),
            )
        )
    if rng.random() < float(s["p_hypersensitivity"][arm]):
        events.append(
            _ae(
                "urticarial rash after infusion",
                "Hypersensitivity",
                "Immune system disorders",
                0,
                2,
                "hypersensitivity",
                "probable",
                "interrupted" if iv else "none",
                int(rng.integers(1, 4)),
            )
        )
    if rng.random() < float(s["p_thromboembolic"]):
        ev = _ae(
            "left calf deep vein thrombosis",
            "Deep vein thrombosis",
            "Vascular disorders",
            int(rng.integers(2, 8)),
            3,
            "thromboembolic",
            "unlikely",
            "none",
            None,
        )
        ev["serious"] = "Y"
        ev["sae_criterion"] = "hospitalisation"
        ev["outcome"] = "recovering"
        events.append(ev)
    return events


def _background_events(
    s: Mapping[str, Any], weights: np.ndarray, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Background events (same rate in both arms) of one participant."""
    events: list[dict[str, Any]] = []
    for _ in range(int(rng.poisson(float(s["background_rate"])))):
        j = int(rng.choice(len(BACKGROUND_AES), p=weights))
        verb, pt, soc, _w, aesi = BACKGROUND_AES[j]
        grade = (
            3
            if rng.random() < float(s["p_grade3"])
            else int(rng.choice([1, 2], p=[0.65, 0.35]))
        )
        ev = _ae(
            verb,
            pt,
            soc,
            int(rng.integers(0, 9)),
            grade,
            aesi,
            str(rng.choice(["not", "unlikely"], p=[0.7, 0.3])),
            "none",
            int(rng.integers(1, 10)) if rng.random() < 0.9 else None,
        )
        if grade == 3 and aesi == "infection" and rng.random() < 0.5:
            ev["serious"] = "Y"
            ev["sae_criterion"] = "hospitalisation"
        events.append(ev)
    return events


def _dated_rows(
    r: Any, events: list[dict[str, Any]], rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Events in the follow-up of participant ``r``, numbered and dated."""
    last_day = 9 if r.completed_week1 else 6
    events = [e for e in events if e["onset_day"] <= last_day]
    events.sort(key=lambda e: (e["onset_day"], e["meddra_pt"]))
    for k, e in enumerate(events):
        onset = r.dose_date + dt.timedelta(days=int(e["onset_day"]))
        dur = e.pop("_duration")
        e["participant_id"] = r.participant_id
        e["ae_id"] = f"{r.participant_id}-AE{k + 1:02d}"
        e["onset_date"] = onset.isoformat()
        e["end_date"] = (
            (onset + dt.timedelta(days=dur)).isoformat() if dur is not None else None
        )
        if dur is None and e["outcome"] == "recovered":
            e["outcome"] = "recovering" if rng.random() < 0.7 else "not_recovered"
    return events


def simulate_adverse_events(
    roster: pd.DataFrame, params: Mapping[str, Any], rng: np.random.Generator
) -> pd.DataFrame:
    """Simulate adverse events of dosed participants.

    Background events occur at the same rate in both arms; infusion reactions,
    early fever and hypersensitivity have arm-specific probabilities. A
    dropout whose reason is an adverse event gets one event with action
    ``withdrawn``.

    Parameters
    ----------
    roster
        Participants (``arm``, ``dosed``, ``dose_date``, ``route``,
        ``discontinued_reason``, ``completed_week1``).
    params
        Resolved parameters (``safety`` section).
    rng
        Random generator.

    Returns
    -------
    pandas.DataFrame
        ``adverse_events.tsv``, columns in the sheet schema's order.
    """
    s = params["safety"]
    rows: list[dict[str, Any]] = []
    weights = np.array([w for *_, w, _ in BACKGROUND_AES])
    weights = weights / weights.sum()
    for r in roster.itertuples(index=False):
        if not r.dosed:
            continue
        events = _product_events(r.arm, r.route == "IV", params, rng)
        events += _background_events(s, weights, rng)
        if r.discontinued_reason == "adverse event":
            ev = _ae(
                "persistent headache and malaise, withdrew",
                "Headache",
                "Nervous system disorders",
                int(rng.integers(1, 5)),
                2,
                "none",
                "possible",
                "withdrawn",
                None,
            )
            events.append(ev)
        rows += _dated_rows(r, events, rng)
    return pd.DataFrame(rows, columns=schema_columns("adverse_events"))


def _ae(
    verbatim: str,
    pt: str,
    soc: str,
    onset_day: int,
    grade: int,
    aesi: str,
    related: Any,
    action: str,
    duration: int | None,
) -> dict[str, Any]:
    return {
        "ae_verbatim": verbatim,
        "meddra_pt": pt,
        "meddra_soc": soc,
        "onset_day": int(onset_day),
        "ctcae_grade": int(grade),
        "serious": "N",
        "sae_criterion": None,
        "related": str(related),
        "aesi": aesi,
        "action": action,
        "outcome": "recovered",
        "_duration": duration,
    }
