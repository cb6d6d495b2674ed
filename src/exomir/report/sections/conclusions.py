"""Conclusions and recommendation: the page the DSMB completes and signs.

The closed report ends its results with the facts a DSMB weighs (generated
from the results files, never a verdict), the recommendation options of a
typical DSMB charter with empty boxes, space for the rationale and the
sign-off fields. The workflow never ticks a box: the recommendation is the
board's. The open report says only where the recommendation is recorded.
"""

from __future__ import annotations

import pandas as pd

from exomir.report.context import ReportContext, is_true, num
from exomir.report.labels import fmt_num
from exomir.report.model import Section, Table, Text

#: Recommendation options of a DSMB charter (one box each, none pre-ticked).
OPTIONS = (
    "Continue the trial unchanged",
    "Continue with modifications (state them below)",
    "Pause enrolment or dosing pending further review",
    "Stop early for efficacy (interim boundary crossed)",
    "Stop early for futility",
    "Stop early for safety",
)
#: Sign-off rows.
SIGNATURES = (
    "DSMB chair",
    "DSMB member",
    "DSMB member",
    "Independent (unblinded) statistician",
)
BOX = "\u2610"  # ballot box, unticked


def _primary_fact(ctx: ReportContext) -> tuple[str, str, list[str]]:
    path = "results/primary/mir126_ancova.tsv"
    res = ctx.table(path)
    if res is None or "analysis" not in res:
        return "Primary biomarker", "not available in this run", []
    row = res[res["analysis"] == "primary_ancova"]
    if row.empty:
        return "Primary biomarker", "no primary ANCOVA row", [path]
    r = row.iloc[0]
    treated, ref = r.get("treated_arm", "treated"), r.get("reference_arm", "reference")
    text = (
        f"{treated} / {ref} ratio {fmt_num(r['ratio'])} "
        f"(95% CI {fmt_num(r['ratio_ci_low'])} to {fmt_num(r['ratio_ci_high'])}), "
        f"p = {fmt_num(r['pvalue'])}"
    )
    return f"Primary biomarker ({r.get('mirna', '')}, week 1)", text, [path]


def _interim_fact(ctx: ReportContext) -> tuple[str, str, list[str]]:
    path = "results/clinical/interim.tsv"
    df = ctx.table(path)
    if df is None or "crossed" not in df:
        return "Interim efficacy boundary", "not available in this run", []
    looks = df[df["crossed"].str.strip() != ""]
    if looks.empty:
        return "Interim efficacy boundary", "no look with an observed statistic", [path]
    last = looks.iloc[-1]
    crossed = (
        "crossed" if is_true(pd.Series([last["crossed"]])).iloc[0] else "not crossed"
    )
    frac = fmt_num(last.get("information_fraction", ""))
    stat = f"z-equivalent {fmt_num(last.get('observed_z', ''))}"
    if str(last.get("observed_t", "")).strip():
        stat = (
            f"t({fmt_num(last.get('observed_df', ''))}) = "
            f"{fmt_num(last['observed_t'])}, {stat}"
        )
    return (
        "Interim efficacy boundary",
        f"{crossed} at information fraction {frac} ({stat} against the boundary "
        f"{fmt_num(last.get('z_boundary', ''))})",
        [path],
    )


def _safety_facts(ctx: ReportContext) -> list[tuple[str, str, list[str]]]:
    facts = []
    trig_path = "results/clinical/safety_triggers.tsv"
    trig = ctx.table(trig_path)
    if trig is not None and "triggered" in trig:
        fired = trig[is_true(trig["triggered"])]
        facts.append(
            (
                "Safety stopping triggers",
                f"{len(fired)} of {len(trig)} fired"
                + (": " + "; ".join(fired["rule"].astype(str)) if len(fired) else ""),
                [trig_path],
            )
        )
    ae_path = "results/clinical/adverse_events.tsv"
    ae = ctx.table(ae_path)
    if ae is not None and {"table", "category", "arm", "n_participants"} <= set(ae):
        ov = ae[(ae["table"] == "overview") & ae["category"].str.contains("serious")]
        if len(ov):
            parts = [
                f"{a}: {int(n)}"
                for a, n in zip(
                    ov["arm"], num(ov["n_participants"]).fillna(0), strict=True
                )
            ]
            facts.append(
                (
                    "Participants with a serious adverse event",
                    ", ".join(parts),
                    [ae_path],
                )
            )
    return facts


def conclusions(ctx: ReportContext, sec: Section) -> Section:
    """Facts for the deliberation, recommendation boxes and sign-off (closed)."""
    if not ctx.closed:
        sec.add(
            Text(
                "The DSMB's conclusions and recommendation are recorded on the last page "
                "of the closed report; the open report carries none.",
                kind="note",
            )
        )
        return sec
    facts = [_primary_fact(ctx), _interim_fact(ctx), *_safety_facts(ctx)]
    sources = sorted({s for _, _, src in facts for s in src})
    sec.add(
        Text(
            "Facts generated from the results files of this run, for the board's "
            "deliberation. They are not a recommendation: the workflow never ticks "
            "a box below.",
            kind="note",
        )
    )
    sec.add(
        Table(
            "Key facts at this data cut",
            pd.DataFrame(
                [(k, v) for k, v, _ in facts], columns=["item", "at this data cut"]
            ),
            source=sources or ["results files of this run"],
            preformatted=True,
            arm_level=True,
        )
    )
    sec.add(
        Table(
            "Recommendation of the DSMB (tick one)",
            pd.DataFrame([(BOX, o) for o in OPTIONS], columns=["", "recommendation"]),
            source=["DSMB charter"],
            preformatted=True,
            arm_level=True,
        )
    )
    sec.add(
        Table(
            "Rationale, requested modifications and requests to the sponsor",
            pd.DataFrame({"": ["", "", "", ""]}),
            source=["DSMB"],
            preformatted=True,
            arm_level=True,
        )
    )
    sec.add(
        Table(
            "Sign-off",
            pd.DataFrame(
                [(role, "", "", "") for role in SIGNATURES],
                columns=["role", "name", "signature", "date"],
            ),
            source=["DSMB"],
            preformatted=True,
            arm_level=True,
        )
    )
    return sec
