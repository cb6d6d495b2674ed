"""Adverse-event tables by arm and the DSMB safety triggers (analysis_spec §3.4-3.5).

The safety population is every dosed participant (``dosed`` of
disposition.tsv; all participants when no disposition sheet is given),
analysed by arm. ``results/clinical/adverse_events.tsv`` stacks four tables
(column ``table``):

``overview``
    Participants with >= 1 AE (n, %) and events, then the same for
    treatment-related AEs (``safety.related_levels``), CTCAE grade >= 3,
    serious AEs, AEs leading to withdrawal and deaths.
``aesi``
    Each adverse event of special interest category (``safety.aesi``).
``soc_pt``
    MedDRA system organ class rows (``pt`` empty) each followed by its
    preferred terms; both sorted by total number of participants (then name).
``sae_listing``
    One row per serious AE with its details.

Treated-arm rows carry the risk difference (treated - reference, proportion
of participants) with Newcombe's hybrid-score 95% CI. No p-values.

Safety stopping rules (config ``safety.rules``) count events or participants
matching a filter; a rule is triggered when the count reaches its threshold.
The pipeline only flags; the protocol's rules and the DSMB decide.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from exomir.clinical.safety_settings import (
    DEFAULT_AESI,
    DEFAULT_RELATED,
    SafetySettings,
)
from exomir.stats import newcombe_diff_ci

log = logging.getLogger(__name__)

AE_COLUMNS = [
    "table",
    "category",
    "soc",
    "pt",
    "arm",
    "n_participants",
    "n_events",
    "n_arm",
    "percent",
    "risk_difference",
    "rd_ci_low",
    "rd_ci_high",
    "order",
]
SAE_EXTRA = [
    "participant_id",
    "ae_id",
    "ctcae_grade",
    "related",
    "sae_criterion",
    "onset_day",
    "outcome",
]
TRIGGER_COLUMNS = [
    "rule",
    "description",
    "count",
    "arms",
    "threshold",
    "observed",
    "triggered",
]


def safety_population(
    participants: pd.DataFrame, disposition: pd.DataFrame | None
) -> pd.DataFrame:
    """Dosed participants with their arm (``participant_id``, ``arm``)."""
    par = participants[["participant_id", "arm"]].copy()
    if disposition is None or "dosed" not in disposition.columns:
        log.warning("no disposition.dosed: every participant counts as dosed")
        return par
    dosed = set(
        disposition.loc[
            disposition["dosed"].fillna(False).astype(bool), "participant_id"
        ].dropna()
    )
    out = par[par["participant_id"].isin(dosed)]
    if len(out) < len(par):
        log.warning(
            "safety population: %d of %d participants not dosed left out",
            len(par) - len(out),
            len(par),
        )
    return out


def _flags(ae: pd.DataFrame, related: Sequence[str]) -> dict[str, pd.Series]:
    grade = pd.to_numeric(ae["ctcae_grade"])
    return {
        "any_ae": pd.Series(True, index=ae.index),
        "related_ae": ae["related"].isin(related),
        "grade_3_or_higher": grade >= 3,
        "serious_ae": ae["serious"] == "Y",
        "leading_to_withdrawal": ae.get(
            "action", pd.Series(index=ae.index, dtype=object)
        )
        == "withdrawn",
        "death": (grade >= 5)
        | (ae.get("outcome", pd.Series(index=ae.index, dtype=object)) == "fatal"),
    }


def _count_rows(
    table: str,
    category: str,
    sub: pd.DataFrame,
    arms: list[str],
    n_arm: Mapping[str, int],
    level: float,
    soc: str = "",
    pt: str = "",
) -> list[dict[str, Any]]:
    """Rows of one AE category: per arm (with the Newcombe risk difference) and all."""
    ref, trt = arms[0], arms[-1]
    counts = {}
    for a in arms:
        s = sub[sub["arm"] == a]
        counts[a] = (int(s["participant_id"].nunique()), len(s))
    rd = (np.nan, np.nan, np.nan)
    if len(arms) >= 2:
        rd = newcombe_diff_ci(
            counts[trt][0], n_arm[trt], counts[ref][0], n_arm[ref], level
        )
    rows: list[dict[str, Any]] = []
    for a in arms:
        np_, ne = counts[a]
        rows.append(
            {
                "table": table,
                "category": category,
                "soc": soc,
                "pt": pt,
                "arm": a,
                "n_participants": np_,
                "n_events": ne,
                "n_arm": n_arm[a],
                "percent": 100.0 * np_ / n_arm[a] if n_arm[a] else np.nan,
                "risk_difference": rd[0] if a == trt and a != ref else np.nan,
                "rd_ci_low": rd[1] if a == trt and a != ref else np.nan,
                "rd_ci_high": rd[2] if a == trt and a != ref else np.nan,
            }
        )
    tot = sub["participant_id"].nunique()
    rows.append(
        {
            "table": table,
            "category": category,
            "soc": soc,
            "pt": pt,
            "arm": "all",
            "n_participants": int(tot),
            "n_events": len(sub),
            "n_arm": int(sum(n_arm.values())),
            "percent": 100.0 * tot / sum(n_arm.values())
            if sum(n_arm.values())
            else np.nan,
        }
    )
    return rows


def _sae_listing(d: pd.DataFrame) -> pd.DataFrame:
    """One row per serious AE (arm, participant, AE id order)."""
    sae = d[d["serious"] == "Y"].sort_values(["arm", "participant_id", "ae_id"])
    return pd.DataFrame(
        {
            "table": "sae_listing",
            "category": "serious_ae",
            "soc": sae["meddra_soc"],
            "pt": sae["meddra_pt"],
            "arm": sae["arm"],
            "n_participants": 1,
            "n_events": 1,
            **{c: sae[c] if c in sae else None for c in SAE_EXTRA},
        }
    )


def adverse_event_tables(
    ae: pd.DataFrame,
    population: pd.DataFrame,
    arms: list[str],
    related: Sequence[str] = DEFAULT_RELATED,
    aesi: Sequence[str] = DEFAULT_AESI,
    level: float = 0.95,
) -> pd.DataFrame:
    """Build the stacked AE table.

    Parameters
    ----------
    ae
        adverse_events.tsv.
    population
        Safety population (``participant_id``, ``arm``).
    arms
        ``design.arms`` (reference first, treated last).
    related
        Relatedness levels counted as treatment-related.
    aesi
        AESI categories tabulated (zeros included).
    level
        Confidence level of the risk-difference CIs.

    Returns
    -------
    pandas.DataFrame
        ``AE_COLUMNS`` plus the SAE listing columns.
    """
    arm_of = dict(zip(population["participant_id"], population["arm"], strict=True))
    n_arm = {a: int((population["arm"] == a).sum()) for a in arms}
    d = ae.copy()
    outside = ~d["participant_id"].isin(arm_of)
    if outside.any():
        log.warning(
            "%d AE(s) of %d participant(s) outside the safety population (not dosed) left out",
            int(outside.sum()),
            d.loc[outside, "participant_id"].nunique(),
        )
    d = d[~outside].copy()
    d["arm"] = d["participant_id"].map(arm_of)
    if "meddra_soc" not in d:
        d["meddra_soc"] = None
    d["meddra_soc"] = d["meddra_soc"].fillna("SOC not coded")
    rows: list[dict[str, Any]] = []

    def emit(
        table: str, category: str, sub: pd.DataFrame, soc: str = "", pt: str = ""
    ) -> None:
        rows.extend(_count_rows(table, category, sub, arms, n_arm, level, soc, pt))

    for cat, mask in _flags(d, related).items():
        emit("overview", cat, d[mask.to_numpy()])
    for cat in aesi:
        emit(
            "aesi", cat, d[d.get("aesi", pd.Series(index=d.index, dtype=object)) == cat]
        )
    socs = d.groupby("meddra_soc")["participant_id"].nunique()
    for soc in sorted(socs.index, key=lambda s: (-socs[s], s)):
        ds = d[d["meddra_soc"] == soc]
        emit("soc_pt", "soc", ds, soc=soc)
        pts = ds.groupby("meddra_pt")["participant_id"].nunique()
        for pt in sorted(pts.index, key=lambda p: (-pts[p], p)):
            emit("soc_pt", "pt", ds[ds["meddra_pt"] == pt], soc=soc, pt=pt)
    out = pd.DataFrame(rows)
    listing = _sae_listing(d)
    out = pd.concat([out, listing], ignore_index=True) if len(listing) else out
    for c in SAE_EXTRA:
        if c not in out:
            out[c] = None
    out["order"] = range(1, len(out) + 1)
    return out[AE_COLUMNS + SAE_EXTRA]


def safety_triggers(
    ae: pd.DataFrame,
    population: pd.DataFrame,
    arms: list[str],
    rules: Sequence[Mapping[str, Any]],
) -> pd.DataFrame:
    """Evaluate the configured safety stopping rules.

    Each rule may filter on ``related`` (relatedness levels), ``min_grade``,
    ``max_grade``, ``serious`` (true/false), ``aesi`` (categories), ``pt_regex``
    (case-insensitive search in the preferred term and verbatim term) and
    ``arms`` (arm names, or ``treated`` for every arm but the reference);
    filters combine with AND, except that ``aesi`` and ``pt_regex`` together
    match either. ``count`` is ``events`` or ``participants``.

    Returns
    -------
    pandas.DataFrame
        ``TRIGGER_COLUMNS``, one row per rule (config order).
    """
    arm_of = dict(zip(population["participant_id"], population["arm"], strict=True))
    d = ae[ae["participant_id"].isin(arm_of)].copy()
    d["arm"] = d["participant_id"].map(arm_of)
    grade = pd.to_numeric(d["ctcae_grade"])
    rows = []
    for rule in rules:
        m = pd.Series(True, index=d.index)
        if rule.get("related"):
            m &= d["related"].isin(rule["related"])
        if rule.get("min_grade") is not None:
            m &= grade >= int(rule["min_grade"])
        if rule.get("max_grade") is not None:
            m &= grade <= int(rule["max_grade"])
        if rule.get("serious") is not None:
            m &= (d["serious"] == "Y") == bool(rule["serious"])
        term = pd.Series(False, index=d.index)
        has_term = False
        if rule.get("aesi"):
            term |= d.get("aesi", pd.Series(index=d.index, dtype=object)).isin(
                rule["aesi"]
            )
            has_term = True
        if rule.get("pt_regex"):
            rx = re.compile(str(rule["pt_regex"]), re.IGNORECASE)
            text = (
                d["meddra_pt"].fillna("")
                + " "
                + d.get("ae_verbatim", pd.Series("", index=d.index)).fillna("")
            )
            term |= text.str.contains(rx, regex=True)
            has_term = True
        if has_term:
            m &= term
        rarms = list(rule.get("arms") or [])
        if rarms:
            names = set()
            for a in rarms:
                names |= set(arms[1:]) if a == "treated" else {a}
            m &= d["arm"].isin(names)
        hit = d[m]
        how = rule.get("count", "events")
        observed = (
            int(hit["participant_id"].nunique()) if how == "participants" else len(hit)
        )
        thr = int(rule["threshold"])
        rows.append(
            {
                "rule": rule["name"],
                "description": rule.get("description", ""),
                "count": how,
                "arms": ", ".join(rarms) if rarms else "all",
                "threshold": thr,
                "observed": observed,
                "triggered": observed >= thr,
            }
        )
    return pd.DataFrame(rows, columns=TRIGGER_COLUMNS)


def adverse_events_from_files(
    *,
    adverse_events: str | os.PathLike[str],
    participants: str | os.PathLike[str],
    disposition: str | os.PathLike[str] | None,
    table: str | os.PathLike[str],
    triggers: str | os.PathLike[str],
    settings: SafetySettings,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the declared sheets, write the AE tables and the safety triggers."""
    from exomir.tables import read_table, write_table

    arms = list(settings.arms)
    part = read_table(participants, "participants", settings.label("participants"))
    disp = (
        read_table(disposition, "disposition", settings.label("disposition"))
        if disposition
        else None
    )
    pop = safety_population(part, disp)
    ae = read_table(
        adverse_events, "adverse_events", settings.label("adverse_events")
    ).drop(columns=["_line"], errors="ignore")
    tab = adverse_event_tables(ae, pop, arms, settings.related_levels, settings.aesi)
    trig = safety_triggers(ae, pop, arms, settings.rules)
    write_table(tab, table)
    write_table(trig, triggers)
    return tab, trig
