"""Section 2: enrolment, disposition (CONSORT) and data completeness."""

from __future__ import annotations

import pandas as pd

from exomir.report.consort_figure import consort_svg
from exomir.report.context import POOLED_ARMS, ReportContext, is_true, num
from exomir.report.labels import (
    consort_label,
    fmt_num,
    param_label,
    pool_reasons,
)
from exomir.report.model import Figure, NotRun, Section, Table, Text


def _consort_nodes(
    consort: pd.DataFrame, arms: list[str], closed: bool
) -> tuple[list, dict]:
    consort = consort.copy()
    consort["n_num"] = num(consort["n"])
    order = list(dict.fromkeys(consort["node"]))
    pooled_rows = consort[consort["arm"].str.lower().isin(POOLED_ARMS)]
    pooled = [(consort_label(r.node), r.n, r.reasons) for r in pooled_rows.itertuples()]
    arm_rows = consort[~consort["arm"].str.lower().isin(POOLED_ARMS)]
    if closed:
        levels = [a for a in arms if a in set(arm_rows["arm"])] + sorted(
            set(arm_rows["arm"]) - set(arms)
        )
        by_arm = {
            a: [
                (consort_label(r.node, a), r.n, r.reasons)
                for r in arm_rows[arm_rows["arm"] == a].itertuples()
            ]
            for a in levels
        }
    else:
        agg = []
        for node in order:
            sub = arm_rows[arm_rows["node"] == node]
            if len(sub):
                reasons = pool_reasons(list(sub["reasons"]))
                agg.append((consort_label(node), str(int(sub["n_num"].sum())), reasons))
        by_arm = {"all arms pooled": agg} if agg else {}
    return pooled, by_arm


#: CONSORT 2010 stages below the split: node codes shown in one box each, so
#: that "lost to follow-up" and "completed follow-up" are read side by side
#: and not as successive losses.
CONSORT_STAGES: list[tuple[str, ...]] = [
    ("allocated", "received_allocated", "received_intervention", "did_not_receive"),
    ("lost_to_follow_up", "discontinued", "completed_follow_up"),
    ("analysed_mitt", "excluded_from_mitt", "analysed_pp", "excluded_from_pp"),
]


def stage_boxes(entries: list[tuple[str, str, str]]) -> list:
    """Group a column's (label, n, reasons) entries into CONSORT stage boxes.

    Entries are matched to :data:`CONSORT_STAGES` by their label; an entry of
    no stage stays a box of its own, in order.
    """
    stage_of: dict[str, int | None] = {}
    for i, codes in enumerate(CONSORT_STAGES):
        for code in codes:
            stage_of[consort_label(code)] = i
    boxes: list = []
    current: int | None = None
    for entry in entries:
        label = entry[0]
        k = 0 if label.startswith("Allocated") else stage_of.get(label)
        if k is not None and k == current:
            boxes[-1].append(entry)
        elif k is not None:
            boxes.append([entry])
        else:
            boxes.append(entry)
        current = k
    return boxes


def consort(ctx: ReportContext, sec: Section) -> Section:
    """§2: CONSORT diagram (from consort.tsv) and data completeness."""
    path = "results/clinical/consort.tsv"
    df = ctx.table(path)
    if df is None:
        sec.add(NotRun("CONSORT flow (clinical safety/disposition stage)", [path]))
    else:
        seq = df["node"].astype(str).str.lower().str.startswith("sequencing")
        seq_block = _sequencing_populations(ctx, df[seq], path)
        df = df[~seq].reset_index(drop=True)
        pooled, by_arm = _consort_nodes(df, ctx.arms, ctx.closed)
        svg = consort_svg(pooled, {a: stage_boxes(v) for a, v in by_arm.items()})
        sec.add(
            Figure(
                "CONSORT 2010 flow diagram"
                + (" by arm" if ctx.closed else " (arms pooled)"),
                source=[path],
                alt="CONSORT flow diagram",
                svg=svg,
            )
        )
        if ctx.closed:
            sec.add(
                Table(
                    "CONSORT counts by arm",
                    pd.DataFrame(
                        {
                            "step": [
                                consort_label(n, a)
                                for n, a in zip(df["node"], df["arm"], strict=True)
                            ],
                            "arm": df["arm"],
                            "n": df["n"],
                            "reasons": df["reasons"],
                        }
                    ),
                    source=[path],
                    collapsed=True,
                    arm_level=True,
                )
            )
        else:
            sec.add(
                Table(
                    "CONSORT counts (arms pooled)",
                    pd.DataFrame(
                        [*pooled, *next(iter(by_arm.values()), [])],
                        columns=["step", "n", "reasons"],
                    ),
                    source=[path],
                    collapsed=True,
                )
            )
        if seq_block is not None:
            sec.add(seq_block)
    _enrolment(ctx, sec)
    _deviations(ctx, sec)
    _sequencing_completeness(ctx, sec)
    _clinical_completeness(ctx, sec)
    _clinical_plausibility(ctx, sec)
    _deviation_contradictions(ctx, sec)
    return sec


def _sequencing_populations(
    ctx: ReportContext, seq: pd.DataFrame, path: str
) -> Table | None:
    """Small-RNA-seq analysis populations, apart from the participant flow.

    A library failing sequencing QC is not a loss of a participant (she stays
    in the clinical analyses); the CONSORT rows ``sequencing_*`` are the
    biomarker's analysis populations and are shown as their own table, by
    arm in the closed report and summed over the arms in the open one.
    """
    if not len(seq):
        return None
    seq = seq.copy()
    seq["n_num"] = num(seq["n"])
    pooled_arm = seq["arm"].astype(str).str.lower().isin(POOLED_ARMS)
    if ctx.closed:
        order = {a: i for i, a in enumerate(ctx.arms)}
        seq["_a"] = [order.get(a, 99) for a in seq["arm"]]
        seq["_o"] = range(len(seq))
        seq = seq.sort_values(["_a", "_o"], kind="stable")
        out = pd.DataFrame(
            {
                "analysis population": [consort_label(n) for n in seq["node"]],
                "arm": seq["arm"].to_numpy(),
                "n": seq["n"].astype(str).to_numpy(),
                "reasons": seq["reasons"].to_numpy(),
            }
        )
    else:
        rows = []
        src = seq if not pooled_arm.any() else seq[pooled_arm]
        for node in dict.fromkeys(src["node"]):
            sub = src[src["node"] == node]
            rows.append(
                (
                    consort_label(node),
                    str(int(sub["n_num"].sum())),
                    pool_reasons(list(sub["reasons"])),
                )
            )
        out = pd.DataFrame(rows, columns=["analysis population", "n", "reasons"])
    return Table(
        "Biomarker analysis populations (small-RNA sequencing)"
        + (" by arm" if ctx.closed else ", arms pooled"),
        out,
        source=[path],
        note="Participants of the flow above whose libraries failed sequencing QC "
        "stay in the clinical analyses: these are the populations of the miRNA "
        "analyses, not losses of participants. Counted among participants who "
        "attended the visit; a participant lost to follow-up or discontinued "
        "before a timepoint is counted in the flow only.",
        arm_level=ctx.closed,
        preformatted=True,
    )


def _enrolment(ctx: ReportContext, sec: Section) -> None:
    """Show randomisations by month (cumulative, vs plan) and by site (pooled).

    enrolment.tsv holds no arm, so both reports show it.
    """
    path = "results/clinical/enrolment.tsv"
    en = ctx.table(path)
    if en is None:
        return
    month = en[en["table"] == "month"]
    site = en[en["table"] == "site"]
    if len(month):
        plan = month["planned_cumulative"].astype(str).str.strip().ne("").any()
        target = next((t for t in month["target"] if str(t).strip()), "")
        cols = {
            "period": "month",
            "n_randomised": "randomised",
            "cumulative": "cumulative",
        }
        if plan:
            cols["planned_cumulative"] = "planned cumulative"
        tab = month[list(cols)].rename(columns=cols)
        if plan:
            tab["% of plan"] = [
                f"{100 * float(c) / float(p):.0f}"
                if str(p).strip() and float(p)
                else ""
                for c, p in zip(
                    month["cumulative"], month["planned_cumulative"], strict=True
                )
            ]
        last = month[month["period"] != "not recorded"]
        total = int(num(month["n_randomised"]).sum())
        note = f"{total} randomised"
        if target:
            note += (
                f" of a target of {float(target):.0f}"
                f" ({100 * total / float(target):.0f}%)"
            )
        if len(last):
            note += f", {last['period'].iloc[0]} to {last['period'].iloc[-1]}"
        note += (
            ". Planned cumulative: linear accrual (config enrolment)."
            if plan
            else (
                "." if target else ". No enrolment plan configured (config enrolment)."
            )
        )
        sec.add(
            Table(
                "Enrolment over time (randomised per month, arms pooled)",
                tab,
                source=[path],
                note=note,
                collapsed=len(tab) > 12,
            )
        )
    if len(site):
        recorded = site["site"] != "not recorded"
        if not recorded.any():
            sec.add(
                Text(
                    "Enrolment by site: the participants sheet records no site "
                    "(column site_id absent or empty).",
                    kind="note",
                )
            )
        else:
            sec.add(
                Table(
                    "Enrolment by site (arms pooled)",
                    site[
                        [
                            "site",
                            "n_randomised",
                            "percent",
                            "first_randomised",
                            "last_randomised",
                        ]
                    ].rename(
                        columns={
                            "n_randomised": "randomised",
                            "percent": "%",
                            "first_randomised": "first",
                            "last_randomised": "last",
                        }
                    ),
                    source=[path],
                )
            )


DEVIATION_LABELS = {
    "participant_id": "participant",
    "arm": "arm",
    "kind": "kind",
    "deviation": "deviation / record",
    "check": "checked against",
    "status": "status",
    "evidence": "evidence",
}


def _deviations(ctx: ReportContext, sec: Section) -> None:
    """List protocol deviations with their consistency checks (closed report)."""
    path = "results/clinical/deviations.tsv"
    dev = ctx.table(path)
    if dev is None:
        if not ctx.closed and ctx.is_withheld(path):
            sec.add(
                Text(
                    "The protocol-deviation listing is by participant and arm: "
                    "it is in the closed report.",
                    kind="note",
                )
            )
        return
    if dev.empty:
        sec.add(
            Text(
                "Protocol deviations: none recorded, and no follow-up visit "
                "outside the window.",
                arm_level=True,
            )
        )
        return
    out = dev.copy()
    out["kind"] = (
        out["kind"]
        .map(
            {
                "major_deviation": "major deviation (recorded)",
                "visit_window": "visit out of window (derived)",
                "disposition": "disposition record",
            }
        )
        .fillna(out["kind"])
    )
    n_major = dev.loc[dev["kind"] == "major_deviation", "participant_id"].nunique()
    n_win = dev.loc[dev["kind"] == "visit_window", "participant_id"].nunique()
    sec.add(
        Table(
            "Protocol deviations and consistency checks",
            out[list(DEVIATION_LABELS)].rename(columns=DEVIATION_LABELS),
            source=[path],
            note=f"{n_major} participant(s) with a recorded major deviation; "
            f"{n_win} with the follow-up visit outside the per-protocol window "
            "and no deviation recorded. Each recorded reason is checked against "
            "the field it names (visit day, eligibility values, dosing, AE "
            "actions, per-protocol flag); 'contradiction' means the sheets "
            "disagree and the site must resolve it.",
            arm_level=True,
            collapsed=len(out) > 15,
            wide=True,
        )
    )


def _deviation_contradictions(ctx: ReportContext, sec: Section) -> None:
    """List deviation or disposition records the other sheets contradict (data quality)."""
    path = "results/clinical/deviations.tsv"
    dev = ctx.table(path)
    if dev is None:
        return
    bad = dev[dev["status"] == "contradiction"]
    if bad.empty:
        sec.add(
            Text(
                "Data quality: no protocol-deviation or disposition record "
                "contradicts the participants, measurement or adverse-event sheets.",
                kind="note",
                arm_level=True,
            )
        )
        return
    sec.add(
        Table(
            f"Data quality: {len(bad)} contradiction(s) between the disposition "
            "sheet and the other sheets (queries for the sites)",
            bad[["participant_id", "deviation", "check", "evidence"]].rename(
                columns=DEVIATION_LABELS
            ),
            source=[path],
            arm_level=True,
        )
    )


def _sequencing_completeness(ctx: ReportContext, sec: Section) -> None:
    path = "results/qc/library_qc.tsv"
    qc = ctx.table(path)
    samples = ctx.sheet("samples")
    if qc is None or samples is None:
        sec.add(NotRun("sequencing completeness (read QC stage)", [path]))
        return
    part = ctx.sheet("participants")
    if not {"participant_id", "timepoint"} <= set(samples.columns):
        passed = int(is_true(qc["pass"]).sum())
        sec.add(
            Text(
                f"Sequencing completeness: {passed} of {len(qc)} libraries passed "
                "QC (no participants or timepoints in this QC-only study)."
            )
        )
        return
    df = samples[["sample_id", "participant_id", "timepoint"]].merge(
        qc[["sample_id", "pass"]], on="sample_id", how="left"
    )
    df["passed"] = is_true(df["pass"])
    df["sequenced"] = df["pass"] != ""
    keys = ["timepoint"]
    if ctx.closed and part is not None and "arm" in part:
        df = df.merge(part[["participant_id", "arm"]], on="participant_id", how="left")
        keys = ["arm", "timepoint"]
    tab = (
        df.groupby(keys, sort=False)
        .agg(
            libraries=("sample_id", "size"),
            sequenced=("sequenced", "sum"),
            passed_qc=("passed", "sum"),
        )
        .reset_index()
    )
    tab["passed_%"] = (tab["passed_qc"] / tab["libraries"] * 100).round(1)
    sec.add(
        Table(
            "Sequencing completeness" + (" by arm" if ctx.closed else " (arms pooled)"),
            tab,
            source=[path, "config/samples.tsv"],
            arm_level=ctx.closed,
        )
    )


def _clinical_completeness(ctx: ReportContext, sec: Section) -> None:
    path = "results/clinical/analysis_dataset.tsv"
    ds = ctx.table(path)
    if ds is None:
        sec.add(NotRun("clinical data completeness (clinical stage)", [path]))
        return
    keys = ["param"] + (["arm"] if ctx.closed else [])
    ds["bl_present"] = ds["bl"].str.strip() != ""
    ds["wk1_present"] = ds["wk1"].str.strip() != ""
    tab = (
        ds.groupby(keys)
        .agg(
            participants=("participant_id", "nunique"),
            baseline=("bl_present", "sum"),
            week1=("wk1_present", "sum"),
        )
        .reset_index()
    )
    tab["param"] = [param_label(p, ctx.config) for p in tab["param"]]
    tab = tab.rename(columns={"param": "parameter"})
    sec.add(
        Table(
            "Clinical data completeness (participants with a value)",
            tab,
            source=[path],
            collapsed=True,
            arm_level=ctx.closed,
        )
    )


def _clinical_plausibility(ctx: ReportContext, sec: Section) -> None:
    """List every clinical value outside its soft plausibility limits.

    The listing is by participant, visit and parameter, never by arm, so it
    is in both reports (values outside the hard limits never reach the
    analysis: validation refuses them).
    """
    path = "results/clinical/plausibility.tsv"
    tab = ctx.table(path)
    if tab is None:
        if ctx.has("results/clinical/analysis_dataset.tsv"):
            sec.add(NotRun("clinical plausibility listing (clinical stage)", [path]))
        return
    action = (ctx.config.get("clinical") or {}).get("soft_limit_action", "flag")
    note = (
        "Values outside the soft limits are implausible but possible; each is "
        + (
            "excluded from the primary endpoint analysis and included in the "
            "sensitivity analysis 'including implausible'"
            if action == "exclude"
            else "kept in the primary endpoint analysis and left out in the "
            "sensitivity analysis 'excluding implausible'"
        )
        + " (config clinical.soft_limit_action). Values outside the hard limits "
        "are refused by exomir validate. Limits: docs/clinical.md."
    )
    if tab.empty:
        sec.add(
            Text(
                "Clinical data quality: no value outside its soft plausibility "
                "limits. " + note,
                kind="note",
            )
        )
        return
    out = pd.DataFrame(
        {
            "participant": tab["participant_id"],
            "visit": tab["visit"],
            "parameter": [param_label(p, ctx.config) for p in tab["param"]],
            "value": [
                f"{fmt_num(v)} {u}"
                for v, u in zip(tab["value"], tab["unit"], strict=True)
            ],
            "soft limits": [
                f"{fmt_num(lo)}-{fmt_num(hi)} {u}"
                for lo, hi, u in zip(
                    tab["soft_low"], tab["soft_high"], tab["unit"], strict=True
                )
            ],
            "limits from": tab["limit_source"],
            "sheet line(s)": tab["source_lines"],
            "action": tab["action"],
            "note": tab["note"],
        }
    )
    sec.add(
        Table(
            f"Clinical data quality: {len(out)} implausible value(s) outside the "
            "soft limits",
            out,
            source=[path],
            note=note,
            preformatted=True,
            wide=True,
        )
    )
