"""CONSORT 2010 flow counts (analysis_spec §3.4), built from disposition.tsv.

One row per box of the diagram (``node``), per arm or ``all``, with the count
and the reasons (``reason: n; ...``, sorted by count then text). The
"sequencing QC failed" boxes count participants whose library at a timepoint
failed the read QC (``results/qc/library_qc.tsv``, ``pass`` false) or is
missing, so that the molecular analysis numbers reconcile with the flow. A
participant who left before a follow-up timepoint (lost to follow-up or
discontinued) and has no library there is counted only in that box, not again
as a sequencing failure. The sequencing boxes are the biomarker's analysis
populations, not losses of participants: the report shows them apart from the
participant flow.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from exomir.clinical.safety_settings import SafetySettings

log = logging.getLogger(__name__)

CONSORT_COLUMNS = ["node", "arm", "n", "reasons", "order"]

LOST_PATTERN = r"(?i)lost to follow"


def _reasons(values: Iterable[Any]) -> str:
    c = Counter(
        str(v) if v not in (None, "") and not pd.isna(v) else "not given"
        for v in values
    )
    return "; ".join(
        f"{k}: {n}" for k, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))
    )


def _true(s: pd.Series) -> pd.Series:
    return s.fillna(False).astype(bool)


def _sequencing_boxes(
    add: Callable[..., None],
    arm: str,
    a: pd.DataFrame,
    dosed: pd.Series,
    comp: pd.Series,
    samples: pd.DataFrame,
    library_qc: pd.DataFrame,
    timepoints: list[str],
) -> None:
    """Add one arm's sequencing boxes: QC losses per timepoint, analysed at all."""
    ok = dict(zip(library_qc["sample_id"], _true(library_qc["pass"]), strict=True))
    why_qc = dict(
        zip(library_qc["sample_id"], library_qc.get("reasons", ""), strict=True)
    )
    ids = set(a.loc[dosed, "participant_id"])
    gone = set(a.loc[dosed & ~comp, "participant_id"])
    both = set(ids)
    for k, tp in enumerate(timepoints):
        sm = samples[(samples["timepoint"] == tp) & samples["participant_id"].isin(ids)]
        have = dict(zip(sm["participant_id"], sm["sample_id"], strict=False))
        failed, reasons = [], []
        for pid in sorted(ids):
            sid = have.get(pid)
            if sid is None and k > 0 and pid in gone:
                # no follow-up visit: already in the lost to follow-up /
                # discontinued box, not a sequencing loss as well
                both.discard(pid)
            elif sid is None:
                failed.append(pid)
                reasons.append("no library")
            elif sid not in ok:
                failed.append(pid)
                reasons.append("no QC result")
            elif not ok[sid]:
                failed.append(pid)
                r = why_qc.get(sid)
                reasons.append(
                    str(r) if r not in (None, "") and not pd.isna(r) else "QC failed"
                )
        both -= set(failed)
        add(
            f"sequencing_qc_failed_{tp}",
            arm,
            pd.DataFrame({"p": failed}),
            _reasons(reasons),
        )
    add(
        "sequencing_analysed_all_timepoints",
        arm,
        pd.DataFrame({"p": sorted(both)}),
    )


def consort_table(
    disposition: pd.DataFrame,
    arms: list[str],
    participants: pd.DataFrame | None = None,
    samples: pd.DataFrame | None = None,
    library_qc: pd.DataFrame | None = None,
    timepoints: list[str] | None = None,
) -> pd.DataFrame:
    """Count the participants in every CONSORT box.

    Parameters
    ----------
    disposition
        disposition.tsv (one row per screened person).
    arms
        Configured arms (``design.arms``), in report order.
    participants
        participants.tsv (for the route of administration), optional.
    samples
        samples.tsv (``sample_id``, ``participant_id``, ``timepoint``), optional.
    library_qc
        results/qc/library_qc.tsv (``sample_id``, ``pass``), optional.
    timepoints
        Small-RNA timepoints (``design.timepoints``).

    Returns
    -------
    pandas.DataFrame
        ``node``, ``arm``, ``n``, ``reasons``, ``order`` (diagram order).
    """
    d = disposition.copy()
    rows: list[dict[str, Any]] = []

    def add(node: str, arm: str, sub: pd.DataFrame, reasons: str = "") -> None:
        rows.append({"node": node, "arm": arm, "n": len(sub), "reasons": reasons})

    rand = _true(d["randomized"])
    add("assessed_for_eligibility", "all", d)
    excl = d[~rand]
    why = excl["exclusion_reason"].where(
        excl["exclusion_reason"].notna(),
        excl["eligible"].map({True: "eligible, not randomised", False: None}),
    )
    add("excluded", "all", excl, _reasons(why))
    add("randomised", "all", d[rand])
    route = {}
    if participants is not None and "route" in participants.columns:
        route = dict(
            zip(participants["participant_id"], participants["route"], strict=True)
        )
    for arm in arms:
        a = d[rand & (d["arm"] == arm)]
        dosed = _true(a["dosed"]) if "dosed" in a else pd.Series(False, index=a.index)
        add("allocated", arm, a)
        got = a[dosed]
        add(
            "received_allocated",
            arm,
            got,
            _reasons(got["participant_id"].map(route)) if route else "",
        )
        notd = a[~dosed]
        add("did_not_receive", arm, notd, _reasons(notd.get("not_dosed_reason", [])))
        comp = _true(a["completed_week1"]) if "completed_week1" in a else dosed
        stop = a[dosed & ~comp]
        reason = stop.get("discontinued_reason", pd.Series(dtype=object)).fillna("")
        lost = reason.str.contains(LOST_PATTERN, regex=True)
        add("lost_to_follow_up", arm, stop[lost], _reasons(reason[lost]))
        add("discontinued", arm, stop[~lost], _reasons(reason[~lost]))
        add("completed_follow_up", arm, a[dosed & comp])
        mitt = (
            _true(a["in_mitt"]) if "in_mitt" in a else pd.Series(False, index=a.index)
        )
        add("analysed_mitt", arm, a[mitt])
        out = a[~mitt]
        why_out = [
            "not dosed"
            if not bool(r.get("dosed"))
            else (
                "no follow-up value" if not bool(r.get("completed_week1")) else "other"
            )
            for _, r in out.iterrows()
        ]
        add("excluded_from_mitt", arm, out, _reasons(why_out))
        pp = _true(a["in_pp"]) if "in_pp" in a else pd.Series(False, index=a.index)
        add("analysed_pp", arm, a[pp])
        notpp = a[mitt & ~pp]
        dev = notpp.get("major_deviation", pd.Series(dtype=object))
        dev = dev.where(dev.notna(), "other (e.g. visit window)")
        add("excluded_from_pp", arm, notpp, _reasons(dev))
        if samples is not None and library_qc is not None and timepoints:
            _sequencing_boxes(add, arm, a, dosed, comp, samples, library_qc, timepoints)
    out = pd.DataFrame(rows)
    out["order"] = range(1, len(out) + 1)
    return out[CONSORT_COLUMNS]


def consort_from_files(
    *,
    disposition: str | os.PathLike[str] | None,
    participants: str | os.PathLike[str],
    samples: str | os.PathLike[str] | None,
    library_qc: str | os.PathLike[str] | None,
    table: str | os.PathLike[str],
    settings: SafetySettings,
) -> pd.DataFrame:
    """Read the declared sheets and QC table, build the CONSORT table and write it."""
    from exomir.errors import Issue, ValidationError
    from exomir.tables import read_table, write_table

    if not disposition:
        raise ValidationError(
            [
                Issue(
                    "config/config.yaml",
                    "no disposition sheet configured",
                    column="sheets.disposition",
                )
            ]
        )
    qc = (
        pd.read_csv(library_qc, sep="\t", dtype={"sample_id": str})
        if library_qc
        else None
    )
    if qc is not None and qc["pass"].dtype != bool:
        qc["pass"] = qc["pass"].astype(str).str.lower().eq("true")
    out = consort_table(
        read_table(disposition, "disposition", settings.label("disposition")),
        list(settings.arms),
        read_table(participants, "participants", settings.label("participants")),
        read_table(samples, "samples", settings.label("samples")) if samples else None,
        qc,
        list(settings.timepoints),
    )
    write_table(out, table)
    return out
