"""Section 10, safety: adverse events, AE listing and laboratory shifts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exomir.report.context import POOLED_ARMS, ReportContext, is_true, num
from exomir.report.labels import (
    fmt_ci,
    fmt_num,
    humanise,
    param_label,
    ucum,
)
from exomir.report.model import NotRun, Section, Table, Text
from exomir.report.sections.clinical import _col, _shift_order


def _pooled_overview(ae: pd.DataFrame) -> pd.DataFrame:
    ov = ae[ae["table"] == "overview"].copy()
    pooled = ov[ov["arm"].str.lower().isin(POOLED_ARMS)]
    if len(pooled):
        keep = [
            c
            for c in ["category", "n_participants", "n_events", "n_arm", "percent"]
            if c in pooled
        ]
        return ae_table(pooled[keep])
    ov["n_participants"] = num(ov["n_participants"])
    ov["n_events"] = num(ov["n_events"])
    agg = (
        ov.groupby("category", sort=False)[["n_participants", "n_events"]]
        .sum()
        .reset_index()
    )
    agg = agg.astype({"n_participants": int, "n_events": int}).astype(str)
    return ae_table(agg)


AE_COLUMNS = {
    "participant_id": "participant",
    "category": "category",
    "soc": "SOC",
    "pt": "PT",
    "arm": "arm",
    "n_participants": "participants",
    "n_events": "events",
    "n_arm": "N",
    "percent": "%",
    "risk difference (95% CI)": "risk difference, % (95% CI)",
    "ae_id": "AE",
    "ctcae_grade": "CTCAE grade",
    "related": "related",
    "sae_criterion": "SAE criterion",
    "onset_day": "onset day",
    "outcome": "outcome",
}


def ae_table(sub: pd.DataFrame) -> pd.DataFrame:
    """One adverse-event table with readable categories, % to 1 decimal, RD with CI."""
    df = sub.copy()
    if "category" in df:
        df["category"] = [humanise(c) for c in df["category"]]
    if "percent" in df:
        df["percent"] = [
            f"{v:.1f}" if np.isfinite(v) else "" for v in num(df["percent"])
        ]
    if "risk_difference" in df:
        scale = 100 if num(df["risk_difference"]).abs().max() <= 1 else 1
        df["risk difference (95% CI)"] = [
            fmt_ci(
                num(pd.Series([e])).iloc[0] * scale,
                num(pd.Series([lo])).iloc[0] * scale,
                num(pd.Series([hi])).iloc[0] * scale,
            )
            for e, lo, hi in zip(
                df["risk_difference"],
                _col(df, "rd_ci_low"),
                _col(df, "rd_ci_high"),
                strict=True,
            )
        ]
    keep = [c for c in AE_COLUMNS if c in df and (df[c].astype(str) != "").any()]
    return df[keep].rename(columns=AE_COLUMNS).reset_index(drop=True)


def safety(ctx: ReportContext, sec: Section) -> Section:
    """§11: AE overview, SOC/PT, SAE listing, AESIs, lab shifts."""
    path, shift_path = (
        "results/clinical/adverse_events.tsv",
        "results/clinical/lab_shifts.tsv",
    )
    ae = ctx.table(path)
    if ae is None:
        sec.add(NotRun("adverse-event tables (safety stage)", [path]))
    elif not ctx.closed:
        sec.add(
            Table(
                "Adverse-event overview, arms pooled",
                _pooled_overview(ae),
                source=[path],
                preformatted=True,
                note="Participants with at least one event and number of events; by-arm tables and listings are in the closed report.",
            )
        )
    else:
        for table, title in [
            (
                "overview",
                "Adverse-event overview by arm (risk difference with Newcombe 95% CI)",
            ),
            ("aesi", "Adverse events of special interest"),
            ("soc_pt", "Adverse events by MedDRA SOC / PT"),
            ("sae_listing", "Serious adverse events: listing"),
        ]:
            sub = ae[ae["table"] == table]
            if len(sub):
                sec.add(
                    Table(
                        title,
                        ae_table(sub),
                        source=[path],
                        arm_level=True,
                        collapsed=table == "soc_pt",
                        preformatted=True,
                    )
                )
        _ae_listing(ctx, sec)
    shifts = ctx.table(shift_path)
    _lab_ranges(ctx, sec, shifts, shift_path)
    if shifts is None:
        sec.add(NotRun("safety lab shift tables (safety stage)", [shift_path]))
    elif ctx.closed:
        wide = shifts.pivot_table(
            index=["param", "arm", "baseline_class"],
            columns="week1_class",
            values="n",
            aggfunc="first",
            fill_value="0",
        ).reset_index()
        sec.add(
            Table(
                "Safety lab shifts, baseline -> week 1 (n; columns: week-1 class)",
                _shift_order(ctx, wide),
                source=[shift_path],
                arm_level=True,
                collapsed=True,
            )
        )
    else:
        s = shifts.copy()
        s["n"] = num(s["n"])
        pooled = (
            s.groupby(["param", "baseline_class", "week1_class"])["n"]
            .sum()
            .reset_index()
        )
        wide = pooled.pivot_table(
            index=["param", "baseline_class"],
            columns="week1_class",
            values="n",
            aggfunc="sum",
            fill_value=0,
        ).reset_index()
        sec.add(
            Table(
                "Safety lab shifts, arms pooled (n; columns: week-1 class)",
                _shift_order(ctx, wide),
                source=[shift_path],
                collapsed=True,
            )
        )
    return sec


#: Columns of results/clinical/ae_listing.tsv shown, with reader labels.
AE_LISTING_LABELS = {
    "participant_id": "participant",
    "arm": "arm",
    "ae_id": "AE",
    "soc": "SOC",
    "pt": "PT",
    "onset": "onset",
    "ctcae_grade": "CTCAE grade",
    "serious": "serious",
    "related": "relatedness",
    "action": "action with study product",
    "outcome": "outcome",
}


def _ae_listing(ctx: ReportContext, sec: Section) -> None:
    """List every adverse event of every participant (closed report, ae_listing.tsv)."""
    path = "results/clinical/ae_listing.tsv"
    df = ctx.table(path)
    if df is None:
        if ctx.has("results/clinical/adverse_events.tsv"):
            sec.add(NotRun("adverse-event listing (safety stage)", [path]))
        return
    if df.empty:
        sec.add(
            Text("Adverse-event listing: no adverse event recorded.", arm_level=True)
        )
        return
    out = df.copy()
    out["onset"] = [
        " ".join(
            x
            for x in (
                str(d).strip(),
                f"(day {fmt_num(n)})" if str(n).strip() else "",
            )
            if x
        )
        for d, n in zip(out["onset_date"], out["onset_day"], strict=True)
    ]
    out["serious"] = [
        ("yes" + (f": {c}" if str(c).strip() else "")) if v == "Y" else "no"
        for v, c in zip(out["serious"], out["sae_criterion"], strict=True)
    ]
    out["action"] = [
        {
            "interrupted": "infusion interrupted",
            "withdrawn": "product withdrawn",
            "none": "no change",
        }.get(str(a), humanise(str(a)) if str(a).strip() else "not recorded")
        for a in out["action"]
    ]
    out["outcome"] = [humanise(o) if str(o).strip() else "" for o in out["outcome"]]
    outside = out[~is_true(out["in_safety_population"])]
    note = (
        "Every adverse event, by arm, participant and onset. Relatedness is to "
        "the study product; 'action with study product' is the action taken "
        "with the infusion or injection because of the event."
    )
    if len(outside):
        note += (
            f" {len(outside)} event(s) of participants outside the safety "
            "population (not dosed) are listed but not counted in the tables."
        )
    sec.add(
        Table(
            "Adverse events: participant-level listing",
            out[list(AE_LISTING_LABELS)].rename(columns=AE_LISTING_LABELS),
            source=[path],
            note=note,
            arm_level=True,
            collapsed=len(out) > 15,
            wide=True,
        )
    )


def _lab_ranges(
    ctx: ReportContext, sec: Section, shifts: pd.DataFrame | None, shift_path: str
) -> None:
    """Show the normal ranges the shift tables use and which are assumptions.

    The ranges come from the shift table (what was applied) or, when that is
    withheld or absent, from config ``lab_reference_ranges``; neither holds
    arm information, so both reports show them.
    """
    cols = ["param", "low_limit", "high_limit", "unit", "range_source"]
    if shifts is not None and set(cols) <= set(shifts.columns):
        r = shifts[cols].drop_duplicates("param")
        src = [shift_path]
    else:
        ranges = ctx.config.get("lab_reference_ranges") or {}
        if not ranges:
            return
        r = pd.DataFrame(
            [
                (p, v.get("low"), v.get("high"), v.get("unit", ""), v.get("source", ""))
                for p, v in sorted(ranges.items())
            ],
            columns=cols,
        )
        src = ["config/config.yaml"]
    assumed = [
        "yes" if str(s).strip().lower().startswith("assumption") else "no"
        for s in r["range_source"]
    ]
    out = pd.DataFrame(
        {
            "parameter": [param_label(p, ctx.config, unit=False) for p in r["param"]],
            "normal range": [
                f"{fmt_num(lo)}-{fmt_num(hi)} {ucum(str(u))}".strip()
                for lo, hi, u in zip(
                    r["low_limit"], r["high_limit"], r["unit"], strict=True
                )
            ],
            "assumed (not the site's postpartum range)": assumed,
            "source": list(r["range_source"]),
        }
    )
    n_assumed = assumed.count("yes")
    note = (
        "Low / normal / high in the shift tables are against these ranges "
        "(config lab_reference_ranges). "
        + (
            f"{n_assumed} of {len(out)} are assumptions (adult or adult-female "
            "ranges adjusted for the first postpartum week), not ranges "
            "validated for postpartum women: shifts near a limit may reflect "
            "the range rather than the product. Replace them with the site "
            "laboratory's ranges."
            if n_assumed
            else "All ranges are given by their source."
        )
    )
    sec.add(
        Table(
            "Safety lab normal ranges used",
            out,
            source=src,
            note=note,
            preformatted=True,
        )
    )
