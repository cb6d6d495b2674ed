"""DSMB tables by recruiting site: enrolment, completeness, read-QC failures, AEs.

``results/clinical/sites_closed.tsv`` (closed report) has every table by site
and arm with an ``all`` arm row; ``results/clinical/sites_open.tsv`` (open
report) keeps only the ``all`` rows of enrolment, completeness and read-QC
failures: nothing by arm, and no adverse events (docs/safety.md: the open
session sees pooled recruitment, completeness and QC).

Tables (column ``table``):

``enrolment``
    ``randomised`` (participants.tsv) and, with a disposition sheet,
    ``dosed`` and ``in_mitt``; denominator = randomised at the site.
``completeness``
    Per visit: ``library_<timepoint>`` participants with a library that passed
    read QC at that blood draw (results/qc/library_qc.tsv), and
    ``clinical_<visit>`` participants with at least one clinical value at
    that visit; denominator = randomised at the site (and arm).
``read_qc``
    ``libraries_assessed`` and ``libraries_failed`` (denominator: assessed).
``adverse_events`` (closed only)
    Participants with any AE, a related AE, a grade >= 3 AE and a serious AE
    (denominator: randomised), and ``events`` (number of AEs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from exomir.sites import SITE_COLUMN

SITE_TABLE_COLUMNS = [
    "table",
    "site",
    "site_name",
    "arm",
    "item",
    "n",
    "denominator",
    "percent",
    "note",
]

OPEN_TABLES = ("enrolment", "completeness", "read_qc")


def _true(v: Any) -> bool:
    return (isinstance(v, bool | np.bool_) and bool(v)) or str(v).lower() == "true"


def site_tables(
    participants: pd.DataFrame,
    sites: Mapping[str, str],
    arms: Sequence[str],
    *,
    samples: pd.DataFrame | None = None,
    library_qc: pd.DataFrame | None = None,
    clinical: pd.DataFrame | None = None,
    visits: Sequence[str] = (),
    timepoints: Sequence[str] = (),
    adverse_events: pd.DataFrame | None = None,
    disposition: pd.DataFrame | None = None,
    related: Sequence[str] = ("possible", "probable", "definite"),
) -> pd.DataFrame:
    """Build the closed by-site table (every table by site and arm, plus ``all``).

    Parameters
    ----------
    participants
        participants.tsv (``participant_id``, ``arm``, ``site_id``).
    sites
        ``design.sites`` (code -> name), in report order.
    arms
        ``design.arms``.
    samples, library_qc
        samples.tsv and results/qc/library_qc.tsv (``sample_id``, ``pass``).
    clinical, visits
        Clinical measurements and the visits tabulated.
    timepoints
        Blood-draw timepoints tabulated.
    adverse_events, disposition
        Optional sheets.
    related
        Relatedness levels counted as related.

    Returns
    -------
    pandas.DataFrame
        :data:`SITE_TABLE_COLUMNS`, in site, table and arm order.
    """
    par = participants.drop_duplicates("participant_id").copy()
    par["participant_id"] = par["participant_id"].astype(str)
    site_of = par.set_index("participant_id")[SITE_COLUMN].astype(str)
    arm_of = par.set_index("participant_id")["arm"].astype(str)
    sets: list[tuple[str, str, set[str] | pd.Series, str, str]] = []

    def add(table: str, item: str, members: set[str] | pd.Series, denom: str) -> None:
        sets.append((table, item, members, denom, ""))

    everyone = set(par["participant_id"])
    add("enrolment", "randomised", everyone, "randomised")
    if disposition is not None:
        d = disposition[disposition["participant_id"].notna()]
        for col in ("dosed", "in_mitt"):
            if col in d.columns:
                ids = set(d.loc[d[col].map(_true), "participant_id"].astype(str))
                add("enrolment", col, ids & everyone, "randomised")
    if samples is not None and library_qc is not None and "pass" in library_qc:
        ok = set(library_qc.loc[library_qc["pass"].map(_true), "sample_id"].astype(str))
        s = samples[samples["participant_id"].notna()]
        for tp in timepoints:
            at = s[(s["timepoint"].astype(str) == tp) & s["sample_id"].isin(ok)]
            add(
                "completeness", f"library_{tp}", set(at["participant_id"]), "randomised"
            )
        assessed = s[s["sample_id"].astype(str).isin(set(library_qc["sample_id"]))]
        failed = assessed[~assessed["sample_id"].isin(ok)]
        sets.append(
            ("read_qc", "libraries_assessed", assessed["participant_id"], "", "")
        )
        sets.append(
            ("read_qc", "libraries_failed", failed["participant_id"], "assessed", "")
        )
    if clinical is not None:
        c = (
            clinical[clinical["value_num"].notna() | clinical["value_cat"].notna()]
            if ("value_cat" in clinical.columns)
            else clinical[clinical["value_num"].notna()]
        )
        for v in visits:
            ids = set(c.loc[c["visit"].astype(str) == v, "participant_id"].astype(str))
            add("completeness", f"clinical_{v}", ids & everyone, "randomised")
    if adverse_events is not None:
        ae = adverse_events.copy()
        ae["participant_id"] = ae["participant_id"].astype(str)
        g = pd.to_numeric(ae["ctcae_grade"], errors="coerce")
        for item, m in (
            ("participants_any_ae", pd.Series(True, index=ae.index)),
            ("participants_related_ae", ae["related"].isin(list(related))),
            ("participants_grade3plus_ae", g >= 3),
            ("participants_serious_ae", ae["serious"].astype(str) == "Y"),
        ):
            add("adverse_events", item, set(ae.loc[m, "participant_id"]), "randomised")
        sets.append(("adverse_events", "events", ae["participant_id"], "", ""))
    return _count(sets, sites, arms, everyone, site_of, arm_of)


def _count(
    sets: list[tuple[str, str, set[str] | pd.Series, str, str]],
    sites: Mapping[str, str],
    arms: Sequence[str],
    everyone: set[str],
    site_of: pd.Series,
    arm_of: pd.Series,
) -> pd.DataFrame:
    """Count each member set by site and arm, with its denominator and percent."""
    rows: list[dict[str, Any]] = []
    for code, name in sites.items():
        at_site = {p for p in everyone if site_of.get(p) == code}
        for table, item, members, denom_kind, note in sets:
            for arm in [*arms, "all"]:
                who = (
                    at_site
                    if arm == "all"
                    else {p for p in at_site if arm_of[p] == arm}
                )
                if isinstance(members, set):
                    n = len(members & who)
                else:  # one entry per library / event
                    n = int(pd.Series(list(members)).isin(who).sum())
                rows.append(
                    {
                        "table": table,
                        "site": code,
                        "site_name": name,
                        "arm": arm,
                        "item": item,
                        "n": n,
                        "denominator_kind": denom_kind,
                        "who": len(who),
                        "note": note,
                    }
                )
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=SITE_TABLE_COLUMNS)
    assessed = out[out["item"] == "libraries_assessed"].set_index(["site", "arm"])["n"]
    denom = []
    for _, r in out.iterrows():
        if r["denominator_kind"] == "randomised":
            denom.append(r["who"])
        elif r["denominator_kind"] == "assessed":
            denom.append(assessed.get((r["site"], r["arm"]), np.nan))
        else:
            denom.append(np.nan)
    out["denominator"] = denom
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = 100.0 * out["n"] / pd.to_numeric(out["denominator"])
    out["percent"] = pct.where(pd.to_numeric(out["denominator"]) > 0)
    return out[SITE_TABLE_COLUMNS].reset_index(drop=True)


def open_site_tables(closed: pd.DataFrame) -> pd.DataFrame:
    """Pooled-over-arms rows of enrolment, completeness and read QC only."""
    keep = closed[(closed["arm"] == "all") & closed["table"].isin(OPEN_TABLES)]
    return keep.drop(columns=["arm"]).reset_index(drop=True)


def site_tables_step(
    *,
    participants: str,
    closed: str,
    opened: str,
    cfg_sites: Mapping[str, str],
    arms: Sequence[str],
    visits: Sequence[str],
    timepoints: Sequence[str],
    related: Sequence[str],
    samples: str | None = None,
    library_qc: str | None = None,
    clinical: str | None = None,
    adverse_events: str | None = None,
    disposition: str | None = None,
) -> pd.DataFrame:
    """Read the sheets, write ``sites_closed.tsv`` and ``sites_open.tsv``."""
    from exomir.tables import read_table, write_table

    def opt(path: str | None, kind: str) -> pd.DataFrame | None:
        return read_table(path, kind) if path else None

    out = site_tables(
        read_table(participants, "participants"),
        cfg_sites,
        arms,
        samples=opt(samples, "samples"),
        library_qc=pd.read_csv(library_qc, sep="\t") if library_qc else None,
        clinical=opt(clinical, "clinical_measurements"),
        visits=visits,
        timepoints=timepoints,
        adverse_events=opt(adverse_events, "adverse_events"),
        disposition=opt(disposition, "disposition"),
        related=related,
    )
    write_table(out, closed)
    write_table(open_site_tables(out), opened)
    return out
