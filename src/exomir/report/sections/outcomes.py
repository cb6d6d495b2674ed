"""Section: long-term outcomes (time-to-event endpoints, exomir.survival).

Closed report: the Cox hazard ratios with the log-rank test and the
proportional-hazards check, the Kaplan-Meier summary by arm (median, event-free
probability at 12 and 24 months, Aalen-Johansen cumulative incidence when
deaths compete) and one Kaplan-Meier figure per endpoint with the numbers at
risk. Open report: the pooled event counts only (``events_open.tsv``).
"""

from __future__ import annotations

import pandas as pd

from exomir.report import figures
from exomir.report.context import ReportContext, num
from exomir.report.labels import fmt_ci, fmt_num, fmt_p
from exomir.report.model import Figure, NotRun, Section, Table, Text
from exomir.report.sections.clinical import ARM_LEVEL_NOTE

DIR = "results/events"
SUMMARY, COX, POOLED = f"{DIR}/summary.tsv", f"{DIR}/cox.tsv", f"{DIR}/events_open.tsv"


def _intro(ctx: ReportContext) -> Text:
    """How the times were made (config time_to_event)."""
    tte = ctx.config.get("time_to_event") or {}
    strata = ctx.config.get("design", {}).get("strata") or []
    return Text(
        "Time from randomisation to the first event of each endpoint, censored at "
        "the last contact, the data cut and the horizon of "
        f"{fmt_num(tte.get('horizon_days', 730))} days. A death "
        f"(code {tte.get('death_endpoint', 'death')}) before the event is a "
        "competing event: censored in the Kaplan-Meier and Cox analyses and "
        "counted; the Aalen-Johansen cumulative incidence is the sensitivity "
        "analysis. Cox model with arm"
        + (f", stratified by {', '.join(strata)}" if strata else "")
        + " (Efron ties); proportional hazards checked by scaled Schoenfeld "
        "residuals against rank time (flag at p < 0.05)."
    )


def _pooled(ctx: ReportContext, sec: Section) -> None:
    """Pooled event counts (both reports)."""
    df = ctx.table(POOLED)
    if df is None:
        sec.add(NotRun("pooled event counts (time-to-event stage)", [POOLED]))
        return
    show = pd.DataFrame(
        {
            "endpoint": df["label"],
            "participants": df["n"],
            "events": df["events"],
            "competing deaths": df["competing_deaths"],
            "censored": df["censored"],
        }
    )
    sec.add(
        Table(
            "Events by endpoint, arms pooled",
            show,
            source=[POOLED],
            preformatted=True,
            note="First occurrence per participant within follow-up.",
        )
    )
    deaths = num(df["competing_deaths"]).fillna(0)
    if deaths.sum() > 0:
        sec.add(
            Text(
                "Competing deaths (arms pooled): "
                + "; ".join(
                    f"{lab}: {int(d)}"
                    for lab, d in zip(df["label"], deaths, strict=True)
                    if d > 0
                )
                + ". A death before the endpoint ends that participant's follow-up "
                "for the endpoint.",
                kind="note",
            )
        )


def _cox(ctx: ReportContext, sec: Section) -> None:
    """Hazard ratios, log-rank and PH check (closed report)."""
    cox = ctx.table(COX)
    if cox is None:
        sec.add(NotRun("Cox models (time-to-event stage)", [COX]))
        return
    show = pd.DataFrame(
        {
            "endpoint": cox["label"],
            "comparison": cox["arm"] + " vs " + cox["reference_arm"],
            "events / n": cox["events"] + " / " + cox["n"],
            "HR (95% CI)": [
                fmt_ci(h, lo, hi, ratio=True) if h else "not estimable"
                for h, lo, hi in zip(
                    cox["hazard_ratio"], cox["ci_low"], cox["ci_high"], strict=True
                )
            ],
            "Cox p": [fmt_p(v) for v in cox["p_value"]],
            "log-rank p": [fmt_p(v) for v in cox["logrank_p"]],
            "PH test p": [fmt_p(v) for v in cox["ph_p_value"]],
            "PH": [
                "check" if f == "true" else ("ok" if f == "false" else "")
                for f in cox["ph_flag"]
            ],
            "note": cox["note"],
        }
    )
    strata = sorted({s for s in cox["strata"] if s})
    sec.add(
        Table(
            "Cox proportional-hazards model of the arm",
            show,
            source=[COX],
            arm_level=True,
            preformatted=True,
            note=(
                f"Stratified by {', '.join(strata)}; " if strata else "Unstratified; "
            )
            + "log-rank test stratified the same way. HR < 1: fewer events in the "
            "treated arm.",
        )
    )
    flagged = cox[cox["ph_flag"] == "true"]
    if len(flagged):
        sec.add(
            Text(
                "Proportional hazards in doubt (Schoenfeld test p < 0.05) for: "
                + ", ".join(flagged["label"])
                + "; the hazard ratio is then an average over follow-up; read it "
                "with the Kaplan-Meier curves.",
                kind="warn",
                arm_level=True,
            )
        )


def _summary(ctx: ReportContext, sec: Section) -> None:
    """Kaplan-Meier summary by arm (closed report)."""
    df = ctx.table(SUMMARY)
    if df is None:
        sec.add(NotRun("Kaplan-Meier summary (time-to-event stage)", [SUMMARY]))
        return

    def surv(m: int) -> list[str]:
        return [
            fmt_ci(e, lo, hi)
            for e, lo, hi in zip(
                df[f"surv_{m}m"], df[f"surv_{m}m_ci_low"], df[f"surv_{m}m_ci_high"],
                strict=True,
            )
        ]  # fmt: skip

    show = pd.DataFrame(
        {
            "endpoint": df["label"],
            "arm": df["arm"],
            "n": df["n"],
            "events": df["events"],
            "competing deaths": df["competing_deaths"],
            "median (days)": [
                fmt_num(v) if v else "not reached" for v in df["median_days"]
            ],
            "event-free at 12 months (95% CI)": surv(12),
            "event-free at 24 months (95% CI)": surv(24),
            "cumulative incidence 12 / 24 months (Aalen-Johansen)": [
                f"{fmt_num(a)} / {fmt_num(b)}" if a or b else ""
                for a, b in zip(df["cif_12m"], df["cif_24m"], strict=True)
            ],
        }
    )
    sec.add(
        Table(
            "Kaplan-Meier estimates by arm",
            show,
            source=[SUMMARY],
            arm_level=True,
            preformatted=True,
            note="Event-free probability with log-log 95% CIs; the cumulative "
            "incidence treats deaths as competing (shown when deaths occurred).",
        )
    )
    for code, label in dict.fromkeys(zip(df["endpoint"], df["label"], strict=True)):
        rel = f"{DIR}/km_{code}.png"
        if ctx.has(rel):
            sec.add(
                Figure(
                    f"Kaplan-Meier: {label}",
                    source=[rel],
                    alt=f"Kaplan-Meier curves of {label} by arm with numbers at risk",
                    uri=figures.file_uri(ctx.file(rel)),
                    arm_level=True,
                    width="70%",
                )
            )
        else:
            sec.add(NotRun(f"Kaplan-Meier figure of {label}", [rel]))


def outcomes(ctx: ReportContext, sec: Section) -> Section:
    """Long-term outcomes: pooled counts; by arm in the closed report."""
    if "events" not in (ctx.config.get("sheets") or {}):
        sec.add(
            NotRun(
                "long-term outcomes (time-to-event stage; needs sheets.events and "
                "time_to_event in the config)",
                [POOLED],
            )
        )
        return sec
    sec.add(_intro(ctx))
    _pooled(ctx, sec)
    if ctx.closed:
        _cox(ctx, sec)
        _summary(ctx, sec)
    else:
        sec.add(Text(ARM_LEVEL_NOTE, kind="note"))
    return sec
