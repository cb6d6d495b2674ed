"""Study-level sections: overview, CONSORT and completeness, baseline, methods."""

from __future__ import annotations

import hashlib
import platform
import re
from importlib import metadata
from pathlib import Path

import pandas as pd

from exomir.config import resources_dir
from exomir.report import figures
from exomir.report.context import POOLED_ARMS, ReportContext, is_true, num
from exomir.report.labels import (
    BASELINE_GROUPS,
    consort_label,
    fmt_num,
    param_label,
    pool_reasons,
)
from exomir.report.model import Figure, KeyValues, NotRun, Section, Table, Text

#: Packages whose versions the overview lists (python itself is added).
VERSIONED = [
    "exomir",
    "snakemake",
    "pydeseq2",
    "decoupler",
    "statsmodels",
    "scipy",
    "numpy",
    "pandas",
    "matplotlib",
    "jinja2",
    "cutadapt",
]

POPULATIONS = [
    ("mITT", "randomised and dosed, with baseline and at least one post-dose value"),
    ("Per-protocol", "no major deviation; week-1 visit within +/- 2 days"),
    ("Safety", "all dosed participants, analysed as treated"),
]


def software_versions() -> pd.DataFrame:
    """Versions of python and the analysis packages in this environment."""
    rows = [("python", platform.python_version())]
    for pkg in VERSIONED:
        try:
            rows.append((pkg, metadata.version(pkg)))
        except metadata.PackageNotFoundError:
            rows.append((pkg, "not installed"))
    return pd.DataFrame(rows, columns=["package", "version"])


def config_hash(path: Path) -> str:
    """sha256 of the config file as written."""
    return (
        hashlib.sha256(path.read_bytes()).hexdigest()
        if path.is_file()
        else "config file not found"
    )


def data_cut(ctx: ReportContext) -> str:
    """Return the data cut date: config ``trial.data_cut`` or the last visit date."""
    cut = str(ctx.config.get("trial", {}).get("data_cut") or "")
    if cut:
        return cut
    clin = ctx.sheet("clinical_measurements")
    if clin is not None and "visit_date" in clin:
        dates = sorted(d for d in clin["visit_date"] if d)
        if dates:
            return f"{dates[-1]} (last visit date in the clinical sheet; trial.data_cut not set)"
    return "not set (trial.data_cut)"


def overview(ctx: ReportContext, sec: Section) -> Section:
    """§1: trial, audience, data cut, populations, software and config hash."""
    trial = ctx.config.get("trial", {})
    samples = ctx.sheet("samples")
    participants = ctx.sheet("participants")
    kv = [
        ("Trial", str(trial.get("id", "not configured"))),
        ("Data cut", data_cut(ctx)),
        ("Report", "closed (DSMB, by arm)" if ctx.closed else "open (pooled)"),
        ("Arms", ", ".join(ctx.arms)),
        ("Timepoints", ", ".join(ctx.timepoints)),
    ]
    if participants is not None:
        kv.append(("Participants in sheet", str(len(participants))))
    if samples is not None:
        kv.append(("Libraries in sheet", str(len(samples))))
    sec.add(
        KeyValues(
            kv,
            source=[
                "config/config.yaml",
                *[
                    s
                    for s in ("config/participants.tsv", "config/samples.tsv")
                    if s in ctx.sources
                ],
            ],
        )
    )
    if ctx.closed:
        sec.add(
            Text(
                "CLOSED REPORT: arm-level efficacy and safety results for the Data and Safety Monitoring Board only. Do not distribute.",
                kind="warn",
            )
        )
    else:
        sec.add(
            Text(
                "Open report: pooled data only (recruitment, data completeness, quality control, product). Results by arm are in the closed DSMB report.",
                kind="note",
            )
        )
    sec.add(
        Table(
            "Analysis populations",
            pd.DataFrame(POPULATIONS, columns=["population", "definition"]),
            source=["analysis_spec.md §3"],
        )
    )
    cfg_path = ctx.root / "config" / "config.yaml"
    versions = software_versions()
    versions = pd.concat(
        [
            versions,
            pd.DataFrame(
                [("config sha256", config_hash(cfg_path))],
                columns=["package", "version"],
            ),
        ]
    )
    sec.add(
        Table(
            "Software versions and config hash",
            versions,
            source=["config/config.yaml", "python environment"],
        )
    )
    return sec


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
    stage_of: dict[str, int] = {}
    for k, codes in enumerate(CONSORT_STAGES):
        for code in codes:
            stage_of[consort_label(code)] = k
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
        svg = figures.consort_svg(
            pooled, {a: stage_boxes(v) for a, v in by_arm.items()}
        )
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


GROUP_ORDER = [
    *BASELINE_GROUPS,
    "Baseline labs and vitals",
    "Baseline miRNA",
    "Other",
]


def baseline_row_label(variable: str, level: str, config: dict) -> tuple[str, str]:
    """Group and reader label of a baseline-table row (variable, level)."""
    group = next((g for g, cols in BASELINE_GROUPS.items() if variable in cols), "")
    params = config.get("clinical_parameters") or {}
    if not group:
        if variable in params or variable in ("MAP", "UTA_PI_MEAN", "UTA_RI_MEAN"):
            group = "Baseline labs and vitals"
        elif "mir" in variable.lower() or "let-" in variable.lower():
            group = "Baseline miRNA"
        else:
            group = "Other"
    if group == "Baseline miRNA":
        return group, variable.replace("(log2)", "(VST, log2 scale)")
    label = param_label(variable, config)
    lvl = str(level)
    if lvl.lower() in ("true", "yes", "1") and variable not in params:
        return group, label
    if lvl:
        return group, f"{label}: {lvl.replace('_', ' ')}"
    return group, label


def _grouped(table: pd.DataFrame, groups: list[str]) -> tuple[pd.DataFrame, list[int]]:
    """Insert a heading row before each group; return the table and heading rows."""
    rows: list[list[str]] = []
    heads: list[int] = []
    width = table.shape[1]
    for g in GROUP_ORDER:
        idx = [i for i, gg in enumerate(groups) if gg == g]
        if not idx:
            continue
        heads.append(len(rows))
        rows.append([g] + [""] * (width - 1))
        rows += [list(table.iloc[i]) for i in idx]
    return pd.DataFrame(rows, columns=table.columns), heads


#: What the baseline table's ``statistic`` codes mean (for the note).
BASELINE_NOTE = (
    "n: participants with a value. Continuous variables: mean (SD); variables "
    "analysed on the log scale (transform: log, e.g. UPCR): geometric mean "
    "(×/÷ geometric SD, a multiplicative factor). Categories: n (%) of those "
    "with a value. No p-values (randomised comparison)."
)


def _mirna_rows(
    vals: pd.DataFrame, groups: list[str], label: str
) -> list[dict[str, str]]:
    """Baseline rows of the primary miRNA on the primary-analysis scale.

    One row per group (an arm or ``all``): participants with a baseline value
    and mean (SD) of ``y_baseline`` of ``results/primary/mir126_values.tsv``
    (log2 normalised count, the scale of the primary ANCOVA).
    """
    y = num(vals["y_baseline"])
    rows = []
    for g in groups:
        sel = y if g == "all" else y[vals["arm"] == g]
        sel = sel.dropna()
        summ = (
            f"{sel.mean():.2f} ({sel.std(ddof=1):.2f})"
            if len(sel) > 1
            else (f"{sel.mean():.2f}" if len(sel) else "")
        )
        rows.append(
            {
                "variable": label,
                "level": "",
                "arm": g,
                "n": str(len(sel)),
                "summary": summ,
                "statistic": "mean (SD)",
            }
        )
    return rows


def _arm_totals(ctx: ReportContext, df: pd.DataFrame) -> dict[str, int]:
    """Participants per arm (and ``all``) for the column headers.

    From the participants sheet when it has the arm (closed report) or from
    its length (open report, blinded copy); else the largest row n.
    """
    part = ctx.sheet("participants")
    n_row = num(df["n"]).groupby(df["arm"]).max()
    out = {str(a): int(v) for a, v in n_row.items() if v == v}
    if part is not None and "arm" in part:
        arms = part[part["arm"].isin(ctx.arms)]
        out.update({a: int((arms["arm"] == a).sum()) for a in ctx.arms})
        out["all"] = len(arms)
    elif part is not None and len(part):
        out["all"] = len(part)
    return out


def baseline(ctx: ReportContext, sec: Section) -> Section:
    """§3: baseline characteristics (pooled column in the open report).

    Every row shows n (participants with a value); variables analysed on the
    log scale are summarised by their geometric mean; the primary miRNA has
    one row, on the scale of the primary ANCOVA (log2 normalised count from
    ``results/primary/mir126_values.tsv``) when that file is present, else
    the clinical stage's VST row.
    """
    path = "results/clinical/baseline_table.tsv"
    vals_path = "results/primary/mir126_values.tsv"
    df = ctx.table(path)
    vals = ctx.table(vals_path)
    mirna = str(ctx.config.get("trial", {}).get("primary_mirna", "primary miRNA"))
    if df is None:
        sec.add(NotRun("baseline table (clinical stage)", [path]))
        return sec
    if "statistic" not in df:
        df["statistic"] = [
            "n (%)" if str(lv) else "mean (SD)" for lv in df["level"].astype(str)
        ]
    source = [path]
    groups_of = [baseline_row_label(v, "", ctx.config)[0] for v in df["variable"]]
    is_mir = pd.Series([g == "Baseline miRNA" for g in groups_of], index=df.index)
    mir_label = f"{mirna} (log2 normalised count, primary-analysis scale)"
    if vals is not None and "y_baseline" in vals:
        df = df[~is_mir]
        arm_groups = ["all"] + (
            [a for a in ctx.arms if a in set(vals["arm"])]
            if ctx.closed and "arm" in vals
            else []
        )
        df = pd.concat(
            [df, pd.DataFrame(_mirna_rows(vals, arm_groups, mir_label))],
            ignore_index=True,
        ).fillna("")
        source.append(vals_path)
    labelled = [
        baseline_row_label(v, lv, ctx.config)
        if v != mir_label
        else ("Baseline miRNA", v)
        for v, lv in zip(df["variable"], df["level"], strict=True)
    ]
    df["row"] = [lab for _, lab in labelled]
    group_of = {lab: g for g, lab in labelled}
    stat_of = dict(zip(df["row"], df["statistic"], strict=True))
    totals = _arm_totals(ctx, df)
    pooled = df["arm"].str.lower().isin(POOLED_ARMS)
    if ctx.closed:
        arms = [a for a in ctx.arms if a in set(df["arm"])] + [
            a for a in dict.fromkeys(df["arm"]) if a not in ctx.arms
        ]
        wide = pd.DataFrame({"characteristic": list(dict.fromkeys(df["row"]))})
        wide["statistic"] = [stat_of[r] for r in wide["characteristic"]]
        for a in arms:
            sub = df[df["arm"] == a].drop_duplicates("row").set_index("row")
            head = "all participants" if a.lower() in POOLED_ARMS else a
            wide[f"{head} n"] = [
                str(sub["n"].get(r, "")) for r in wide["characteristic"]
            ]
            wide[f"{head} (N = {totals.get(a, '')})"] = [
                str(sub["summary"].get(r, "")) for r in wide["characteristic"]
            ]
        wide, heads = _grouped(wide, [group_of[r] for r in wide["characteristic"]])
        sec.add(
            Table(
                "Baseline characteristics by arm (no p-values)",
                wide,
                source=source,
                note=BASELINE_NOTE,
                arm_level=True,
                preformatted=True,
                groups=heads,
            )
        )
    elif pooled.any():
        sub = df[pooled].drop_duplicates("row")
        n_all = totals.get(str(sub["arm"].iloc[0]), totals.get("all", ""))
        out = pd.DataFrame(
            {
                "characteristic": sub["row"].to_numpy(),
                "statistic": sub["statistic"].to_numpy(),
                "n": sub["n"].astype(str).to_numpy(),
                f"all participants (N = {n_all})": sub["summary"].to_numpy(),
            }
        )
        out, heads = _grouped(out, [group_of[r] for r in out["characteristic"]])
        sec.add(
            Table(
                "Baseline characteristics, arms pooled",
                out,
                source=source,
                note=BASELINE_NOTE,
                preformatted=True,
                groups=heads,
            )
        )
    else:
        sec.add(
            Text(
                f"{path} has no pooled column (arm 'all'); the by-arm table is in the closed report.",
                kind="note",
            )
        )
    if vals is not None and "y_baseline" in vals:
        sec.add(
            Text(
                f"Baseline {mirna}: one row, on the scale of the primary ANCOVA "
                "(log2 of the normalised count plus pseudocount, size factors of "
                "the DE stage; results/primary/mir126_values.tsv). The clinical "
                "stage's VST value of the same miRNA (used for the association "
                "analysis) is not shown, so the table has one baseline summary.",
                kind="note",
            )
        )
    return sec


def _provenance_table(text: str) -> pd.DataFrame:
    """Parse the first markdown table of PROVENANCE.md into a DataFrame."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|"):
            if not re.match(r"^\|[-:| ]+\|$", line.strip()):  # not the separator
                rows.append(
                    [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
                )
        elif rows:
            break
    if not rows:
        return pd.DataFrame()
    table = pd.DataFrame(rows[1:], columns=rows[0])
    sums = dict(
        (m.group(2), m.group(1))
        for m in re.finditer(r"^([0-9a-f]{64})\s+(\S+)$", text, re.M)
    )
    if "file" in table and "sha256" in table:
        table["sha256"] = [
            sums.get(f, s) for f, s in zip(table["file"], table["sha256"], strict=True)
        ]
    return table


def provenance(resources: Path) -> pd.DataFrame:
    """Read the shipped references' provenance and check every file's sha256.

    Parameters
    ----------
    resources
        The resources folder (holds PROVENANCE.md).

    Returns
    -------
    pandas.DataFrame
        The provenance table with a ``check`` column: ``sha256 ok``,
        ``sha256 MISMATCH`` or ``file missing``.
    """
    table = _provenance_table((resources / "PROVENANCE.md").read_text(encoding="utf-8"))
    if "file" not in table:
        return table
    checks = []
    for name, listed in zip(
        table["file"], table.get("sha256", [""] * len(table)), strict=True
    ):
        path = resources / name
        if not path.is_file():
            checks.append("file missing")
        else:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
            checks.append("sha256 ok" if actual == listed else "sha256 MISMATCH")
    table["check"] = checks
    return table


def methods(ctx: ReportContext, sec: Section) -> Section:
    """§13: designs, filters, control miRNAs, QC gates, network, provenance."""
    de = ctx.config.get("de", {})
    rows = []
    for name, c in (de.get("contrasts") or {}).items():
        rows.append(
            (
                name,
                c.get("kind", ""),
                c.get("description", ""),
                c.get("arm", ""),
                c.get("reference_arm", ""),
                c.get("timepoint", ""),
                c.get("reference_timepoint", ""),
                ", ".join(c.get("covariates", []) or []),
            )
        )
    if rows:
        sec.add(
            Table(
                "Differential-expression contrasts (config de.contrasts)",
                pd.DataFrame(
                    rows,
                    columns=[
                        "contrast",
                        "kind",
                        "description",
                        "compared arm",
                        "reference arm",
                        "timepoint",
                        "reference timepoint",
                        "covariates",
                    ],
                ),
                source=["config/config.yaml"],
            )
        )
    sec.add(
        Text(
            "Key treatment effect: arm x time interaction fitted in pydeseq2 as ~ participant + timepoint + exo_week1 on paired participants, Wald test, apeGLM-type shrinkage of the interaction LFC, BH-FDR within each contrast. The primary miRNA test is an ANCOVA of the week-1 log2 level on arm + baseline level + strata (OLS, HC3 SE)."
        )
    )
    filt = [(k, str(v)) for k, v in de.items() if k not in ("contrasts", "control")]
    filt += [(f"qc.{k}", str(v)) for k, v in (ctx.config.get("qc") or {}).items()]
    if filt:
        sec.add(
            Table(
                "Filters and QC gates",
                pd.DataFrame(filt, columns=["setting", "value"]),
                source=["config/config.yaml"],
                collapsed=True,
            )
        )
    control = de.get("control") or {}
    if control:
        ctl = [
            ("excluded names", ", ".join(control.get("exclude_names", []))),
            ("excluded patterns", "; ".join(control.get("exclude_regex", []))),
            ("min base mean", str(control.get("min_base_mean", ""))),
            ("min control miRNAs", str(control.get("min_mirnas", ""))),
        ]
        sec.add(
            Table(
                "Size-factor control miRNAs (median-of-ratios over miRNAs only)",
                pd.DataFrame(ctl, columns=["setting", "value"]),
                source=["config/config.yaml"],
            )
        )
    filt_path = "results/de/mirna_filter.tsv"
    mf = ctx.table(filt_path)
    if mf is not None:
        n_ctl = int(mf["control"].str.lower().eq("true").sum())
        n_kept = int(mf["kept"].str.lower().eq("true").sum())
        sec.add(
            KeyValues(
                [
                    ("miRNAs detected", str(len(mf))),
                    ("kept after filter", str(n_kept)),
                    ("used as size-factor controls", str(n_ctl)),
                ],
                source=[filt_path],
            )
        )
    pw = ctx.config.get("pathways")
    if pw:
        sec.add(
            Text(
                "Pathway network: miRNA -> pathway weights = validated targets in the pathway / sqrt(total validated targets); scores by decoupler waggr (wmean) with ulm and signed variants as sensitivity; Holm across the pathway scores."
            )
        )
    prov = resources_dir() / "PROVENANCE.md"
    if prov.is_file():
        table = provenance(resources_dir())
        if len(table):
            sec.add(
                Table(
                    "Reference provenance (resources/PROVENANCE.md)",
                    table,
                    source=["resources/PROVENANCE.md"],
                    wide=True,
                )
            )
    ref = ctx.config.get("reference", {})
    if ref:
        sec.add(
            Table(
                "Configured references",
                pd.DataFrame(
                    [(k, str(v)) for k, v in ref.items()], columns=["setting", "value"]
                ),
                source=["config/config.yaml"],
            )
        )
    if ctx.sources:
        listing = pd.DataFrame({"file": list(ctx.sources)})
        sec.add(
            Table(
                "Every results file this report read",
                listing,
                source=["this report"],
                collapsed=True,
            )
        )
    return sec
